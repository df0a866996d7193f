"""JSON text for the terminal: every command's `--json` and the JSON exports.

Apart from the exporters (formats/writers.py, which load csv and the export's fields), so that
printing a command's `--json` loads only json.
"""

from __future__ import annotations

import json
import re
from json.encoder import encode_basestring
from typing import Any

# Characters JSON allows raw that could still act on a terminal showing the output: C1
# controls, DEL, bidi controls, and the line and paragraph separators. Written as \uXXXX
# escapes they decode to the same text.
_TERMINAL_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def dumps(value: Any, indent: int | None = None) -> str:
    """JSON text that is safe to print: non-ASCII stays readable, controls are escaped.

    (json already escapes C0 controls, including ESC, as it must.)
    """
    text = json.dumps(value, ensure_ascii=False, indent=indent)
    return _TERMINAL_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_LEAF = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
"""One encoder for every leaf: json.dumps with options builds a new encoder per call, which
was most of the time of a long `--json` answer."""

_PLAIN: dict[type, Any] = {
    type(None): lambda _: "null",
    bool: lambda flag: "true" if flag else "false",
    int: int.__repr__,
    str: encode_basestring,
}
"""The leaves most answers are made of, each written as _LEAF writes it (json's own functions:
`null`, `true`, int's repr, the string encoder an `ensure_ascii=False` encoder uses), without
the encoder's set-up per call. Exact types only: an enum or a float goes to _LEAF."""


def compact_dumps(value: Any, indent: int = 2) -> str:
    """Like `dumps(value, indent)`, but a list of plain values (numbers, text, null) stays on
    one line: 52 weekly counts are one line of `--json` output, not 52."""
    plain_of = _PLAIN.get

    def encode(item: Any, depth: int) -> str:
        plain = plain_of(type(item))
        if plain is not None:
            return str(plain(item))
        if not item and type(item) in (list, dict):
            return "[]" if type(item) is list else "{}"
        pad = " " * (indent * (depth + 1))
        end = " " * (indent * depth)
        if isinstance(item, dict) and item:
            inner = ",\n".join(
                f"{pad}{encode_basestring(str(key))}: "
                + (plain(child) if (plain := plain_of(type(child))) else encode(child, depth + 1))
                for key, child in item.items()
            )
            return "{\n" + inner + "\n" + end + "}"
        if isinstance(item, list) and item:
            if any(isinstance(c, dict | list) and c for c in item):
                inner = ",\n".join(pad + encode(child, depth + 1) for child in item)
                return "[\n" + inner + "\n" + end + "]"
            if all(type(c) in _PLAIN for c in item):  # one line, as _LEAF writes it
                return "[" + ", ".join([_PLAIN[type(c)](c) for c in item]) + "]"
        return str(_LEAF(item))

    text = encode(value, 0)
    if text.isascii() and "\x7f" not in text:  # nothing to escape: no need to scan for it
        return text
    return _TERMINAL_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
