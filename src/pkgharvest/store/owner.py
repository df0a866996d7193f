"""Whom the files a command creates in a data folder belong to: the folder's owner.

A new file belongs to the process that creates it. Root running pkgharvest in a folder that
belongs to another user (`sudo pkgharvest fetch --data-dir /var/lib/pkgharvest`, a service
user's folder) would leave root's record files, manifest, `.lock`, journal and database there,
which that user's own next run could not write. So every file and folder created in a data
folder is given to the folder's owner and group through `Owner.give`, on the open descriptor,
right after it is created: before a byte is written (an fsync then makes the ownership durable
with the data) and before the file is moved to its name, so that no file of root's ever stands
at a record's name.

Only root can give a file away. For any other user `owner_of` answers `CREATOR`, which gives
nothing: a user writing a group-writable folder it does not own keeps its own files, as every
Unix program does. SQLite gives `-wal`, `-shm` and `-journal` to the database file's owner
itself (as root), so the database file is the only one of its files created here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_FOLDER_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


@dataclass(frozen=True)
class Owner:
    """Whom a file created in a data folder is given to: `uid` and `gid`, or no one (None: the
    file stays the creating process's)."""

    uid: int | None = None
    gid: int | None = None

    @property
    def gives(self) -> bool:
        return self.uid is not None

    def give(self, fd: int) -> None:
        """Give the file or folder open as `fd` to this owner (nothing when no one)."""
        if self.uid is None or self.gid is None:
            return
        try:
            os.fchown(fd, self.uid, self.gid)
        except OSError:
            # A file system without owners (vfat), or root without its powers there (NFS with
            # root_squash): fine when the file is the owner's already, else the write fails.
            info = os.fstat(fd)
            if (info.st_uid, info.st_gid) != (self.uid, self.gid):
                raise

    def make_folder(self, path: Path | str, mode: int = 0o777) -> None:
        """Create the folder `path` (FileExistsError if anything is there) and give it."""
        os.mkdir(path, mode)
        if not self.gives:
            return
        fd = os.open(path, _FOLDER_FLAGS)  # not through a link swapped in since the mkdir
        try:
            self.give(fd)
        finally:
            os.close(fd)

    def make_temp_folder(self, parent: Path, prefix: str) -> Path:
        """A new folder `<prefix><random>` in `parent`, private to its owner (mode 0700, as
        tempfile.mkdtemp makes it), given."""
        while True:
            path = parent / f"{prefix}{os.urandom(6).hex()}"
            try:
                self.make_folder(path, 0o700)
            except FileExistsError:
                continue
            return path


CREATOR = Owner()
"""Files stay the creating process's: the folder is its own, or it may not give them away."""


def owner_of(root: Path | str) -> Owner:
    """Whom files created in the data folder `root` must be given to: the folder's owner and
    group when this process is root and the folder belongs to another user; else `CREATOR`."""
    geteuid = getattr(os, "geteuid", None)
    if geteuid is None or geteuid() != 0 or not hasattr(os, "fchown"):
        return CREATOR
    info = os.stat(root)  # the data folder itself may be a symlink
    if info.st_uid == 0:
        return CREATOR
    return Owner(info.st_uid, info.st_gid)
