"""A local fake of the Django Packages API v4, for unit tests, end-to-end tests and benchmarks.

It answers as /work/shared/reference/API.md describes the public service, quirks included:
DRF LimitOffsetPagination with no maximum limit, newest-first lists, absolute links built from the
request's Host header, a 301 to the trailing-slash path, categories looked up by id only, the
browsable-API HTML for `?format=api` (whose links carry `?format=api`, as in the seeds), a 406
for `?format=json` with `Accept: text/html`, 405 for writes.

Two ways in:
- `FakeApi(catalogue).handler` for `httpx.MockTransport` (fast, in-process; transport faults are
  raised as the httpx exceptions a real socket produces);
- `with FakeApi(catalogue).serve() as base_url:` a real threaded HTTP server on 127.0.0.1.

`python -m tests.fakeapi --packages 6000 --latency 0.05` runs a server in the foreground.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import html
import io
import json
import random
import re
import socket
import ssl
import struct
import sys
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit, urlunsplit

import httpx

API_PREFIX = "/api/v4/"
V3_PREFIX = "/api/v3/"
PUBLIC_BASE_URL = "https://djangopackages.org/api/v4/"
FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fixtures"

# Field order exactly as the service sends them (seeds and the v4 docs).
PACKAGE_FIELDS: tuple[str, ...] = (
    "category",
    "grids",
    "id",
    "title",
    "slug",
    "last_updated",
    "last_fetched",
    "repo_url",
    "pypi_version",
    "created",
    "modified",
    "repo_forks",
    "repo_description",
    "pypi_url",
    "documentation_url",
    "repo_watchers",
    "commits_over_52",
    "participants",
)
GRID_FIELDS: tuple[str, ...] = (
    "id",
    "title",
    "slug",
    "description",
    "is_locked",
    "packages",
    "header",
    "created",
    "modified",
)
CATEGORY_FIELDS: tuple[str, ...] = (
    "id",
    "title",
    "slug",
    "description",
    "title_plural",
    "show_pypi",
    "created",
    "modified",
)
KINDS: tuple[str, ...] = ("packages", "grids", "categories")

ALL_FAULTS: tuple[str, ...] = (
    "500",
    "502",
    "503",
    "429",
    "429-retry-after",
    "reset",
    "timeout",
    "truncated",
    "html",
    "invalid-json",
)
HOSTILE_FAULTS: tuple[str, ...] = ("gzip-bomb", "endless", "drip")
"""Attacks rather than faults, on a real socket only, and never drawn at random (scripted):
gzip-bomb: a 200 whose gzip body inflates to `Faults.bomb_bytes` (~1,000 times its size);
endless: a 200 with a chunked JSON body that never ends (until the client hangs up);
drip: a 200 whose body arrives one byte every `Faults.drip_interval` seconds, for ever."""
TRANSPORT_FAULTS = frozenset({"reset", "timeout", "truncated", *HOSTILE_FAULTS})
"""Faults that break the connection (or abuse it) instead of answering with a status."""

HOSTILE_SLUGS: tuple[str, ...] = (
    "../evil",
    "CON",
    ".hidden",
    "Django-Upper-Case",
    "..",
    "aux.txt",
    "back\\slash",
    "x" * 200,
)
"""Slugs `generate_catalogue(hostile=True)` plants, each on its own package."""
FOREIGN_CATEGORY_URL = "https://evil.example/api/v4/categories/1/"
"""The category link of the hostile package whose link points to another host."""

_ALLOW = "GET, HEAD, OPTIONS"
_JSON_TYPE = "application/json"
_HTML_TYPE = "text/html; charset=utf-8"
_NOT_FOUND = {"detail": "Not found."}
_MODEL_NAMES = {"packages": "Package", "grids": "Grid", "categories": "Category"}
_DESCRIPTIONS = {
    "packages": "API endpoint that allows packages to be viewed or edited.",
    "search": "Accepts a 'q' GET parameter. Results are currently sorted only by their weight.",
}
# DRF router's default lookup_value_regex is `[^/.]+`: a slug with a dot is never routed.
_ROUTE = re.compile(
    r"/api/v4/(?:(?P<kind>packages|grids|categories|search)/(?:(?P<lookup>[^/.]+)/)?)?"
)
_LINK_ID = re.compile(r"/(packages|grids|categories)/(\d+)/")
_JSON_URL = re.compile(r'"(https?://[^"\\]*)"')


# --- datetimes in the service's zone ----------------------------------------------------------


_DST_BOUNDS: dict[int, tuple[datetime, datetime]] = {}


def _ny_offset(local: datetime) -> str:
    """America/New_York's UTC offset for a naive local time (US rules since 2007).

    Computed by hand so that generation needs no tz database (and stays fast).
    """
    bounds = _DST_BOUNDS.get(local.year)
    if bounds is None:
        march = datetime(local.year, 3, 1)
        november = datetime(local.year, 11, 1)
        second_sunday = 1 + (6 - march.weekday()) % 7 + 7
        first_sunday = 1 + (6 - november.weekday()) % 7
        bounds = (
            datetime(local.year, 3, second_sunday, 2),
            datetime(local.year, 11, first_sunday, 2),
        )
        _DST_BOUNDS[local.year] = bounds
    return "-04:00" if bounds[0] <= local < bounds[1] else "-05:00"


def service_datetime(local: datetime, *, fraction: bool = True) -> str:
    """`local` (naive New York time) as the service writes it: `2026-02-15T18:01:40.05-05:00`."""
    text = f"{local:%Y-%m-%dT%H:%M:%S}"
    if fraction:
        text += f".{local.microsecond:06d}"
    return text + _ny_offset(local)


# --- the catalogue ----------------------------------------------------------------------------


def _link_id(link: object) -> object:
    """The numeric id of an API hyperlink, or the link unchanged if it is not one of ours."""
    if isinstance(link, str) and link.startswith(PUBLIC_BASE_URL):
        match = _LINK_ID.search(link)
        if match:
            return int(match.group(2))
    return link


@dataclass
class Catalogue:
    """Raw API-shaped records keyed by id, in the service's field order.

    Links are stored as ids: a package's `category` is an int and `grids` a list of ints, a
    grid's `packages` a list of ints; the fake renders them as absolute URLs for the request's
    host. A link stored as a str is sent as it is (that is how a link to another host is made).

    Change records through `add_package` / `update_package` / `delete_package` (thread-safe, so
    an `on_request` hook can call them mid-crawl). Those replace record dicts rather than edit
    them, which is what lets `FakeApi` cache serialized records by identity. After editing the
    dicts directly, call `touched()`.
    """

    packages: dict[int, dict[str, Any]]
    grids: dict[int, dict[str, Any]]
    categories: dict[int, dict[str, Any]]
    _lock: threading.RLock = field(
        default_factory=threading.RLock, init=False, repr=False, compare=False
    )
    _revision: int = field(default=0, init=False, repr=False, compare=False)
    _orders: dict[str, tuple[tuple[int, int], list[int]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _slugs: dict[str, tuple[tuple[int, int], dict[str, int]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def table(self, kind: str) -> dict[int, dict[str, Any]]:
        """The records of one kind: "packages", "grids" or "categories"."""
        if kind == "packages":
            return self.packages
        if kind == "grids":
            return self.grids
        if kind == "categories":
            return self.categories
        raise ValueError(f"unknown kind {kind!r}")

    def touched(self) -> None:
        """Say that records were edited directly, so cached orderings are rebuilt."""
        with self._lock:
            self._revision += 1

    def newest_first(self, kind: str) -> list[int]:
        """Ids of one kind, newest (highest id) first, as every list of the service is ordered."""
        with self._lock:
            table = self.table(kind)
            key = (self._revision, len(table))
            cached = self._orders.get(kind)
            if cached is None or cached[0] != key:
                cached = (key, sorted(table, reverse=True))
                self._orders[kind] = cached
            return cached[1]

    def page(self, kind: str, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
        """`(count, records)` of one list page, taken atomically (as one DB query pair would)."""
        with self._lock:
            order = self.newest_first(kind)
            count = len(order)
            if count == 0 or offset > count:
                return count, []
            table = self.table(kind)
            return count, [table[record_id] for record_id in order[offset : offset + limit]]

    def find(self, kind: str, lookup: str) -> dict[str, Any] | None:
        """A record by id (numeric text) or slug; categories by id only, as on the service."""
        with self._lock:
            table = self.table(kind)
            if lookup.isascii() and lookup.isdigit():
                return table.get(int(lookup))
            if kind == "categories":
                return None
            key = (self._revision, len(table))
            cached = self._slugs.get(kind)
            if cached is None or cached[0] != key:
                by_slug = {rec["slug"]: rec["id"] for rec in table.values()}
                cached = (key, by_slug)
                self._slugs[kind] = cached
            record_id = cached[1].get(lookup)
            return None if record_id is None else table.get(record_id)

    def add_package(self, record: Mapping[str, Any] | None = None, /, **fields: Any) -> int:
        """Add a package (newest unless `id` is given) and return its id.

        Missing fields get plausible values; `category` and `grids` are ids. The package is also
        added to the `packages` of every grid it names, as the service would show it.
        """
        with self._lock:
            given = {**(record or {}), **fields}
            if "id" in given:
                package_id = int(given["id"])
                if package_id in self.packages:
                    raise ValueError(f"package {package_id} exists")
            else:
                package_id = max(self.packages, default=0) + 1
            defaults = make_package(package_id, category=min(self.categories, default=1))
            new = {name: given.get(name, defaults[name]) for name in PACKAGE_FIELDS}
            new["id"] = package_id
            self.packages[package_id] = new
            for grid_id in new["grids"]:
                grid = self.grids.get(grid_id) if isinstance(grid_id, int) else None
                if grid is not None and package_id not in grid["packages"]:
                    self.grids[grid_id] = {**grid, "packages": [*grid["packages"], package_id]}
            self._revision += 1
            return package_id

    def update_package(self, package_id: int, **fields: Any) -> None:
        """Change fields of a package (a new dict replaces the old one)."""
        with self._lock:
            unknown = set(fields) - set(PACKAGE_FIELDS) - {"id"}
            if unknown:
                raise ValueError(f"unknown package fields: {sorted(unknown)}")
            self.packages[package_id] = {**self.packages[package_id], **fields}
            self._revision += 1

    def delete_package(self, package_id: int) -> dict[str, Any]:
        """Remove a package (and its grid memberships); return the removed record."""
        with self._lock:
            removed = self.packages.pop(package_id)
            for grid_id, grid in list(self.grids.items()):
                if package_id in grid["packages"]:
                    members = [p for p in grid["packages"] if p != package_id]
                    self.grids[grid_id] = {**grid, "packages": members}
            self._revision += 1
            return removed


def _read_fixture(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def seed_catalogue() -> Catalogue:
    """The five real seed packages, the five categories and the six grids the seeds link."""
    packages: dict[int, dict[str, Any]] = {}
    for path in sorted((FIXTURES_DIR / "seeds").glob("*.json")):
        sent = _read_fixture(path)
        record = {name: sent[name] for name in PACKAGE_FIELDS}
        # Seeds were captured with ?format=api: keep the ids, drop the links.
        record["category"] = _link_id(sent["category"].replace("?format=api", ""))
        record["grids"] = [_link_id(g.replace("?format=api", "")) for g in sent["grids"]]
        packages[record["id"]] = record
    grids: dict[int, dict[str, Any]] = {}
    for path in sorted((FIXTURES_DIR / "grids").glob("*.json")):
        sent = _read_fixture(path)
        record = {name: sent[name] for name in GRID_FIELDS}
        record["packages"] = [_link_id(p) for p in sent["packages"]]
        grids[record["id"]] = record
    categories: dict[int, dict[str, Any]] = {}
    for path in sorted((FIXTURES_DIR / "categories").glob("*.json")):
        sent = _read_fixture(path)
        categories[sent["id"]] = {name: sent[name] for name in CATEGORY_FIELDS}
    return Catalogue(
        packages=dict(sorted(packages.items())),
        grids=dict(sorted(grids.items())),
        categories=dict(sorted(categories.items())),
    )


# --- a generated catalogue --------------------------------------------------------------------

# Word pools, kept as text so they stay readable.
_WORDS_TEXT = (
    "auth admin rest api cache celery forms filters tags comments ratings seo i18n mptt tree "
    "import export health audit log money phone countries storage search graphql htmx wiki "
    "blog cms shop cart payments stripe paypal oauth social otp mfa saml ldap jwt session "
    "crispy bootstrap tailwind widgets select2 autocomplete editor markdown wysiwyg ckeditor "
    "images thumbnails media files uploads s3 pdf csv excel reports charts dashboard analytics "
    "geo maps gis location timezone calendar events scheduler cron tasks queue webhooks "
    "notifications email sms push chat channels websockets realtime polls surveys quiz "
    "guardian permissions roles tenants multitenant sites redirects sitemap robots cors csp "
    "security ratelimit captcha honeypot spam debug toolbar profiling silk sentry logging "
    "testing factory fixtures faker model fields json hstore enum choices money slug uuid "
    "history versioning reversion audit softdelete trash ordering sortable positions "
    "translation modeltranslation parler rosetta localflavor newsletter mailchimp "
    "contact invitations registration allauth accounts profiles avatars gravatar badges "
    "likes follow activity feeds stream bookmarks favourites shortcuts commands shell "
    "extensions utils helpers mixins decorators signals middleware settings config env "
    "secrets vault dbsettings constance waffle flags features experiments splits"
)
_WORDS = tuple(_WORDS_TEXT.split())
_UNICODE_WORDS = ("café", "ünïcode", "naïve", "Джанго", "日本語", "ελληνικά", "한국어", "façade")
_EMOJI = ("✨", "🚀", "🐍", "⚡", "📦")
_SYLLABLES_TEXT = (
    "an ba ko ri mo la ne shi ta ve zo pa ju de gi ro su ka mi lo nu fa te yo ha be xi "
    "ar el in on us ix or am"
)
_SYLLABLES = tuple(_SYLLABLES_TEXT.split())
_GRID_TOPICS_TEXT = (
    "Authentication,Authorization,REST frameworks,API tools,Caching,Task queues,CMS,Blogs,"
    "E-commerce,Payment processing,Forms,Form widgets,Admin interface,Admin styling,Search,"
    "Tagging,Comments,Ratings,SEO,Internationalization,Model fields,Model auditing,Versioning,"
    "File storage,Image thumbnails,PDF generation,Import and export,Reporting,Charts,"
    "Dashboards,Geolocation,Maps,Calendars,Scheduling,Notifications,Email,SMS,Chat,"
    "WebSockets,GraphQL,HTMX,Multi-tenancy,Permissions,Rate limiting,Captcha,Spam,Debugging,"
    "Profiling,Testing,Fixtures,Settings,Feature flags,Static assets,Deployment,Monitoring,"
    "Logging,Health checks,Sitemaps,Redirects,Wikis,Forums,Polls,Surveys,Newsletters,"
    "Social auth,Two-factor auth,Single sign-on,Registration,Profiles,Avatars,Activity streams,"
    "Bookmarks,Soft delete,Ordering,Trees,Slugs,Enums,Money,Phone numbers,Countries,Time zones,"
    "Translation,Markdown,Rich text editors,Configuration,Management commands,Signals,"
    "Middleware,Security,CORS,Content security policy,Data migration,Database tools,"
    "PostgreSQL,Static typing,Async,Admin actions,Autocomplete"
)
_GRID_TOPICS = tuple(_GRID_TOPICS_TEXT.split(","))
# Category weights of the real catalogue: nearly everything is an app.
_CATEGORY_WEIGHTS = (0.80, 0.05, 0.07, 0.06, 0.02)
_START = datetime(2010, 8, 16, 9, 0, 0)
_NOW = datetime(2026, 2, 15, 18, 0, 0)
# Generated times are whole seconds after _EPOCH (naive New York time), formatted by `_stamp`.
_EPOCH = datetime(2010, 1, 1)
_START_S = int((_START - _EPOCH).total_seconds())
_NOW_S = int((_NOW - _EPOCH).total_seconds())
_DAY = 86_400
_DAY_TEXT: dict[int, tuple[str, str, str]] = {}
_MINUTE_TEXT = tuple(f"{m // 60:02d}:{m % 60:02d}:" for m in range(24 * 60))
_TWO_DIGITS = tuple(f"{n:02d}" for n in range(60))
_TITLE_PREFIXES = ("django-", "django-", "django-", "django-", "drf-", "wagtail-", "dj-", "")
_COMMIT_PEAKS = (2, 3, 5, 8, 20, 60)


def _stamp(seconds: int, micro: int | None) -> str:
    """A generated time as the service writes it; `micro=None` omits the fraction."""
    day, rest = divmod(seconds, _DAY)
    text = _DAY_TEXT.get(day)
    if text is None:
        midnight = _EPOCH + timedelta(days=day)
        early, late = midnight.replace(hour=1), midnight.replace(hour=3)
        text = (f"{midnight:%Y-%m-%d}T", _ny_offset(early), _ny_offset(late))
        _DAY_TEXT[day] = text
    minute, secs = divmod(rest, 60)
    offset = text[1] if rest < 7200 else text[2]  # the switch happens at 2 a.m.
    clock = _MINUTE_TEXT[minute] + _TWO_DIGITS[secs]
    if micro is None:
        return text[0] + clock + offset
    return f"{text[0]}{clock}.{micro:06d}{offset}"


def _slugify(text: str) -> str:
    """Django's `slugify` (allow_unicode=False): ASCII, lower case, hyphens."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    cleaned = re.sub(r"[^\w\s-]", "", ascii_text.lower())
    return re.sub(r"[-\s]+", "-", cleaned).strip("-_")


def _pick(rnd: Callable[[], float], items: tuple[str, ...]) -> str:
    return items[int(rnd() * len(items))]


def _logins(rnd: Callable[[], float], count: int) -> list[str]:
    names = {"dependabot[bot]", "pre-commit-ci[bot]"}
    while len(names) < count:
        name = "".join(_pick(rnd, _SYLLABLES) for _ in range(2 + int(rnd() * 3)))
        if rnd() < 0.3:
            name += str(1 + int(rnd() * 99))
        if rnd() < 0.2:
            name = name.capitalize()
        if rnd() < 0.1:
            name += "-" + _pick(rnd, _SYLLABLES) + _pick(rnd, _SYLLABLES)
        names.add(name)
    return sorted(names)


def _commits(rnd: Callable[[], float]) -> list[int]:
    roll = rnd()
    if roll < 0.05:
        return []  # "unknown" (the 2026 episode), not "no commits"
    if roll < 0.60:
        return [0] * 52
    busy = rnd() ** 2 * 0.9  # most active packages commit in few weeks
    peak = _COMMIT_PEAKS[int(rnd() * len(_COMMIT_PEAKS))]
    return [int(rnd() * peak) + 1 if rnd() < busy else 0 for _ in range(52)]


def _title(rnd: Callable[[], float]) -> str:
    roll = rnd()
    count = 1 if roll < 0.3 else (2 if roll < 0.85 else 3)
    words = [_pick(rnd, _WORDS) for _ in range(count)]
    style = rnd()
    if style < 0.03:
        words.insert(0, _pick(rnd, _UNICODE_WORDS))
    elif style < 0.05:
        return f"Django {' '.join(w.capitalize() for w in words)} {_pick(rnd, _EMOJI)}"
    elif style < 0.12:
        return f"Django {' '.join(w.capitalize() for w in words)}"
    return _pick(rnd, _TITLE_PREFIXES) + "-".join(words)


def _description(rnd: Callable[[], float], title: str) -> str:
    roll = rnd()
    if roll < 0.05:
        return ""
    first, second, third = (_pick(rnd, _WORDS) for _ in range(3))
    text = f"{first.capitalize()} and {second} for Django, with {third} support."
    if roll < 0.10:
        text += f" Ünïcode-safe {_pick(rnd, _UNICODE_WORDS)} {_pick(rnd, _EMOJI)}"
    elif roll < 0.15:
        text = f"{title}: « {text} » — fork of the original, maintained."
    return text


def _between(rnd: Callable[[], float], after: int, before: int = _NOW_S) -> int:
    return after + int(rnd() * max(1, before - after))


def _micro(rnd: Callable[[], float]) -> int:
    return 1 + int(rnd() * 999_998)


def make_package(
    package_id: int, *, category: object = 1, rng: random.Random | None = None
) -> dict[str, Any]:
    """One plausible package record (links as ids), e.g. for `Catalogue.add_package`."""
    rnd = (rng or random.Random(package_id)).random
    title = f"django-added-{package_id}"
    created = _between(rnd, _START_S)
    return _package_record(
        rnd, package_id, title, _slugify(title), category, [], created, ["someone"]
    )


def _package_record(
    rnd: Callable[[], float],
    package_id: int,
    title: str,
    slug: str,
    category: object,
    grids: list[int],
    created: int,
    participants: list[str],
) -> dict[str, Any]:
    # Pareto (alpha 1): median ~18 stars, one in a few thousand above 20,000.
    stars = int((1.0 / (1.0 - rnd()) - 1.0) * 18.0)
    if stars > 80_000:
        stars = 40_000 + int(rnd() * 40_000)
    forks = int(stars * (0.03 + rnd() * 0.32))
    host = "github.com" if rnd() < 0.92 else ("gitlab.com" if rnd() < 0.7 else "bitbucket.org")
    owner = participants[0] if participants else "someone"
    has_pypi = rnd() < 0.88
    last_updated = None if rnd() < 0.03 else _stamp(_between(rnd, created), None)
    docs_roll = rnd()
    return {
        "category": category,
        "grids": grids,
        "id": package_id,
        "title": title,
        "slug": slug,
        "last_updated": last_updated,
        "last_fetched": _stamp(_NOW_S - int(rnd() * 4 * _DAY), _micro(rnd)),
        "repo_url": "" if rnd() < 0.01 else f"https://{host}/{owner}/{slug}",
        "pypi_version": (
            f"{int(rnd() * 6)}.{int(rnd() * 21)}.{int(rnd() * 13)}"
            if has_pypi and rnd() < 0.9
            else None
        ),
        "created": _stamp(created, _micro(rnd)),
        "modified": _stamp(_between(rnd, created), _micro(rnd)),
        "repo_forks": forks,
        "repo_description": _description(rnd, title),
        "pypi_url": f"http://pypi.python.org/pypi/{slug}" if has_pypi else "",
        "documentation_url": (
            None
            if docs_roll < 0.2
            else ("" if docs_roll < 0.25 else f"https://{slug}.readthedocs.io/en/latest/")
        ),
        "repo_watchers": stars,
        "commits_over_52": _commits(rnd),
        "participants": participants,
    }


_REAL_CATEGORIES: tuple[tuple[str, str, str, bool], ...] = (
    ("App", "apps", "Apps", True),
    ("Framework", "frameworks", "Frameworks", True),
    ("Other", "other", "Other", True),
    ("Project", "projects", "Projects", False),
    ("Starter Project", "starter-projects", "Starter Projects", False),
)


def _categories(rnd: Callable[[], float], count: int) -> dict[int, dict[str, Any]]:
    categories: dict[int, dict[str, Any]] = {}
    for index in range(count):
        if index < len(_REAL_CATEGORIES):
            title, slug, plural, show_pypi = _REAL_CATEGORIES[index]
        else:
            title = f"Category {index + 1}"
            slug, plural, show_pypi = _slugify(title), f"Categories {index + 1}", True
        created = _between(rnd, _START_S, _START_S + (30 + 400 * index) * _DAY)
        categories[index + 1] = {
            "id": index + 1,
            "title": title,
            "slug": slug,
            "description": f"{plural} for Django: see the grids of this category.",
            "title_plural": plural,
            "show_pypi": show_pypi,
            "created": _stamp(created, _micro(rnd)),
            "modified": _stamp(_between(rnd, created), _micro(rnd)),
        }
    return categories


def _spaced_ids(rnd: Callable[[], float], count: int) -> list[int]:
    """Increasing ids with the gaps deleted records leave."""
    ids: list[int] = []
    next_id = 1
    for _ in range(count):
        ids.append(next_id)
        next_id += 1 if rnd() < 0.95 else 2 + int(rnd() * 5)
    return ids


def generate_catalogue(
    packages: int = 6000,
    grids: int = 400,
    categories: int = 5,
    seed: int = 0,
    hostile: bool = False,
) -> Catalogue:
    """A realistic catalogue, deterministic for a given seed (30,000 packages in about a second).

    Long-tailed stars and forks, many all-zero 52-week lists, about 5% `[]` ("unknown"), null
    last_updated / pypi_version / documentation_url now and then, unicode titles, participants,
    every package in one category and 0-3 grids, grids of 2-60 packages (fewer when there are
    not enough packages). `hostile=True` plants the `HOSTILE_SLUGS`, markup, ANSI escapes, bidi
    overrides, formula-like descriptions and a category link to another host (`_plant_hostile`).
    """
    rng = random.Random(seed)
    rnd = rng.random
    category_table = _categories(rnd, max(1, categories))
    category_ids = list(category_table)
    weights = list(_CATEGORY_WEIGHTS[: len(category_ids)])
    weights += [0.01] * (len(category_ids) - len(weights))
    cumulative = [sum(weights[: i + 1]) for i in range(len(weights))]
    logins = _logins(rnd, max(50, min(4000, packages // 2)))
    login_count = len(logins)

    package_ids = _spaced_ids(rnd, packages)
    grid_ids = _spaced_ids(rnd, grids)
    # Grid membership first, so that package.grids and grid.packages agree. Sizes are
    # long-tailed between 2 and 60: most comparison grids hold a handful of packages.
    memberships: dict[int, list[int]] = {package_id: [] for package_id in package_ids}
    grid_members: dict[int, list[int]] = {}
    for grid_id in grid_ids:
        size = min(60, int(2.0 / (1.0 - rnd())))
        chosen: list[int] = []
        for package_id in rng.sample(package_ids, min(len(package_ids), size * 2)):
            if len(memberships[package_id]) < 3:
                chosen.append(package_id)
                memberships[package_id].append(grid_id)
                if len(chosen) == size:
                    break
        grid_members[grid_id] = chosen

    package_table: dict[int, dict[str, Any]] = {}
    used_slugs: set[str] = set()
    span = _NOW_S - _START_S
    for index, package_id in enumerate(package_ids):
        for _ in range(5):  # a few draws find a free slug; then the id makes it unique
            title = _title(rnd)
            slug = _slugify(title) or f"package-{package_id}"
            if slug not in used_slugs:
                break
        if rnd() < 0.02:
            slug += "-new"  # slugs can differ from titles (django-dbsettings-new)
        if slug in used_slugs:
            slug = f"{slug}-{package_id}"
        used_slugs.add(slug)
        category = category_ids[
            min(bisect.bisect(cumulative, rnd() * cumulative[-1]), len(category_ids) - 1)
        ]
        crowd = 0 if rnd() < 0.04 else min(100, int(1.0 / (1.0 - rnd()) ** 1.3))
        drawn = [logins[int(rnd() * login_count)] for _ in range(crowd)]
        participants = list(dict.fromkeys(drawn))
        package_table[package_id] = _package_record(
            rnd,
            package_id,
            title,
            slug,
            category,
            memberships[package_id],
            _START_S + span * index // max(1, packages),  # created grows with the id
            participants,
        )

    grid_table: dict[int, dict[str, Any]] = {}
    used_grid_slugs: set[str] = set()
    for index, grid_id in enumerate(grid_ids):
        topic = _GRID_TOPICS[index % len(_GRID_TOPICS)]
        if index >= len(_GRID_TOPICS):
            topic = f"{topic} {index // len(_GRID_TOPICS) + 1}"
        slug = _slugify(topic)
        if slug in used_grid_slugs:
            slug = f"{slug}-{grid_id}"
        used_grid_slugs.add(slug)
        created = _START_S + span * index // max(1, grids)
        grid_table[grid_id] = {
            "id": grid_id,
            "title": topic,
            "slug": slug,
            "description": f"Packages for {topic.lower()} in Django projects, compared.",
            "is_locked": rnd() < 0.1,
            "packages": grid_members[grid_id],
            "header": rnd() < 0.03,
            "created": _stamp(created, _micro(rnd)),
            "modified": _stamp(_between(rnd, created), _micro(rnd)),
        }

    catalogue = Catalogue(package_table, grid_table, category_table)
    if hostile:
        _plant_hostile(catalogue)
    return catalogue


def _plant_hostile(catalogue: Catalogue) -> None:
    """Overwrite fields of packages spread over the catalogue with hostile values.

    Each change lands on its own package while there are enough packages; with fewer packages
    than changes, later changes overwrite earlier ones.
    """
    changes: list[dict[str, Any]] = [{"slug": slug} for slug in HOSTILE_SLUGS]
    changes += [
        {"title": "[bold red]x[/bold red]", "repo_description": "[link=file:///etc/passwd]"},
        {"title": "\x1b[31mred\x1b[0m", "repo_description": "\x1b[2J\x1b[Hscreen cleared"},
        {
            "title": "safe\u202etxt.exe",
            "repo_description": "\u2066bidi\u2069 \u202eoverride\u202c end",
        },
        {"repo_description": '=HYPERLINK("http://evil.example","click")'},
        {"repo_description": "+1+cmd|' /C calc'!A0"},
        {"repo_description": "-2+3"},
        {"repo_description": "@SUM(1+1)"},
        {"repo_description": "nul\x00 bell\x07 backspace\x08 tab\t newline\n end"},
        {"participants": ["[blink]me[/blink]", "\x1b]8;;http://evil.example\x1b\\link"]},
        {"category": FOREIGN_CATEGORY_URL},
        {"title": "Long " + "ü" * 5000, "repo_description": "📦" * 3000},
    ]
    ids = sorted(catalogue.packages)
    if not ids:
        return
    step = max(1, len(ids) // (len(changes) + 1))
    for index, change in enumerate(changes):
        package_id = ids[((index + 1) * step) % len(ids)]
        catalogue.packages[package_id] = {**catalogue.packages[package_id], **change}
    if catalogue.grids:
        first = min(catalogue.grids)
        catalogue.grids[first] = {
            **catalogue.grids[first],
            "title": "[bold]Grid[/bold] \x1b[7minverse\x1b[0m",
            "slug": "../grid",
        }
    catalogue.touched()


# --- faults -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScriptedFault:
    """The next `times` requests whose path+query matches `pattern` (re.search) get `fault`.

    `times=None`: every matching request, forever (an offset that answers 500 for days).
    """

    pattern: str
    fault: str
    times: int | None = 1


@dataclass
class Faults:
    """What to inject. All randomness comes from the seed: the nth request for a target (path
    and query) meets the same fault in every run, however requests interleave.

    rate:         probability that a request (matching `only`) gets a random fault (never
                  "html" on the API root: a website there is final, not a passing fault)
    kinds:        the faults `rate` draws from (ALL_FAULTS by default)
    retry_after:  the Retry-After value of "429-retry-after"
    scripted:     ScriptedFaults, checked first and in order
    seed:         seed of the random draws
    timeout_hold: seconds the real server holds a "timeout" request before closing it
    only:         regex; random faults hit only requests whose path+query matches ("" = all)
    bomb_bytes:   what a "gzip-bomb" body inflates to
    drip_interval: seconds between the bytes of a "drip" body
    drip_for:     seconds after which a "drip" gives up and closes (so that a client without a
                  deadline fails a test instead of hanging it)
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = ALL_FAULTS
    retry_after: str = "1"
    scripted: list[ScriptedFault] = field(default_factory=list)
    seed: int = 0
    timeout_hold: float = 2.0
    only: str = ""
    bomb_bytes: int = 256 * 1024 * 1024
    drip_interval: float = 0.2
    drip_for: float = 30.0
    _asked: Counter[str] = field(default_factory=Counter, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )
    _used: Counter[int] = field(default_factory=Counter, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        unknown = [
            k
            for k in (*self.kinds, *(s.fault for s in self.scripted))
            if k not in ALL_FAULTS + HOSTILE_FAULTS
        ]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; known: {', '.join(ALL_FAULTS)}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")

    def script(self, pattern: str, fault: str, times: int | None = 1) -> Faults:
        """Append a scripted fault; returns self so calls chain."""
        if fault not in ALL_FAULTS + HOSTILE_FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        with self._lock:
            self.scripted.append(ScriptedFault(pattern, fault, times))
        return self

    def pick(self, target: str) -> str | None:
        """The fault for a request to `target` (path and query), or None."""
        with self._lock:
            for index, scripted in enumerate(self.scripted):
                if scripted.times is not None and self._used[index] >= scripted.times:
                    continue
                if re.search(scripted.pattern, target):
                    self._used[index] += 1
                    return scripted.fault
            if self.rate <= 0.0 or not self.kinds:
                return None
            if self.only and not re.search(self.only, target):
                return None
            # Each request draws from its own generator, seeded by the seed, its target and
            # how often that target was asked for: which attempts fail does not depend on how
            # the client's threads happen to interleave. (One shared stream let a request
            # retried at once take every fault of a dense stretch while the other requests in
            # flight took the gaps: eight faults in a row at a 20% rate, now and then.)
            attempt = self._asked[target]
            self._asked[target] += 1
            draw = random.Random(f"{self.seed}:{target}:{attempt}")
            if draw.random() < self.rate:
                fault = draw.choice(self.kinds)
                # A 200 HTML page at the API root is what a website answers: the client takes
                # it as final (exit 78), so a fault meant to pass never puts one there.
                return None if fault == "html" and target == API_PREFIX else fault
            return None


# --- statistics -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatsSnapshot:
    """A consistent copy of `ApiStats` at one moment.

    requests: total requests; requests_by_kind: per path kind ("root", "packages" (list),
    "package" (detail), "grids", "grid", "categories", "category", "search", "redirect" (no
    trailing slash), "unknown"); statuses: per answered status; faults / faults_by_kind: faults
    injected; bytes_sent: response body bytes written; max_in_flight: most requests served at
    once; user_agents / accepts: header values seen ("" = header absent); request_starts: clock
    reading at each request's start, in arrival order; paths: path+query of each request.
    """

    requests: int
    requests_by_kind: dict[str, int]
    statuses: dict[int, int]
    faults: int
    faults_by_kind: dict[str, int]
    bytes_sent: int
    max_in_flight: int
    user_agents: frozenset[str]
    accepts: frozenset[str]
    request_starts: tuple[float, ...]
    paths: tuple[str, ...]


class ApiStats:
    """Thread-safe counters of what the fake served; read fields directly or `snapshot()`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.requests_by_kind: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.faults = 0
        self.faults_by_kind: Counter[str] = Counter()
        self.bytes_sent = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.user_agents: set[str] = set()
        self.accepts: set[str] = set()
        self.request_starts: list[float] = []
        self.paths: list[str] = []

    def reset(self) -> None:
        with self._lock:
            self.requests = 0
            self.requests_by_kind.clear()
            self.statuses.clear()
            self.faults = 0
            self.faults_by_kind.clear()
            self.bytes_sent = 0
            self.max_in_flight = self.in_flight
            self.user_agents.clear()
            self.accepts.clear()
            self.request_starts.clear()
            self.paths.clear()

    def snapshot(self) -> StatsSnapshot:
        with self._lock:
            return StatsSnapshot(
                requests=self.requests,
                requests_by_kind=dict(self.requests_by_kind),
                statuses=dict(self.statuses),
                faults=self.faults,
                faults_by_kind=dict(self.faults_by_kind),
                bytes_sent=self.bytes_sent,
                max_in_flight=self.max_in_flight,
                user_agents=frozenset(self.user_agents),
                accepts=frozenset(self.accepts),
                request_starts=tuple(self.request_starts),
                paths=tuple(self.paths),
            )

    def _begin(self, kind: str, target: str, user_agent: str, accept: str, now: float) -> int:
        with self._lock:
            self.requests += 1
            self.requests_by_kind[kind] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.user_agents.add(user_agent)
            self.accepts.add(accept)
            self.request_starts.append(now)
            self.paths.append(target)
            return self.requests

    def _fault(self, fault: str) -> None:
        with self._lock:
            self.faults += 1
            self.faults_by_kind[fault] += 1

    def _end(self, status: int | None, body_bytes: int) -> None:
        with self._lock:
            self.in_flight -= 1
            self.bytes_sent += body_bytes
            if status is not None:
                self.statuses[status] += 1


# --- the API ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reply:
    """What to send for one request; `transport` names a fault that breaks the connection."""

    status: int
    headers: dict[str, str]
    body: bytes
    transport: str | None = None


def _json_bytes(data: object) -> bytes:
    # DRF's JSONRenderer: compact, UTF-8, with U+2028/U+2029 escaped for JavaScript.
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if "\u2028" in text or "\u2029" in text:
        text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text.encode("utf-8")


def _replace_query_param(url: str, key: str, value: object) -> str:
    """DRF's `replace_query_param`: the query is re-encoded with its keys sorted."""
    scheme, netloc, path, query, fragment = urlsplit(url)
    params = parse_qs(query, keep_blank_values=True)
    params[key] = [str(value)]
    return urlunsplit(
        (scheme, netloc, path, urlencode(sorted(params.items()), doseq=True), fragment)
    )


def _remove_query_param(url: str, key: str) -> str:
    scheme, netloc, path, query, fragment = urlsplit(url)
    params = parse_qs(query, keep_blank_values=True)
    params.pop(key, None)
    return urlunsplit(
        (scheme, netloc, path, urlencode(sorted(params.items()), doseq=True), fragment)
    )


def _positive_int(text: str | None, *, strict: bool) -> int | None:
    """DRF's `_positive_int`: None when the text is not an acceptable count."""
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    if value < 0 or (value == 0 and strict):
        return None
    return value


def _path_kind(path: str) -> str:
    match = _ROUTE.fullmatch(path)
    if match is None:
        if not path.endswith("/") and _ROUTE.fullmatch(path + "/"):
            return "redirect"
        return "unknown"
    kind, lookup = match.group("kind"), match.group("lookup")
    if kind is None:
        return "root"
    if lookup is None:
        return kind
    return {"packages": "package", "grids": "grid", "categories": "category"}.get(kind, "unknown")


_FAULT_PAGES: dict[str, tuple[int, str]] = {
    "500": (500, "<h1>Server Error (500)</h1><p></p>"),
    "502": (502, "<h1>502 Bad Gateway</h1><p>The origin did not answer in time.</p>"),
    "503": (503, "<h1>503 Service Temporarily Unavailable</h1><p>Try again later.</p>"),
    "429": (429, "<h1>429 Too Many Requests</h1><p>Slow down.</p>"),
    "429-retry-after": (429, "<h1>429 Too Many Requests</h1><p>Slow down.</p>"),
    "html": (200, "<title>Just a moment...</title><p>Checking your browser before access.</p>"),
}


class FakeApi:
    """The Django Packages API v4, served from a `Catalogue`.

    catalogue:  the records served (may change while serving, see `Catalogue`)
    faults:     what to inject (None: nothing)
    latency:    seconds added to every response, through `sleep`
    sleep:      how latency is spent (inject a fake one in unit tests)
    clock:      what `stats.request_starts` records (time.monotonic by default)
    on_request: `(n, path_and_query)` called before request n (1-based) is served
    """

    def __init__(
        self,
        catalogue: Catalogue,
        *,
        faults: Faults | None = None,
        latency: float = 0.0,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        on_request: Callable[[int, str], object] | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.faults = faults
        self.latency = latency
        self.on_request = on_request
        self.stats = ApiStats()
        self._sleep = sleep
        self._clock = clock
        # (kind, id, base) -> (the record dict it was made from, its JSON); records are
        # replaced, never edited, so identity tells whether an entry is still good.
        self._record_cache: dict[tuple[str, int, str], tuple[dict[str, Any], bytes]] = {}

    def reset_stats(self) -> None:
        self.stats.reset()

    # -- in-process, for httpx.MockTransport --

    def handler(self, request: httpx.Request) -> httpx.Response:
        """Answer one request; for `httpx.MockTransport(api.handler)`."""
        headers = {key.lower(): value for key, value in request.headers.items()}
        target = request.url.raw_path.decode("ascii")
        reply = self._exchange(request.method, target, headers, request.url.scheme)
        sent = 0
        try:
            if reply.transport in HOSTILE_FAULTS:
                raise NotImplementedError(f"{reply.transport!r} needs a real socket: use serve()")
            if reply.transport == "reset":
                raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
            if reply.transport == "timeout":
                raise httpx.ReadTimeout("timed out", request=request)
            if reply.transport == "truncated":
                sent = len(reply.body) // 2
                raise httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body "
                    f"(received {sent} bytes, expected {len(reply.body)})",
                    request=request,
                )
            content = b"" if request.method == "HEAD" else reply.body
            sent = len(content)
            return httpx.Response(reply.status, headers=reply.headers, content=content)
        finally:
            self.stats._end(None if reply.transport else reply.status, sent)

    # -- a real server on 127.0.0.1 --

    @contextlib.contextmanager
    def serve(self, port: int = 0, *, tls: ssl.SSLContext | None = None) -> Iterator[str]:
        """Serve on 127.0.0.1 (a free port by default); yields "http://127.0.0.1:PORT/api/v4/",
        or with `tls` (a server context with its certificate loaded) an https:// URL whose
        links are https:// too."""
        server = _Server(self, port, tls)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        thread.start()
        try:
            yield f"{server.scheme}://127.0.0.1:{server.server_address[1]}{API_PREFIX}"
        finally:
            server.stopping.set()
            server.shutdown()
            server.close_connections()
            server.server_close()
            thread.join(timeout=5)

    # -- shared by both --

    def _exchange(
        self, method: str, target: str, headers: Mapping[str, str], scheme: str
    ) -> _Reply:
        """Count the request, call the hook, inject a fault or answer. Caller calls `_end`."""
        path = unquote(urlsplit(target).path)
        number = self.stats._begin(
            _path_kind(path),
            target,
            headers.get("user-agent", ""),
            headers.get("accept", ""),
            self._clock(),
        )
        try:
            if self.on_request is not None:
                self.on_request(number, target)
            fault = self.faults.pick(target) if self.faults is not None else None
            if self.latency > 0:
                self._sleep(self.latency)
        except BaseException:
            self.stats._end(None, 0)  # a hook that raises (e.g. a simulated Ctrl-C)
            raise
        host = headers.get("host") or "127.0.0.1"
        if fault is None:
            return self._answer(method, target, headers, scheme, host)
        self.stats._fault(fault)
        if fault in ("reset", "timeout"):
            return _Reply(0, {}, b"", transport=fault)
        if fault in HOSTILE_FAULTS:
            return _Reply(200, {"Content-Type": _JSON_TYPE}, b"", transport=fault)
        if fault in ("truncated", "invalid-json"):
            real = self._answer(method, target, headers, scheme, host)
            body = real.body if len(real.body) > 2 else b'{"count":5812,"next":"'
            if fault == "truncated":
                return _Reply(real.status, real.headers, body, transport=fault)
            cut = body[: len(body) // 2]
            return _Reply(200, {"Content-Type": _JSON_TYPE, "Vary": "Accept"}, cut)
        status, text = _FAULT_PAGES[fault]
        page = f"<!doctype html>\n<html><head></head><body>{text}</body></html>\n"
        fault_headers = {"Content-Type": _HTML_TYPE}
        if fault == "429-retry-after" and self.faults is not None:
            fault_headers["Retry-After"] = self.faults.retry_after
        return _Reply(status, fault_headers, page.encode())

    def _answer_v3(self, path: str, params: Mapping[str, str]) -> _Reply:
        """The old API v3 the same service still serves: another index (it has `users`),
        relative links, a `meta`/`objects` envelope. Enough of it to be recognised."""
        if path == V3_PREFIX:
            index = {kind: f"{V3_PREFIX}{kind}/" for kind in ("packages", "grids", "categories")}
            return self._json(200, {**index, "users": f"{V3_PREFIX}users/"})
        kind = path[len(V3_PREFIX) :].strip("/")
        records = {"packages": self.catalogue.packages, "grids": self.catalogue.grids,
                   "categories": self.catalogue.categories}.get(kind)  # fmt: skip
        if records is None:
            return self._json(404, _NOT_FOUND)
        limit = int(params.get("limit", "20") or 20)
        offset = int(params.get("offset", "0") or 0)
        ids = sorted(records, reverse=True)[offset : offset + limit]
        meta = {"limit": limit, "offset": offset, "total_count": len(records), "next": None}
        objects = [{"id": i, "slug": records[i].get("slug")} for i in ids]
        return self._json(200, {"meta": meta, "objects": objects})

    def _answer(
        self, method: str, target: str, headers: Mapping[str, str], scheme: str, host: str
    ) -> _Reply:
        split = urlsplit(target)
        path = unquote(split.path)
        params = {key: values[-1] for key, values in parse_qs(split.query, True).items()}
        if path.startswith(V3_PREFIX):
            return self._answer_v3(path, params)
        route = _ROUTE.fullmatch(path)
        if route is None:
            if not path.endswith("/") and _ROUTE.fullmatch(path + "/"):
                # Django's APPEND_SLASH; the Location is absolute (as API.md's clients see it).
                location = f"{scheme}://{host}{split.path}/"
                if split.query:
                    location += f"?{split.query}"
                return _Reply(301, {"Location": location, "Content-Type": _HTML_TYPE}, b"")
            return self._json(404, _NOT_FOUND)
        kind, lookup = route.group("kind"), route.group("lookup")
        if kind == "search" and lookup is not None:
            return self._json(404, _NOT_FOUND)
        if method not in ("GET", "HEAD", "OPTIONS"):
            return self._json(405, {"detail": f'Method "{method}" not allowed.'})
        rendering = _negotiate(params.get("format"), headers.get("accept", ""))
        if rendering == "unknown-format":
            return self._json(404, _NOT_FOUND)
        if rendering == "not-acceptable":
            return self._json(406, {"detail": "Could not satisfy the request Accept header."})
        if method == "OPTIONS":
            return self._json(200, _options_body(kind, lookup))
        base = f"{scheme}://{host}{API_PREFIX}"
        as_html = rendering == "html"
        request_url = f"{scheme}://{host}{target}"
        if kind is None:
            suffix = "?format=api" if as_html else ""
            data: object = {k: f"{base}{k}/{suffix}" for k in KINDS}
            return self._data(data, as_html, "Api Root", "", method, target)
        if kind == "search":
            hits = self._search(params.get("q", ""))
            return self._data(
                hits, as_html, "Search V2 List", _DESCRIPTIONS["search"], method, target
            )
        name = _MODEL_NAMES[kind]
        if lookup is not None:
            record = self.catalogue.find(kind, lookup)
            if record is None:
                return self._json(404, {"detail": f"No {name} matches the given query."})
            if as_html:
                rendered = _render(kind, record, base, "?format=api")
                return self._data(
                    rendered, True, f"{name} Instance", _DESCRIPTIONS.get(kind, ""), method, target
                )
            return self._reply(200, _JSON_TYPE, self._record_json(kind, record, base))
        return self._list(kind, params, request_url, base, as_html, method, target)

    def _list(
        self,
        kind: str,
        params: Mapping[str, str],
        request_url: str,
        base: str,
        as_html: bool,
        method: str,
        target: str,
    ) -> _Reply:
        limit = _positive_int(params.get("limit"), strict=True) or 20
        offset = _positive_int(params.get("offset"), strict=False) or 0
        count, records = self.catalogue.page(kind, offset, limit)
        next_url = None
        if offset + limit < count:
            next_url = _replace_query_param(
                _replace_query_param(request_url, "limit", limit), "offset", offset + limit
            )
        previous_url = None
        if offset > 0:
            previous_url = _replace_query_param(request_url, "limit", limit)
            if offset - limit <= 0:
                previous_url = _remove_query_param(previous_url, "offset")
            else:
                previous_url = _replace_query_param(previous_url, "offset", offset - limit)
        if as_html:
            data = {
                "count": count,
                "next": next_url,
                "previous": previous_url,
                "results": [_render(kind, rec, base, "?format=api") for rec in records],
            }
            title = f"{_MODEL_NAMES[kind]} List"
            return self._data(data, True, title, _DESCRIPTIONS.get(kind, ""), method, target)
        head = _json_bytes({"count": count, "next": next_url, "previous": previous_url})
        body = b"".join(
            (
                head[:-1],
                b',"results":[',
                b",".join(self._record_json(kind, rec, base) for rec in records),
                b"]}",
            )
        )
        return self._reply(200, _JSON_TYPE, body)

    def _record_json(self, kind: str, record: dict[str, Any], base: str) -> bytes:
        key = (kind, record["id"], base)
        cached = self._record_cache.get(key)
        if cached is not None and cached[0] is record:
            return cached[1]
        encoded = _json_bytes(_render(kind, record, base, ""))
        self._record_cache[key] = (record, encoded)
        return encoded

    def _search(self, query: str) -> list[dict[str, Any]]:
        """SearchV2-shaped hits (packages, then grids), heaviest first, at most 20."""
        if not query:
            return []
        needle = query.lower()
        hits: list[dict[str, Any]] = []
        with self.catalogue._lock:
            packages = list(self.catalogue.packages.values())
            grids = list(self.catalogue.grids.values())
            categories = dict(self.catalogue.categories)
        for rec in packages:
            title, slug = str(rec["title"]), str(rec["slug"])
            if (
                needle in title.lower()
                or slug.startswith(needle)
                or _no_prefix(slug).startswith(needle)
            ):
                hits.append(_search_hit("package", rec, categories))
        for rec in grids:
            if needle in str(rec["title"]).lower() or str(rec["slug"]).startswith(needle):
                hits.append(_search_hit("grid", rec, categories))
        hits.sort(key=lambda hit: -int(hit["weight"]))
        return hits[:20]

    def _data(
        self, data: object, as_html: bool, title: str, description: str, method: str, target: str
    ) -> _Reply:
        if not as_html:
            return self._reply(200, _JSON_TYPE, _json_bytes(data))
        page = _browsable_page(data, title, description, method, target)
        return self._reply(200, _HTML_TYPE, page.encode("utf-8"))

    def _json(self, status: int, data: object) -> _Reply:
        return self._reply(status, _JSON_TYPE, _json_bytes(data))

    @staticmethod
    def _reply(status: int, content_type: str, body: bytes) -> _Reply:
        return _Reply(
            status, {"Content-Type": content_type, "Vary": "Accept", "Allow": _ALLOW}, body
        )


def _negotiate(format_param: str | None, accept: str) -> str:
    """ "json", "html", "unknown-format" (DRF: 404) or "not-acceptable" (406)."""
    wants_json = not accept or "application/json" in accept or "*/*" in accept
    wants_html = "text/html" in accept
    if format_param == "api":
        return "html"
    if format_param == "json":
        # API.md: `?format=json` with `Accept: text/html` is a 406.
        return "not-acceptable" if wants_html and "application/json" not in accept else "json"
    if format_param is not None:
        return "unknown-format"
    if "application/json" in accept:
        return "json"
    if wants_html:
        return "html"
    return "json" if wants_json else "not-acceptable"


def _render(kind: str, record: Mapping[str, Any], base: str, suffix: str) -> dict[str, Any]:
    """A stored record as the API sends it: ids become absolute links under `base`."""

    def link(target_kind: str, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{base}{target_kind}/{value}/{suffix}"
        return value  # a str is sent as stored (a foreign link); None stays null

    if kind == "packages":
        rendered = {name: record[name] for name in PACKAGE_FIELDS}
        rendered["category"] = link("categories", record["category"])
        rendered["grids"] = [link("grids", g) for g in record["grids"]]
        return rendered
    if kind == "grids":
        rendered = {name: record[name] for name in GRID_FIELDS}
        rendered["packages"] = [link("packages", p) for p in record["packages"]]
        return rendered
    return {name: record[name] for name in CATEGORY_FIELDS}


def _no_prefix(slug: str) -> str:
    for prefix in ("django-", "django_", "dj-", "drf-"):
        if slug.startswith(prefix):
            return slug[len(prefix) :]
    return slug


def _search_hit(
    item_type: str, rec: Mapping[str, Any], categories: Mapping[int, Any]
) -> dict[str, Any]:
    title, slug = str(rec["title"]), str(rec["slug"])
    if item_type == "package":
        category = categories.get(rec["category"]) if isinstance(rec["category"], int) else None
        stars = rec["repo_watchers"] if isinstance(rec["repo_watchers"], int) else 0
        participants = rec["participants"] if isinstance(rec["participants"], list) else []
        return {
            "description": rec["repo_description"],
            "title": title,
            "created": rec["created"],
            "modified": rec["modified"],
            "weight": min(stars, 10_000) // 100 + len(participants),
            "item_type": "package",
            "title_no_prefix": _no_prefix(title.lower()),
            "slug": slug,
            "slug_no_prefix": _no_prefix(slug),
            "clean_title": re.sub(r"[^a-z0-9]", "", _no_prefix(title.lower())),
            "category": category["title"] if category else "",
            "absolute_url": f"/packages/p/{slug}/",
            "repo_watchers": stars,
            "repo_forks": rec["repo_forks"],
            "pypi_downloads": 0,
            "usage": len(participants) // 3,
            "participants": ",".join(str(p) for p in participants),
            "last_committed": rec["last_updated"],
            "last_released": rec["modified"] if rec["pypi_version"] else None,
        }
    return {
        "description": rec["description"],
        "title": title,
        "created": rec["created"],
        "modified": rec["modified"],
        "weight": len(rec["packages"]),
        "item_type": "grid",
        "title_no_prefix": title.lower(),
        "slug": slug,
        "slug_no_prefix": slug,
        "clean_title": re.sub(r"[^a-z0-9]", "", title.lower()),
        "category": "",
        "absolute_url": f"/grids/g/{slug}/",
        "repo_watchers": 0,
        "repo_forks": 0,
        "pypi_downloads": 0,
        "usage": 0,
        "participants": "",
        "last_committed": None,
        "last_released": None,
    }


def _options_body(kind: str | None, lookup: str | None) -> dict[str, Any]:
    name = "Api Root" if kind is None else f"{_MODEL_NAMES.get(kind, 'Search V2')} List"
    if lookup is not None and kind is not None:
        name = f"{_MODEL_NAMES[kind]} Instance"
    return {
        "name": name,
        "description": _DESCRIPTIONS.get(kind or "", ""),
        "renders": ["application/json", "text/html"],
        "parses": ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"],
    }


def _browsable_page(data: object, title: str, description: str, method: str, target: str) -> str:
    """DRF's browsable API, reduced to what a client can trip over: the indented JSON inside a
    <pre>, every URL string wrapped in a link (and carrying ?format=api, like the seeds)."""
    text = json.dumps(data, ensure_ascii=False, indent=4)
    parts: list[str] = []
    last = 0
    for match in _JSON_URL.finditer(text):
        parts.append(html.escape(text[last : match.start(1)]))
        url = html.escape(match.group(1))
        parts.append(f'<a href="{url}" rel="nofollow">{url}</a>')
        last = match.end(1)
    parts.append(html.escape(text[last:]))
    about = (
        f'<div class="description"><p>{html.escape(description)}</p></div>' if description else ""
    )
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)} \u2013 Django REST framework</title>\n</head>\n<body>\n"
        f'<div class="page-header"><h1>{html.escape(title)}</h1></div>\n{about}\n'
        f'<div class="request-info"><pre class="prettyprint"><b>{method}</b> '
        f"{html.escape(target)}</pre></div>\n"
        '<div class="response-info"><pre class="prettyprint">'
        '<span class="meta nocode"><b>HTTP 200 OK</b>\n'
        f'<b>Allow:</b> <span class="lit">{_ALLOW}</span>\n'
        '<b>Content-Type:</b> <span class="lit">application/json</span>\n'
        '<b>Vary:</b> <span class="lit">Accept</span>\n\n</span>'
        f"{''.join(parts)}</pre></div>\n</body>\n</html>\n"
    )


# --- the threaded server ----------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, api: FakeApi, port: int, tls: ssl.SSLContext | None = None) -> None:
        self.api = api
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)
        self.scheme = "https" if tls is not None else "http"
        if tls is not None:  # each accepted connection does its handshake first
            self.socket = tls.wrap_socket(self.socket, server_side=True)

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Wake handler threads parked on idle keep-alive connections, so none outlive us."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a client's connection pool is exercised
    server_version = "fakeapi/1"
    timeout = 30.0  # an abandoned keep-alive connection frees its thread eventually
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        headers = {key.lower(): value for key, value in self.headers.items()}
        api = self.server.api
        reply = api._exchange(self.command, self.path, headers, self.server.scheme)
        sent = 0
        try:
            sent = self._send(reply)
        finally:
            api.stats._end(None if reply.transport else reply.status, sent)

    def _send(self, reply: _Reply) -> int:
        if reply.transport == "reset":
            # SO_LINGER 0 makes close() send RST: the client reads ECONNRESET.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.wfile.close()
            self.connection.close()  # the last reference: the fd closes now
            # The base class still flushes and closes these after us.
            self.rfile, self.wfile = io.BytesIO(), io.BytesIO()
            self.close_connection = True
            return 0
        if reply.transport == "timeout":
            hold = self.server.api.faults.timeout_hold if self.server.api.faults else 2.0
            self.server.stopping.wait(hold)  # wakes early when the server stops
            self.close_connection = True
            return 0
        if reply.transport in HOSTILE_FAULTS:
            self.close_connection = True
            try:
                return self._attack(reply)
            except OSError:  # the client hung up: that is the point
                return 0
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command == "HEAD":
            return 0
        body = reply.body
        if reply.transport == "truncated":
            body = body[: len(body) // 2]
            self.close_connection = True
        self.wfile.write(body)
        return len(body)

    def _attack(self, reply: _Reply) -> int:
        faults = self.server.api.faults or Faults()
        self.send_response(200)
        self.send_header("Content-Type", _JSON_TYPE)
        if reply.transport == "gzip-bomb":
            bomb = gzip_bomb(faults.bomb_bytes)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(bomb)))
            self.end_headers()
            self.wfile.write(bomb)
            return len(bomb)
        if reply.transport == "endless":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"[" + b"0," * 32_000
            sent = 0
            while not self.server.stopping.is_set():
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                chunk = chunk[1:] if chunk.startswith(b"[") else chunk
            return sent
        # drip: a body that would be 1 MB, one byte at a time
        self.send_header("Content-Length", str(1 << 20))
        self.end_headers()
        self.wfile.flush()
        sent, until = 0, time.monotonic() + faults.drip_for
        while not self.server.stopping.wait(faults.drip_interval) and time.monotonic() < until:
            self.wfile.write(b" ")
            self.wfile.flush()
            sent += 1
        return sent


_BOMBS: dict[int, bytes] = {}
_BOMBS_LOCK = threading.Lock()


def gzip_bomb(inflated: int) -> bytes:
    """A gzip body of spaces (valid JSON whitespace) that inflates to `inflated` bytes; made
    once per size, ~1,000 times smaller than what it inflates to."""
    import zlib

    with _BOMBS_LOCK:
        if inflated not in _BOMBS:
            packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            block = b" " * (1 << 20)
            parts = [packer.compress(block) for _ in range(inflated >> 20)]
            parts.append(packer.compress(b" " * (inflated & ((1 << 20) - 1))))
            parts.append(packer.flush())
            _BOMBS[inflated] = b"".join(parts)
        return _BOMBS[inflated]


# --- fixtures and the command line ------------------------------------------------------------


def write_fixture_pages(destination: Path) -> list[Path]:
    """Write the index and list pages of `seed_catalogue()` as djangopackages.org sends them."""
    api = FakeApi(seed_catalogue())
    destination.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    transport = httpx.MockTransport(api.handler)
    with httpx.Client(transport=transport, base_url=PUBLIC_BASE_URL) as client:
        for name, path in (("root", ""), *((kind, f"{kind}/") for kind in KINDS)):
            response = client.get(path, headers={"Accept": _JSON_TYPE})
            response.raise_for_status()
            out = destination / f"{name}.json"
            text = json.dumps(response.json(), ensure_ascii=False, indent=4) + "\n"
            out.write_text(text, encoding="utf-8")
            written.append(out)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakeapi", description="Serve a fake Django Packages API v4."
    )
    parser.add_argument("--packages", type=int, default=6000)
    parser.add_argument("--grids", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds-only", action="store_true", help="serve the 5 real seeds")
    parser.add_argument("--hostile", action="store_true")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--timeout-hold", type=float, default=2.0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--write-fixture-pages", type=Path, metavar="DIR")
    args = parser.parse_args(argv)
    if args.write_fixture_pages:
        for path in write_fixture_pages(args.write_fixture_pages):
            print(path)
        return 0
    started = time.perf_counter()
    if args.seeds_only:
        catalogue = seed_catalogue()
    else:
        catalogue = generate_catalogue(
            args.packages, args.grids, seed=args.seed, hostile=args.hostile
        )
    made = time.perf_counter() - started
    faults = Faults(rate=args.fault_rate, seed=args.seed, timeout_hold=args.timeout_hold)
    api = FakeApi(catalogue, faults=faults, latency=args.latency)
    with api.serve(args.port) as base_url:
        print(base_url, flush=True)
        print(
            f"{len(catalogue.packages)} packages, {len(catalogue.grids)} grids, "
            f"{len(catalogue.categories)} categories (made in {made:.2f}s); Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    stats = api.stats.snapshot()
    print(f"served {stats.requests} requests, {stats.faults} faults", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
