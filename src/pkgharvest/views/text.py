"""Text from the API made safe for a terminal: pure functions, no rich.

The API is untrusted: a description may carry ANSI escape sequences (colours, cursor moves,
OSC 8 links, window titles), other control characters, or bidi overrides that make a line read
differently from what it is. Everything shown on a terminal goes through `sanitize`; stored
records and exports keep the text as sent. Messages (errors, warnings, notices) go through
`visible`, which writes such characters out as escapes instead of dropping them. Rich markup is
a separate concern: views wrap API text in `rich.text.Text`, which is never parsed for markup.
"""

from __future__ import annotations

import re
import textwrap

# Whole escape sequences go first, so that their parameters ("[31m", "]0;title") do not stay
# behind as visible text once the ESC byte is gone.
_ESCAPE_SEQUENCE = re.compile(
    r"""
      \x1b\[[0-?]*[ -/]*[@-~]                 # CSI: colours, cursor moves, erase
    | \x1b\][^\x07\x1b]*(?:\x07|\x1b\\|$)     # OSC: titles, hyperlinks (to BEL or ST)
    | \x1b[PX^_][^\x1b]*(?:\x1b\\|$)          # DCS, SOS, PM, APC strings
    | \x1b[ -/]*[0-~]                         # the other ESC sequences (charset, keypad, ...)
    | \x9b[0-?]*[ -/]*[@-~]                   # 8-bit CSI
    | [\x90\x98\x9d\x9e\x9f][^\x07\x9c]*(?:\x07|\x9c|$)  # 8-bit OSC, DCS, SOS, PM, APC
    """,
    re.VERBOSE,
)
# Characters that break or move the line become one space, so words stay apart.
_LINE_BREAKS = re.compile(r"[\t\n\v\f\r\x1c-\x1e\x85\u2028\u2029]+")
# What is left that a terminal would act on: C0 and C1 controls, DEL, and the bidi marks,
# embeddings, overrides and isolates (U+061C, U+200E/F, U+202A-202E, U+2066-2069).
_INVISIBLE_CONTROLS = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)

ELLIPSIS = "…"


def sanitize(text: str) -> str:
    """`text` with escape sequences, control characters and bidi controls removed.

    Line breaks and tabs become a single space; nothing left can move the cursor or restyle the
    terminal. Printable text, including non-Latin scripts and emoji, is kept as it is.
    """
    if text.isprintable():  # the common case: nothing to do
        return text
    text = _ESCAPE_SEQUENCE.sub("", text)
    text = _LINE_BREAKS.sub(" ", text)
    return _INVISIBLE_CONTROLS.sub("", text)


def visible(text: str) -> str:
    """`text` with every character a terminal would act on written out as its escape (`\\x1b`,
    `\\u202e`, `\\n`), printable text kept: for messages and warnings, which name what the API
    or the data folder holds (a file name, a slug) and must say what is really there, on one
    line, without acting on the terminal."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def display(value: object, missing: str = "—") -> str:
    """A record value as safe one-line text; `missing` for null or empty."""
    if value is None or value == "":
        return missing
    return sanitize(value if isinstance(value, str) else str(value))


def clip_lines(text: str, width: int, max_lines: int) -> str:
    """`text` wrapped to `width` columns, cut to `max_lines` lines with a trailing ellipsis."""
    lines = textwrap.wrap(text, width=max(width, 2)) or [""]
    if len(lines) <= max_lines:
        return "\n".join(lines)
    kept = lines[:max_lines]
    last = kept[-1]
    kept[-1] = (last if len(last) < width else last[: width - 1]).rstrip() + ELLIPSIS
    return "\n".join(kept)


_NOT_ALNUM = re.compile(r"[\W_]+")


def _squash(text: str) -> str:
    return _NOT_ALNUM.sub("", text.casefold())


def title_differs(slug: str, title: str) -> bool:
    """True when the title says more than the slug ("django-dbsettings-new" / "django-dbsettings").

    "Django Star Ratings" and "django-star-ratings" are the same words: showing both is noise.
    """
    return bool(title) and _squash(slug) != _squash(title)
