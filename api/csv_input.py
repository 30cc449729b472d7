"""CSV bodies for lead and do-not-call loads.

Rows are numbered by their line in the file (the header is line 1), which is
what a person fixing the file in a spreadsheet or editor sees. Blank lines are
skipped but still counted, and a quoted field spanning lines numbers its row
by the line it starts on.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from dialer.errors import InvalidInput
from dialer.runtime.service import RowError

__all__ = ["NumberedRows", "decode_csv", "dnc_rows", "lead_rows"]

PHONE_COLUMN = "phone"
TIMEZONE_COLUMN = "timezone"
PRIORITY_COLUMN = "priority"


@dataclass(slots=True)
class NumberedRows:
    """Rows to hand to the service, the number each has in the request, and rows refused here.

    CSV rows are numbered by their line in the file, JSON rows by their
    1-based index in the batch.
    """

    rows: list[Any] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    rejected: list[RowError] = field(default_factory=list)

    def line_of(self, row: int, first_row: int) -> int:
        """The request's number of the service's ``row`` numbered from ``first_row``."""
        return self.lines[row - first_row]

    def renumber(self, errors: tuple[RowError, ...], first_row: int) -> list[RowError]:
        return [RowError(self.line_of(e.row, first_row), e.phone, e.reason) for e in errors]


def decode_csv(body: bytes) -> str:
    try:
        # utf-8-sig: spreadsheet exports often start with a byte-order mark.
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"the CSV body is not UTF-8 (byte {exc.start}): export it as UTF-8", field="body"
        ) from None


def _records(text: str) -> list[tuple[int, list[str]]]:
    """(starting line, cells) for every non-blank record."""
    reader = csv.reader(io.StringIO(text, newline=""))
    records: list[tuple[int, list[str]]] = []
    line = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                records.append((line, cells))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise InvalidInput(f"CSV line {reader.line_num}: {exc}", field="body") from None
    return records


def lead_rows(text: str) -> NumberedRows:
    """Lead rows from a CSV with a header naming ``phone`` (and optionally ``timezone``
    and ``priority``, an integer: higher is dialed first).

    Every other column goes into the lead's ``data`` under its header name.
    """
    records = _records(text)
    if not records:
        raise InvalidInput("the CSV body is empty: it needs a header row with 'phone'", "body")
    header_line, raw_header = records[0]
    header = [name.strip() for name in raw_header]
    lowered = [name.lower() for name in header]
    if PHONE_COLUMN not in lowered:
        raise InvalidInput(
            f"the CSV header (line {header_line}) has no 'phone' column: {raw_header!r}",
            field="phone",
        )
    phone_at = lowered.index(PHONE_COLUMN)
    tz_at = lowered.index(TIMEZONE_COLUMN) if TIMEZONE_COLUMN in lowered else None
    priority_at = lowered.index(PRIORITY_COLUMN) if PRIORITY_COLUMN in lowered else None
    data_columns = [
        (i, name)
        for i, name in enumerate(header)
        if i not in (phone_at, tz_at, priority_at) and name
    ]
    out = NumberedRows()
    for line, cells in records[1:]:
        if len(cells) > len(header):
            phone = cells[phone_at].strip()
            reason = f"{len(cells)} fields but the header has {len(header)}"
            out.rejected.append(RowError(line, phone, reason))
            continue
        cells = cells + [""] * (len(header) - len(cells))
        row: dict[str, Any] = {"phone": cells[phone_at].strip()}
        if tz_at is not None and cells[tz_at].strip():
            row["timezone"] = cells[tz_at].strip()
        if priority_at is not None and cells[priority_at].strip():
            text = cells[priority_at].strip()
            # Not a number: passed on as text, for the row's own rejection.
            row["priority"] = int(text) if text.lstrip("+-").isdigit() else text
        row["data"] = {name: cells[i] for i, name in data_columns}
        out.rows.append(row)
        out.lines.append(line)
    return out


def dnc_rows(text: str) -> NumberedRows:
    """Numbers from a CSV: one per line, or the ``phone`` column under an optional header."""
    records = _records(text)
    out = NumberedRows()
    column = 0
    if records:
        first = [cell.strip().lower() for cell in records[0][1]]
        if PHONE_COLUMN in first:
            column = first.index(PHONE_COLUMN)
            records = records[1:]
        elif len(first) > 1:
            raise InvalidInput(
                "a do-not-call CSV with several columns needs a header naming 'phone'",
                field="phone",
            )
    for line, cells in records:
        number = cells[column].strip() if column < len(cells) else ""
        out.rows.append(number)
        out.lines.append(line)
    return out
