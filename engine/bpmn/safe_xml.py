"""Hardened XML parsing for uploaded and deployed BPMN and DMN files (no DTDs, no entities, bounded shape).

Bounded while parsing, before anything else reads the tree, each refusal with its line: the file's size
(DEFAULT_MAX_BYTES, or the caller's limit), elements nested more than MAX_DEPTH deep, more than
MAX_ATTRIBUTES attributes on one element, and more than MAX_NAMESPACES namespace declarations in the file. A BPMN
modeler writes a handful of each; lxml reads an element's attributes in time that grows with the square of their
number, so these caps are what keep every later pass (the normaliser, SpiffWorkflow's parser, the diff) linear.

Files from other modelers come in any encoding: the bytes are decoded here, with the encoding their byte-order mark,
first bytes or XML declaration name (as the XML specification's appendix F reads them), and the checks run on the
decoded text, so no encoding (UTF-7, UTF-16, EBCDIC…) can hide a DOCTYPE from them. lxml then parses that text as
UTF-8, with a declaration saying so.
"""

from __future__ import annotations

import codecs
import io
import re

from lxml import etree

__all__ = ["MAX_ATTRIBUTES", "MAX_DEPTH", "MAX_NAMESPACES", "UnsafeXmlError", "parse_xml", "decode_xml"]

DEFAULT_MAX_BYTES = 5_000_000
#: elements nested in one another
MAX_DEPTH = 100
#: attributes on one element
MAX_ATTRIBUTES = 100
#: namespace declarations (xmlns, xmlns:prefix) in one file
MAX_NAMESPACES = 100

_DOCTYPE = re.compile(r"<!DOCTYPE", re.IGNORECASE)
_DECLARATION = re.compile(r"""^<\?xml\s[^>]*?\?>""")
_ENCODING = re.compile(r"""(\sencoding\s*=\s*)(["'])([^"']*)\2""")
# Byte-order marks (longest first: a UTF-32 LE mark starts like a UTF-16 LE one).
_BOMS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xef\xbb\xbf", "utf-8"), (b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le"),
)
# First bytes of "<?xml" (or "<") without a byte-order mark, by which an encoding family shows itself.
_FIRST_BYTES = (
    (b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"), (b"<\x00?\x00", "utf-16-le"),
    (b"\x4c\x6f\xa7\x94", "cp037"),  # EBCDIC: the declaration names the code page
)
# Names XML files use that Python's codecs do not know.
_ALIASES = {"ucs-2": "utf-16", "iso-10646-ucs-2": "utf-16", "ucs-4": "utf-32", "iso-10646-ucs-4": "utf-32",
            "x-mac-roman": "mac-roman", "cp1047": "cp037"}
_LXML_POSITION = re.compile(r", line \d+, column \d+$")


class UnsafeXmlError(ValueError):
    """An XML file was refused; ``str()`` reads "<filename> line <n>: <reason>"."""

    def __init__(self, filename: str, line: int | None, reason: str) -> None:
        self.filename = filename
        self.line = line
        self.reason = reason
        where = f"{filename} line {line}" if line is not None else filename
        super().__init__(f"{where}: {reason}")


def parse_xml(data: bytes, filename: str, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._ElementTree:
    """Parse untrusted XML bytes in any encoding, refusing oversize input, DOCTYPEs and entity references.

    Hand ``tree.getroot()`` to SpiffWorkflow's ``add_bpmn_xml`` / ``add_dmn_xml``.
    """
    if not isinstance(data, bytes):
        raise TypeError(f"parse_xml expects bytes, not {type(data).__name__}")
    if len(data) > max_bytes:
        raise UnsafeXmlError(
            filename, None, f"file is too large ({len(data):,} bytes; the limit is {max_bytes:,} bytes)"
        )
    text = decode_xml(data, filename)
    doctype = _DOCTYPE.search(text)
    if doctype:
        line = text.count("\n", 0, doctype.start()) + 1
        raise UnsafeXmlError(filename, line, "DOCTYPE declarations are not allowed")

    tree = _bounded_parse(_declared_utf8(text).encode("utf-8"), filename)

    # Defence in depth: the checks on the decoded text above should make these unreachable.
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise UnsafeXmlError(filename, None, "DOCTYPE declarations are not allowed")
    for entity in tree.iter(etree.Entity):
        raise UnsafeXmlError(filename, entity.sourceline, f"entity references are not allowed ({entity.text})")
    return tree


def decode_xml(data: bytes, filename: str) -> str:
    """The file's text: decoded with the encoding its byte-order mark, first bytes or declaration give (UTF-8 when
    nothing says otherwise). Refuses an encoding Python cannot read and bytes that are not in the encoding."""
    encoding, body = _family(data)
    declared = _declared_encoding(body, encoding)
    if declared is not None and encoding in ("utf-8-default", "cp037"):
        encoding = declared
    elif encoding == "utf-8-default":
        encoding = "utf-8"
    try:
        codec = codecs.lookup(_ALIASES.get(encoding.lower(), encoding))
    except LookupError:
        raise UnsafeXmlError(filename, 1, f'the file declares encoding "{encoding}", which govflow cannot read: '
                                          "save it as UTF-8") from None
    try:
        return codec.decode(body)[0]
    except UnicodeDecodeError as err:
        line = body.count(b"\n", 0, err.start) + 1 if codec.name not in _WIDE else None
        raise UnsafeXmlError(filename, line, f"the file is not valid {encoding}: "
                                             f"byte {body[err.start]:#04x} cannot be read as {encoding}") from None


_WIDE = {"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be", "cp037", "cp500"}


def _family(data: bytes) -> tuple[str, bytes]:
    """(encoding, bytes after any byte-order mark); "utf-8-default" when only a declaration can tell."""
    for mark, name in _BOMS:
        if data.startswith(mark):
            return name, data[len(mark):]
    for start, name in _FIRST_BYTES:
        if data.startswith(start):
            return name, data
    return "utf-8-default", data


def _declared_encoding(body: bytes, family: str) -> str | None:
    """The encoding named in the XML declaration, read with the family's codec (ASCII-compatible: Latin-1)."""
    reader = "latin-1" if family == "utf-8-default" else family
    head = body[:1024].decode(reader, errors="replace")
    declaration = _DECLARATION.match(head)
    if declaration is None:
        return None
    found = _ENCODING.search(declaration.group(0))
    return found.group(3).strip() if found else None


def _declared_utf8(text: str) -> str:
    """The text with its XML declaration (if any) saying UTF-8, which is what lxml is given; nothing else changes
    (line numbers stay those of the file)."""
    declaration = _DECLARATION.match(text)
    if declaration is None:
        return text
    rewritten = _ENCODING.sub(r"\1\2UTF-8\2", declaration.group(0), count=1)
    return rewritten + text[declaration.end():]


def _bounded_parse(utf8: bytes, filename: str) -> etree._ElementTree:
    """The tree of a UTF-8 document, parsed by a fresh parser that loads no DTD, resolves no entity, touches no
    network, and stops at the first element past a cap (depth, attributes, namespace declarations)."""
    # Parsers are not thread-safe, so each parse gets its own. Each start tag is checked as soon as it is read.
    events = etree.iterparse(io.BytesIO(utf8), events=("start", "end", "start-ns"), encoding="utf-8",
                             resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             remove_comments=False)
    try:
        return _checked(events, filename)
    except etree.XMLSyntaxError as err:
        first = events.error_log.filter_from_errors()[:1]  # this parse's first error (iterparse raises a later one)
        line, message = (first[0].line, first[0].message) if first else (err.lineno, err.msg or str(err))
        raise UnsafeXmlError(filename, line or None, f"malformed XML: {_LXML_POSITION.sub('', message)}") from None


def _checked(events: etree.iterparse, filename: str) -> etree._ElementTree:
    """Run the parse, refusing the first start tag past a cap; the finished tree."""
    depth = namespaces = 0
    for event, node in events:
        if event == "start-ns":
            namespaces += 1
        elif event == "end":
            depth -= 1
        else:
            depth += 1
            if depth > MAX_DEPTH:
                raise UnsafeXmlError(filename, node.sourceline, f"elements nested more than {MAX_DEPTH} deep")
            if len(node.attrib) > MAX_ATTRIBUTES:
                raise UnsafeXmlError(filename, node.sourceline, f"an element with {len(node.attrib):,} attributes "
                                                                f"(the limit is {MAX_ATTRIBUTES})")
            if namespaces > MAX_NAMESPACES:
                raise UnsafeXmlError(filename, node.sourceline, f"more than {MAX_NAMESPACES} namespace "
                                                                "declarations (xmlns)")
    return events.root.getroottree()
