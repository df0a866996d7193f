"""A mirror as a user's looks after two weeks of nightly fetches, for the screens tests and the
README's screens.

The fake API's generated catalogue (tests/fakeapi.py: realistic names, long-tailed stars, many
dormant packages), plus what narrow terminals trip on: slugs of 40 and more characters, numbers
of six and seven digits, a grid of 40 packages, a package with no commit in 52 weeks that is
not dormant. It is fetched with `pkgharvest fetch` once a night for RUNS nights; between two
nights the service re-measures some packages (stars and forks move, `last_fetched` moves on),
so `trends`, `changes` and `show`'s star history have something to say. Every run's clock is
injected: the same mirror, byte for byte in what the screens show, every time.
"""

from __future__ import annotations

import io
import random
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from pkgharvest.cli import run
from pkgharvest.runtime import Dependencies, RetryPolicy
from tests.fakeapi import PUBLIC_BASE_URL, Catalogue, FakeApi, generate_catalogue, service_datetime

FIRST_NIGHT = datetime(2026, 2, 16, 3, 17, tzinfo=UTC)
RUNS = 14
SCREEN_NOW = FIRST_NIGHT + timedelta(days=RUNS - 1, hours=6)
"""The moment the screens are read: the morning after the last night's fetch."""

LONG_SLUGS = (
    "django-queue-thumbnail-generator-for-s3-storage",
    "djangorestframework-simplejwt-token-blacklist-app",
    "wagtail-accessibility-checker-and-report-tool",
)
BIG = "django-starry-giant"
"""1,234,567 stars, re-measured every night: the longest number, and a star history chart."""
QUIET_BUT_ALIVE = "django-resting-between-releases"
"""No commit in 52 weeks, last commit five months ago: not dormant, an empty commit chart."""
GRID_OF_40 = "thumbnails"
DORMANT_STAR = "django-old-but-loved"
"""A dormant package among the most starred: every screen's first page has a dormant row."""

_NIGHTLY_MOVERS = 24


def _local(moment: datetime) -> datetime:
    """A UTC moment as the service's naive New York time (winter: UTC-5)."""
    return (moment - timedelta(hours=5)).replace(tzinfo=None)


def _plant(catalogue: Catalogue, day0: datetime) -> dict[str, int]:
    """Add the packages narrow screens trip on; returns their ids by slug."""
    fetched = service_datetime(_local(day0 - timedelta(hours=2)))
    grid_ids = sorted(catalogue.grids)
    planted: dict[str, dict[str, object]] = {
        LONG_SLUGS[0]: {
            "repo_watchers": 76_321,
            "repo_forks": 12_345,
            "repo_description": "Thumbnails queued and generated off the request cycle, into S3.",
        },
        LONG_SLUGS[1]: {
            "repo_watchers": 8_802,
            "repo_forks": 910,
            "repo_description": "A token blacklist app for djangorestframework-simplejwt.",
        },
        LONG_SLUGS[2]: {
            "repo_watchers": 2_417,
            "repo_forks": 133,
            "repo_description": "Accessibility checks and reports for Wagtail pages.",
        },
        BIG: {
            "repo_watchers": 1_234_567,
            "repo_forks": 98_765,
            "repo_description": "Stars by the million: the longest number on every screen.",
        },
        QUIET_BUT_ALIVE: {
            "repo_watchers": 3_120,
            "repo_forks": 210,
            "commits_over_52": [0] * 52,
            "last_updated": service_datetime(_local(day0 - timedelta(days=150))),
            "repo_description": "Finished, not abandoned: no commit this year, none needed.",
        },
        DORMANT_STAR: {
            "repo_watchers": 45_678,
            "repo_forks": 4_321,
            "commits_over_52": [0] * 52,
            "last_updated": service_datetime(_local(day0 - timedelta(days=3 * 365))),
            "repo_description": "Loved and left: no commit in three years.",
        },
    }
    ids = {}
    for slug, fields in planted.items():
        defaults = {
            "slug": slug,
            "title": slug,
            "grids": [grid_ids[0]],
            "last_fetched": fetched,
            "last_updated": service_datetime(_local(day0 - timedelta(days=9))),
            "repo_url": f"https://github.com/example/{slug}",
            "pypi_url": f"http://pypi.python.org/pypi/{slug}",
            "documentation_url": f"https://{slug}.readthedocs.io/en/latest/",
            "commits_over_52": [1, 0, 3, 0, 2, 5, 0, 1] * 6 + [2, 0, 4, 1],
        }
        ids[slug] = catalogue.add_package({**defaults, **fields})
    # A grid of 40: the first grid holds the planted packages and 34 others.
    grid = catalogue.grids[grid_ids[0]]
    others = random.Random(40).sample(
        sorted(p for p in catalogue.packages if p not in ids.values()), 34
    )
    members = [*ids.values(), *others]
    for package_id, record in list(catalogue.packages.items()):
        grids = [g for g in record["grids"] if g != grid_ids[0]]
        if package_id in members:
            grids = [grid_ids[0], *grids][:3]
        catalogue.packages[package_id] = {**record, "grids": grids}
    for grid_id, other in catalogue.grids.items():
        kept = [p for p in other["packages"] if grid_id in catalogue.packages[p]["grids"]]
        catalogue.grids[grid_id] = {**other, "packages": kept}
    catalogue.grids[grid_ids[0]] = {
        **grid,
        "slug": GRID_OF_40,
        "title": "Thumbnails",
        "description": "Thumbnails for Django images: on the fly, queued, or cached.",
        "packages": members,
    }
    catalogue.touched()
    return ids


def _remeasure(
    catalogue: Catalogue, night: datetime, rng: random.Random, always: list[int]
) -> None:
    """The service's day: some packages re-measured (stars and forks move, one release)."""
    fetched = service_datetime(_local(night - timedelta(hours=3)))
    movers = rng.sample(sorted(catalogue.packages), _NIGHTLY_MOVERS)
    for package_id in [*always, *movers]:
        record = catalogue.packages[package_id]
        stars = int(record["repo_watchers"])
        gain = rng.choice([-2, 0, 1, 3, 8, 21, 55]) + stars // 400
        catalogue.update_package(
            package_id,
            repo_watchers=max(0, stars + gain),
            repo_forks=int(record["repo_forks"]) + rng.choice([0, 0, 1, 2]),
            last_fetched=fetched,
        )
    bumped = movers[0]
    catalogue.update_package(bumped, pypi_version=f"9.{night.day}.0")


def build_screen_mirror(root: Path) -> Path:
    """Fetch the screens' catalogue RUNS nights in a row into `root`; returns `root`."""
    catalogue = generate_catalogue(packages=400, grids=40, seed=17)
    ids = _plant(catalogue, FIRST_NIGHT)
    api = FakeApi(catalogue)
    rng = random.Random(5)
    always = [ids[BIG], ids[LONG_SLUGS[0]]]
    for night in range(RUNS):
        moment = FIRST_NIGHT + timedelta(days=night)
        if night:
            _remeasure(catalogue, moment, rng, always)
        deps = Dependencies(
            transport=httpx.MockTransport(api.handler),
            retry=RetryPolicy(attempts=2),
            sleep=lambda seconds: None,
            now=lambda moment=moment: moment,
        )
        argv = ["fetch", "--quiet", "--base-url", PUBLIC_BASE_URL, "--data-dir", str(root)]
        with redirect_stdout(io.StringIO()):
            code = run(argv, deps)
        assert code == 0, f"night {night}: fetch exited {code}"
    return root
