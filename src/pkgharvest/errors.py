"""The exception tree and the exit codes it maps to.

Every failure a user can cause or meet ends as a `PkgHarvestError`; the CLI's single error funnel
turns it into one line on stderr and `exit_code`. Anything else is a bug (exit 1, traceback only
with --debug). The codes follow sysexits(3) where one fits, so cron wrappers can tell "try again
later" (75) from "fix your set-up" (78).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes; their meanings are EXIT_CODE_MEANINGS (README, `--help`)."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    PARTIAL = 3
    LOCKED = 4
    NOT_FOUND = 5
    STALE = 6
    NO_INPUT = 7
    CHECK_FAILED = 8
    CATALOGUE_BEHIND = 9
    DATA_ERROR = 65
    NO_MIRROR = 66
    CANT_WRITE = 73
    TEMPFAIL = 75
    CONFIG = 78
    HANGUP = 129
    INTERRUPTED = 130
    TERMINATED = 143


EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "complete: everything asked for was done",
    ExitCode.INTERNAL: "a bug in pkgharvest (rerun with --debug for the traceback)",
    ExitCode.USAGE: "usage error (unknown option, bad value)",
    ExitCode.PARTIAL: "partial fetch: some records failed or a list was incomplete; "
    "what was fetched is kept, nothing removed",
    ExitCode.LOCKED: "another run holds the data folder's lock",
    ExitCode.NOT_FOUND: "not found: no such package or grid (in the API or the mirror)",
    ExitCode.STALE: "status --max-age: the last complete catalogue fetch is older than that, "
    "or there was none",
    ExitCode.NO_INPUT: "deps: a dependency file named is missing or unreadable, or the folder "
    "holds none",
    ExitCode.CHECK_FAILED: "deps --fail-on: a dependency has one of the statuses named",
    ExitCode.CATALOGUE_BEHIND: "fetch: the mirror was updated but its catalogue database was not "
    "(locked by another program, not writable, no space), or the run left too little room to "
    "read it; said in one line; the next command catches it up",
    ExitCode.DATA_ERROR: "a file in the data folder is corrupt or of a newer format; "
    "nothing was changed (verify: problems found; deps: a dependency file does not parse)",
    ExitCode.NO_MIRROR: "no mirror yet: run `pkgharvest fetch` first",
    ExitCode.CANT_WRITE: "the data folder, --output or the output cannot be written "
    "(permissions, full disk)",
    ExitCode.TEMPFAIL: "the API could not be reached or kept failing; the mirror is unchanged; "
    "retry later",
    ExitCode.CONFIG: "the base URL does not serve the Django Packages API, or its TLS "
    "certificate cannot be verified; fix the set-up (retrying does not help)",
    ExitCode.HANGUP: "fetch stopped by SIGHUP (a closed terminal); as 130",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C, SIGINT); the mirror is unchanged, or updated "
    "when the signal came during the commit (which is then finished first, and says so)",
    ExitCode.TERMINATED: "fetch stopped by SIGTERM (kill, systemd stop); as 130",
}


def exit_codes_help() -> str:
    """The exit codes as help text, one paragraph each (typer rewraps single newlines)."""
    return "\n\n".join(f"{int(code)}  {text}" for code, text in EXIT_CODE_MEANINGS.items())


class Interrupted(KeyboardInterrupt):
    """A fetch stopped by SIGINT, SIGTERM or SIGHUP (see signals.py). A KeyboardInterrupt, so
    that no `except Exception` on the way swallows it.

    signal_name: "SIGTERM"... exit_code: 128 + the signal's number. committed: whether the run's
    commit had finished (the signal came during or after it): the mirror is then updated.
    """

    def __init__(self, signal_name: str, exit_code: int, *, committed: bool) -> None:
        self.signal_name = signal_name
        self.exit_code = exit_code
        self.committed = committed
        if committed:
            message = (
                f"interrupted ({signal_name}) during the commit, which was finished first: "
                "the mirror is updated"
            )
        else:
            message = f"interrupted ({signal_name}); the mirror is unchanged"
        super().__init__(message)


class PkgHarvestError(Exception):
    """Base of every error pkgharvest reports to a user. `str(err)` is the one-line message."""

    exit_code: ExitCode = ExitCode.INTERNAL


class UsageError(PkgHarvestError):
    exit_code = ExitCode.USAGE


class SourceMismatch(UsageError):
    """`fetch --base-url` names another API than the one the mirror was fetched from."""


# --- the API side -------------------------------------------------------------------------


class ApiError(PkgHarvestError):
    """Something went wrong talking to the API."""

    exit_code = ExitCode.TEMPFAIL


class ApiUnavailable(ApiError):
    """The API could not be reached, or kept failing after every retry."""

    exit_code = ExitCode.TEMPFAIL


class GaveUp(ApiUnavailable):
    """Every attempt at one request failed. `not_api`: the last answers were 200s that were not
    the API's JSON (an HTML page, invalid JSON, the wrong shape)."""

    def __init__(self, message: str, *, not_api: bool) -> None:
        super().__init__(message)
        self.not_api = not_api


class DeadlinePassed(ApiUnavailable):
    """The run took longer than its deadline (`fetch --timeout`): it ends now, with exit 75
    ("try again later") and the mirror unchanged, rather than waiting on a slow server."""


class TransientFailure(ApiError):
    """One failed attempt worth another try (network error, 429, 5xx, a body that is not the
    data asked for). Raised and caught inside the client's retry loop only; when the attempts
    run out it becomes GaveUp."""

    def __init__(self, reason: str, *, retry_after: float | None = None, not_api: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.not_api = not_api


class Cancelled(ApiError):
    """The run is ending (another request failed for good, or Ctrl-C); nothing more is sent."""


class NotTheApi(ApiError):
    """The base URL answers, but not as the Django Packages API v4 does (404 root, an HTML
    site, the old API v3, a list page of another shape)."""

    exit_code = ExitCode.CONFIG


class UntrustedCertificate(ApiError):
    """The server's TLS certificate cannot be verified (a private or unknown CA, a self-signed
    certificate, another host's name, expired). Retrying cannot change a certificate: the run
    ends at once, with the set-up's exit code, not "try again later"."""

    exit_code = ExitCode.CONFIG


class UnexpectedStatus(ApiError):
    """A status that is neither success, retryable nor 404 (e.g. 400, 403, 405)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class TooManyRedirects(ApiError):
    """A chain of redirects inside the API longer than the client follows."""

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = url


class ApiNotFound(ApiError):
    """A 404 for a record or followed link. Never retried.

    url: what was asked for. kind, key: the record asked for by kind ("packages", ...) and the
    id or slug the user or a link gave, when known (a "did you mean" can start from `key`).
    """

    exit_code = ExitCode.NOT_FOUND

    def __init__(
        self, message: str, url: str, *, kind: str | None = None, key: str | None = None
    ) -> None:
        super().__init__(message)
        self.url = url
        self.kind = kind
        self.key = key


class ForeignLink(ApiError):
    """A link that points outside the configured API; it is reported and never followed."""

    exit_code = ExitCode.PARTIAL

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = url


# Raised while a response body is read (netlimits.py), below the client's error edge: api.py
# turns each into a failed attempt (retried) and, in the end, an ApiError above.


class BodyTooLarge(Exception):
    """The decoded body would pass the cap."""


class UnknownEncoding(Exception):
    """A Content-Encoding this client did not ask for."""


class DeadlineReached(Exception):
    """The exchange's deadline passed while its body was still arriving."""


class FeedMismatch(Exception):
    """What a fetch fed the catalogue database while staging is not what it committed (a
    record staged twice, or staged and then removed): caught inside catalogue/, which then
    rolls the feed back and syncs the database from the files instead."""


class RecordError(ValueError):
    """A record the API sent that cannot be stored (not an object, no usable id or slug).
    It fails that record only: the run goes on and ends partial (exit 3)."""


# --- the store side -----------------------------------------------------------------------


class StoreError(PkgHarvestError):
    """Something is wrong with the data folder."""

    exit_code = ExitCode.CANT_WRITE


class LockHeld(StoreError):
    exit_code = ExitCode.LOCKED


class CorruptStore(StoreError):
    """A manifest or record file that cannot be parsed, or a format newer than this version."""

    exit_code = ExitCode.DATA_ERROR


class VerifyFailed(CorruptStore):
    """`pkgharvest verify` found problems (each already printed on its own line)."""


class MirrorStale(PkgHarvestError):
    """`pkgharvest status --max-age`: the last complete catalogue fetch is too old, or there was
    none."""

    exit_code = ExitCode.STALE


class CatalogueError(CorruptStore):
    """The catalogue database (catalogue.db) is of a newer schema than this version reads."""

    exit_code = ExitCode.DATA_ERROR


class CatalogueDamaged(CatalogueError):
    """catalogue.db is damaged (a page SQLite cannot read, a value of the wrong type) or is
    not pkgharvest's database. The opener moves it aside and rebuilds it from the JSON files;
    this reaches the user only when that cannot be done."""


class CatalogueRepaired(CatalogueDamaged):
    """A stream of rows met damage after handing some out: the database was repaired, and what
    was written from it must be written again (cli/common.spooled does, unseen)."""


class CatalogueUnsafe(CatalogueError):
    """catalogue.db (or a file SQLite keeps beside it) is a symlink, a hard link, not a regular
    file, or owned by another user than the data folder's: it is never opened or written."""


class StoreWriteError(StoreError):
    exit_code = ExitCode.CANT_WRITE


class CatalogueUnwritable(StoreWriteError):
    """catalogue.db cannot be written: a read-only folder or file, another user's folder, an
    I/O error, or too little free space to open it safely."""


class CatalogueNoSpace(CatalogueUnwritable):
    """Too little free space to open catalogue.db safely (its wal-index is memory-mapped: a
    full disk there would kill the process with SIGBUS instead of failing)."""


class CatalogueLocked(StoreError):
    """Another process held catalogue.db's write lock for longer than pkgharvest waits."""

    exit_code = ExitCode.TEMPFAIL


class CatalogueFailure(PkgHarvestError):
    """An SQLite error no data explains (a query this version got wrong): a bug, exit 1."""


class NoMirror(StoreError):
    exit_code = ExitCode.NO_MIRROR


class TargetsNotFound(PkgHarvestError):
    """None of the packages or grids a fetch asked for exists in the API."""

    exit_code = ExitCode.NOT_FOUND


class RecordNotFound(PkgHarvestError):
    """A reading command was asked for a slug or id the mirror does not hold."""

    exit_code = ExitCode.NOT_FOUND


# --- a project's dependency files (`pkgharvest deps`) -----------------------------------------


class DependencyFileError(PkgHarvestError):
    """A dependency file that does not parse (a requirements line, TOML, JSON, an `-r` loop, an
    include that cannot be read): the message names the file and, when known, the line."""

    exit_code = ExitCode.DATA_ERROR


class DependencyFileMissing(PkgHarvestError):
    """A dependency file named on the command line is missing or cannot be read, or the folder
    searched holds no dependency file."""

    exit_code = ExitCode.NO_INPUT


class DependencyCheckFailed(PkgHarvestError):
    """`deps --fail-on`: at least one dependency has one of the statuses named."""

    exit_code = ExitCode.CHECK_FAILED


class PypiAnswerError(ValueError):
    """A PyPI JSON answer that is not of PyPI's documented shape. It marks that one dependency
    unknown, never the run."""
