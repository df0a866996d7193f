"""The bytes of a record file: how a record is written (`serialize_record`) and read back.

A record file is JSON with one top-level field per line, indented two spaces, in the record's
key order (the normalizer's contract order), UTF-8, ending in a newline, so that `diff` shows
which field changed. Files start with `{\n  "id": 123,`, which lets `read_record_id` find the id
from the head of the file.

Speed: `json.dumps(indent=...)` falls back to pure Python, which cost about half the harvester's
CPU on a full catalogue. Values are therefore encoded with CPython's C encoder (a private API of
the `json` module), built once. That fast path is checked at import against the public
`json.JSONEncoder` on sample values and dropped for the public API if it is missing, has another
signature or encodes anything differently: the bytes never depend on which path ran.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pkgharvest.errors import CorruptStore
from pkgharvest.records import FIELDS_BY_KIND, WEEKS, Record, is_record_id

ValueEncoder = Callable[[Any], str]
"""JSON text of one value: a field name or a field value."""

REPAIR_HINT = "move it away or delete it, then run `pkgharvest fetch` again"
"""The end of every error about a file in the data folder that something else broke."""

_BINARY = getattr(os, "O_BINARY", 0)  # Windows would otherwise translate newlines
# Files we write start with `{\n  "id": 123,`; reading this much of the head finds the id.
_HEAD_BYTES = 64
_HEAD_ID = re.compile(rb'\A\{\s*"id"\s*:\s*(-?[0-9]{1,20})\s*[,}]')

# Values the fast path must encode exactly as the public API does before it is used.
_SELF_CHECK_VALUES: tuple[Any, ...] = (
    "plain",
    'quote " backslash \\ newline \n tab \t nul \x00 del \x7f',
    "é ü 中文 \u2028 \U0001f600",
    0,
    -(2**70),
    1.5,
    1e300,
    -0.0,
    True,
    False,
    None,
    [],
    {},
    [1, "two", None, [3.25, {"k": False}]],
    {"a": [1, 2], "b": {"c": "d"}, "é": None},
    [0] * WEEKS,
    [0.0] * WEEKS,
    [False] * WEEKS,
    [0] * (WEEKS - 1) + [False],
)


def public_value_encoder(item_separator: str = ", ", key_separator: str = ": ") -> ValueEncoder:
    """The documented way: `json.JSONEncoder`, the same separators, non-ASCII kept as is."""
    return json.JSONEncoder(ensure_ascii=False, separators=(item_separator, key_separator)).encode


def fast_value_encoder(
    make_encoder: Any = getattr(json.encoder, "c_make_encoder", None),  # noqa: B008
    encode_text: Any = getattr(json.encoder, "c_encode_basestring", None),  # noqa: B008
    *,
    item_separator: str = ", ",
    key_separator: str = ": ",
) -> ValueEncoder | None:
    """The C encoder that `JSONEncoder.encode` would build on every call, built once; None when
    this Python lacks it or it does not encode `_SELF_CHECK_VALUES` exactly as the public API
    (with the same separators: the catalogue database stores compact JSON text).
    """
    if make_encoder is None or encode_text is None:
        return None

    def unsupported(value: object) -> None:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")

    try:
        # Arguments: markers (None: no cycle check, records are trees), default, string
        # encoder, indent, key separator, item separator, sort_keys, skipkeys, allow_nan.
        encode_container = make_encoder(
            None, unsupported, encode_text, None, key_separator, item_separator, False, False, True
        )
    except Exception:  # any failure of a private API means: use the public one
        return None

    no_commits = [0] * WEEKS
    no_commits_text = "".join(encode_container(no_commits, 0))

    def encode(value: Any) -> str:
        kind = type(value)
        if kind is str:
            return encode_text(value)  # type: ignore[no-any-return]
        if value is None:
            return "null"
        if kind is int:
            return int.__repr__(value)
        if not value and (kind is list or kind is dict):
            return "[]" if kind is list else "{}"
        # The 52 weeks of a package without commits (most of a catalogue), written once;
        # == also holds for 0.0 and False, hence the types.
        if kind is list and value == no_commits and set(map(type, value)) == {int}:
            return no_commits_text
        return "".join(encode_container(value, 0))

    public = public_value_encoder(item_separator, key_separator)
    try:
        agrees = all(encode(value) == public(value) for value in _SELF_CHECK_VALUES)
    except Exception:
        return None
    return encode if agrees else None


_encode_value: ValueEncoder = fast_value_encoder() or public_value_encoder()
encode_compact: ValueEncoder = fast_value_encoder(
    item_separator=",", key_separator=":"
) or public_value_encoder(",", ":")
"""Compact JSON text (no spaces), through the C encoder when this Python has it: the catalogue
database's JSON columns and the source digests of records (stage.py)."""
_encode_ascii: ValueEncoder = json.JSONEncoder(ensure_ascii=True, separators=(", ", ": ")).encode


# The line heads of the contract's field names (`  "slug": `), encoded once: a record's names
# are nearly always these (half of the encoding calls of a full catalogue). The names are plain
# ASCII, so every JSON encoder writes them the same way.
_FIELD_HEADS = {
    name: f"  {_encode_value(name)}: " for fields in FIELDS_BY_KIND.values() for name in fields
}


def record_text(record: Record, encode: ValueEncoder) -> str:
    """The text of a record file, each name and value encoded by `encode`."""
    heads = _FIELD_HEADS
    body = ",\n".join(
        [(heads.get(key) or f"  {encode(key)}: ") + encode(value) for key, value in record.items()]
    )
    return "{\n" + body + "\n}\n"


def serialize_record(record: Record) -> bytes:
    """The exact bytes of a record file (see the module docs)."""
    try:
        return record_text(record, _encode_value).encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (the API can send "\ud800") has no UTF-8 form: escape it instead.
        return record_text(record, _encode_ascii).encode("ascii")


def corrupt_record(path: str | Path, problem: str) -> CorruptStore:
    """The one-line error for a record file that something else broke (readers use it too)."""
    return CorruptStore(f"the record file {path} {problem}; {REPAIR_HINT}")


def parse_record(path: str | Path, data: bytes) -> Record:
    """The record in `data` (read from `path`), or CorruptStore naming the file."""
    try:
        record = json.loads(data)
    except ValueError as err:
        raise corrupt_record(path, f"is not valid JSON ({err})") from None
    if not isinstance(record, dict):
        raise corrupt_record(path, "is not a JSON object")
    record_id = record.get("id")
    if not isinstance(record_id, int) or isinstance(record_id, bool):
        raise corrupt_record(path, 'has no integer "id"')
    return record


def read_record_id(path: str | Path) -> int | None:
    """The id of the record in `path`, from the head of the file when it looks like ours; None
    when it is an integer no record may have (a hand edit, or an older version's file with an
    id beyond MAX_INTEGER): the file holds no record, and a run writing its name replaces it.
    CorruptStore when the file is no record at all (not JSON, no integer "id")."""
    fd = os.open(path, os.O_RDONLY | _BINARY)
    try:
        head = os.read(fd, _HEAD_BYTES)
        match = _HEAD_ID.match(head)
        if match is not None:
            record_id = int(match.group(1))
            return record_id if is_record_id(record_id) else None
        chunks = [head]
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(fd)
    record_id = parse_record(path, b"".join(chunks))["id"]
    return record_id if is_record_id(record_id) else None


def describe_id(value: int) -> str:
    """`id 123` for a message, or its length when it has too many digits to print (Python
    refuses to turn an integer of more than 4,300 digits into text)."""
    if abs(value) >= 10**40:
        return f"an id of about {value.bit_length() * 30103 // 100000:,} digits"
    return f"id {value}"
