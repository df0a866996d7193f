"""Which file holds which id in one kind's folder (`packages/`, `grids/`, `categories/`), as the
mirror was before a run. Only names are kept, never records, so memory stays small for tens of
thousands of files.
"""

from __future__ import annotations

import os
from pathlib import Path

from pkgharvest import paths
from pkgharvest.recordfile import read_record_id


class KindIndex:
    """The record files of one kind's folder, by id and by name."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.name_by_id: dict[int, str] = {}
        self.id_by_name: dict[str, int] = {}
        # Further files holding an id that already has one (left by a crash between moving a
        # renamed record into place and removing its old name). They are removed when the id
        # is next put or removed.
        self.extra_names: dict[int, list[str]] = {}

    @classmethod
    def load(cls, folder: Path) -> KindIndex:
        """Read the folder: every `*.json` not starting with "." is a record. OSError and
        CorruptStore propagate."""
        index = cls(folder)
        with os.scandir(folder) as entries:
            names = sorted(
                entry.name
                for entry in entries
                if entry.name.endswith(paths.RECORD_SUFFIX)
                and not entry.name.startswith(".")
                and entry.is_file()
            )
        for name in names:
            index._add(name, read_record_id(folder / name))
        return index

    def _add(self, name: str, record_id: int) -> None:
        self.id_by_name[name] = record_id
        primary = self.name_by_id.get(record_id)
        if primary is None:
            self.name_by_id[record_id] = name
            return
        # Two files, one id: the newer one is the record (it was moved in by the later run).
        if (self.folder / name).stat().st_mtime_ns > (self.folder / primary).stat().st_mtime_ns:
            self.name_by_id[record_id] = name
            name = primary
        self.extra_names.setdefault(record_id, []).append(name)

    def names_of(self, record_id: int) -> list[str]:
        primary = self.name_by_id.get(record_id)
        if primary is None:
            return []
        return [primary, *self.extra_names.get(record_id, [])]
