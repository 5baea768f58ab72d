"""Untrusted text in Markdown: rendered with a real GFM parser, it stays plain text."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from training_check.report.markdown import (
    ZWSP,
    cell,
    code,
    escape,
    inline,
    link,
    marker,
    number,
    one_line,
    shorten,
    utc_time,
)

HOSTILE = [
    "a|b|c",
    "back`tick`s and ``double``",
    "<!-- open comment",
    "close --> comment",
    "[x](javascript:alert(1))",
    "![img](https://evil.example/x.png)",
    "line\nbreak\r\nand\ttab",
    "@alice and @org/team",
    "mail me: bob@example.com",
    "see https://evil.example and www.evil.example",
    "<script>alert(1)</script> <img src=x onerror=alert(1)>",
    "**bold** _it_ ~~gone~~ $x^2$ \\",
    "&#64;alice &lt;!-- &amp;",
    "<https://evil.example>",
    "trailing backslash \\",
]


def table_cells(gfm: MarkdownIt, row: str) -> list[str]:
    """The HTML of the cells of a one-row table whose row is `| row |`."""
    out = gfm.render(f"| a |\n|---|\n| {row} |\n")
    return re.findall(r"<td>(.*?)</td>", out, flags=re.DOTALL)


def assert_harmless(rendered: str) -> None:
    """No link, image, raw HTML, comment or mention in a cell's HTML."""
    assert "<a " not in rendered and "<img" not in rendered and "<script" not in rendered
    assert "<!--" not in rendered and "-->" not in rendered
    assert not re.search(r"@[A-Za-z0-9]", rendered)
    assert not re.search(r"https?://", html.unescape(rendered).replace(ZWSP, "x"))


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_text_stays_in_its_cell_and_renders_literally(gfm: MarkdownIt, text: str) -> None:
    cells = table_cells(gfm, escape(text))
    assert len(cells) == 1
    assert_harmless(cells[0])
    assert html.unescape(cells[0]).replace(ZWSP, "") == one_line(text)


@pytest.mark.parametrize("text", HOSTILE)
def test_inline_text_keeps_code_spans_and_nothing_else(gfm: MarkdownIt, text: str) -> None:
    cells = table_cells(gfm, cell(f"`train/loss` is bad: {text}"))
    assert len(cells) == 1
    assert cells[0].startswith("<code>train/loss</code> is bad: ")
    assert_harmless(re.sub(r"<code>.*?</code>", "", cells[0]))


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_any_text_renders_as_itself(text: str) -> None:
    gfm = MarkdownIt("gfm-like", {"html": True, "linkify": False}).disable("linkify")
    expected = one_line("".join(ch if ch.isprintable() else " " for ch in one_line(text)))
    cells = table_cells(gfm, escape(text))
    assert len(cells) == 1
    assert one_line(html.unescape(cells[0]).replace(ZWSP, "")) == expected


def test_a_mention_is_broken_with_a_zero_width_space() -> None:
    assert escape("@alice") == f"@{ZWSP}alice"
    assert escape("a @ b") == "a @ b"  # no name after it: left alone


def test_code_cannot_be_broken_out_of(gfm: MarkdownIt) -> None:
    text = "a`b|c <!-- d --> @e\nf"
    cells = table_cells(gfm, code(text, table=True))
    assert len(cells) == 1
    assert cells[0].startswith("<code>") and cells[0].endswith("</code>")
    assert "<!--" not in code(text) and "-->" not in code(text)
    assert code("") == ""
    assert code("x|y") == "`x|y`"  # outside a table a pipe needs no escape


def test_inline_shows_a_stray_backtick_as_such(gfm: MarkdownIt) -> None:
    assert gfm.render(inline("`a` and ` alone")).strip() == "<p><code>a</code> and ` alone</p>"


def test_links_are_https_only_and_percent_encoded(gfm: MarkdownIt) -> None:
    assert link("run", "https://wandb.ai/a/b/runs/c") == "[run](https://wandb.ai/a/b/runs/c)"
    assert link("run", "javascript:alert(1)") == "run"
    assert link("run", None) == "run"
    odd = link("r|n", "https://x.example/a (b)|c")
    cells = table_cells(gfm, odd)
    assert len(cells) == 1
    assert cells[0] == '<a href="https://x.example/a%20%28b%29%7Cc">r|n</a>'


def test_a_marker_name_cannot_close_the_comment() -> None:
    name = marker("a--> b<!--c\n@d")
    assert name == "a--b--cd"
    assert marker("pretrain-a_1.2/x") == "pretrain-a_1.2/x"
    assert marker("é") == ""


def test_shorten() -> None:
    assert shorten("a  b\nc", None) == "a b c"
    assert shorten("abcdef", 4) == "abc…"
    assert shorten("abcdef", 6) == "abcdef"
    assert shorten("abcdef", 0) == ""


def test_utc_time_and_number() -> None:
    assert utc_time(0) == "00:00"
    assert utc_time(1_795_749_240.0) == "03:14"
    assert utc_time(1_795_749_240.0, with_date=True) == "2026-11-27 03:14 UTC"
    assert utc_time(None) == "—"
    assert number(1_234_567) == "1,234,567"
    assert number(0) == "0"
    assert number(None) == ""
