"""Tables for `bascule.core.webhook_template` (Go `html/template` subset; tyk-behaviour §3.11)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bascule.core.webhook_template import TemplateError, WebhookTemplate, compile_template

# Tyk's HostDown body (templates/default_webhook.json), without its `{{if eq .Type ...}}` selector.
HOST_DOWN = """{
    "event": "{{.Type}}",
    "message": "{{.Meta.Message}}",
    "url": "{{.Meta.HostInfo.CheckURL}}",
    "response_code": "{{.Meta.HostInfo.ResponseCode}}",
    "tcp_error": "{{.Meta.HostInfo.IsTCPError}}",
    "host": "{{.Meta.HostInfo.MetaData.host_name}}",
    "api_id": "{{.Meta.HostInfo.MetaData.api_id}}",
}
"""

HOST_DOWN_DATA: dict[str, object] = {
    "Type": "HostDown",
    "Meta": {
        "Message": "Uptime test failed",
        "HostInfo": {
            "CheckURL": "http://10.0.0.1:8080/health?a=1&b=2",
            "ResponseCode": 521,
            "IsTCPError": True,
            "MetaData": {"host_name": "10.0.0.1:8080", "api_id": "api+1"},
        },
    },
}


def test_tyk_host_down_body() -> None:
    assert (
        compile_template(HOST_DOWN).render(HOST_DOWN_DATA)
        == """{
    "event": "HostDown",
    "message": "Uptime test failed",
    "url": "http://10.0.0.1:8080/health?a=1&amp;b=2",
    "response_code": "521",
    "tcp_error": "true",
    "host": "10.0.0.1:8080",
    "api_id": "api&#43;1",
}
"""
    )


@pytest.mark.parametrize(
    ("template", "data", "expected"),
    [
        ("plain text, no actions", {}, "plain text, no actions"),
        ("", {}, ""),
        ("{{.A}}", {"A": "x"}, "x"),
        ("<{{.A}}|{{.B}}>", {"A": "1", "B": "2"}, "<1|2>"),
        ("{{ .A.B }}", {"A": {"B": "deep"}}, "deep"),
        ("{{\t.A.B.C\n}}", {"A": {"B": {"C": "deeper"}}}, "deeper"),
        ("{{.host_name}}", {"host_name": "h"}, "h"),
        ("{{.Ünïcode}}", {"Ünïcode": "u"}, "u"),
        ("a } b }} c {", {}, "a } b }} c {"),  # braces outside actions are text
        # missing values render "" (departure: Go fails on struct fields it cannot find)
        ("[{{.Missing}}]", {}, "[]"),
        ("[{{.A.Missing}}]", {"A": {}}, "[]"),
        ("[{{.A.B}}]", {"A": "not a mapping"}, "[]"),
        ("[{{.A.B}}]", {"A": None}, "[]"),
        ("[{{.A}}]", {"A": None}, "[]"),
        # values formatted as Go's fmt prints them
        ("{{.A}}", {"A": 200}, "200"),
        ("{{.A}}", {"A": -3}, "-3"),
        ("{{.A}} {{.B}}", {"A": True, "B": False}, "true false"),
        ("{{.A}}", {"A": 0.25}, "0.25"),
        ("{{.A}}", {"A": 100.0}, "100"),
        ("{{.A}}", {"A": 123456.0}, "123456"),
        ("{{.A}}", {"A": 1e6}, "1e&#43;06"),
        ("{{.A}}", {"A": 1234567.0}, "1.234567e&#43;06"),
        ("{{.A}}", {"A": 0.0001}, "0.0001"),
        ("{{.A}}", {"A": 0.00001}, "1e-05"),
        ("{{.A}}", {"A": -2.5e-7}, "-2.5e-07"),
        ("{{.A}}", {"A": 0.0}, "0"),
        ("{{.A}}", {"A": -0.0}, "-0"),
        ("{{.A}}", {"A": float("inf")}, "&#43;Inf"),
        ("{{.A}}", {"A": float("nan")}, "NaN"),
        # html/template escaping of text
        ("{{.A}}", {"A": "&'<>\"+\0"}, "&amp;&#39;&lt;&gt;&#34;&#43;\ufffd"),
        ("{{.A}}", {"A": "é ✓ \n\t/\\="}, "é ✓ \n\t/\\="),
        ("{{.A}}", {"A": "&amp;"}, "&amp;amp;"),
        # the template's own text is never escaped
        ('<b>&"{{.A}}"</b>', {"A": "<"}, '<b>&"&lt;"</b>'),
    ],
)
def test_render(template: str, data: dict[str, object], expected: str) -> None:
    assert compile_template(template).render(data) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # trim markers eat spaces, tabs, CR and LF on their side only
        ("a  \n\t{{- .X}}  b", "ax  b"),
        ("a  {{.X -}} \r\n b", "a  xb"),
        ("a \n {{- .X -}} \n b", "axb"),
        ("a {{- .X -}} {{- .X -}} b", "axxb"),
        ("a\n{{-\n.X\n-}}\nb", "axb"),  # any whitespace character serves
        ("a {{- .X}}{{.X -}} b", "axxb"),
        # the marker needs whitespace next to it; otherwise it is not a trim marker (and is rejected below)
        ("a {{ .X }} b", "a x b"),
        # comments are dropped, may span lines and take trim markers
        ("a{{/* note */}}b", "ab"),
        ("a{{/* multi\nline {{.Y}} */}}b", "ab"),
        ("a \n{{- /* trimmed */ -}}\n b", "ab"),
        ("a {{/* one side */ -}}  b", "a b"),
        ("{{/**/}}", ""),
    ],
)
def test_trim_and_comments(template: str, expected: str) -> None:
    assert compile_template(template).render({"X": "x"}) == expected


@pytest.mark.parametrize(
    ("template", "message", "position"),
    [
        ("{{if .A}}x{{end}}", r"\{\{if\}\} is not supported", 0),
        ('{{ if eq .Type "HostDown"}}', r"\{\{if\}\} is not supported", 0),
        ("ab{{range .L}}", r"\{\{range\}\} is not supported", 2),
        ("{{else}}", r"\{\{else\}\} is not supported", 0),
        ("x\n{{- end }}", r"\{\{end\}\} is not supported", 2),
        ('{{template "x"}}', r"\{\{template\}\} is not supported", 0),
        ("{{.A | html}}", "pipelines are not supported", 0),
        ("{{.A|printf}}", "pipelines are not supported", 0),
        ("{{$x := .A}}", "variables are not supported", 0),
        ("{{$}}", "variables are not supported", 0),
        ("{{printf .A}}", "function calls and literals are not supported", 0),
        ("{{len .A}}", "function calls and literals are not supported", 0),
        ('{{"text"}}', "function calls and literals are not supported", 0),
        ("{{42}}", "function calls and literals are not supported", 0),
        ("{{.}}", r"\{\{\.\}\} is not supported", 0),
        ("{{.A .B}}", "only spaces and `}}` may follow the field", 0),
        ("{{.A.}}", "only spaces and `}}` may follow the field", 0),
        ("{{.A-}}", "only spaces and `}}` may follow the field", 0),  # not a trim marker: no space before `-`
        ("{{-.A}}", "function calls and literals are not supported", 0),  # not a trim marker: no space after
        ("{{.1a}}", "function calls and literals are not supported", 0),
        ("{{}}", "empty action", 0),
        ("{{ }}", "empty action", 0),
        ("{{- -}}", "empty action", 0),
        ("text {{.A", "unclosed action", 5),
        ("{{", "unclosed action", 0),
        ("ok {{.A}} {{/* open", "unclosed comment", 10),
        ("{{/* x */ }}", "comment ends before closing delimiter", 0),
        ("{{ /* x */}}", "function calls and literals are not supported", 0),  # a comment starts at the `{{`
    ],
)
def test_unsupported_and_malformed(template: str, message: str, position: int) -> None:
    with pytest.raises(TemplateError, match=message) as caught:
        compile_template(template)
    assert caught.value.position == position


def test_error_reports_line_and_column() -> None:
    with pytest.raises(TemplateError, match=r"^line 3, column 5: ") as caught:
        compile_template('{\n  "a": "{{.A}}",\n  "b{{range .L}}{{end}}"\n}')
    assert (caught.value.line, caught.value.column, caught.value.position) == (3, 5, 23)
    assert isinstance(caught.value, ValueError)


def test_compile_splits_once() -> None:
    template = compile_template("a {{- /* c */}} b {{.X.Y}}{{.Z}}c")
    assert template == WebhookTemplate(("a b ", ("X", "Y"), ("Z",), "c"))


safe_text = st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=30)


@given(safe_text)
def test_text_without_actions_is_unchanged(text: str) -> None:
    assert compile_template(text).render({}) == text


@given(st.text(max_size=30))
def test_values_are_escaped_and_reversible(value: str) -> None:
    rendered = compile_template("{{.V}}").render({"V": value})
    assert not set(rendered) & set("<>'\"+\0")
    unescaped = rendered
    for escaped, raw in [("&#34;", '"'), ("&#39;", "'"), ("&#43;", "+"), ("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&")]:
        unescaped = unescaped.replace(escaped, raw)
    assert unescaped == value.replace("\0", "\ufffd")


@given(st.text(max_size=40))
def test_any_text_compiles_or_raises_template_error(text: str) -> None:
    try:
        compile_template(text)
    except TemplateError as exc:
        assert 0 <= exc.position < len(text)
