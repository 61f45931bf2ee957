// On a phone a table of three or more columns reflows: each row a card, each cell labelled by its column (the
// govflow-responsive-table style, govflow.css). Templates may label their cells themselves (data-label); here the
// labels of the others come from the column headers. A table that scrolls in a box of its own, or is a work
// surface (a diff, a decision table), keeps its columns.
const KEEP = '.govflow-diff, .govflow-dmn-table, .govflow-keep-table'
const SCROLLS = '.govflow-scroll, .govflow-table-scroll, .govflow-full-width'

export function reflowTables (root = document) {
  for (const table of root.querySelectorAll('table.govuk-table:not(.govflow-responsive-table)')) {
    if (table.matches(KEEP) || table.closest(SCROLLS)) continue
    const headers = [...table.querySelectorAll(':scope > thead > tr:last-child > th')].map(th => th.textContent.trim())
    if (headers.length < 3) continue
    for (const row of table.querySelectorAll(':scope > tbody > tr')) {
      [...row.children].forEach((cell, column) => {
        if (!cell.dataset.label && headers[column] && !cell.hasAttribute('colspan')) cell.dataset.label = headers[column]
      })
    }
    table.classList.add('govflow-responsive-table')
  }
}
