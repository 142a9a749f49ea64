"""The rich-text allow-list: formatting survives, every payload of the XSS corpus is defused."""

from __future__ import annotations

import pytest

from conveyor.core.richtext import rich_text_clean, rich_text_plain
from conveyor.testing.xss import PAYLOADS, dangerous


def test_formatting_on_the_list_survives() -> None:
    source = (
        "<h3>Offer</h3><p>Hello <strong>Ana</strong>, <em>see</em> <u>this</u>:</p>"
        "<ol><li>one</li></ol><blockquote>quote</blockquote>"
        '<p><a href="https://example.org/?a=1&amp;b=2" title="t">link</a><br>'
        '<a href="mailto:a@example.org">mail</a> <a href="tel:+359888">call</a></p>'
    )
    cleaned = rich_text_clean(source)
    for kept in ("<h3>", "<strong>Ana</strong>", "<em>", "<u>", "<ol><li>", "<blockquote>", "<br>"):
        assert kept in cleaned
    assert 'href="https://example.org/?a=1&amp;b=2"' in cleaned
    assert 'href="mailto:a@example.org"' in cleaned and 'href="tel:+359888"' in cleaned
    assert cleaned.count('rel="noopener noreferrer nofollow"') == 3


@pytest.mark.parametrize("payload", PAYLOADS)
def test_xss_payload_is_defused(payload: str) -> None:
    assert dangerous(payload), "the corpus entry must be dangerous to begin with"
    cleaned = rich_text_clean(f"<p>Before</p>{payload}<p>After</p>")
    assert dangerous(cleaned) == []
    assert "Before" in cleaned  # (an unclosed <style> may take the rest with it)
    # Cleaning is stable: cleaning again changes nothing (stored text is cleaned once more
    # when rendered).
    assert rich_text_clean(cleaned) == cleaned


def test_script_and_style_content_is_dropped_not_shown() -> None:
    assert rich_text_clean("<script>alert(1)</script><style>p{}</style>ok") == "ok"


def test_plain_text_twin() -> None:
    source = (
        "<p>Hello <b>Ana</b> &amp; co,</p><ul><li>one</li><li>two</li></ul>"
        '<p><a href="https://example.org/x">the offer</a> or '
        '<a href="mailto:m@example.org">m@example.org</a><br>Maria</p>'
    )
    assert rich_text_plain(source) == (
        "Hello Ana & co,\n\n- one\n- two\n\nthe offer (https://example.org/x) or "
        "m@example.org\nMaria"
    )
