"""Making untrusted text safe in GitHub Markdown: table cells, inline code, links, comments.

Run names, metric names, log paths and reviewer answers come from outside. Whatever they
contain, what we print stays on its line and in its table cell, and never opens an HTML
comment, makes a link or an image, or pings anyone:

- plain text: `<`, `>` and `&` become entities, other Markdown punctuation is escaped with a
  backslash and every `@` is followed by a zero-width space, so GitHub shows `@alice` but
  does not mention her (an escaped `\\@` or `&#64;` would still ping: GitHub looks for
  mentions in the rendered text);
- inline code: backticks cannot occur inside, `|` is escaped in tables (GitHub honours
  `\\|` even in code spans there) and `<!--` / `-->` are broken with a zero-width space, so
  the text never contains a look-alike of our hidden markers.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from urllib.parse import quote

ZWSP = "\u200b"
# Backslash-escaped: what could start emphasis, code, a link or image (`[`; `(` and `!` mean
# nothing without it), strikethrough, a table cell or math. Entities: what could start HTML.
_PUNCTUATION = set("\\`*_[]|~$")
_ENTITY = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
# Mentions (`@name`) and bare-URL autolinks (`https://`, `www.`) are broken with a ZWSP.
_AUTOLINK = re.compile(r"(@)(?=[A-Za-z0-9])|(:)(?=//)|(www)(?=\.)", re.IGNORECASE)
_COMMENT_EDGE = re.compile(r"<!--|--!?>")
_CODE_SPAN = re.compile(r"`([^`]*)`")
_URL_SAFE = ":/?#[]@!$&'*+,;=%"


def one_line(text: object) -> str:
    """The text with every run of whitespace (newlines included) as one space."""
    return " ".join(str(text).split())


def shorten(text: object, limit: int | None) -> str:
    """The text on one line, cut to at most `limit` characters with a final `…`."""
    line = one_line(text)
    if limit is None or len(line) <= limit:
        return line
    return (line[: limit - 1].rstrip() + "…") if limit > 0 else ""


def _escape_char(ch: str) -> str:
    if ch in _ENTITY:
        return _ENTITY[ch]
    if ch in _PUNCTUATION:
        return "\\" + ch
    return ch if ch.isprintable() else " "


def _literal(text: str) -> str:
    """Text (already on one line) that renders as itself."""
    escaped = "".join(_escape_char(ch) for ch in text)
    return _AUTOLINK.sub(lambda m: m.group() + ZWSP, escaped)


def escape(text: object) -> str:
    """Plain text that renders literally, on one line (run names, metric names…)."""
    return _literal(one_line(text))


def code(text: object, table: bool = False) -> str:
    """Inline code that cannot be broken out of (backticks inside become quotes)."""
    content = "".join(ch if ch.isprintable() else " " for ch in one_line(text)).replace("`", "'")
    content = _COMMENT_EDGE.sub(lambda m: ZWSP.join(m.group()), content)
    if table:
        content = content.replace("|", "\\|")
    return f"`{content}`" if content else ""


def inline(text: object, table: bool = False) -> str:
    """Text whose `code spans` stay code and everything else renders literally.

    For our own sentences that quote untrusted names in backticks (signal details, the
    reason of a status, the action taken). A stray backtick is shown as such.
    """
    line = one_line(text)
    parts: list[str] = []
    pos = 0
    for span in _CODE_SPAN.finditer(line):
        parts += [_literal(line[pos : span.start()]), code(span.group(1), table)]
        pos = span.end()
    parts.append(_literal(line[pos:]))
    return "".join(parts)


def cell(text: object) -> str:
    """`inline` for a table cell."""
    return inline(text, table=True)


def link(text: object, url: str | None) -> str:
    """`[text](url)` for an https URL (percent-encoded where Markdown would stop), else the text."""
    label = escape(text)
    if not url or not url.startswith("https://") or not label:
        return label
    return f"[{label}]({quote(url, safe=_URL_SAFE)})"


def marker(text: object) -> str:
    """A name for an HTML comment or a command hint: ASCII letters, digits and `-_./` only."""
    return "".join(ch for ch in str(text) if (ch.isascii() and ch.isalnum()) or ch in "-_./")[:200]


def utc_time(epoch: float | None, with_date: bool = False) -> str:
    """An epoch time as `HH:MM` (or `YYYY-MM-DD HH:MM UTC`); a dash for None."""
    if epoch is None:
        return "—"
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M UTC" if with_date else "%H:%M")


def number(value: int | None) -> str:
    """A step count with thousands separators, or empty."""
    return "" if value is None else f"{value:,}"
