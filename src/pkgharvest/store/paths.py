"""File names for records: the only place a slug from the API becomes part of a path.

Slugs are untrusted. A slug is used as a file name only when it is plainly safe on every common
file system; anything else (separators, "..", a leading dot, control or non-ASCII characters,
upper case that could collide on a case-insensitive disk, Windows reserved names, overlong
names) gets the fallback `_id-<id>`, which cannot clash with a safe slug because safe slugs never
start with "_". The true slug always stays inside the record.
"""

from __future__ import annotations

import re

RECORD_SUFFIX = ".json"

_SAFE_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9_-]+)*")
_MAX_NAME = 120
# Device names Windows reserves in any folder, with or without an extension.
_RESERVED = frozenset(
    ["con", "prn", "aux", "nul"] + [f"com{i}" for i in range(10)] + [f"lpt{i}" for i in range(10)]
)


def is_safe_slug(slug: object) -> bool:
    """True when `slug` can be a file name as it is, on Linux, macOS and Windows alike."""
    if not isinstance(slug, str) or not slug or len(slug) > _MAX_NAME:
        return False
    if _SAFE_SLUG.fullmatch(slug) is None:
        return False
    return slug.split(".", 1)[0] not in _RESERVED


def fallback_stem(record_id: int) -> str:
    return f"_id-{int(record_id)}"


def record_stem(slug: object, record_id: int) -> str:
    """The file name, without suffix, of the record with this slug and id."""
    return slug if is_safe_slug(slug) and isinstance(slug, str) else fallback_stem(record_id)


def record_filename(slug: object, record_id: int) -> str:
    return record_stem(slug, record_id) + RECORD_SUFFIX
