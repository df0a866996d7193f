"""The exporters: one small class per format, chosen by `exporter_for(ExportFormat)`.

Each writes packages to a text stream opened with `newline=""` (CSV ends lines with CRLF as
RFC 4180 says). Text is written as sent; only CSV changes it, by neutralizing formulas.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from itertools import repeat
from typing import Any, ClassVar, TextIO

from pkgharvest.formats import DateFormat, ExportFormat
from pkgharvest.formats.fields import csv_cells, default_fields, json_object, spreadsheet_date
from pkgharvest.formats.jsontext import dumps
from pkgharvest.records import HISTORY_FIELDS, Record

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""OWASP's CSV-injection list: a cell starting with one of these may run as a formula."""

# Where a spreadsheet may start a cell inside our text: a spreadsheet opening the file with `;`
# or TAB as the separator (the default in many locales) splits `x;=1+1` into `x` and `=1+1`, a
# quote or line break can start a cell too, and the import dialogs offer a space (`x =1+1`) and
# any other character (`|`, `:`, `/` are the usual picks). A trigger after one of these, and any
# spaces or quotes, gets the same `'` a leading one gets, so no separator choice can turn the
# text into a formula. After a space only a trigger that starts a word counts: split on spaces,
# `a - b` leaves a lone `-`, which spreadsheets keep as text (at the end of the text the next
# cell's separator follows it in the file, so a trigger there counts).
_CELL_BREAKS = (",", ";", "\t", "\r", "\n", '"', "|", ":", "/", " ")
_EMBEDDED_TRIGGER = re.compile(r"""([,;\t\r\n"|:/][ \t\r\n"]*|[ ]+(?=[=+\-@](?:\S|$)))([=+\-@])""")

UTF8_BOM = "\ufeff"


def neutralize(cell: str) -> str:
    """`cell` made safe to open in a spreadsheet with any separator (`,`, `;`, TAB, space, `|`,
    `:`, `/`).

    A cell starting with a formula trigger gets a leading `'` (OWASP), and so does a trigger that
    follows a separator, a quote or a line break inside the text (`x;=1` -> `x;'=1`): that is
    where a spreadsheet splitting on another separator would start a cell.
    """
    if any(mark in cell for mark in _CELL_BREAKS):
        cell = _EMBEDDED_TRIGGER.sub(r"\1'\2", cell)
    # Leading spaces too: a spreadsheet told to trim spaces would see " =1" as "=1".
    if cell.startswith(FORMULA_TRIGGERS) or cell.lstrip(" ").startswith(FORMULA_TRIGGERS):
        return "'" + cell
    return cell


class Exporter(ABC):
    """Writes packages in one format.

    Attributes:
        fields: the columns (CSV) or keys (JSON), in order.
    """

    format: ClassVar[ExportFormat]

    def __init__(self, fields: Sequence[str] | None = None) -> None:
        self.fields: tuple[str, ...] = tuple(
            fields or default_fields(self.format is ExportFormat.CSV)
        )

    @abstractmethod
    def write(self, records: Iterable[Record], out: TextIO) -> None:
        """Write every record to `out` (opened with newline="")."""

    def _object(self, record: Record) -> dict[str, Any]:
        return json_object(record, self.fields)


class CsvExporter(Exporter):
    """RFC 4180 CSV in UTF-8, a header row, formula cells neutralized; `bom` for Excel."""

    format = ExportFormat.CSV

    def __init__(
        self,
        fields: Sequence[str] | None = None,
        bom: bool = False,
        clean: Callable[[str], str] | None = None,
        date_format: DateFormat = DateFormat.SPREADSHEET,
    ) -> None:
        super().__init__(fields)
        self.bom = bom
        self.date_format = date_format
        self.clean = clean
        """Applied to every text cell first: the terminal's sanitizer when stdout is one."""

    def write(self, records: Iterable[Record], out: TextIO) -> None:
        if self.bom:
            out.write(UTF8_BOM)
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(self.fields)
        for record in records:
            writer.writerow(self.row(record))

    def row(self, record: Record) -> list[str | int]:
        cells = csv_cells(record, self.fields, self.date_format)
        if self.clean is not None:
            clean = self.clean
            cells = [clean(cell) if isinstance(cell, str) else cell for cell in cells]
        return [neutralize(cell) if isinstance(cell, str) else cell for cell in cells]


class JsonLinesExporter(Exporter):
    """One JSON object per line."""

    format = ExportFormat.JSONL

    def write(self, records: Iterable[Record], out: TextIO) -> None:
        for record in records:
            out.write(dumps(self._object(record)) + "\n")


class JsonExporter(Exporter):
    """One JSON array, one object per package, indented two spaces."""

    format = ExportFormat.JSON

    def write(self, records: Iterable[Record], out: TextIO) -> None:
        out.write("[")
        separator = "\n"
        for record in records:
            item = dumps(self._object(record), indent=2).replace("\n", "\n  ")
            out.write(separator + "  " + item)
            separator = ",\n"
        out.write("\n]\n" if separator != "\n" else "]\n")


_EXPORTERS: dict[ExportFormat, type[Exporter]] = {
    ExportFormat.CSV: CsvExporter,
    ExportFormat.JSONL: JsonLinesExporter,
    ExportFormat.JSON: JsonExporter,
}


def write_history(
    rows: Iterable[Sequence[Any]],
    export_format: ExportFormat,
    out: TextIO,
    *,
    bom: bool = False,
    clean: Callable[[str], str] | None = None,
    date_format: DateFormat = DateFormat.SPREADSHEET,
) -> None:
    """`export --history`: one row or object per observation, its fields HISTORY_FIELDS in
    order. CSV as the package export writes it (timestamps in `date_format`, text through
    `clean` and the formula guard); JSON Lines and JSON keep the stored values."""
    if export_format is ExportFormat.JSONL:
        for row in rows:
            out.write(dumps(dict(zip(HISTORY_FIELDS, row, strict=True))) + "\n")
        return
    if export_format is ExportFormat.JSON:
        separator = "[\n"
        for row in rows:
            out.write(separator + dumps(dict(zip(HISTORY_FIELDS, row, strict=True))))
            separator = ",\n"
        out.write("[]\n" if separator == "[\n" else "\n]\n")
        return
    if bom:
        out.write(UTF8_BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HISTORY_FIELDS)
    spreadsheet = date_format is DateFormat.SPREADSHEET

    def cell(value: object, timestamp: bool = False) -> object:
        if not isinstance(value, str):
            return value  # a number, or None (csv writes it empty)
        text = spreadsheet_date(value) if timestamp and spreadsheet else value
        return neutralize(clean(text) if clean is not None else text)

    # A month of history is many rows per package: each row's text is worked
    # out once per package (its slug, version and last commit rarely change from one
    # observation to the next), and its own timestamp, in the form the database writes it, is
    # cut into the spreadsheet's form without parsing.
    slug = version = commit = _UNSET
    slug_cell: object = None
    version_cell: object = None
    commit_cell: object = None
    # Rows go out a few thousand at a time, as one string: `out` may be a spool or a file
    # whose every write() costs a Python call.
    batch: list[tuple[object, ...]] = []
    add = batch.append
    text = io.StringIO()
    lines = csv.writer(text, lineterminator="\r\n")

    def flush() -> None:
        lines.writerows(batch)
        batch.clear()
        out.write(text.getvalue())
        text.seek(0)
        text.truncate()

    own_stamp = _OWN_STAMP.fullmatch
    for row_slug, at, stars, forks, total, row_version, row_commit in rows:
        if row_slug != slug:
            slug, slug_cell = row_slug, cell(row_slug)
        if row_version != version:
            version, version_cell = row_version, cell(row_version)
        if row_commit != commit:
            commit, commit_cell = row_commit, cell(row_commit, timestamp=True)
        if type(at) is str and own_stamp(at):
            at_cell: object = at[:10] + " " + at[11:19] if spreadsheet else at
        else:
            at_cell = cell(at, timestamp=True)
        add((slug_cell, at_cell, stars, forks, total, version_cell, commit_cell))
        if len(batch) >= 4096:
            flush()
    flush()


def history_null(export_format: ExportFormat) -> str:
    """How `write_history` writes a null number in `export_format` (for the database to
    write it so: catalogue.reports.observation_blocks)."""
    return "" if export_format is ExportFormat.CSV else "null"


def _spreadsheet_date(value: str) -> str:
    """`spreadsheet_date`, faster for the form the records and the database write."""
    if _STORED_STAMP.fullmatch(value) and value >= "1000":
        try:
            datetime.fromisoformat(value[:19])  # a real date and time (not 2026-02-30)
        except ValueError:
            return value
        return value[:10] + " " + value[11:19]
    return spreadsheet_date(value)


_STORED_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", re.ASCII)

_PLAIN_TEXT = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.+!~-]*", re.ASCII)
"""Text that the formula guard and CSV's quoting leave as it is (no separator, quote, line
break or space; no trigger first)."""
_PLAIN_DATE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", re.ASCII)
"""A spreadsheet date: its spaces and colons are followed by digits, never by a trigger."""


def write_history_blocks(
    blocks: Iterable[tuple[str, Any, Any]],
    export_format: ExportFormat,
    out: TextIO,
    *,
    bom: bool = False,
    date_format: DateFormat = DateFormat.SPREADSHEET,
) -> None:
    """`write_history`'s output (without `clean`), byte for byte, from the observations a
    package at a time (catalogue.reports.observation_blocks, read with `history_null`): the
    numbers come as text; the slug, version and last commit are worked out here once per run
    of equal values (CSV: the formula guard, the date form, the quoting; JSON: the escapes),
    and each run's rows made by one join of its columns and that text. A package that came
    as rows (a value the database's checks did not vouch for) is written row by row by
    `write_history`."""
    csv_format = export_format is ExportFormat.CSV
    spreadsheet = date_format is DateFormat.SPREADSHEET
    text = io.StringIO()
    lines = csv.writer(text, lineterminator="\r\n")
    if csv_format:
        if bom:
            out.write(UTF8_BOM)
        lines.writerow(HISTORY_FIELDS)
        out.write(text.getvalue())
    cells: dict[tuple[object, bool], str] = {}

    def csv_cell(value: object, timestamp: bool) -> str:
        """The CSV text the package export's writer makes of the cell (None: empty)."""
        if type(value) is str:
            if timestamp and spreadsheet:
                value = _spreadsheet_date(value)
                if _PLAIN_DATE.fullmatch(value):
                    return value
            elif _PLAIN_TEXT.fullmatch(value):
                return value
            value = neutralize(value)
        text.seek(0)
        text.truncate()
        lines.writerow((value, "x"))  # not alone: a lone empty field would be quoted
        return text.getvalue()[: -len(",x\r\n")]

    def cell(value: object, timestamp: bool = False) -> str:
        key = (value, timestamp)
        found = cells.get(key)
        if found is None:
            found = csv_cell(value, timestamp) if csv_format else dumps(value)
            if len(cells) >= 65536:  # a bound on memory: most values repeat within a package
                cells.clear()
            cells[key] = found
        return found

    # A row: head (the slug's), the time and the numbers (`row`), tail (version, last
    # commit); rows end with `end` and are separated by `separator` (JSON's array: ",\n"
    # between objects, "[\n" ... "\n]\n" around them).
    if csv_format:
        heads, between, row, end = ("", ","), (",", ","), ("", ",", ",", ","), "\r\n"
    else:
        heads, between = (
            ('{"slug": ', ', "observed_at": "'),
            (', "pypi_version": ', ', "last_commit": '),
        )
        # json.dumps of the database's own timestamp and of an integer: no escape in them.
        row = ("", '", "stars": ', ', "forks": ', ', "commits_52w_total": ')
        end = "}\n" if export_format is ExportFormat.JSONL else "}"
    to_stars, to_forks, to_total = (repeat(piece) for piece in row[1:])
    separator = ",\n" if export_format is ExportFormat.JSON else ""
    parts: list[str] = []
    size = 0
    first = True
    for slug, runs, rows in blocks:
        if not runs and not rows:
            continue
        if runs is None:
            text.seek(0)
            text.truncate()
            write_history(
                ((slug, *values) for values in rows), export_format, text, date_format=date_format
            )
            block = text.getvalue()
            if csv_format:
                block = block.split("\r\n", 1)[1]  # without its header
            elif export_format is ExportFormat.JSON:
                block = block[2:-3]  # without "[\n" and "\n]\n"
        else:
            head = heads[0] + cell(slug) + heads[1]
            pieces = []
            for version, commit, times, stars, forks, totals in runs:
                if csv_format and spreadsheet:  # 2026-02-02T00:18:21Z -> 2026-02-02 00:18:21
                    joined = "\n".join(times).replace("T", " ").replace("Z", "")
                    times = joined.split("\n")
                tail = between[0] + cell(version) + between[1] + cell(commit, timestamp=True)
                # One join of the run's cells and the text between them (no text is parsed).
                after = tail + end + separator + head
                cells_between = zip(  # the repeats are endless: the run's columns end it
                    times,
                    to_stars,
                    stars,
                    to_forks,
                    forks,
                    to_total,
                    totals,
                    repeat(after),
                    strict=False,
                )
                joined = "".join(itertools.chain.from_iterable(cells_between))
                pieces.append(head + joined[: -len(after)] + tail + end)
            block = separator.join(pieces)
        if export_format is ExportFormat.JSON:
            block = ("[\n" if first else separator) + block
        first = False
        parts.append(block)
        size += len(block)
        # Out in large pieces: `out` may be a spool or a file whose every write() costs a
        # Python call.
        if size >= 1 << 20:
            out.write("".join(parts))
            parts.clear()
            size = 0
    if export_format is ExportFormat.JSON:
        parts.append("[]\n" if first else "\n]\n")
    out.write("".join(parts))


_UNSET = object()
_OWN_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", re.ASCII)
"""`observed_at` as the database writes it (records.iso_utc): safe as it is in a CSV cell."""


def exporter_for(
    export_format: ExportFormat,
    fields: Sequence[str] | None = None,
    bom: bool = False,
    clean: Callable[[str], str] | None = None,
    date_format: DateFormat = DateFormat.SPREADSHEET,
) -> Exporter:
    """The exporter of `export_format`; `bom` only applies to CSV.

    clean: what CSV text cells go through first, for a terminal (JSON escapes every character
    that could act on a terminal, and stays exact).
    """
    if export_format is ExportFormat.CSV:
        return CsvExporter(fields, bom=bom, clean=clean, date_format=date_format)
    return _EXPORTERS[export_format](fields)
