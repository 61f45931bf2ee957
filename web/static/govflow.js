// Progressive enhancement only: every page works without it.
import { initAll } from './vendor/govuk/govuk-frontend.min.js'
import { reflowTables } from './js/responsive-tables.js'

document.body.classList.add('js-enabled')
if ('noModule' in HTMLScriptElement.prototype) {
  document.body.classList.add('govuk-frontend-supported')
}
initAll()
reflowTables()
