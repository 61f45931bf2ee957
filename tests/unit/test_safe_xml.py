"""Hardened XML parsing refuses DTD tricks, oversize and malformed files, and parses ordinary BPMN."""

import time
from pathlib import Path

import pytest
from lxml import etree

from engine.bpmn.safe_xml import UnsafeXmlError, parse_xml

BPMN = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs" targetNamespace="x">
  <!-- comments are kept -->
  <bpmn:process id="change_control" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="end"/>
    <bpmn:endEvent id="end"/>
    <bpmn:documentation>Costs &amp; benefits &lt; 5&#163;</bpmn:documentation>
  </bpmn:process>
</bpmn:definitions>
"""


def refusal(data: bytes, **kwargs: int) -> UnsafeXmlError:
    with pytest.raises(UnsafeXmlError) as caught:
        parse_xml(data, "change_control.bpmn", **kwargs)
    return caught.value


def test_normal_bpmn_parses() -> None:
    tree = parse_xml(BPMN, "change_control.bpmn")
    assert isinstance(tree, etree._ElementTree)
    ns = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}
    assert tree.getroot().xpath("//bpmn:process/@id", namespaces=ns) == ["change_control"]
    assert tree.getroot().xpath("string(//bpmn:documentation)", namespaces=ns) == "Costs & benefits < 5\u00a3"
    assert any(isinstance(node, etree._Comment) for node in tree.iter())


def test_utf8_bom_is_accepted() -> None:
    assert parse_xml(b"\xef\xbb\xbf" + BPMN, "change_control.bpmn").getroot().get("id") == "defs"


def test_doctype_refused_with_its_line() -> None:
    err = refusal(b'<?xml version="1.0"?>\n\n<!doctype definitions>\n<definitions/>')
    assert str(err) == "change_control.bpmn line 3: DOCTYPE declarations are not allowed"
    assert (err.filename, err.line, err.reason) == ("change_control.bpmn", 3, "DOCTYPE declarations are not allowed")
    assert isinstance(err, ValueError)


def test_external_entity_refused_and_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    for target in ("file:///etc/hostname", secret.as_uri()):
        data = (
            b'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "' + target.encode() + b'">]>\n<d>&x;</d>'
        )
        err = refusal(data)
        assert str(err) == "change_control.bpmn line 2: DOCTYPE declarations are not allowed"
        assert "TOP-SECRET" not in str(err)
    hostname = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").exists() else ""
    if hostname:
        assert hostname not in str(err)


def test_billion_laughs_refused_quickly() -> None:
    entities = b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1)) * 10) for i in range(1, 10)
    )
    data = b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol0 "lol">' + entities + b"]>\n<lolz>&lol9;</lolz>"
    started = time.process_time()
    err = refusal(data)
    assert time.process_time() - started < 0.5  # CPU time: a loaded machine must not fail it
    assert err.reason == "DOCTYPE declarations are not allowed"


def test_doctype_hidden_by_another_encoding_refused() -> None:
    # the text is decoded first, so the DOCTYPE check sees what lxml would see, whatever the encoding
    utf7 = b'<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE d+AD4-+ADw-d+AD4-+ADw-/d+AD4-'
    assert str(refusal(utf7)) == "change_control.bpmn line 1: DOCTYPE declarations are not allowed"
    utf16 = '<?xml version="1.0"?>\n<!DOCTYPE d><d/>'.encode("utf-16")
    assert (refusal(utf16).line, refusal(utf16).reason) == (2, "DOCTYPE declarations are not allowed")
    utf16_no_bom = '<?xml version="1.0"?><!DOCTYPE d><d/>'.encode("utf-16-le")
    assert refusal(utf16_no_bom).reason == "DOCTYPE declarations are not allowed"
    ebcdic = '<?xml version="1.0" encoding="IBM037"?><!DOCTYPE d><d/>'.encode("cp037")
    assert refusal(ebcdic).reason == "DOCTYPE declarations are not allowed"


def test_undeclared_entity_reference_refused() -> None:
    err = refusal(b"<d>\n<e>&x;</e></d>")
    assert err.line == 2
    assert err.reason == "malformed XML: Entity 'x' not defined"


def test_oversize_refused_before_parsing() -> None:
    err = refusal(b"<d>" + b"x" * 2_000 + b"</d>", max_bytes=1_000)
    assert str(err) == "change_control.bpmn: file is too large (2,007 bytes; the limit is 1,000 bytes)"
    assert err.line is None


def test_malformed_xml_reports_line() -> None:
    err = refusal(b"<a>\n<b>\n</a>")
    assert err.line == 3
    assert str(err) == "change_control.bpmn line 3: malformed XML: Opening and ending tag mismatch: b line 2 and a"


def test_empty_input_is_malformed() -> None:
    assert refusal(b"").reason.startswith("malformed XML")


def test_str_input_rejected() -> None:
    with pytest.raises(TypeError, match="expects bytes"):
        parse_xml("<d/>", "x.bpmn")  # type: ignore[arg-type]
