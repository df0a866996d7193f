"""`fetch`: the short routine that wires the one-way pipeline and returns a change report.

    lock -> open the store -> open the catalogue database -> client -> begin
         -> check the API root -> phases -> removal plan -> commit -> finish the database

The phases, one module each: crawl (lists, proven complete) -> resolve (links, a worklist) ->
assemble (grids, pure functions over id sets) -> normalize -> stage (into the transaction) ->
removal (a pure plan) -> the commit, here, in one place. A catalogue run's phases are in
full_run.py, a targeted run's in targeted_run.py; counts and notices live in stats.RunStats.
The catalogue database is opened once (catalogue/feed.py): the store hands it each record as
it stages it, and it is finished right after the commit, so that nothing reads the files back.
Nothing in the mirror changes until the run commits: a run that cannot finish (the API kept
failing, a disk error, Ctrl-C) leaves it byte-for-byte as it was. A run that finished with some
records failed commits what it fetched and removes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from pkgharvest import catalogue
from pkgharvest.api.client import ApiClient
from pkgharvest.api.links import ApiBase
from pkgharvest.catalogue import wait_of
from pkgharvest.catalogue.feed import RunFeed
from pkgharvest.config import DEFAULT_PAGE_SIZE, MAX_CONCURRENCY, MAX_PAGE_SIZE
from pkgharvest.errors import ExitCode, Interrupted, UsageError
from pkgharvest.fetch.full_run import CatalogueRun
from pkgharvest.fetch.removal import RemovalPlan, plan_removal
from pkgharvest.fetch.resolve import Known, Resolver
from pkgharvest.fetch.stage import Stager
from pkgharvest.fetch.stats import KindCounts, RunStats
from pkgharvest.fetch.targeted_run import TargetedRun
from pkgharvest.records import Kind, iso_utc
from pkgharvest.runtime import DEFAULT_RUN_TIMEOUT, Dependencies
from pkgharvest.store.transaction import Store, Transaction

DEFAULT_CONCURRENCY = 4


@dataclass(frozen=True)
class FetchOptions:
    """What to fetch, from where, into where.

    targets: package slugs or ids (empty, with no grids: the whole catalogue).
    grids: grid slugs or ids; each grid is fetched with all of its packages.
    page_size: records per list page. concurrency: most requests in flight at once.
    fsync: fsync every record file (slower; the manifest is always fsynced).
    timeout: seconds the run may take, waits included; past it the run ends with exit 75 and
        the mirror unchanged (None or 0: no limit).
    """

    base_url: str
    data_dir: Path
    targets: tuple[str, ...] = ()
    grids: tuple[str, ...] = ()
    concurrency: int = DEFAULT_CONCURRENCY
    page_size: int = DEFAULT_PAGE_SIZE
    fsync: bool = False
    timeout: float | None = DEFAULT_RUN_TIMEOUT
    switch_source: bool = False  # a mirror of another API: take this one's catalogue instead

    @property
    def scope(self) -> str:
        return "targeted" if self.targets or self.grids else "catalogue"


@dataclass(frozen=True)
class FetchReport:
    """The outcome of one fetch run (printed as the summary line, or as JSON with --json).

    complete: everything asked for was fetched: a catalogue run read every list completely,
        a targeted run got every record it asked for that exists (exit 0, or 9).
    exit_code: 0 complete, 3 partial, 5 nothing of what was asked for exists (nothing is
        committed then), 9 complete but the catalogue database was not updated.
    removal_withheld: why records gone from the API were not removed, if they were not.
    not_found: (kind, key) of each target the API does not have (for a "did you mean").
    seconds, finished: the whole run's, the database update included.
    """

    scope: str
    source: str
    complete: bool
    exit_code: ExitCode
    counts: Mapping[str, KindCounts]
    requests: int
    retries: int
    bytes_received: int
    started: str
    finished: str
    seconds: float
    notices: tuple[str, ...] = ()
    removal_withheld: str | None = None
    not_found: tuple[tuple[str, str], ...] = ()
    changes: Any = field(default=None, compare=False)
    """What the run changed in the catalogue (a catalogue.reports.ChangeReport), or None."""
    catalogue_problem: str | None = None
    """Why the catalogue database was not updated (the next command catches it up)."""
    catalogue_notice: str | None = None
    """One line when the database had to be repaired (moved aside and rebuilt)."""

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON data, without what the database said after the commit
        (`changes`, `catalogue_problem`, `catalogue_notice`: the CLI shows them its own way)."""
        data = asdict(replace(self, changes=None))
        del data["changes"], data["catalogue_problem"], data["catalogue_notice"]
        data["exit_code"] = int(self.exit_code)
        return data

    def summary_line(self) -> str:
        parts = []
        for kind in Kind:
            c = self.counts[kind.value]
            text = f"{kind.value} {c.seen} seen, {c.new} new, {c.changed} changed, "
            text += f"{c.unchanged} unchanged, {c.removed} removed, {c.failed} failed"
            if c.missing:
                text += f", {c.missing} missing"
            parts.append(text)
        # The exit code's own word: 0 complete (done, for targets), 3 PARTIAL, 5 NOT FOUND;
        # 9 is a complete run whose database lags (said on a line of its own).
        done = self.exit_code in (ExitCode.OK, ExitCode.CATALOGUE_BEHIND)
        state = "complete" if done else "PARTIAL"
        if self.exit_code == ExitCode.NOT_FOUND:
            state = "NOT FOUND"
        if self.scope == "targeted" and done:
            state = "done"
        return (
            f"fetch {state}: "
            + "; ".join(parts)
            + f"; {self.requests} requests, {self.retries} retries, {self.seconds:.1f} s"
        )


def fetch(options: FetchOptions, deps: Dependencies | None = None) -> FetchReport:
    """Bring the mirror in `options.data_dir` up to date with the API; see the module docs.

    Raises a PkgHarvestError (LockHeld, CorruptStore, StoreWriteError, ApiUnavailable,
    NotTheApi, ...) when the run cannot finish; the mirror is then unchanged. Every run that
    started (the folder and its database opened under the lock) is recorded in the catalogue
    database's `runs`, failures included (not in a folder that has no mirror yet: nothing to
    report on); one that found none of its targets (exit 5) commits nothing either.
    """
    deps = deps or Dependencies()
    _check(options)
    base = ApiBase.parse(options.base_url)
    store = Store(options.data_dir, fsync=options.fsync)
    started, started_clock = deps.now(), deps.clock()
    stats = RunStats(deps.on_event)
    with store.lock():
        client: ApiClient | None = None
        opened = False  # the folder and its database were opened for this run
        try:
            store.open_for_update(source=base.url, switch_source=options.switch_source)
            database = RunFeed.open(
                store.root, wait=wait_of(deps), owner=store.owner, started=started
            )
            opened = True
            if database.notice and not database.repaired:  # a repair is said even under --quiet
                stats.notice(database.notice, topic="catalogue")
            try:
                client = ApiClient(
                    base,
                    deps.with_events(stats.relay),
                    concurrency=options.concurrency,
                    run_timeout=options.timeout,
                )
            except BaseException:
                database.close()
                raise
            report = _run(
                options, base, store, database, client, stats, deps, started, started_clock
            )
        except BaseException as err:
            # A run that could not start (the folder or its database refused: nothing was
            # changed, and nothing is) is no run; nor is a refusal (another source without
            # --switch-source); a run the commit of which a signal followed is in the
            # manifest, and the next command syncs it.
            if opened and (
                not isinstance(err, UsageError | Interrupted)
                or (isinstance(err, Interrupted) and not err.committed)
            ):
                _record_uncommitted(
                    options, store, stats, client, deps, started, started_clock, err
                )
            raise
        if report.exit_code == ExitCode.NOT_FOUND:
            _record_uncommitted(
                options, store, stats, client, deps, started, started_clock, None, report
            )
        return report


def _run(
    options: FetchOptions,
    base: ApiBase,
    store: Store,
    database: RunFeed,
    client: ApiClient,
    stats: RunStats,
    deps: Dependencies,
    started: datetime,
    started_clock: float,
) -> FetchReport:
    """The run under the lock: begin, the phases, the removal plan, the commit (unless nothing
    asked for exists) and the database's finish. The database is let go before this returns
    or raises."""
    pool = ThreadPoolExecutor(max_workers=options.concurrency, thread_name_prefix="fetch")
    txn = store.begin(feed=database)
    try:
        client.get_index()
        resolver = Resolver(
            client=client,
            pool=pool,
            concurrency=options.concurrency,
            page_size=options.page_size,
            stats=stats,
            stager=Stager(txn, base, stats),
            known=Known(),
        )
        exit_code, plan, not_found = _phases(options, resolver, stats)
        del resolver  # what the run learnt of every record: not needed from here on
        removed = _apply(plan, txn, stats)
        report = FetchReport(
            scope=options.scope,
            source=base.url,
            complete=exit_code == ExitCode.OK,
            exit_code=exit_code,
            counts={kind.value: stats.counts[kind] for kind in Kind},
            requests=client.requests,
            retries=client.retries,
            bytes_received=client.received,
            started=iso_utc(started),
            finished=iso_utc(deps.now()),
            seconds=round(deps.clock() - started_clock, 3),
            notices=stats.all_notices(),
            removal_withheld=plan.withheld if not removed else None,
            not_found=not_found,
        )
        if exit_code == ExitCode.NOT_FOUND:  # nothing asked for exists: nothing to commit
            txn.discard()
            return report
        manifest_run = report.as_dict()
        del manifest_run["notices"], manifest_run["source"], manifest_run["not_found"]
        # The commit point: the one place where the mirror changes.
        txn.commit(source=base.url, run=manifest_run)
        # The database follows the JSON files.
        outcome = database.finish(id_hints=txn.written_ids())
        repaired = database.notice if database.repaired else None
        return replace(
            report,
            exit_code=ExitCode.CATALOGUE_BEHIND
            if outcome.problem and exit_code == ExitCode.OK
            else exit_code,
            finished=iso_utc(deps.now()),
            seconds=round(deps.clock() - started_clock, 3),  # the database's part included
            changes=outcome.changes,
            catalogue_problem=outcome.problem,
            catalogue_notice=outcome.notice or repaired,
        )
    except BaseException:
        txn.discard()
        raise
    finally:
        database.close()
        client.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
        client.close()


def _record_uncommitted(
    options: FetchOptions,
    store: Store,
    stats: RunStats,
    client: ApiClient | None,
    deps: Dependencies,
    started: datetime,
    started_clock: float,
    err: BaseException | None,
    report: FetchReport | None = None,
) -> None:
    """Record a run that committed nothing (a failure `err`, or a `report` of exit 5) in the
    database's `runs`."""
    if report is not None:
        run = report.as_dict()
        run["error"] = "none of the targets exists in the API"
    else:
        assert err is not None
        code = getattr(err, "exit_code", None)
        if not isinstance(code, int):
            code = ExitCode.INTERRUPTED if isinstance(err, KeyboardInterrupt) else ExitCode.INTERNAL
        run = {
            "scope": options.scope,
            "complete": False,
            "exit_code": int(code),
            "error": str(err) or type(err).__name__,
            "counts": {kind.value: asdict(stats.counts[kind]) for kind in Kind},
            "requests": client.requests if client is not None else 0,
            "retries": client.retries if client is not None else 0,
            "started": iso_utc(started),
            "finished": iso_utc(deps.now()),
            "seconds": round(deps.clock() - started_clock, 3),
        }
    # Best effort: the run's own error (or exit 5) is what the user must hear of; a database
    # that cannot take the row (of a newer schema, say) changes nothing of that.
    catalogue.record_uncommitted_run(store.root, run, wait=wait_of(deps), owner=store.owner)


def _phases(
    options: FetchOptions, resolver: Resolver, stats: RunStats
) -> tuple[ExitCode, RemovalPlan, tuple[tuple[str, str], ...]]:
    """Run the catalogue's or the targets' phases: the exit code, the removal plan, and the
    targets not found."""
    if options.scope == "targeted":
        targets = TargetedRun(resolver).run(options.targets, options.grids)
        if targets.found == 0:
            code = ExitCode.NOT_FOUND
        elif stats.failed() or targets.integrity_faults:
            code = ExitCode.PARTIAL
        else:
            code = ExitCode.OK
        return (
            code,
            RemovalPlan(withheld="a targeted fetch never removes records"),
            targets.not_found,
        )
    catalogue = CatalogueRun(resolver).run()
    plan = plan_removal(
        catalogue.evidence, failed=stats.failed(), integrity_faults=catalogue.integrity_faults
    )
    if plan.withheld is not None:
        stats.notice(f"nothing removed from the mirror: {plan.withheld}", topic="removal")
        return ExitCode.PARTIAL, plan, ()
    return ExitCode.OK, plan, ()


def _apply(plan: RemovalPlan, txn: Transaction, stats: RunStats) -> bool:
    """Schedule the plan's removals in the transaction; whether the plan allowed removal."""
    if plan.withheld is not None:
        return False
    for kind, ids in plan.remove.items():
        stats.counts[kind].removed = txn.schedule_removal(kind, ids)
    return True


def _check(options: FetchOptions) -> None:
    if not 1 <= options.concurrency <= MAX_CONCURRENCY:
        raise UsageError(f"--concurrency must be between 1 and {MAX_CONCURRENCY}")
    if not 1 <= options.page_size <= MAX_PAGE_SIZE:
        raise UsageError(f"--page-size must be between 1 and {MAX_PAGE_SIZE}")
    if options.timeout is not None and options.timeout < 0:
        raise UsageError("--timeout must be 0 (no limit) or more seconds")
    for key in (*options.targets, *options.grids):
        _check_target(key)


def _check_target(key: str) -> None:
    """A target is a slug or an id. `.`, `..` or a path would name another endpoint (the
    list, the root) once the URL is normalized: a usage error, never a request."""
    if key.strip() in ("", ".", "..") or any(c in key for c in "/\\?#") or not key.isprintable():
        raise UsageError(f"{key!r} is not a package or grid slug or id")


__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_PAGE_SIZE",
    "FetchOptions",
    "FetchReport",
    "KindCounts",
    "fetch",
]
