"""The data folder's manifest (`manifest.json`): format version, source, last runs, counts.

The read side (`mirror.py`) and the writer (`store.py`) both use this module; it writes nothing.
A manifest with a format version newer than this pkgharvest reads is refused, never rewritten.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

from pkgharvest import __version__
from pkgharvest.errors import CorruptStore, StoreError
from pkgharvest.store.fileio import BINARY
from pkgharvest.store.recordfile import REPAIR_HINT

FORMAT_VERSION = 1
"""Version of the data folder's layout; a folder with a newer one is refused, never rewritten."""

MANIFEST_NAME = "manifest.json"


def parse_manifest(path: Path, data: bytes) -> dict[str, Any]:
    """The manifest's content, or CorruptStore (one line) if this version must not use it."""
    try:
        manifest = json.loads(data)
    except ValueError as err:
        raise CorruptStore(
            f"the manifest {path} is not valid JSON ({err}); {REPAIR_HINT}"
        ) from None
    if not isinstance(manifest, dict):
        raise CorruptStore(f"the manifest {path} is not a JSON object; {REPAIR_HINT}")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CorruptStore(f"the manifest {path} has no valid format_version; {REPAIR_HINT}")
    if version > FORMAT_VERSION:
        raise CorruptStore(
            f"the manifest {path} has format_version {version}, newer than this pkgharvest "
            f"{__version__} reads ({FORMAT_VERSION}): upgrade pkgharvest, or {REPAIR_HINT}"
        )
    return manifest


def read_manifest_bytes(path: Path) -> bytes | None:
    """The bytes of the manifest at `path`, None if there is none yet; CorruptStore if it is
    not a regular file (a symlink is never followed, a folder is a data error, exit 65),
    StoreError if it cannot be read. Every reader of the manifest comes through here."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | BINARY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise CorruptStore(f"the manifest {path} is a symlink; {REPAIR_HINT}") from None
        raise StoreError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            what = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise CorruptStore(f"the manifest {path} is {what}; {REPAIR_HINT}")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    except OSError as err:
        raise StoreError(f"cannot read {path}: {err.strerror or err}") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest at `path`, None if there is none yet; CorruptStore if it is broken, newer,
    or not a regular file, StoreError if it cannot be read."""
    data = read_manifest_bytes(path)
    return None if data is None else parse_manifest(path, data)


def last_complete_catalogue_run(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest's last complete catalogue run: `last_complete_catalogue_run`, or in a
    manifest written before that key existed, `last_complete_run` (only catalogue runs were
    complete then); None when there was none."""
    run = manifest.get("last_complete_catalogue_run")
    if isinstance(run, dict):
        return run
    if "last_complete_catalogue_run" in manifest:
        return None
    older = manifest.get("last_complete_run")
    if isinstance(older, dict) and older.get("scope", "catalogue") == "catalogue":
        return older
    return None


def dump_manifest(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
