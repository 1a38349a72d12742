"""The follow-up file on disk: CSV (standard library) or XLSX (openpyxl), header from
`domain.statistics_export.COLUMNS`. Written beside the target and renamed into place, so a
failed export never leaves half a file under the name asked for."""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from openpyxl import Workbook

from services.intake.domain.statistics_export import COLUMNS, StatisticsRow

FileFormat = Literal["csv", "xlsx"]
SHEET = "NUSO"


def write_statistics(rows: Sequence[StatisticsRow], file_format: FileFormat, out: Path) -> None:
    """Write the rows, numbered from 1, as `file_format` to `out` (replacing it)."""
    writer = _write_csv if file_format == "csv" else _write_xlsx
    _atomically(out, lambda path: writer(rows, path))


def _write_csv(rows: Sequence[StatisticsRow], path: Path) -> None:
    # UTF-8 with a byte-order mark: Excel then reads the file as UTF-8; comma-separated, RFC 4180.
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        out = csv.writer(f)
        out.writerow(name for name, _ in COLUMNS)
        out.writerows(["" if c is None else c for c in row.cells(n)] for n, row in enumerate(rows, 1))


def _write_xlsx(rows: Sequence[StatisticsRow], path: Path) -> None:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(SHEET)
    sheet.append([name for name, _ in COLUMNS])
    for n, row in enumerate(rows, 1):
        sheet.append(list(row.cells(n)))
    book.save(path)


def _atomically(out: Path, write: Callable[[Path], None]) -> None:
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        write(temporary)
        temporary.replace(out)
    finally:
        temporary.unlink(missing_ok=True)
