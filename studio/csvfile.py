"""CSV files Studio writes (a batch's report.csv), safe to open in a spreadsheet.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is taken by
spreadsheets as a formula (`=HYPERLINK(…)`, `+cmd|…`); a SKU or a note from someone
else's catalog must never run as one. Such text cells get a leading `'`, as OWASP's
CSV-injection guidance says; numbers are written as numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(rows: Iterable[dict], columns: list[str]) -> str:
    """The rows as CSV text (header first), every text cell neutralized."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([neutralize(c) for c in columns])
    for row in rows:
        writer.writerow([neutralize(row.get(c, "")) for c in columns])
    return buf.getvalue()
