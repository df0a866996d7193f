"""`--json` text (formats/jsontext.py): `compact_dumps` writes each plain leaf through json's
own functions instead of an encoder per value; its text must stay the one json's encoder
writes, indented, with lists of plain values on one line and terminal-unsafe characters
escaped."""

from __future__ import annotations

import enum
import json
import random
from typing import Any

from pkgharvest.formats.jsontext import compact_dumps


class Colour(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


LEAVES: tuple[Any, ...] = (
    None, True, False, 0, -5, 2**70, 1.5, 3.0, float("nan"), float("inf"), "", "x",
    "é\u2028\x85\x1b\u202e", "del\x7f", '"\\', Colour.RED, Level.HIGH, [], {}, (1, "a"),
)  # fmt: skip


def reference(value: Any, indent: int = 2) -> str:
    """The rule, written plainly: json's encoder for every leaf and every list of leaves."""
    leaf = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode

    def encode(item: Any, depth: int) -> str:
        pad, end = " " * (indent * (depth + 1)), " " * (indent * depth)
        if isinstance(item, dict) and item:
            inner = ",\n".join(
                f"{pad}{leaf(str(k))}: {encode(v, depth + 1)}" for k, v in item.items()
            )
            return "{\n" + inner + "\n" + end + "}"
        if isinstance(item, list) and any(isinstance(c, dict | list) and c for c in item):
            return "[\n" + ",\n".join(pad + encode(c, depth + 1) for c in item) + "\n" + end + "]"
        return leaf(item)

    text = encode(value, 0)
    unsafe = [chr(c) for c in range(0x7F, 0xA0)] + ["\u061c", "\u200e", "\u200f", "\u2028"]
    unsafe += ["\u2029", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))]
    for char in unsafe:
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.5:
        return rng.choice(LEAVES)
    if roll < 0.75:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(5))]
    keys = ("a", "é", Colour.RED, "k\u2028")
    return {rng.choice(keys): _random_value(rng, depth + 1) for _ in range(rng.randrange(5))}


def test_compact_dumps_writes_what_jsons_encoder_writes() -> None:
    rng = random.Random(18)
    for _ in range(3000):
        value = _random_value(rng)
        assert compact_dumps(value) == reference(value), value
    weeks = {"commits_52w": [0] * 52, "names": ["a", None, 1]}
    assert compact_dumps(weeks) == (
        '{\n  "commits_52w": [' + ", ".join(["0"] * 52) + '],\n  "names": ["a", null, 1]\n}'
    )
