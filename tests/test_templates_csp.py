"""Every template, script and style sheet of the site keeps to the Content-Security-Policy
(config/settings.py): no inline script, no inline event handler (``onclick=``), no ``style``
attribute or element, no ``javascript:`` URL, no code built from strings (``eval``), nothing
loaded from another host. The browser would refuse each of them; this scan names the file
and line before a page breaks.

Links a person follows (``<a href="https://...">``) load nothing and are allowed. Vendored
minified libraries (``static/vendor/``) are checked for other hosts only: htmx carries the
strings of the features the htmx-config meta tag turns off. Django's admin and Swagger UI
are checked in Chromium (tests/browser/test_csp.py).
"""

import re
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
TEMPLATE_DIRS = [ROOT / "templates", *(ROOT / app / "templates" for app in ("projects", "qc"))]
STATIC = ROOT / "static"

# Template comments and HTML comments say what they like.
_COMMENTS = re.compile(
    r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}|{#.*?#}|<!--.*?-->", re.DOTALL | re.IGNORECASE
)
_TAG = re.compile(r"<[a-zA-Z][^<>]*>")
_SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
_DATA_BLOCK = re.compile(r"""\btype\s*=\s*["']application/(ld\+)?json["']""", re.IGNORECASE)
_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
_STYLE_ATTRIBUTE = re.compile(r"\sstyle\s*=", re.IGNORECASE)
_RESOURCE = re.compile(
    r"""\s(src|srcset|href|action|formaction|poster|data|background)\s*=\s*["']?\s*(https?:|//)""",
    re.IGNORECASE,
)
_JS_URL = re.compile(r"""["']\s*javascript:""", re.IGNORECASE)
# Namespace names are URIs, never fetched.
_NAMESPACES = ("http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink")
_JS_STRING_CODE = re.compile(
    r"\beval\s*\(|\bnew\s+Function\s*\(|\bset(Timeout|Interval)\s*\(\s*[\"'`]|document\.write"
)
_JS_INLINE_MARKUP = re.compile(
    r"""<script|<style|\son[a-z]+\s*=\s*\\?["']|\sstyle\s*=\s*\\?["']"""
    r"""|setAttribute\(\s*["'](style|on[a-z]+)["']""",
    re.IGNORECASE,
)
_OTHER_HOST = re.compile(r"""(https?:)?//[a-z0-9.-]+\.[a-z]{2,}[/"'`)\s]""", re.IGNORECASE)
_CSS_OTHER_HOST = re.compile(r"""(url\(\s*["']?|@import\s+["'])\s*(https?:|//)""", re.IGNORECASE)


def _line(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


def _blank(match: re.Match) -> str:
    """A comment replaced by its newlines, so that later lines keep their numbers."""
    return "\n" * match.group(0).count("\n")


def template_problems(text: str) -> list[str]:
    """What in a template's text the policy would refuse, as "line N: what"."""
    text = _COMMENTS.sub(_blank, text)
    problems = []
    for match in _SCRIPT_TAG.finditer(text):
        attributes = match.group(1)
        if "src=" not in attributes and not _DATA_BLOCK.search(attributes):
            problems.append(f"line {_line(text, match.start())}: inline <script>")
    if (found := re.search(r"<style\b", text, re.IGNORECASE)) is not None:
        problems.append(f"line {_line(text, found.start())}: <style> element")
    for tag in _TAG.finditer(text):
        where = f"line {_line(text, tag.start())}"
        content = tag.group(0)
        if _HANDLER.search(content):
            problems.append(f"{where}: inline event handler in {content[:60]}")
        if _STYLE_ATTRIBUTE.search(content):
            problems.append(f"{where}: style attribute in {content[:60]}")
        if _JS_URL.search(content):
            problems.append(f"{where}: javascript: URL in {content[:60]}")
        resource = _RESOURCE.search(content)
        if resource and not (content.lower().startswith("<a ") and resource[1] == "href"):
            problems.append(f"{where}: {resource[1]} from another host in {content[:60]}")
    return problems


def script_problems(text: str, *, vendored: bool = False) -> list[str]:
    """What in a script's text the policy would refuse (``vendored``: other hosts only)."""
    problems = []
    checks = (
        []
        if vendored
        else [(_JS_STRING_CODE, "code from a string"), (_JS_INLINE_MARKUP, "inline markup")]
    )
    for pattern, what in checks:
        for match in pattern.finditer(text):
            problems.append(f"line {_line(text, match.start())}: {what}: {match.group(0)!r}")
    for match in _OTHER_HOST.finditer(text):
        if text.startswith(_NAMESPACES, match.start()):
            continue
        if not vendored and _in_comment(text, match.start() + match.group(0).index("//")):
            continue
        url = match.group(0).rstrip("/\"'`) \t\n")
        problems.append(f"line {_line(text, match.start())}: another host: {url!r}")
    return problems


def _in_comment(text: str, slashes: int) -> bool:
    """Whether the URL whose ``//`` is at ``slashes`` is in a comment (it loads nothing):
    on a line that is a comment, or after a ``//`` that starts one."""
    line = text[text.rfind("\n", 0, slashes) + 1 : slashes]
    return line.lstrip().startswith(("//", "/*", "*")) or " //" in line


def stylesheet_problems(text: str) -> list[str]:
    return [
        f"line {_line(text, match.start())}: loads from another host"
        for match in _CSS_OTHER_HOST.finditer(text)
    ]


def _files(folder: Path, pattern: str) -> list[Path]:
    return sorted(folder.rglob(pattern)) if folder.is_dir() else []


TEMPLATES = [path for folder in TEMPLATE_DIRS for path in _files(folder, "*.html")]
SCRIPTS = _files(STATIC, "*.js")
STYLESHEETS = _files(STATIC, "*.css")


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("template", TEMPLATES, ids=_id)
def test_template_keeps_to_the_policy(template):
    assert template_problems(template.read_text()) == []


@pytest.mark.parametrize("script", SCRIPTS, ids=_id)
def test_script_keeps_to_the_policy(script):
    vendored = STATIC / "vendor" in script.parents
    assert script_problems(script.read_text(), vendored=vendored) == []


@pytest.mark.parametrize("stylesheet", STYLESHEETS, ids=_id)
def test_stylesheet_loads_nothing_from_another_host(stylesheet):
    assert stylesheet_problems(stylesheet.read_text()) == []


def test_the_scan_covers_the_site():
    names = {_id(path) for path in TEMPLATES + SCRIPTS + STYLESHEETS}

    assert {"templates/base.html", "static/vendor/htmx.min.js", "static/css/maskqc.css"} <= names


# --------------------------------------------------------------- the scan finds each kind


@pytest.mark.parametrize(
    "snippet,problem",
    [
        ("<script>alert(1)</script>", "inline <script>"),
        ('<script type="module">go()</script>', "inline <script>"),
        ("<style>p { color: red }</style>", "<style> element"),
        ('<button onclick="go()">Go</button>', "inline event handler"),
        ('<img src="x.png" ONERROR="go()">', "inline event handler"),
        ('<p style="color: red">', "style attribute"),
        ('<div class="a"\n     style="width: 2px">', "style attribute"),
        ('<a href="javascript:go()">Go</a>', "javascript: URL"),
        ('<script src="https://cdn.example.org/x.js"></script>', "src from another host"),
        ('<link rel="stylesheet" href="//cdn.example.org/x.css">', "href from another host"),
        ('<img src="http://example.org/x.png">', "src from another host"),
        ('<form action="https://example.org/post">', "action from another host"),
    ],
)
def test_the_template_scan_finds(snippet, problem):
    found = template_problems(f"{{% extends 'base.html' %}}\n{snippet}\n")

    assert len(found) == 1 and found[0].startswith("line 2: " + problem), found


@pytest.mark.parametrize(
    "snippet",
    [
        "<script src=\"{% static 'js/viewer.js' %}\" defer></script>",
        '<script type="application/json" id="data">{}</script>',
        "{{ data|json_script:'viewer-data' }}",
        '<a href="https://htmx.org">htmx</a>',
        '<svg><rect fill="#E69F00" stroke="#000"/></svg>',
        "{# <style> in a comment #}",
        "{% comment %}<script>go()</script>{% endcomment %}",
        '<input name="online" data-on="1">',
    ],
)
def test_the_template_scan_allows(snippet):
    assert template_problems(snippet) == []


@pytest.mark.parametrize(
    "snippet,problem",
    [
        ('eval("go()");', "code from a string"),
        ('const f = new Function("return 1");', "code from a string"),
        ('setTimeout("go()", 10);', "code from a string"),
        ("el.innerHTML = '<b style=\"color:red\">x</b>';", "inline markup"),
        ("el.innerHTML = '<button onclick=\"go()\">';", "inline markup"),
        ("el.setAttribute('style', 'color: red');", "inline markup"),
        ("el.insertAdjacentHTML('beforeend', '<style>p{}</style>');", "inline markup"),
        ('fetch("https://api.example.org/x");', "another host"),
        ("const src = '//cdn.example.org/lib.js';", "another host"),
    ],
)
def test_the_script_scan_finds(snippet, problem):
    found = script_problems(f"'use strict';\n{snippet}\n")

    assert len(found) == 1 and found[0].startswith("line 2: " + problem), found


@pytest.mark.parametrize(
    "snippet",
    [
        "el.style.opacity = '0.5';",
        'document.createElementNS("http://www.w3.org/2000/svg", "path");',
        "// see https://developer.mozilla.org/ for the API",
        "setTimeout(() => go(), 10);",
        'fetch("/api/v1/projects/");',
        "const half = width / 2; // the middle",
    ],
)
def test_the_script_scan_allows(snippet):
    assert script_problems(snippet) == []


def test_the_stylesheet_scan_finds_other_hosts():
    css = (
        "p { color: red }\n@import 'https://fonts.example.org/x.css';\n"
        "a { background: url(//x.org/a.png) }"
    )

    assert stylesheet_problems(css) == [
        "line 2: loads from another host",
        "line 3: loads from another host",
    ]
    assert stylesheet_problems("a { background: url(data:image/svg+xml;base64,AAAA) }") == []
