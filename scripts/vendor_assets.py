"""Copy the front-end files govflow serves from node_modules (installed by `npm ci`) into web/static/vendor."""
from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / "node_modules"
VENDOR = ROOT / "web" / "static" / "vendor"

# (source under node_modules, destination under web/static/vendor)
FILES = [
    ("govuk-frontend/dist/govuk/govuk-frontend.min.css", "govuk/govuk-frontend.min.css"),
    ("govuk-frontend/dist/govuk/govuk-frontend.min.js", "govuk/govuk-frontend.min.js"),
    ("govuk-frontend/dist/govuk/assets", "govuk/assets"),
    ("axe-core/axe.min.js", "axe/axe.min.js"),
    ("chart.js/dist/chart.umd.min.js", "chart/chart.umd.min.js"),
    ("bpmn-js/dist/bpmn-navigated-viewer.production.min.js", "bpmn-js/bpmn-navigated-viewer.production.min.js"),
    ("bpmn-js/dist/assets/diagram-js.css", "bpmn-js/diagram-js.css"),
    # process library editors: the bpmn-js modeler and dmn-js, with their styles and icon fonts
    ("bpmn-js/dist/bpmn-modeler.production.min.js", "bpmn-js/bpmn-modeler.production.min.js"),
    ("bpmn-js/dist/assets/bpmn-js.css", "bpmn-js/bpmn-js.css"),
    ("bpmn-js/dist/assets/bpmn-font", "bpmn-js/bpmn-font"),
    ("dmn-js/dist/dmn-modeler.production.min.js", "dmn-js/dmn-modeler.production.min.js"),
    ("dmn-js/dist/assets", "dmn-js/assets"),
    # the JSON API's reference page (/api/v1/docs), drawn from the OpenAPI document
    ("swagger-ui-dist/swagger-ui-bundle.js", "swagger-ui/swagger-ui-bundle.js"),
    ("swagger-ui-dist/swagger-ui.css", "swagger-ui/swagger-ui.css"),
]


def main() -> int:
    missing = [src for src, _ in FILES if not (NODE / src).exists()]
    if missing:
        print(f"Missing front-end packages ({', '.join(missing)}): run `npm ci` first.", file=sys.stderr)
        return 1
    for src, dest in FILES:
        target = VENDOR / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        if (NODE / src).is_dir():
            shutil.copytree(NODE / src, target, dirs_exist_ok=True)
        else:
            shutil.copy2(NODE / src, target)
    _own_govuk_css(VENDOR / "govuk" / "govuk-frontend.min.css")
    return 0


def _own_govuk_css(path: Path) -> None:
    """govuk-frontend's CSS as govflow serves it: without the GDS Transport faces (reserved to GOV.UK, and their
    files are not shipped here, so every page asked for them in vain) and with its images found beside it."""
    css = path.read_text()
    css = re.sub(r"@font-face\{font-family:\"?GDS Transport\"?;[^}]*\}", "", css)
    path.write_text(css.replace("url(/assets/", "url(assets/"))


if __name__ == "__main__":
    sys.exit(main())
