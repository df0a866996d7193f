"""The history against a plain model (issue 19): random sequences of catalogue states, each
served by the fake API to a real fetch (in-process, MockTransport), and after every run the
database's observations and weekly commits, `changes --json` (the last run, and random `--since`
windows) and `trends --json` compared with what a small model computes from the sequence of
states alone.

The model follows docs/database.md ("The history rules") and nothing else of pkgharvest: its
own observation rule, its own calendar weeks, its own dormancy and PEP 440 comparison. Seeded: a
failure names its seed (`-k seed-17`). The default suite runs SEQUENCES of them; `-m slow`
runs SLOW_SEQUENCES longer ones.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import random
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.version import InvalidVersion, Version

from pkgharvest.catalogue import CATALOGUE_NAME
from pkgharvest.cli import run
from pkgharvest.runtime import Dependencies, RetryPolicy
from tests.fakeapi import PUBLIC_BASE_URL, Catalogue, FakeApi

SEQUENCES = 200
SLOW_SEQUENCES = 1000
RUNS = (2, 5)
SLOW_RUNS = (4, 12)

START = datetime(2026, 3, 2, 6, tzinfo=UTC)
VERSIONS = ("0.9", "0.10", "1.0rc1", "1.0", "1.0.0", "1.0.1", "2.0", "banana", "", None)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def service_stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")


# --- the service's states ---------------------------------------------------------------------


@dataclass
class Service:
    """What the API serves: records with their links as ids, and grid membership as pairs
    (both the package's `grids` and the grid's `packages` are drawn from it, as the service
    does), in an order that may change from one state to the next."""

    packages: dict[int, dict[str, Any]] = field(default_factory=dict)
    grids: dict[int, dict[str, Any]] = field(default_factory=dict)
    categories: dict[int, dict[str, Any]] = field(default_factory=dict)
    members: list[tuple[int, int]] = field(default_factory=list)  # (grid, package), in order
    next_id: int = 1

    def catalogue(self) -> Catalogue:
        packages = {}
        for package_id, raw in self.packages.items():
            grids = [g for g, p in self.members if p == package_id]
            packages[package_id] = {**raw, "grids": grids}
        grids = {}
        for grid_id, raw in self.grids.items():
            listed = [p for g, p in self.members if g == grid_id]
            grids[grid_id] = {**raw, "packages": listed}
        return Catalogue(
            packages=dict(sorted(packages.items())),
            grids=dict(sorted(grids.items())),
            categories=copy.deepcopy(self.categories),
        )


def _package(rng: random.Random, package_id: int, category: int, now: datetime) -> dict[str, Any]:
    return {
        "category": category,
        "grids": [],
        "id": package_id,
        "title": f"Package {package_id}",
        "slug": f"pkg-{package_id}",
        "last_updated": service_stamp(now - timedelta(days=rng.randint(0, 900))),
        "last_fetched": service_stamp(now - timedelta(minutes=rng.randint(1, 600))),
        "repo_url": f"https://github.com/example/pkg-{package_id}",
        "pypi_version": rng.choice(VERSIONS),
        "created": "2020-01-01T00:00:00+00:00",
        "modified": "2026-01-01T00:00:00+00:00",
        "repo_forks": rng.randint(0, 50),
        "repo_description": "",
        "pypi_url": "",
        "documentation_url": None,
        "repo_watchers": rng.randint(0, 500),
        "commits_over_52": _commits(rng),
        "participants": [],
    }


def _commits(rng: random.Random) -> list[int]:
    roll = rng.random()
    if roll < 0.15:
        return []  # unknown
    if roll < 0.4:
        return [0] * 52
    return [rng.choice((0, 0, 0, 1, 2, 5)) for _ in range(52)]


def _group(kind: str, group_id: int) -> dict[str, Any]:
    base = {
        "id": group_id,
        "title": f"{kind.title()} {group_id}",
        "slug": f"{kind}-{group_id}",
        "description": "",
        "created": "2020-01-01T00:00:00+00:00",
        "modified": "2026-01-01T00:00:00+00:00",
    }
    if kind == "grid":
        return {**base, "is_locked": False, "header": False}
    return {**base, "title_plural": f"{kind.title()}s {group_id}", "show_pypi": True}


def first_service(rng: random.Random, now: datetime) -> Service:
    service = Service()
    for _ in range(rng.randint(1, 3)):
        service.categories[service.next_id] = _group("category", service.next_id)
        service.next_id += 1
    for _ in range(rng.randint(1, 3)):
        service.grids[service.next_id] = _group("grid", service.next_id)
        service.next_id += 1
    for _ in range(rng.randint(2, 6)):
        _add_package(rng, service, now)
    return service


def _add_package(rng: random.Random, service: Service, now: datetime) -> None:
    package_id = service.next_id
    service.next_id += 1
    category = rng.choice(sorted(service.categories))
    service.packages[package_id] = _package(rng, package_id, category, now)
    for grid_id in rng.sample(sorted(service.grids), rng.randint(0, len(service.grids))):
        service.members.append((grid_id, package_id))


def mutate(rng: random.Random, service: Service, now: datetime, history: list[Service]) -> Service:
    """The next state: a few random edits, or a restore of an earlier state."""
    if history and rng.random() < 0.08:
        return copy.deepcopy(rng.choice(history))  # a backup: data and last_fetched back
    service = copy.deepcopy(service)
    for _ in range(rng.randint(1, 4)):
        _edit(rng, service, now)
    return service


def _moved(rng: random.Random, now: datetime) -> str:
    """A new `last_fetched`: before the run, now and then ahead of our clock."""
    if rng.random() < 0.05:
        return service_stamp(now + timedelta(days=rng.randint(1, 3)))
    return service_stamp(now - timedelta(minutes=rng.randint(1, 300)))


EDITS = (
    *("stars", "stars", "forks", "version", "version", "commits", "commits", "last-commit"),
    *("touch", "add", "remove", "rename", "reorder", "member"),
    *("grid-add", "grid-remove", "grid-rename", "category-add", "category-rename"),
)
"""What one edit of the service's state can be (stars, versions and commits most often)."""


def _edit(rng: random.Random, service: Service, now: datetime) -> None:
    what = rng.choice(EDITS)
    ids = sorted(service.packages)
    if what == "add" or not ids:
        _add_package(rng, service, now)
        return
    raw = service.packages[rng.choice(ids)]
    moves = rng.random() < 0.6  # whether the service re-measured it (`last_fetched` moves)
    if what == "stars":
        raw["repo_watchers"] = max(0, raw["repo_watchers"] + rng.randint(-40, 200))
    elif what == "forks":
        raw["repo_forks"] = max(0, raw["repo_forks"] + rng.randint(-3, 9))
    elif what == "version":
        raw["pypi_version"] = rng.choice(VERSIONS)
    elif what == "commits":
        raw["commits_over_52"] = _commits(rng)
        moves = rng.random() < 0.85
    elif what == "last-commit":
        raw["last_updated"] = (
            None
            if rng.random() < 0.1
            else service_stamp(now - timedelta(days=rng.randint(0, 900), hours=1))
        )
    elif what == "touch":
        moves = True
    elif what == "remove" and len(ids) > 1:  # (an empty list is not taken for a catalogue)
        del service.packages[raw["id"]]
        service.members = [(g, p) for g, p in service.members if p != raw["id"]]
        return
    elif what == "rename":
        raw["slug"] = f"pkg-{raw['id']}-{rng.randint(0, 9)}"
    elif what == "reorder":
        rng.shuffle(service.members)
        return
    elif what == "member" and service.grids:
        pair = (rng.choice(sorted(service.grids)), raw["id"])
        if pair in service.members:
            service.members.remove(pair)
        else:
            service.members.append(pair)
    elif what == "grid-add":
        service.grids[service.next_id] = _group("grid", service.next_id)
        service.next_id += 1
    elif what == "grid-remove" and len(service.grids) > 1:
        gone = rng.choice(sorted(service.grids))
        del service.grids[gone]
        service.members = [(g, p) for g, p in service.members if g != gone]
    elif what == "grid-rename" and service.grids:
        grid = service.grids[rng.choice(sorted(service.grids))]
        grid["slug"] = f"grid-{grid['id']}-{rng.randint(0, 9)}"
    elif what == "category-add":
        service.categories[service.next_id] = _group("category", service.next_id)
        service.next_id += 1
    elif what == "category-rename":
        category = service.categories[rng.choice(sorted(service.categories))]
        category["slug"] = f"category-{category['id']}-{rng.randint(0, 9)}"
    if moves:
        raw["last_fetched"] = _moved(rng, now)


# --- the model --------------------------------------------------------------------------------

Values = tuple[Any, ...]  # stars, forks, commits_52w_total, pypi_version, last_commit


@dataclass
class Record:
    slug: str
    title: str | None
    values: Values = ()
    last_fetched: datetime | None = None
    counts: list[int] | None = None
    fresh: bool = False  # the counts came with this `last_fetched` (not kept from before)


Mirror = dict[str, dict[int, Record]]  # kind -> id -> record


def _instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC)


def shrinks(service: Service, before: Mirror | None) -> bool:
    """Whether the API lists fewer than half of what the mirror holds of a kind: the fetch
    then takes it for an API fault, removes nothing and ends partial (exit 3)."""
    listed = {
        "packages": service.packages,
        "grids": service.grids,
        "categories": service.categories,
    }
    return before is not None and any(
        before[kind] and len(listed[kind]) < len(before[kind]) * 0.5 for kind in listed
    )


def mirror_of(service: Service, before: Mirror | None, *, keep: bool = False) -> Mirror:
    """The mirror a fetch of `service` leaves, given the mirror `before` it (an empty commit
    list keeps the counts the mirror had, as stale); `keep`: it removed nothing."""
    packages: dict[int, Record] = {}
    for package_id, raw in service.packages.items():
        counts: list[int] | None = raw["commits_over_52"] or None
        fresh = counts is not None
        if counts is None and before is not None and package_id in before["packages"]:
            counts = before["packages"][package_id].counts
        last_commit = _instant(raw["last_updated"])
        values = (
            raw["repo_watchers"],
            raw["repo_forks"],
            None if counts is None else sum(counts),
            raw["pypi_version"],
            None if last_commit is None else stamp(last_commit),
        )
        packages[package_id] = Record(
            raw["slug"], raw["title"], values, _instant(raw["last_fetched"]), counts, fresh
        )
    mirror = {
        "packages": packages,
        "grids": {i: Record(g["slug"], g["title"]) for i, g in service.grids.items()},
        "categories": {i: Record(c["slug"], c["title"]) for i, c in service.categories.items()},
    }
    if keep and before is not None:
        for kind, records in before.items():
            for record_id, record in records.items():
                mirror[kind].setdefault(record_id, record)
    return mirror


@dataclass
class Observation:
    at: datetime
    values: Values
    run_id: int


@dataclass
class Model:
    """What the database must hold, computed run by run from the states alone."""

    observations: dict[int, list[Observation]] = field(default_factory=dict)
    weeks: dict[tuple[int, str], int] = field(default_factory=dict)
    newest_list: dict[int, tuple[datetime, list[int]]] = field(default_factory=dict)
    runs: list[tuple[int, datetime, Mirror]] = field(default_factory=list)  # committed runs
    run_count: int = 0

    def failed_run(self) -> None:
        self.run_count += 1

    def committed_run(self, started: datetime, mirror: Mirror) -> None:
        self.run_count += 1
        for package_id, record in sorted(mirror["packages"].items()):
            self._observe(package_id, record, started)
            self._file_weeks(package_id, record)
        self.runs.append((self.run_count, started, mirror))

    def _observe(self, package_id: int, record: Record, started: datetime) -> None:
        # An observation when the values differ from the latest; dated by last_fetched when
        # that is later than the latest, else by the run, never at or before the latest.
        seen = self.observations.setdefault(package_id, [])
        latest = seen[-1] if seen else None
        if latest is not None and latest.values == record.values:
            return
        fetched = record.last_fetched
        if fetched is not None and (latest is None or fetched > latest.at):
            at = fetched
        elif latest is None:
            at = started
        else:
            at = max(started, latest.at + timedelta(seconds=1))
        seen.append(Observation(at, record.values, self.run_count))

    def _file_weeks(self, package_id: int, record: Record) -> None:
        # Only lists the API sent, under the weeks ending with their own last_fetched; one at
        # least as new as the newest filed sets its weeks, an older one fills gaps only.
        if not record.fresh or record.counts is None or record.last_fetched is None:
            return
        fetched, counts = record.last_fetched, record.counts
        last_monday = fetched.date() - timedelta(days=fetched.weekday())
        weeks = [(last_monday - timedelta(weeks=51 - i)).isoformat() for i in range(52)]
        newest = self.newest_list.get(package_id)
        older = newest is not None and fetched < newest[0]
        for week, count in zip(weeks, counts, strict=True):
            if not older or (package_id, week) not in self.weeks:
                self.weeks[(package_id, week)] = count
        if not older:
            self.newest_list[package_id] = (fetched, counts)

    # --- reports ---------------------------------------------------------------------------

    def state(
        self, package_id: int, *, at: datetime | None = None, run: int | None = None
    ) -> Values:
        """A package's values at a moment (else its first), or as recorded before a run."""
        seen = self.observations[package_id]
        if run is not None:
            before = [o for o in seen if o.run_id < run]
            return (before or seen)[-1].values
        assert at is not None
        before = [o for o in seen if o.at <= at]
        return (before or seen[:1])[-1].values

    def last_run_report(self) -> dict[str, Any]:
        run_id, started, end = self.runs[-1]
        if len(self.runs) == 1:
            return _report(None, stamp(started), 1, baseline=True)
        _, previous_start, start = self.runs[-2]
        report = _report(stamp(previous_start), stamp(started), 1)
        self._compare(report, start, end, [end], lambda p: self.state(p, run=run_id))
        self._moves(
            report,
            start,
            end,
            lambda p: self.state(p, run=run_id),
            previous_start,
            started,
        )
        return report

    def window_report(self, since: datetime) -> dict[str, Any]:
        window = [(i, s, m) for i, s, m in self.runs if s >= since]
        if not window:
            return _report(stamp(since), None, 0)
        report = _report(stamp(since), stamp(window[-1][1]), len(window))
        if len(window) == 1 and window[0][0] == self.runs[0][0]:
            report["baseline"] = True
            return report
        earlier = [m for _, s, m in self.runs if s < since]
        start = earlier[-1] if earlier else self.runs[0][2]
        states = [m for _, _, m in window]
        self._compare(report, start, window[-1][2], states, lambda p: self.state(p, at=since))
        self._moves(
            report, start, window[-1][2], lambda p: self.state(p, at=since), since, window[-1][1]
        )
        return report

    @staticmethod
    def _compare(
        report: dict[str, Any], start: Mirror, end: Mirror, states: list[Mirror], _: Any
    ) -> None:
        """New, removed, renamed: the start's records against the end's; a removed record as
        it was the last time it was there."""
        for kind in ("packages", "grids", "categories"):
            before, after = start[kind], end[kind]
            new = [
                {"id": i, "slug": r.slug, "title": r.title}
                | ({"stars": r.values[0]} if kind == "packages" else {})
                for i, r in after.items()
                if i not in before
            ]
            removed = []
            for i in before:
                if i not in after:
                    last = next(m[kind][i] for m in [start, *states][::-1] if i in m[kind])
                    removed.append({"id": i, "slug": last.slug, "title": last.title})
            renamed = [
                {"id": i, "from": before[i].slug, "to": r.slug}
                for i, r in after.items()
                if i in before and before[i].slug != r.slug
            ]
            new.sort(key=lambda item: (item["slug"], item["id"]))
            removed.sort(key=lambda item: (item["slug"], item["id"]))
            renamed.sort(key=lambda item: (item["to"], item["id"]))
            for items in (new, removed, renamed):
                for item in items:
                    del item["id"]
            if kind == "packages":
                report["new"], report["removed"] = new, removed
                report["renamed"] = [{"slug": r["to"], **r} for r in renamed]
            else:
                report[kind] = {"new": new, "removed": removed, "renamed": renamed}

    def _moves(
        self,
        report: dict[str, Any],
        start: Mirror,
        end: Mirror,
        state_at_start: Any,
        start_moment: datetime,
        end_moment: datetime,
    ) -> None:
        for package_id, record in end["packages"].items():
            if package_id not in start["packages"]:
                continue  # new
            was, now = state_at_start(package_id), self.observations[package_id][-1].values
            move = version_move(was[3], now[3])
            if move is not None:
                key = "releases" if move == "release" else "rollbacks"
                report[key].append({"slug": record.slug, "from": was[3], "to": now[3]})
            if was[0] != now[0]:
                report["stars"].append(
                    {"slug": record.slug, "from": was[0], "to": now[0], "gained": now[0] - was[0]}
                )
            dormant_then, dormant_now = dormant(was, start_moment), dormant(now, end_moment)
            if dormant_then != dormant_now:
                key = "dormant" if dormant_now else "revived"
                report[key].append({"slug": record.slug, "last_commit": now[4]})
        for key in ("releases", "rollbacks", "dormant", "revived"):
            report[key].sort(key=lambda item: item["slug"])
        report["stars"].sort(key=lambda item: (-item["gained"], item["slug"]))

    def trends(self, since: datetime, end: Mirror) -> list[tuple[Any, ...]]:
        rows = []
        for package_id, record in end["packages"].items():
            seen = self.observations[package_id]
            before = [o for o in seen if o.at <= since]
            first, last = (before[-1] if before else seen[0]), seen[-1]
            if first.at >= last.at:
                continue
            gained = last.values[0] - first.values[0]
            ratio = gained * 1.0 / max(first.values[0], 1)
            rows.append(
                (-gained, -ratio, record.slug, last.values[0], stamp(first.at), stamp(last.at))
            )
        rows.sort()
        return [(slug, stars, -minus, a, b) for minus, _, slug, stars, a, b in rows]


def _report(
    since: str | None, until: str | None, runs: int, baseline: bool = False
) -> dict[str, Any]:
    empty = {"new": [], "removed": [], "renamed": []}
    return {
        "since": since,
        "until": until,
        "runs": runs,
        "baseline": baseline,
        **{key: [] for key in ("new", "removed", "renamed", "releases", "rollbacks", "stars")},
        "dormant": [],
        "revived": [],
        "grids": copy.deepcopy(empty),
        "categories": copy.deepcopy(empty),
    }


def version_move(old: str | None, new: str | None) -> str | None:
    if not new or new == old:
        return None
    if not old:
        return "release"
    try:
        a, b = Version(old), Version(new)
    except InvalidVersion:
        return "release"
    return "release" if b > a else "rollback" if b < a else None


def dormant(values: Values, moment: datetime) -> bool:
    last_commit, total = values[4], values[2]
    if last_commit is None:
        return False
    return moment - _instant(last_commit.replace("Z", "+00:00")) > timedelta(days=365) and (  # type: ignore[operator]
        not total
    )


# --- running a sequence -----------------------------------------------------------------------


@contextlib.contextmanager
def data_folder() -> Iterator[Path]:
    """A fresh data folder, on a memory file system where there is one: the test is about what
    the history says, not durability, and a fetch fsyncs its manifest."""
    shm = Path("/dev/shm")
    where = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="pkgharvest-model-", dir=where) as name:
        yield Path(name)


class Runner:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.now = START

    def deps(self, handler: Any) -> Dependencies:
        return Dependencies(
            transport=httpx.MockTransport(handler),
            retry=RetryPolicy(attempts=1),
            sleep=lambda seconds: None,
            now=lambda: self.now,
        )

    def fetch(self, service: Service | None) -> int:
        handler = FakeApi(service.catalogue()).handler if service else _down
        argv = ["fetch", "--quiet", "--base-url", PUBLIC_BASE_URL, "--data-dir", str(self.root)]
        return run(argv, self.deps(handler))

    def json(self, *args: str) -> Any:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = run([*args, "--json", "--data-dir", str(self.root)], self.deps(_down))
        assert code == 0, (args, code)
        return json.loads(out.getvalue())

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.root / CATALOGUE_NAME)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()


def _down(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503)


def check_sequence(seed: int, runs: tuple[int, int]) -> None:
    rng = random.Random(seed)
    model = Model()
    with data_folder() as root:
        runner = Runner(root)
        service = first_service(rng, runner.now)
        states: list[Service] = []
        mirror: Mirror | None = None
        for step in range(rng.randint(*runs)):
            if step:
                runner.now += timedelta(hours=rng.choice((1, 5, 20, 30, 24 * 9, 24 * 200)))
                service = mutate(rng, service, runner.now, states)
            if step and rng.random() < 0.1:  # the API is down: nothing changes but `runs`
                assert runner.fetch(None) == 75
                model.failed_run()
                assert runner.query("SELECT id, exit_code FROM runs ORDER BY id DESC LIMIT 1")[
                    0
                ] == (
                    model.run_count,
                    75,
                )
                continue
            states.append(copy.deepcopy(service))
            partial = shrinks(service, mirror)
            assert runner.fetch(service) == (3 if partial else 0), f"seed {seed}, step {step}"
            mirror = mirror_of(service, mirror, keep=partial)
            model.committed_run(runner.now, mirror)
            compare(rng, seed, step, runner, model, mirror)


def compare(
    rng: random.Random, seed: int, step: int, runner: Runner, model: Model, mirror: Mirror
) -> None:
    where = f"seed {seed}, step {step}"
    observations = runner.query(
        "SELECT package_id, observed_at, stars, forks, commits_52w_total, pypi_version,"
        " last_commit, run_id FROM observations ORDER BY 1, 2"
    )
    assert observations == [
        (package_id, stamp(o.at), *o.values, o.run_id)
        for package_id, seen in sorted(model.observations.items())
        for o in seen
    ], where
    weeks = runner.query("SELECT package_id, week_start, commits FROM weekly_commits")
    assert {(p, w): c for p, w, c in weeks} == model.weeks, where
    assert runner.json("changes") == model.last_run_report(), where
    starts = [started for _, started, _ in model.runs]
    moments = [
        rng.choice(starts) + timedelta(hours=rng.choice((-1, 0, 0, 1))),
        START - timedelta(days=1),
        rng.choice(starts) + timedelta(minutes=rng.randint(-600, 600)),
    ]
    # A window may not start later than now (the reading commands' clock is the last run's):
    # such a start is a usage error; the latest start allowed is now itself.
    moments = [min(moment, runner.now) for moment in moments]
    since = rng.choice(moments)
    assert runner.json("changes", "--since", since.isoformat()) == model.window_report(since), (
        where,
        since,
    )
    since = rng.choice(moments)
    trends = runner.json("trends", "--since", since.isoformat(), "--limit", "0")
    assert [
        (t["slug"], t["stars"], t["stars_gained"], t["since"], t["until"]) for t in trends
    ] == model.trends(since, mirror), (where, since)


@pytest.mark.parametrize("seed", range(SEQUENCES), ids=lambda seed: f"seed-{seed}")
def test_the_history_is_the_model_of_its_states(seed: int) -> None:
    check_sequence(seed, RUNS)


@pytest.mark.slow
@pytest.mark.parametrize(
    "seed", range(SEQUENCES, SEQUENCES + SLOW_SEQUENCES), ids=lambda seed: f"seed-{seed}"
)
def test_the_history_is_the_model_of_longer_sequences(seed: int) -> None:
    check_sequence(seed, SLOW_RUNS)
