"""Rich text: the small HTML people may write (e-mail templates), cleaned with an allow-list.

Anything not on the list is dropped — tags with their attributes (`<img onerror>`, `style`),
and `<script>`/`<style>` with their content; links keep only http(s), mailto and tel addresses
and get `rel="noopener noreferrer nofollow"`. nh3 (Rust's ammonia) parses like a browser, so
malformed markup cannot smuggle a tag past the list (mutation XSS). Cleaning is idempotent:
stored text is cleaned when saved and the rendered result once more before it goes out.
"""

from __future__ import annotations

import html
import re

import nh3

TAGS = frozenset(
    {"p", "br", "strong", "b", "em", "i", "u", "s", "a", "ul", "ol", "li", "blockquote", "h3", "h4"}
)
ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
# Dropped with what they contain, not just unwrapped: their text is code, never prose.
DROPPED_WITH_CONTENT = frozenset({"script", "style", "template", "noscript", "iframe", "object"})

_PARAGRAPH_END = re.compile(r"</(p|h3|h4|blockquote|ul|ol)>", re.IGNORECASE)
_LINE_END = re.compile(r"</li>|<br\s*/?>", re.IGNORECASE)
_LIST_ITEM = re.compile(r"<li>", re.IGNORECASE)
_LINK = re.compile(r'<a [^>]*href="([^"]*)"[^>]*>(.*?)</a>', re.IGNORECASE | re.DOTALL)


def rich_text_clean(source: str) -> str:
    """`source` with everything outside the allow-list removed."""
    return nh3.clean(
        source,
        tags=set(TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    ).strip()


def _link_text(match: re.Match[str]) -> str:
    href, text = html.unescape(match.group(1)), match.group(2)
    plain = html.unescape(nh3.clean(text, tags=set())).strip()
    target = href.removeprefix("mailto:").removeprefix("tel:")
    return plain if not href or target == plain else f"{plain} ({href})"


def rich_text_plain(source: str) -> str:
    """The text alternative of cleaned rich text: one line per paragraph or list item, "- "
    before items, a link's address after its text."""
    cleaned = rich_text_clean(source)
    text = _LINK.sub(lambda m: html.escape(_link_text(m), quote=False), cleaned)
    text = _LIST_ITEM.sub("- ", _LINE_END.sub("\n", _PARAGRAPH_END.sub("\n\n", text)))
    text = html.unescape(nh3.clean(text, tags=set()))
    lines = [line.strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
