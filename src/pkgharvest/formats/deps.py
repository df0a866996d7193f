"""`pkgharvest deps` as data: JSON (`--json`), Markdown (`--format markdown`, for a pull-request
comment or a CI job summary) and CSV (`--format csv`).

JSON and CSV list every dependency of the report (`not-in-catalogue` ones too); Markdown, like
the terminal table, lists the catalogue ones (all with `--all`) and counts the rest. Text
cells go through `clean` first (the terminal sanitizer, handed in by the command); CSV then
through the export's formula guard (`writers.neutralize`), Markdown through `markdown_text`
(its table and inline syntax escaped), so that no name in a dependency file or answer can
start a formula, break the table or inject a link.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from typing import TextIO

from pkgharvest.formats.fields import spreadsheet_date
from pkgharvest.formats.jsontext import compact_dumps
from pkgharvest.formats.writers import neutralize
from pkgharvest.project.judge import Status
from pkgharvest.project.report import READINESS, Report, Row

Clean = Callable[[str], str]

CSV_FIELDS: tuple[str, ...] = (
    "name",
    "normalized",
    "file",
    "line",
    "specifier",
    "version",
    "direct",
    "group",
    "slug",
    "matched_by",
    "status",
    "latest_version",
    "behind",
    "stars",
    "last_commit",
    "commits_52w_total",
    "star_trend_90d",
    "alternatives",
)
CSV_DJANGO_FIELDS: tuple[str, ...] = (
    "django_status",
    "django_version",
    "django_ready",
    "django_step",
    "blocked",
)

# What Markdown (GitHub's) would act on inside a line: code, emphasis, links and images (their
# brackets), HTML, table cells, headings, strike-through; escaped with a backslash.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~])")


def write_json(report: Report, out: TextIO) -> None:
    """The `--json` document (the command prints it through cli/common.py's print_json, the
    same text, without loading the CSV and Markdown writers)."""
    out.write(compact_dumps(report.as_dict()) + "\n")


def csv_cell(value: object, clean: Clean) -> str | int:
    """A value as a CSV cell: an int stays an int; booleans `true`/`false`; null empty; text
    cleaned and neutralized."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    return neutralize(clean(str(value)))


def write_csv(report: Report, out: TextIO, *, clean: Clean) -> None:
    """One row per dependency, RFC 4180, CRLF line ends, the formula guard on every text."""
    fields = CSV_FIELDS + (CSV_DJANGO_FIELDS if report.target is not None else ())
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(fields)
    for row in report.rows:
        item = row.as_dict(report.target)
        item["alternatives"] = ";".join(str(a["slug"]) for a in item["alternatives"])
        if isinstance(item.get("last_commit"), str):
            item["last_commit"] = spreadsheet_date(item["last_commit"])
        writer.writerow([csv_cell(item.get(name), clean) for name in fields])


def markdown_text(text: str, clean: Clean) -> str:
    """`text` safe inside a Markdown table cell: cleaned, on one line, every character that
    Markdown or a table would act on escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", clean(text)).replace("\n", " ")


def _readiness_cell(row: Row) -> str:
    assessed = row.readiness
    if assessed is None:
        return ""
    if assessed.readiness.value == "upgrade" and assessed.step:
        return f"upgrade to {assessed.step}"
    return assessed.readiness.value.replace("-", " ")


def _date(value: object) -> str:
    return value[:10] if isinstance(value, str) and len(value) >= 10 else "—"


def _number(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else "—"


def write_markdown(report: Report, out: TextIO, *, clean: Clean, show_all: bool) -> None:
    """A Markdown section: a heading, the table (alternatives as `↳` rows under their
    dependency), then the counts and notes."""

    def md(value: object) -> str:
        return markdown_text(str(value), clean) if value not in (None, "") else "—"

    files = ", ".join(f"`{markdown_text(f, clean).replace('`', '')}`" for f in report.project.files)
    out.write(f"### Dependencies of {files or 'no file'}\n\n")
    framework = report.project.framework
    intro = []
    if framework is not None:
        version = framework.version or framework.specifier or "version unknown"
        intro.append(f"Django {md(version)} (the framework, not judged).")
    if report.target is not None:
        intro.append(f"Readiness for Django {report.target}.")
    if intro:
        out.write(" ".join(intro) + "\n\n")
    rows = [r for r in report.rows if show_all or r.status is not Status.NOT_IN_CATALOGUE]
    headers = ["Dependency", "Version", "Latest", "Stars", "90 d", "Last commit", "Status"]
    align = ["---", "---", "---", "---:", "---:", "---", "---"]
    if report.target is not None:
        headers.append(f"Django {report.target}")
        align.append("---")
    out.write("| " + " | ".join(headers) + " |\n")
    out.write("|" + "|".join(align) + "|\n")
    for row in rows:
        item = row.as_dict(report.target)
        status = row.status.value
        cells = [
            md(row.dependency.name),
            md(row.dependency.version or row.dependency.specifier),
            md(row.latest_version),
            _number(item["stars"]),
            f"{item['star_trend_90d']:+,}" if item["star_trend_90d"] is not None else "—",
            _date(item["last_commit"]),
            f"**{status}**" if row.status in (Status.DORMANT, Status.BEHIND) else status,
        ]
        if report.target is not None:
            cell = _readiness_cell(row)
            cells.append(f"**{cell}**" if cell == "blocked" else md(cell) if cell else "")
        out.write("| " + " | ".join(cells) + " |\n")
        for alt in row.alternatives:
            data = alt.as_dict(report.target)
            alt_cells = [
                f"↳ try {md(alt.slug)}",
                "",
                md(alt.record.get("pypi_version")),
                _number(data["stars"]),
                "",
                _date(data["last_commit"]),
                "alternative",
            ]
            if report.target is not None:
                verdict = alt.django.verdict.value if alt.django else "unknown"
                alt_cells.append(verdict.replace("-", " "))
            out.write("| " + " | ".join(alt_cells) + " |\n")
    out.write("\n")
    for line in _summary(report, show_all):
        out.write(md_line(line, clean) + "\n")


def md_line(text: str, clean: Clean) -> str:
    """A line of prose: cleaned, Markdown's syntax escaped, ended as a paragraph line."""
    return markdown_text(text, clean) + "  "


def _summary(report: Report, show_all: bool) -> list[str]:
    counts = report.status_counts()
    inside = sum(n for s, n in counts.items() if s != Status.NOT_IN_CATALOGUE.value)
    line = f"{inside:,} in the catalogue"
    details = [
        f"{counts[s.value]:,} {s.value}"
        for s in (Status.DORMANT, Status.BEHIND, Status.ACTIVE)
        if counts.get(s.value)
    ]
    if details:
        line += f" ({', '.join(details)})"
    outside = counts.get(Status.NOT_IN_CATALOGUE.value, 0)
    if outside:
        line += f"; {outside:,} not in the catalogue" + ("" if show_all else " (listed with --all)")
    lines = [line + "."]
    if report.target is not None:
        ready = report.readiness_counts()
        said = ", ".join(f"{ready[r]:,} {r.replace('-', ' ')}" for r in READINESS if ready.get(r))
        lines.append(f"Django {report.target}: {said or 'nothing to judge'}.")
    if report.pypi is not None and report.pypi.failed:
        lines += [f"PyPI unknown: {reason}" for reason in report.pypi.failed[:5]]
    lines += list(report.notes)
    if report.mirror_updated:
        lines.append(
            f"Catalogue mirror updated {report.mirror_updated[:16].replace('T', ' ')} UTC."
        )
    return lines
