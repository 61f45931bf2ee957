"""What a person reads on a page: the text of the element with an id (tags dropped, spaces collapsed)."""
from __future__ import annotations

import re
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Finder(HTMLParser):
    def __init__(self, element_id: str):
        super().__init__()
        self.element_id, self.depth, self.parts, self.found = element_id, 0, [], False

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            if self.depth:
                self.parts.append(" ")
            return
        if self.depth:
            self.depth += 1
        elif dict(attrs).get("id") == self.element_id:
            self.depth, self.found = 1, True
        if self.depth:
            self.parts.append(" ")

    def handle_endtag(self, tag):
        if self.depth and tag not in VOID:
            self.depth -= 1
            self.parts.append(" ")

    def handle_data(self, data):
        if self.depth:
            self.parts.append(data)


def text_of(html: str | bytes, element_id: str) -> str:
    """The element's text ('' when the page has no such element)."""
    finder = _Finder(element_id)
    finder.feed(html.decode() if isinstance(html, bytes) else html)
    return re.sub(r"\s+", " ", "".join(finder.parts)).strip()
