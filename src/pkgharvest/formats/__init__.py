"""Exports of the mirror's packages for spreadsheets and scripts: CSV, JSON Lines, JSON.

The pip-audit habit: one small class per format (`formats.writers`), picked from `ExportFormat`.
No rich, no typer. This file stays tiny because the CLI imports it at start-up for the
`--format` choices; the writers are imported when an export runs.
"""

from __future__ import annotations

from enum import StrEnum


class ExportFormat(StrEnum):
    """The formats of `pkgharvest export`."""

    CSV = "csv"
    """A header row, then one row per package (RFC 4180, UTF-8, formula cells neutralized)."""
    JSONL = "jsonl"
    """One JSON object per line, per package."""
    JSON = "json"
    """One JSON array of objects."""


class DateFormat(StrEnum):
    """How CSV writes timestamps (JSON always keeps the stored ISO 8601 text)."""

    SPREADSHEET = "spreadsheet"
    """`2026-02-02 00:18:21`, UTC: what LibreOffice and Excel read as a date and time."""
    ISO = "iso"
    """As stored: `2026-02-02T00:18:21.737467Z` (spreadsheets keep it as text)."""
