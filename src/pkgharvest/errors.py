"""The exception tree and the exit codes it maps to.

Every failure a user can cause or meet ends as a `PkgHarvestError`; the CLI's single error funnel
turns it into one line on stderr and `exit_code`. Anything else is a bug (exit 1, traceback only
with --debug). The codes follow sysexits(3) where one fits, so cron wrappers can tell "try again
later" (75) from "fix your set-up" (78).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes; documented in the README and in `pkgharvest --help`."""

    OK = 0
    """The run did everything it was asked to."""
    INTERNAL = 1
    """A bug in pkgharvest (rerun with --debug for the traceback)."""
    USAGE = 2
    """Bad command-line usage (unknown option, bad value)."""
    PARTIAL = 3
    """fetch: some records failed or were missing; what was fetched is kept, nothing removed."""
    LOCKED = 4
    """fetch: another run holds this data folder's lock."""
    NOT_FOUND = 5
    """The package, grid or category asked for does not exist (in the API or the mirror)."""
    DATA_ERROR = 65
    """A file in the data folder is corrupt or of a newer format; nothing was changed."""
    NO_MIRROR = 66
    """A reading command found no mirror: run `pkgharvest fetch` first."""
    CANT_WRITE = 73
    """The data folder (or --output) cannot be written: permissions, full disk."""
    TEMPFAIL = 75
    """The API could not be reached or kept failing; the mirror is unchanged. Retry later."""
    CONFIG = 78
    """The base URL does not serve the Django Packages API."""
    INTERRUPTED = 130
    """Interrupted (Ctrl-C); the mirror is unchanged."""


class PkgHarvestError(Exception):
    """Base of every error pkgharvest reports to a user. `str(err)` is the one-line message."""

    exit_code: ExitCode = ExitCode.INTERNAL


class UsageError(PkgHarvestError):
    exit_code = ExitCode.USAGE


# --- the API side -------------------------------------------------------------------------


class ApiError(PkgHarvestError):
    """Something went wrong talking to the API."""

    exit_code = ExitCode.TEMPFAIL


class ApiUnavailable(ApiError):
    """The API could not be reached, or kept failing after every retry."""

    exit_code = ExitCode.TEMPFAIL


class NotTheApi(ApiError):
    """The base URL answers, but not as the Django Packages API does (404 root, wrong shape)."""

    exit_code = ExitCode.CONFIG


class ApiNotFound(ApiError):
    """A 404 for a record or followed link. Never retried."""

    exit_code = ExitCode.NOT_FOUND

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = url


class ForeignLink(ApiError):
    """A link that points outside the configured API; it is reported and never followed."""

    exit_code = ExitCode.PARTIAL

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = url


# --- the store side -----------------------------------------------------------------------


class StoreError(PkgHarvestError):
    """Something is wrong with the data folder."""

    exit_code = ExitCode.CANT_WRITE


class LockHeld(StoreError):
    exit_code = ExitCode.LOCKED


class CorruptStore(StoreError):
    """A manifest or record file that cannot be parsed, or a format newer than this version."""

    exit_code = ExitCode.DATA_ERROR


class StoreWriteError(StoreError):
    exit_code = ExitCode.CANT_WRITE


class NoMirror(StoreError):
    exit_code = ExitCode.NO_MIRROR


class RecordNotFound(PkgHarvestError):
    """A reading command was asked for a slug or id the mirror does not hold."""

    exit_code = ExitCode.NOT_FOUND
