"""Task instructions: Markdown with `{{ name }}` placeholders filled from the instance's record, then sanitised."""
from __future__ import annotations

import re
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*\}\}")
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&\"'=:])")
_TAGS = {"p", "br", "strong", "em", "ul", "ol", "li", "a", "h2", "h3", "h4", "code", "pre", "blockquote",
         "table", "thead", "tbody", "tr", "th", "td", "hr"}
_CLASSES = {"p": "govuk-body", "ul": "govuk-list govuk-list--bullet", "ol": "govuk-list govuk-list--number",
            "a": "govuk-link", "h2": "govuk-heading-m", "h3": "govuk-heading-s", "h4": "govuk-heading-s",
            "table": "govuk-table", "tr": "govuk-table__row", "th": "govuk-table__header",
            "td": "govuk-table__cell", "hr": "govuk-section-break govuk-section-break--m govuk-section-break--visible"}


def _lookup(data: dict, dotted: str) -> Any:
    value: Any = data
    for part in dotted.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return ""
    return "" if value is None else value


def fill(text: str, data: dict) -> str:
    """Replace `{{ name }}` with the record's value, escaped so it is shown as text, never as Markdown or HTML."""
    return _PLACEHOLDER.sub(lambda m: _MARKDOWN_PUNCTUATION.sub(r"\\\1", str(_lookup(data, m.group(1)))), text)


def render(text: str | None, data: dict | None = None) -> Markup:
    if not text:
        return Markup("")
    html = _MARKDOWN.render(fill(text, data or {}))
    # headings in instructions sit under the page's h1 and h2: shift them down so the outline stays in order
    html = re.sub(r"<(/?)h[1-6]>", lambda m: f"<{m.group(1)}h3>", html)
    clean = nh3.clean(html, tags=_TAGS, attributes={"a": {"href", "title"}, "th": {"scope"}},
                      url_schemes={"https", "mailto"}, link_rel="noopener noreferrer nofollow")
    for tag, css in _CLASSES.items():
        clean = re.sub(rf"<{tag}(\s|>)", rf'<{tag} class="{css}"\1', clean)
    return Markup(clean)
