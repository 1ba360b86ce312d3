"""The one CSV writer for every export (payouts, reports).

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula, and tab
or carriage return at the start can hide such a cell (OWASP "CSV Injection"). Customer
names, addresses, payout accounts and references are free text, so every cell that
starts with one of those characters gets a leading single quote, which spreadsheets
show as text. A plain number (`-2.00`) is no formula and stays as it is, so amounts
keep summing.
"""

import csv
import io
import re
from collections.abc import Iterable

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?\Z")


def safe_cell(value) -> str:
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def to_csv(header: list[str], rows: Iterable[Iterable]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([safe_cell(cell) for cell in header])
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return out.getvalue()
