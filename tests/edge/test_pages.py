"""Index page model: HTML/JSON parsing, rendering and round trips."""

from __future__ import annotations

import html
import json
import re
import time
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pkgate.edge.negotiate import HTML_LEGACY, HTML_V1, JSON_V1
from pkgate.edge.pageparse import parse_project, parse_root
from pkgate.edge.pages import FileLink, ProjectPage, RootPage
from pkgate.edge.render import render_project_html, render_project_json, render_root_html, render_root_json
from pkgate.errors import PageError

PAGE = "https://pypi.example/simple/foo/"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
SHA = "a" * 64


def same_url(f: FileLink) -> str:
    return f.url


def model(page: ProjectPage) -> ProjectPage:
    """The page as pkgate models it, without the upstream's document (which faithful output uses)."""
    return msgspec.structs.replace(page, source=None)


def root_model(root: RootPage) -> RootPage:
    return msgspec.structs.replace(root, source=None, api_version=None)


def html_page(*anchors: str, head: str = "") -> bytes:
    body = "\n".join(anchors)
    return f"<!DOCTYPE html><html><head>{head}</head><body>{body}</body></html>".encode()


def one_html(anchor: str, **kw: str) -> FileLink:
    (f,) = parse_project(html_page(anchor, **kw), "text/html", PAGE, "foo").files
    return f


def json_page(files: list[dict[str, Any]], **top: Any) -> bytes:
    doc: dict[str, Any] = {"meta": {"api-version": "1.0"}, "name": "foo", "files": files}
    doc.update(top)
    return json.dumps(doc).encode()


def one_json(**fields: Any) -> FileLink:
    file = {"filename": "foo-1.0.tar.gz", "url": "foo-1.0.tar.gz", "hashes": {}} | fields
    (f,) = parse_project(json_page([file]), JSON_V1, PAGE, "foo").files
    return f


# --- HTML parsing -----------------------------------------------------------------------------------


def test_html_link_basics() -> None:
    f = one_html(f'<a href="../../packages/ab/foo-1.0.tar.gz#sha256={SHA}">foo-1.0.tar.gz</a>')
    assert f == FileLink("foo-1.0.tar.gz", "https://pypi.example/packages/ab/foo-1.0.tar.gz", {"sha256": SHA})


@pytest.mark.parametrize(
    ("href", "url"),
    [
        ("foo-1.0.tar.gz", "https://pypi.example/simple/foo/foo-1.0.tar.gz"),
        ("/files/foo-1.0.tar.gz", "https://pypi.example/files/foo-1.0.tar.gz"),
        ("//cdn.example/foo-1.0.tar.gz", "https://cdn.example/foo-1.0.tar.gz"),
        ("http://other.example/x/foo-1.0.tar.gz?a=1", "http://other.example/x/foo-1.0.tar.gz?a=1"),
        ("  https://cdn.example/foo-1.0.tar.gz\n", "https://cdn.example/foo-1.0.tar.gz"),  # HTML strips
        ("https://cdn.example/a b/foo-1.0.tar.gz", "https://cdn.example/a%20b/foo-1.0.tar.gz"),
        ("https://cdn.example/\u00e9/foo-1.0.tar.gz", "https://cdn.example/%C3%A9/foo-1.0.tar.gz"),
        ("https://cdn.example/%41/foo-1.0.tar.gz", "https://cdn.example/%41/foo-1.0.tar.gz"),  # kept
        ('https://cdn.example/"<>{}|^`/f.tar.gz', "https://cdn.example/%22%3C%3E%7B%7D%7C%5E%60/f.tar.gz"),
    ],
)
def test_html_urls_are_resolved_and_header_safe(href: str, url: str) -> None:
    f = one_html(f'<a href="{html.escape(href)}">foo-1.0.tar.gz</a>')
    assert f.url == url
    assert f.url.isascii()


def test_base_href_changes_resolution() -> None:
    f = one_html('<a href="f-1.0.zip">f-1.0.zip</a>', head='<base href="https://mirror.example/pkgs/">')
    assert f.url == "https://mirror.example/pkgs/f-1.0.zip"


@pytest.mark.parametrize(
    ("fragment", "hashes"),
    [
        (f"#sha256={SHA}", {"sha256": SHA}),
        ("#MD5=0123abcd", {"md5": "0123abcd"}),  # names are normalised to lowercase
        (f"#sha256={SHA}&md5=ff", {"sha256": SHA, "md5": "ff"}),
        ("#egg=foo", {}),  # a legacy fragment, not a hash
        ("#sha256=not-hex", {}),
        ("#sha256=", {}),
        ("#", {}),
        ("", {}),
    ],
)
def test_html_hash_fragment(fragment: str, hashes: dict[str, str]) -> None:
    f = one_html(f'<a href="f-1.0.zip{fragment}">f-1.0.zip</a>')
    assert f.hashes == hashes
    assert "#" not in f.url


@pytest.mark.parametrize(
    ("attr", "expected"),
    [
        ("", None),
        ('data-requires-python="&gt;=3.8"', ">=3.8"),
        ('data-requires-python=">=3.8, !=3.9.*"', ">=3.8, !=3.9.*"),
        ('data-requires-python="&amp;gt;=3.6"', ">=3.6"),  # double-escaped upstream, unescaped as pip does
        ('data-requires-python=""', None),
        ("data-requires-python", None),
    ],
)
def test_html_requires_python(attr: str, expected: str | None) -> None:
    assert one_html(f'<a href="f-1.0.zip" {attr}>f-1.0.zip</a>').requires_python == expected


@pytest.mark.parametrize(
    ("attr", "expected"),
    [
        ("", False),
        ("data-yanked", True),  # PEP 592: presence means yanked, even without a value
        ('data-yanked=""', True),
        ('data-yanked="broken &amp; &quot;bad&quot;"', 'broken & "bad"'),
        ("DATA-YANKED='x'", "x"),  # attribute names are case-insensitive
    ],
)
def test_html_yanked(attr: str, expected: bool | str) -> None:
    assert one_html(f'<a href="f-1.0.zip" {attr}>f-1.0.zip</a>').yanked == expected


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ("", False),
        ('data-core-metadata="true"', True),
        ("data-core-metadata", True),
        (f'data-core-metadata="sha256={SHA}"', {"sha256": SHA}),
        (f'data-dist-info-metadata="sha256={SHA}"', {"sha256": SHA}),  # the PEP 658 name
        (f'data-core-metadata="true" data-dist-info-metadata="sha256={SHA}"', True),  # PEP 714: new wins
        (f'data-dist-info-metadata="true" data-core-metadata="sha256={SHA}"', {"sha256": SHA}),
        ('data-core-metadata="false"', False),
        ('data-core-metadata="sha256=zz"', True),  # present but the hash is unusable (pip does the same)
        ('data-core-metadata="whatever"', True),
    ],
)
def test_html_core_metadata(attrs: str, expected: bool | dict[str, str]) -> None:
    assert one_html(f'<a href="f-1.0.zip" {attrs}>f-1.0.zip</a>').core_metadata == expected


@pytest.mark.parametrize(
    ("attr", "expected"),
    [
        ("", None),
        ('data-gpg-sig="true"', True),
        ('data-gpg-sig="FALSE"', False),
        ('data-gpg-sig="maybe"', None),
    ],
)
def test_html_gpg_sig(attr: str, expected: bool | None) -> None:
    assert one_html(f'<a href="f-1.0.zip" {attr}>f-1.0.zip</a>').gpg_sig == expected


@pytest.mark.parametrize(
    ("anchor", "filename"),
    [
        ('<a href="x/f-1.0.zip">\n   f-1.0.zip\n </a>', "f-1.0.zip"),
        ('<a href="x/f-1.0.zip"><span>f-1.0</span>.zip</a>', "f-1.0.zip"),
        ('<a href="x/f-1.0.zip">f &amp; g.zip</a>', "f & g.zip"),
        ('<a href="x/f%201.0.zip"></a>', "f 1.0.zip"),  # no text: the URL's last segment, decoded
        ('<a href="x/other.zip">f-1.0.zip</a>', "f-1.0.zip"),  # the anchor text wins
    ],
)
def test_html_filename(anchor: str, filename: str) -> None:
    assert one_html(anchor).filename == filename


def test_html_structure_quirks() -> None:
    body = html_page(
        '<a name="top"></a>',  # no href: not a link
        '<a href="../">   </a>',  # no filename at all: not a file
        '<a href="a-1.0.zip">a-1.0.zip',  # unclosed, closed by the next <a>
        '<a href="b-1.0.zip">b-1.0.zip</a>',
        "<!-- a comment --><script>var x = '<a href=\"javascript:1\">';</script>",
        '<a href="c-1.0.zip">c-1.0.zip',  # unclosed at end of document
    )
    page = parse_project(body, "text/html", PAGE, "foo")
    assert [f.filename for f in page.files] == ["a-1.0.zip", "b-1.0.zip", "c-1.0.zip"]
    assert page.name == "foo"
    assert page.versions is None


def test_html_serial_and_repository_version() -> None:
    body = html_page(
        '<a href="a-1.0.zip">a-1.0.zip</a>', head='<meta name="pypi:repository-version" content="1.3">'
    )
    page = parse_project(body + b"<!--SERIAL 31415-->", "text/html", PAGE, "foo")
    assert page.last_serial == "31415"
    with pytest.raises(PageError, match=r"unsupported repository API version '2\.0'"):
        parse_project(
            html_page(head='<meta name="pypi:repository-version" content="2.0">'), "text/html", PAGE, "f"
        )


def test_html_charset_from_content_type() -> None:
    body = '<a href="caf\u00e9-1.0.zip">caf\u00e9-1.0.zip</a>'.encode("latin-1")
    (f,) = parse_project(body, "text/html; charset=ISO-8859-1", PAGE, "foo").files
    assert f.filename == "caf\u00e9-1.0.zip"
    assert f.url.endswith("/caf%C3%A9-1.0.zip")
    (g,) = parse_project(body, "text/html; charset=x-unknown", PAGE, "foo").files  # utf-8, replaced
    assert g.filename == "caf\ufffd-1.0.zip"


@pytest.mark.parametrize(
    ("anchor", "message"),
    [
        ('<a href="javascript:alert(1)">f-1.0.zip</a>', "not an absolute http"),
        ('<a href="mailto:x@example.org">f-1.0.zip</a>', "not an absolute http"),
        ('<a href="ftp://example.org/f-1.0.zip">f-1.0.zip</a>', "not an absolute http"),
        ('<a href="http:///f-1.0.zip">f-1.0.zip</a>', "not an absolute http"),  # no host
        ('<a href="https://[::1/f-1.0.zip">f-1.0.zip</a>', "malformed URL"),
        ('<a href="https://e.org/f-1.0.zip&#13;&#10;Set-Cookie: x">f-1.0.zip</a>', "URL contains a control"),
        ('<a href="https://e.org/f-1.0.zip%0d%0a">f%0d%0a</a>', None),  # encoded: harmless, kept
        ('<a href="https://e.org/a\tb.zip">ab.zip</a>', "URL contains a control"),
        ('<a href="https://e.org/f-1.0.zip\x00">f-1.0.zip</a>', "URL contains a control"),
        ('<a href="f.zip">f\x85.zip</a>', "filename contains a control"),
        ('<a href="x/f%0A.zip"></a>', "filename contains a control"),
        ('<a href="f.zip" data-requires-python="&gt;=3&#10;">f.zip</a>', "data-requires-python contains"),
        ('<a href="f.zip" data-yanked="bad\r\nreason">f.zip</a>', "data-yanked contains"),
    ],
)
def test_html_rejects_dangerous_links(anchor: str, message: str | None) -> None:
    if message is None:
        assert "\n" not in one_html(anchor).url
        return
    with pytest.raises(PageError, match=message):
        one_html(anchor)


@pytest.mark.parametrize("bad", ["<a", "<!--", "</", "<![CDATA[", "<? "])
def test_html_quadratic_recovery_is_bounded(bad: str) -> None:
    # html.parser rescans the rest of the document for each unclosed construct; 40k of them would
    # take minutes. The parser gives up after a bounded amount of work.
    started = time.perf_counter()
    with pytest.raises(PageError, match="too many unclosed tags or comments"):
        parse_project((bad * 40_000).encode(), "text/html", PAGE, "foo")
    assert time.perf_counter() - started < 5
    assert parse_project((bad * 50).encode(), "text/html", PAGE, "foo").files == []  # a few are fine


# --- JSON parsing -----------------------------------------------------------------------------------

PEP691_EXAMPLE = {
    "meta": {"api-version": "1.0"},
    "name": "holygrail",
    "files": [
        {
            "filename": "holygrail-1.0.tar.gz",
            "url": "https://example.com/files/holygrail-1.0.tar.gz",
            "hashes": {"sha256": SHA, "blake2b": "b" * 128},
            "requires-python": ">=3.7",
            "yanked": "Had a vulnerability",
        },
        {
            "filename": "holygrail-1.0-py3-none-any.whl",
            "url": "https://example.com/files/holygrail-1.0-py3-none-any.whl",
            "hashes": {"sha256": SHA, "blake2b": "b" * 128},
            "requires-python": ">=3.7",
            "dist-info-metadata": True,
        },
    ],
}


def test_json_pep691_example() -> None:
    page = parse_project(json.dumps(PEP691_EXAMPLE).encode(), JSON_V1, PAGE, "HolyGrail")
    assert page.name == "holygrail"
    sdist, wheel = page.files
    assert sdist == FileLink(
        "holygrail-1.0.tar.gz",
        "https://example.com/files/holygrail-1.0.tar.gz",
        {"sha256": SHA, "blake2b": "b" * 128},
        requires_python=">=3.7",
        yanked="Had a vulnerability",
    )
    assert wheel.core_metadata is True
    assert wheel.yanked is False


def test_json_pep700_fields_and_meta() -> None:
    body = json_page(
        [{"filename": "foo-1.0.tar.gz", "url": "/f/foo-1.0.tar.gz", "hashes": {}, "size": 1234,
          "upload-time": "2024-01-02T03:04:05.123456Z", "future-key": {"ignored": [1, 2]}}],
        versions=["1.0", "2.0"],
        meta={"api-version": "1.1", "_last-serial": 987654, "unknown": True},
    )  # fmt: skip
    page = parse_project(body, JSON_V1 + "; charset=utf-8", PAGE, "foo")
    (f,) = page.files
    assert f.url == "https://pypi.example/f/foo-1.0.tar.gz"  # relative to the page, as in HTML
    assert (f.size, f.upload_time) == (1234, "2024-01-02T03:04:05.123456Z")
    assert page.versions == ["1.0", "2.0"]
    assert page.last_serial == "987654"


@pytest.mark.parametrize(
    ("fields", "attr", "expected"),
    [
        ({"yanked": True}, "yanked", True),
        ({"yanked": False}, "yanked", False),
        ({"yanked": "reason"}, "yanked", "reason"),
        ({"yanked": ""}, "yanked", False),  # PEP 691 truthiness, and pip: an empty string is falsey
        ({"yanked": None}, "yanked", False),
        ({"core-metadata": {"sha256": SHA}}, "core_metadata", {"sha256": SHA}),
        ({"core-metadata": True, "dist-info-metadata": False}, "core_metadata", True),
        ({"core-metadata": False, "dist-info-metadata": True}, "core_metadata", False),  # PEP 714
        ({"dist-info-metadata": {"SHA256": SHA}}, "core_metadata", {"sha256": SHA}),
        ({"data-dist-info-metadata": {"sha256": SHA}}, "core_metadata", {"sha256": SHA}),  # Warehouse bug
        ({"data-dist-info-metadata": "junk"}, "core_metadata", False),  # non-standard key: tolerated
        ({"core-metadata": {}}, "core_metadata", False),  # falsey: not available
        ({"core-metadata": {"sha256": "zz"}}, "core_metadata", True),  # truthy, hash unusable
        ({"gpg-sig": True}, "gpg_sig", True),
        ({"gpg-sig": False}, "gpg_sig", False),
        ({"requires-python": None}, "requires_python", None),
        ({"requires-python": ""}, "requires_python", None),
        ({"requires-python": ">=3.8"}, "requires_python", ">=3.8"),
        ({"hashes": {"SHA256": SHA, "md5": "no", "": "ab"}}, "hashes", {"sha256": SHA}),
        ({"url": "https://e.org/x.tar.gz#sha256=ab"}, "url", "https://e.org/x.tar.gz"),
    ],
)
def test_json_file_fields(fields: dict[str, Any], attr: str, expected: object) -> None:
    assert getattr(one_json(**fields), attr) == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "malformed JSON"),
        (b"{", "malformed JSON"),
        (b"[]", "malformed JSON"),
        (b'{"meta": {"api-version": "1.0"}, "name": "foo"}', "missing required field `files`"),
        (b'{"files": [], "name": "foo"}', "missing required field `meta`"),
        (b'{"meta": {}, "files": []}', "api-version"),
        (b'{"meta": {"api-version": "2.0"}, "files": []}', "unsupported repository API version"),
        (b'{"meta": {"api-version": "1.0"}, "files": [{"filename": "f", "url": "f"}]}', "hashes"),
        (b'{"meta": {"api-version": "1.0"}, "files": [{"filename": "f", "hashes": {}}]}', "url"),
        (b'{"meta": {"api-version": "1.0"}, "files": [{"url": "f", "hashes": {}}]}', "filename"),
        (b'{"meta": {"api-version": "1.0"}, "files": [{"filename": 1, "url": "f", "hashes": {}}]}', "str"),
        (b'{"meta": {"api-version": "1.0"}, "files": [{"filename": "", "url": "f", "hashes": {}}]}', "empty"),
    ],
)
def test_json_malformed(body: bytes, message: str) -> None:
    with pytest.raises(PageError, match=message):
        parse_project(body, JSON_V1, PAGE, "foo")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"url": "https://e.org/f.tar.gz\r\nLocation: evil"}, "URL contains a control"),
        ({"url": "file:///etc/passwd"}, "not an absolute http"),
        ({"url": "data:text/plain,hi"}, "not an absolute http"),
        ({"filename": "f\n.tar.gz"}, "filename contains a control"),
        ({"requires-python": ">=3\x00"}, "requires-python contains"),
        ({"yanked": "a\x1bb"}, "yanked reason contains"),
        ({"upload-time": "2024\n"}, "upload-time contains"),
        ({"size": -1}, "negative size"),
        ({"core-metadata": "true"}, "core-metadata"),  # the standard key must be bool or hashes
        ({"size": "12"}, "size"),
    ],
)
def test_json_rejects_bad_values(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(PageError, match=message):
        one_json(**fields)


def test_json_name_falls_back_to_requested_and_checks_versions() -> None:
    body = json.dumps({"meta": {"api-version": "1.1"}, "files": [], "versions": ["1.0"]}).encode()
    assert parse_project(body, JSON_V1, PAGE, "requested").name == "requested"
    bad = json.dumps({"meta": {"api-version": "1.1"}, "files": [], "versions": ["1\n"]}).encode()
    with pytest.raises(PageError, match="version contains a control"):
        parse_project(bad, JSON_V1, PAGE, "foo")


# --- content type dispatch and root pages -----------------------------------------------------------

_JSON_BODY = json_page([{"filename": "j-1.0.zip", "url": "j-1.0.zip", "hashes": {}}])
_HTML_BODY = html_page('<a href="h-1.0.zip">h-1.0.zip</a>')


@pytest.mark.parametrize(
    ("body", "ctype", "filename"),
    [
        (_JSON_BODY, JSON_V1, "j-1.0.zip"),
        (_JSON_BODY, "Application/Vnd.Pypi.Simple.V1+JSON; charset=utf-8", "j-1.0.zip"),
        (_JSON_BODY, "application/vnd.pypi.simple.latest+json", "j-1.0.zip"),
        (_HTML_BODY, HTML_V1, "h-1.0.zip"),
        (_HTML_BODY, "text/html; charset=utf-8", "h-1.0.zip"),
        (_HTML_BODY, "", "h-1.0.zip"),  # missing type: sniffed
        (b"\xef\xbb\xbf \n" + _HTML_BODY, "application/octet-stream", "h-1.0.zip"),
        (_JSON_BODY, "application/json", "j-1.0.zip"),
    ],
)
def test_content_type_dispatch(body: bytes, ctype: str, filename: str) -> None:
    assert parse_project(body, ctype, PAGE, "foo").files[0].filename == filename


@pytest.mark.parametrize(
    ("body", "ctype", "message"),
    [
        (_JSON_BODY, "application/vnd.pypi.simple.v2+json", "unsupported simple API content type"),
        (b"plain text", "text/plain", "not an index page"),
        (b"", "", "not an index page"),
        (_HTML_BODY, JSON_V1, "malformed JSON"),  # the declared type is trusted
    ],
)
def test_content_type_errors(body: bytes, ctype: str, message: str) -> None:
    with pytest.raises(PageError, match=message):
        parse_project(body, ctype, PAGE, "foo")


def test_root_html_and_json() -> None:
    body = html_page(
        '<a href="/simple/frob/">Frob</a>', '<a href="/simple/spam/">\n spam \n</a>', "<a>nolink</a>"
    )
    assert root_model(parse_root(body, HTML_LEGACY)) == RootPage(["Frob", "spam"])
    doc = {
        "meta": {"api-version": "1.0", "_last-serial": 1},
        "projects": [{"name": "Frob"}, {"name": "spam"}],
    }
    assert root_model(parse_root(json.dumps(doc).encode(), JSON_V1)) == RootPage(["Frob", "spam"])
    with pytest.raises(PageError, match="project name contains a control"):
        parse_root(
            json.dumps({"meta": {"api-version": "1.0"}, "projects": [{"name": "a\nb"}]}).encode(), JSON_V1
        )
    with pytest.raises(PageError, match="projects"):
        parse_root(b'{"meta": {"api-version": "1.0"}}', JSON_V1)


# --- rendering --------------------------------------------------------------------------------------


def _awkward_file() -> FileLink:
    return FileLink(
        filename='<b>"foo"&bar</b>-1.0.tar.gz',
        url="https://e.org/x.tar.gz",
        hashes={"md5": "0f", "sha256": SHA},
        requires_python='>=3.8,<4"',
        yanked='<script>alert("x")</script>',
        core_metadata={"blake2b": "cc", "sha256": "dd"},
        gpg_sig=True,
    )


def test_render_html_escapes_everything() -> None:
    out = render_project_html(
        ProjectPage("<foo>", [_awkward_file()]), lambda f: '/files/a"b<c>/' + f.filename
    )
    text = out.decode()
    assert text.startswith("<!DOCTYPE html>")
    assert '<meta name="pypi:repository-version" content="1.0">' in text
    assert "<title>Links for &lt;foo&gt;</title>" in text
    assert "<script>" not in text
    assert "<b>" not in text
    assert "<foo>" not in text
    assert (
        'href="/files/a&quot;b&lt;c&gt;/&lt;b&gt;&quot;foo&quot;&amp;bar&lt;/b&gt;-1.0.tar.gz#sha256=' in text
    )
    assert 'data-requires-python="&gt;=3.8,&lt;4&quot;"' in text
    assert 'data-yanked="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"' in text
    assert 'data-core-metadata="sha256=dd" data-dist-info-metadata="sha256=dd"' in text
    assert 'data-gpg-sig="true"' in text


@pytest.mark.parametrize(
    ("file", "present", "absent"),
    [
        (FileLink("f.zip", "https://e.org/f.zip", {}), ['href="L">f.zip</a>'], ["data-", "#"]),
        (FileLink("f.zip", "u", {"md5": "01", "sha1": "02"}), ['href="L#md5=01"'], ["sha1"]),
        (FileLink("f.zip", "u", {}, yanked=True), ['data-yanked=""'], []),  # pip ignores a valueless one
        (FileLink("f.zip", "u", {}, yanked=""), ['data-yanked=""'], []),
        (FileLink("f.zip", "u", {}, core_metadata=True), ['data-core-metadata="true" data-dist-info'], []),
        (FileLink("f.zip", "u", {}, core_metadata={}), [], ["metadata"]),
        (FileLink("f.zip", "u", {}, gpg_sig=False), ['data-gpg-sig="false"'], []),
    ],
)
def test_render_html_attributes(file: FileLink, present: list[str], absent: list[str]) -> None:
    text = render_project_html(ProjectPage("f", [file]), lambda f: "L").decode()
    anchor = next(line for line in text.splitlines() if "<a " in line)
    for snippet in present:
        assert snippet in anchor
    for snippet in absent:
        assert snippet not in anchor


def test_render_json_shape() -> None:
    page = ProjectPage("foo", [_awkward_file()], last_serial="12")
    doc = json.loads(render_project_json(page, lambda f: "/files/" + f.filename))
    assert doc["meta"] == {"api-version": "1.0", "_last-serial": "12"}  # a string, as at PyPI
    assert doc["name"] == "foo"
    (f,) = doc["files"]
    assert f["url"] == '/files/<b>"foo"&bar</b>-1.0.tar.gz'
    assert f["hashes"] == {"md5": "0f", "sha256": SHA}
    assert f["requires-python"] == '>=3.8,<4"'
    assert f["yanked"] == '<script>alert("x")</script>'
    assert f["core-metadata"] == {"blake2b": "cc", "sha256": "dd"}
    assert f["dist-info-metadata"] == f["core-metadata"]  # PEP 714: serve both
    assert f["gpg-sig"] is True
    assert "size" not in f
    assert "upload-time" not in f
    assert "versions" not in doc  # not derivable: that filename is not a distribution name


def test_render_json_minimal_file_omits_optional_keys() -> None:
    doc = json.loads(
        render_project_json(ProjectPage("f", [FileLink("f-1.zip", "u", {}, yanked="")]), same_url)
    )
    assert doc["files"] == [{"filename": "f-1.zip", "url": "u", "hashes": {}, "yanked": True}]


@pytest.mark.parametrize(
    ("files", "versions", "api", "out_versions"),
    [
        ([FileLink("a-1.0.zip", "u", {}, size=1)], None, "1.1", ["1.0"]),  # derived from filenames
        ([FileLink("a-1.0.zip", "u", {}, size=1)], ["1.0", "0.9"], "1.1", ["1.0", "0.9"]),
        ([FileLink("a-1.0.zip", "u", {})], ["1.0"], "1.0", ["1.0"]),  # a size is missing
        ([FileLink("weird", "u", {}, size=1)], None, "1.0", None),  # versions cannot be derived
        ([FileLink("weird", "u", {}, size=1)], ["7"], "1.1", ["7"]),  # the upstream vouched for them
        ([FileLink("a-1.0.zip", "u", {}, size=1), FileLink("a-1.0-py3-none-any.whl", "u", {}, size=2),
          FileLink("a-2.0.zip", "u", {}, size=3)], None, "1.1", ["1.0", "2.0"]),
        ([], None, "1.1", []),
    ],
)  # fmt: skip
def test_api_version_is_honest(
    files: list[FileLink], versions: list[str] | None, api: str, out_versions: list[str] | None
) -> None:
    page = ProjectPage("a", files, versions)
    doc = json.loads(render_project_json(page, same_url))
    assert doc["meta"]["api-version"] == api
    assert doc.get("versions") == out_versions
    assert f'content="{api}"' in render_project_html(page, same_url).decode()  # formats agree


def test_render_is_deterministic() -> None:
    def build() -> ProjectPage:
        return ProjectPage("foo", [_awkward_file(), FileLink("a-1.zip", "u", {}, size=3)], ["1", "2"], "5")

    assert render_project_json(build(), same_url) == render_project_json(build(), same_url)
    assert render_project_html(build(), same_url) == render_project_html(build(), same_url)


def test_render_roots() -> None:
    root = RootPage(["Frob", "a&<b>"])
    text = render_root_html(root, lambda n: f"/simple/{n.lower()}/").decode()
    assert '<a href="/simple/frob/">Frob</a>' in text
    assert '<a href="/simple/a&amp;&lt;b&gt;/">a&amp;&lt;b&gt;</a>' in text
    assert root_model(parse_root(text.encode(), HTML_LEGACY)) == root
    out = render_root_json(root, lambda n: n)
    assert json.loads(out) == {
        "meta": {"api-version": "1.0"},
        "projects": [{"name": "Frob"}, {"name": "a&<b>"}],
    }
    assert root_model(parse_root(out, JSON_V1)) == root


# --- properties ---------------------------------------------------------------------------------------

_NO_CONTROL = st.characters(blacklist_categories=("Cc", "Cs"))
_text = st.text(_NO_CONTROL, min_size=1, max_size=30)
_stripped = _text.filter(lambda s: s == s.strip(" \t\n\r\f") and s != "")
_hex = st.from_regex(r"[0-9a-f]{1,64}", fullmatch=True)
_hash_name = st.sampled_from(["sha256", "md5", "sha512", "blake2b", "sha3_256"])
_url = st.builds(
    "{}://{}/{}".format,
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[a-z0-9]{1,12}(\.[a-z]{2,5})?(:[0-9]{2,5})?", fullmatch=True),
    st.from_regex(r"([A-Za-z0-9_~+=@!$-]{1,10}/){0,3}[A-Za-z0-9_~.%-]{0,20}", fullmatch=True),
)


def _files(*, html_only: bool) -> st.SearchStrategy[FileLink]:
    n = 1 if html_only else 3
    hashes = st.dictionaries(_hash_name, _hex, max_size=n)
    return st.builds(
        FileLink,
        filename=_stripped,
        url=_url,
        hashes=hashes,
        # '&' is excluded for HTML only: data-requires-python is unescaped twice, like pip does
        requires_python=st.none() | (_text.filter(lambda s: "&" not in s) if html_only else _text),
        yanked=st.booleans() | _text,
        core_metadata=st.booleans() | st.dictionaries(_hash_name, _hex, min_size=1, max_size=n),
        gpg_sig=st.none() | st.booleans(),
        size=st.none() if html_only else st.none() | st.integers(0, 2**53),
        upload_time=st.none() if html_only else st.none() | _text,
    )


_serial = st.none() | st.from_regex(r"[1-9][0-9]{0,10}", fullmatch=True)


@given(
    st.builds(
        ProjectPage, name=_text, files=st.lists(_files(html_only=True), max_size=4), last_serial=_serial
    )
)
@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)  # no timing: the box is shared
def test_round_trip_html_json_html(page: ProjectPage) -> None:
    html1 = render_project_html(page, same_url)
    from_html = model(parse_project(html1, "text/html", PAGE, page.name))
    announced = "1.1" if not page.files else "1.0"  # PEP 700 honoured only by an empty page here
    assert from_html == msgspec.structs.replace(page, api_version=announced)
    from_json = parse_project(render_project_json(from_html, same_url), JSON_V1, PAGE, "other")
    assert from_json.files == from_html.files
    assert from_json.name == page.name
    assert from_json.last_serial == page.last_serial
    assert render_project_html(model(from_json), same_url) == html1


@given(
    st.builds(
        ProjectPage,
        name=_text,
        files=st.lists(_files(html_only=False), max_size=4),
        versions=st.none() | st.lists(_text, max_size=3),
        last_serial=st.none() | _text,
    )
)
@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
def test_round_trip_json(page: ProjectPage) -> None:
    body = render_project_json(page, same_url)
    again = parse_project(body, JSON_V1, PAGE, "other")
    assert again.files == page.files
    assert again.last_serial == page.last_serial
    if page.versions is not None:
        assert again.versions == page.versions
    assert render_project_json(again, same_url) == body


@given(st.lists(_text, max_size=5))
@settings(deadline=None)
def test_round_trip_root(names: list[str]) -> None:
    root = RootPage([n.strip(" \t\n\r\f") for n in names if n.strip(" \t\n\r\f")])
    assert root_model(parse_root(render_root_html(root, lambda n: "/simple/x/"), HTML_V1)) == root
    assert root_model(parse_root(render_root_json(root, lambda n: ""), JSON_V1)) == root


_CTYPES = st.sampled_from(
    ["", "text/html", HTML_V1, JSON_V1, "application/octet-stream", "text/html; charset=cp1252"]
)


def _assert_safe(page: ProjectPage) -> None:
    for f in page.files:
        assert f.url.startswith(("http://", "https://"))
        assert f.url.isascii()
        assert f.url.isprintable()
        assert " " not in f.url
        assert "#" not in f.url
        assert f.filename
        assert not _CONTROL.search(f.filename)
        for value in (f.requires_python, f.yanked, f.upload_time, *f.hashes, *f.hashes.values()):
            assert not (isinstance(value, str) and _CONTROL.search(value))


@given(st.binary(max_size=300), _CTYPES)
@settings(deadline=None)
def test_parse_arbitrary_bytes_only_raises_page_error(body: bytes, ctype: str) -> None:
    for parse in (lambda: parse_project(body, ctype, PAGE, "foo"), lambda: parse_root(body, ctype)):
        try:
            result = parse()
        except PageError:
            continue
        if isinstance(result, ProjectPage):
            _assert_safe(result)


_ATTR = st.sampled_from(
    [
        "href",
        "data-yanked",
        "data-requires-python",
        "data-core-metadata",
        "data-dist-info-metadata",
        "data-gpg-sig",
    ]
)


@given(st.lists(st.tuples(st.dictionaries(_ATTR, st.text(max_size=40)), st.text(max_size=30)), max_size=5))
@settings(deadline=None)
def test_parse_arbitrary_anchors_is_safe(anchors: list[tuple[dict[str, str], str]]) -> None:
    parts = []
    for attrs, text in anchors:
        rendered = " ".join(f'{k}="{html.escape(v)}"' for k, v in attrs.items())
        parts.append(f"<a {rendered}>{html.escape(text)}</a>")
    try:
        page = parse_project(html_page(*parts), "text/html", PAGE, "foo")
    except PageError:
        return
    _assert_safe(page)
    for f in page.files:  # whatever was accepted survives a render/parse cycle unchanged
        again = render_project_html(ProjectPage("foo", [f]), same_url)
        assert parse_project(again, HTML_V1, PAGE, "foo").files == [f]


_json_leaf = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=10)
_json_any = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
_file_key = st.sampled_from(
    ["filename", "url", "hashes", "requires-python", "yanked", "core-metadata", "dist-info-metadata",
     "data-dist-info-metadata", "gpg-sig", "size", "upload-time", "other"]
)  # fmt: skip


@given(
    st.dictionaries(_file_key, _json_any | _url | st.just({"sha256": SHA})),
    st.sampled_from(["1.0", "1.1", "2.0", 1, None]),
    _json_any,
)
@settings(deadline=None)
def test_parse_json_shaped_garbage_only_raises_page_error(
    file: dict[str, Any], api: object, extra: object
) -> None:
    doc = {"meta": {"api-version": api}, "files": [file], "versions": extra, "name": extra}
    try:
        page = parse_project(msgspec.json.encode(doc), JSON_V1, PAGE, "foo")
    except PageError:
        return
    _assert_safe(page)
