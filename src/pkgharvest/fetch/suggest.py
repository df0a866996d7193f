""" "Did you mean ...?" for targets the API does not have (`pkgharvest fetch django-serch`).

Close slugs come from the mirror (its file names: no record is parsed) and from the API's
search (`/search/?q=`, at most 20 hits, packages and grids). The search is a courtesy on an
error path: one attempt, a short deadline, and any failure just means no API suggestions.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pkgharvest.api.links import ApiBase
from pkgharvest.errors import PkgHarvestError
from pkgharvest.runtime import Dependencies, RequestLimits, RetryPolicy
from pkgharvest.store.paths import RECORD_SUFFIX

SEARCH_LIMITS = RequestLimits(deadline=10.0, max_body_bytes=1024 * 1024)
"""A search answer is at most 20 hits (~20 KB)."""

_ITEM_TYPE = {"packages": "package", "grids": "grid"}


def close_slugs(
    kind: str, key: str, *, base_url: str, data_dir: Path, deps: Dependencies, most: int = 3
) -> list[str]:
    """Up to `most` slugs of `kind` ("packages" or "grids") close to `key`, best first."""
    candidates = set(_mirror_slugs(data_dir, kind))
    candidates.update(_search_slugs(kind, key, base_url, deps))
    candidates.discard(key)
    return difflib.get_close_matches(key, sorted(candidates), n=most, cutoff=0.6)


def _mirror_slugs(data_dir: Path, kind: str) -> Iterable[str]:
    try:
        names = os.listdir(data_dir / kind)
    except OSError:
        return []
    return [
        name.removesuffix(RECORD_SUFFIX)
        for name in names
        if name.endswith(RECORD_SUFFIX) and not name.startswith((".", "_"))
    ]


def _search_slugs(kind: str, key: str, base_url: str, deps: Dependencies) -> list[str]:
    """Slugs of `kind` from the API's search for `key`, and for a shorter prefix of it (the
    search matches prefixes and title words, so "django-serch" finds nothing but "django-se"
    finds "django-search")."""
    from pkgharvest.api.client import ApiClient

    base = ApiBase.parse(base_url)
    quiet = replace(deps, retry=RetryPolicy(attempts=1), limits=SEARCH_LIMITS)
    slugs: list[str] = []
    with ApiClient(base, quiet.with_events(lambda event: None), concurrency=1) as client:
        for query in _queries(key):
            try:
                hits = client.get_json(f"{base.url}search/?q={quote(query)}", expect=_hit_list)
            except PkgHarvestError:
                break  # no search, or a failing one: suggest from the mirror only
            slugs += _slugs_of(hits, _ITEM_TYPE.get(kind, kind))
            if slugs:
                break
    return slugs


def _queries(key: str) -> Sequence[str]:
    shorter = key[: max(3, len(key) * 2 // 3)]
    return (key, shorter) if shorter != key else (key,)


def _hit_list(body: Any) -> str | None:
    return None if isinstance(body, list) else "the search did not answer with a list"


def _slugs_of(hits: list[Any], item_type: str) -> list[str]:
    return [
        hit["slug"]
        for hit in hits
        if isinstance(hit, dict)
        and isinstance(hit.get("slug"), str)
        and hit.get("item_type", item_type) == item_type
    ]
