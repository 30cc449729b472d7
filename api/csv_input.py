"""CSV bodies for lead and do-not-call loads.

Rows are numbered by their line in the file (the header is line 1), which is
what a person fixing the file in a spreadsheet or editor sees. Blank lines are
skipped but still counted, and a quoted field spanning lines numbers its row
by the line it starts on.

Files come from spreadsheets as often as from programs, so three habits of
spreadsheet exports are met rather than refused: a byte-order mark, a charset
other than UTF-8 when the Content-Type names it (``text/csv;
charset=windows-1252``), and a semicolon or tab between fields (Excel in
most of Europe writes ``;``), recognised by which one makes the header name
``phone``.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from dialer.errors import InvalidInput
from dialer.runtime.service import RowError

__all__ = ["NumberedRows", "csv_charset", "decode_csv", "dnc_rows", "lead_rows"]

PHONE_COLUMN = "phone"
TIMEZONE_COLUMN = "timezone"
PRIORITY_COLUMN = "priority"
#: Field separators tried on the header, the comma first.
_DELIMITERS = (",", ";", "\t", "|")


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


def csv_charset(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type header, if it names one."""
    if not content_type:
        return None
    message = Message()
    message["content-type"] = content_type
    charset = message.get_param("charset")
    return charset.strip() if isinstance(charset, str) and charset.strip() else None


def decode_csv(body: bytes, charset: str | None = None) -> str:
    """The text of a CSV body: UTF-8 (a byte-order mark allowed), or ``charset`` if named."""
    codec = "utf-8"
    if charset is not None:
        try:
            codec = codecs.lookup(charset).name
        except LookupError:
            raise InvalidInput(
                f"the Content-Type names charset {charset!r}, which is not one we know: "
                "send UTF-8, or name the file's encoding (e.g. windows-1252)",
                field="body",
            ) from None
    if codec == "utf-8":
        codec = "utf-8-sig"  # spreadsheet exports often start with a byte-order mark
    try:
        text = body.decode(codec)
    except UnicodeDecodeError as exc:
        if charset is None:
            reason = (
                f"the CSV body is not UTF-8 (byte {exc.start}): export it as UTF-8, "
                "or name its encoding in the Content-Type (text/csv; charset=windows-1252)"
            )
        else:
            reason = f"the CSV body is not valid {charset} (byte {exc.start})"
        raise InvalidInput(reason, field="body") from None
    return text.removeprefix("\ufeff")  # a byte-order mark in a declared UTF-16 or such


def _records(text: str, delimiter: str = ",") -> list[tuple[int, list[str]]]:
    """(starting line, cells) for every non-blank record."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
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


def _header_delimiter(text: str) -> str | None:
    """The separator under which the first non-blank record names a ``phone`` column."""
    # Read lazily: splitlines() would build a list of every line of a 20 MB
    # file only to look at the first.
    first = next((line for line in io.StringIO(text, newline=None) if line.strip()), "")
    for delimiter in _DELIMITERS:
        cells = next(csv.reader([first], delimiter=delimiter), [])
        if PHONE_COLUMN in (cell.strip().lower() for cell in cells):
            return delimiter
    return None


def _check_unique(header: list[str], header_line: int, among: str | None = None) -> None:
    """A column named twice is ambiguous: which cell is the phone, which the data?

    ``among``: only that column's name matters (the others are not read).
    """
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if not name or (among is not None and name.lower() != among):
            continue  # unnamed (trailing) columns are ignored, however many
        key = name.lower()
        if key in seen:
            raise InvalidInput(
                f"the CSV header (line {header_line}) names {name!r} twice "
                f"(columns {seen[key]} and {position}): rename one",
                field="body",
            )
        seen[key] = position


def _priority_cell(text: str) -> int | str:
    """An integer cell as an int; anything else as text, for the row's own rejection."""
    digits = text.lstrip("+-")
    # ASCII digits only: str.isdigit() also says yes to '²', which int() refuses.
    if not digits or not (digits.isascii() and digits.isdigit()) or len(text) - len(digits) > 1:
        return text
    if len(digits) > 19:
        # Out of any range the store keeps, and int() refuses past 4,300
        # digits: a value just outside says so with the range.
        return -(2**63) if text.startswith("-") else 2**63
    return int(text)


def lead_rows(text: str) -> NumberedRows:
    """Lead rows from a CSV with a header naming ``phone`` (and optionally ``timezone``
    and ``priority``, an integer: higher is dialed first).

    Every other column goes into the lead's ``data`` under its header name.
    """
    records = _records(text, _header_delimiter(text) or ",")
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
    _check_unique(header, header_line)
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
            row["priority"] = _priority_cell(cells[priority_at].strip())
        row["data"] = {name: cells[i] for i, name in data_columns}
        out.rows.append(row)
        out.lines.append(line)
    return out


def dnc_rows(text: str) -> NumberedRows:
    """Numbers from a CSV: one per line, or the ``phone`` column under an optional header."""
    records = _records(text, _header_delimiter(text) or ",")
    out = NumberedRows()
    column = 0
    if records:
        header = [cell.strip() for cell in records[0][1]]
        first = [name.lower() for name in header]
        if PHONE_COLUMN in first:
            _check_unique(header, records[0][0], among=PHONE_COLUMN)
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
