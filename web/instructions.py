"""Task instructions: the element's Markdown, filled in as a sandboxed Jinja template from the instance's data
(the engine's forms service), rendered and sanitised; a notice above when they were cut or shown as written."""
from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

from engine.services.forms_view import fill_instructions as fill

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
_TAGS = {"p", "br", "strong", "em", "ul", "ol", "li", "a", "h2", "h3", "h4", "code", "pre", "blockquote",
         "table", "thead", "tbody", "tr", "th", "td", "hr"}
_CLASSES = {"p": "govuk-body", "ul": "govuk-list govuk-list--bullet", "ol": "govuk-list govuk-list--number",
            "a": "govuk-link", "h2": "govuk-heading-m", "h3": "govuk-heading-s", "h4": "govuk-heading-s",
            "table": "govuk-table", "tr": "govuk-table__row", "th": "govuk-table__header",
            "td": "govuk-table__cell", "hr": "govuk-section-break govuk-section-break--m govuk-section-break--visible"}


def render(text: str | None, data: dict | None = None) -> Markup:
    """The instructions as safe HTML: every `{{ value }}` shows as text, never as Markdown or HTML."""
    if not text:
        return Markup("")
    filled = fill(text, data or {})
    html = _MARKDOWN.render(filled.markdown)
    # headings in instructions sit under the page's h1 and h2: shift them down so the outline stays in order
    html = re.sub(r"<(/?)h[1-6]>", lambda m: f"<{m.group(1)}h3>", html)
    clean = nh3.clean(html, tags=_TAGS, attributes={"a": {"href", "title"}, "th": {"scope"}},
                      url_schemes={"https", "mailto"}, link_rel="noopener noreferrer nofollow")
    for tag, css in _CLASSES.items():
        clean = re.sub(rf"<{tag}(\s|>)", rf'<{tag} class="{css}"\1', clean)
    if filled.notice:
        notice = Markup('<div class="govuk-inset-text" id="instructions-notice">{}</div>').format(filled.notice)
        return notice + Markup(clean)
    return Markup(clean)
