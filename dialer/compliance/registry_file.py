"""National do-not-call registry files: vectorised parsing into sorted int64 arrays.

Registry files are one number per line: national numbers as the registries
publish them (10-digit NANP numbers for the US and Canadian registries; UK
numbers with their trunk ``0``, ``01632 960000``'s 11 digits or a 10-digit
one, for the TPS), to which the country code is added, or E.164 (``+`` and
up to 15 digits). Blank lines, surrounding spaces, CRLF, a byte
order mark and one header line are tolerated; any other line is reported
with its line number and why, and the rest of the file loads.

Parsing never loops over lines in Python: the bytes are cut into blocks at
newlines, and each block is parsed with array operations. A block of
fixed-width lines (the registries' own layout) takes a faster path that
reshapes it into rows. Only the few reported bad lines are looked at one by one.
A number is kept as the integer of its E.164 digits (:mod:`dialer.compliance.registry`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_DIGITS",
    "MAX_REPORTED_LINES",
    "BadLine",
    "ParsedRegistry",
    "RegistryParser",
    "classify_line",
    "e164_lines_to_ints",
    "parse_registry",
]

Int64Array = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_Bytes = npt.NDArray[np.uint8]

MAX_DIGITS: Final = 15  # of an E.164 number, country code included

MAX_REPORTED_LINES: Final = 1000
# Bytes parsed at a time: small enough that a block's arrays stay in the CPU's
# caches (measured: 1 MB parses a 550 MB file faster than 8 MB), large enough
# that numpy's per-call cost vanishes. Also the longest line taken.
_BLOCK_BYTES: Final = 1 << 20
_SHOWN_CHARS: Final = 40  # of a bad line, in its report

_NL, _CR, _SP, _TAB, _PLUS, _ZERO = (ord(c) for c in "\n\r \t+0")
_TWO: Final = ord("2")
_BOM: Final = b"\xef\xbb\xbf"
_TEN_ONES: Final = 1_111_111_111  # sum of 10**k, k < 10: the ASCII '0's in a value
_NATIONAL_SPAN: Final = 10**10
# The national forms known (``national_country_code``); any other code takes E.164 only.
_NANP: Final = 1  # ten digits, area and exchange codes from 2
_UK: Final = 44  # the trunk 0, then 9 or 10 digits not starting with 0


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that is not a number: its 1-based line number, its text, and why."""

    line: int
    text: str
    reason: str


@dataclass(frozen=True, slots=True)
class ParsedRegistry:
    """A parsed file: the numbers, and what was wrong with the rest.

    ``bad_lines`` holds the first ``max_reported`` bad lines; ``bad_count``
    counts them all. ``valid`` counts number lines, repeats included, so
    ``valid - len(numbers)`` were duplicates.
    """

    numbers: Int64Array  # sorted, unique, read-only
    lines: int
    valid: int
    bad_lines: tuple[BadLine, ...]
    bad_count: int
    header: str | None

    @property
    def duplicates(self) -> int:
        return self.valid - int(self.numbers.size)


def classify_line(raw: bytes, national_country_code: int | None = 1) -> int | str:
    """One line's number as an int, or the reason it is not one.

    The reference for what the vectorised parser accepts (tests hold the two
    to each other); the parser calls it only to word its reports.
    """
    text = raw.strip(b" \t\r\n")
    if not text:
        return "blank line"
    plus = text.startswith(b"+")
    digits = text[1:] if plus else text
    if not digits:
        return "a '+' with no digits"
    if not (digits.isdigit() and digits.isascii()):
        if any(c in b" \t" for c in digits):
            return "spaces inside the number"
        return "not a number: digits only, optionally after a '+'"
    count = len(digits)
    if plus:
        if digits[0] == _ZERO:
            return "E.164 country codes do not start with 0"
        if count < 2 or count > MAX_DIGITS:
            return f"{count} digits after '+': E.164 has 2 to {MAX_DIGITS}"
        return int(digits)
    if national_country_code == _UK:
        if digits[0] != _ZERO:
            return "UK national numbers start with the trunk 0 (or give E.164: '+44...')"
        if count not in (10, 11):
            return f"{count} digits: expected a UK national number (0 and 9 or 10 digits) or E.164"
        if digits[1] == _ZERO:
            return "UK numbers after the trunk 0 do not start with 0"
        return int(_UK * 10 ** (count - 1)) + int(digits)
    if national_country_code != _NANP:
        return "not E.164: this registry's numbers need a '+' and the country code"
    if count != 10:
        return f"{count} digits: expected 10 (a NANP number) or E.164 ('+' and country code)"
    if digits[0] < _TWO:
        return "NANP area codes do not start with 0 or 1"
    if digits[3] < _TWO:
        return "NANP exchange codes do not start with 0 or 1"
    return national_country_code * _NATIONAL_SPAN + int(digits)


class RegistryParser:
    """Parses a registry file fed in pieces of any size (an upload, a file read in blocks).

    Keeps only the numbers found so far (8 bytes each) and the unfinished
    last line, never the whole file. ``finish`` sorts and de-duplicates.
    """

    def __init__(
        self,
        *,
        national_country_code: int | None = 1,
        max_reported: int = MAX_REPORTED_LINES,
        block_bytes: int = _BLOCK_BYTES,
    ) -> None:
        self._cc = national_country_code
        self._max_reported = max_reported
        self._block_bytes = max(block_bytes, 64)
        self._pending = bytearray()
        self._kept = _Segments()
        self._lines = 0  # complete lines parsed so far
        self._valid = 0
        self._bad: list[BadLine] = []
        self._bad_count = 0
        self._header: str | None = None
        self._seen_text = False  # a non-blank line went by: no header after it
        self._started = False
        self._head = bytearray()  # the first bytes, until a byte-order mark is ruled out
        self._overlong_at: int | None = None  # line number of a line we are skipping
        self._finished = False

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Parse the complete lines in ``data`` (after any left from before)."""
        if self._finished:
            raise RuntimeError("the parser has finished")
        view = bytes(data) if isinstance(data, memoryview) else data
        if not self._started:
            # The byte-order mark may come split over the first pieces (an
            # upload arrives in chunks of any size): hold them until it is
            # whole, or clearly absent.
            self._head += view
            if len(self._head) < len(_BOM) and _BOM.startswith(self._head):
                return
            self._started = True
            view = bytes(self._head)
            self._head.clear()
            if view.startswith(_BOM):
                view = view[len(_BOM) :]
        if not view:
            return
        start = 0
        if self._overlong_at is not None or self._pending:
            first_nl = view.find(b"\n")
            if first_nl < 0:
                self._stash(view)
                return
            if self._overlong_at is None and len(self._pending) + first_nl > self._block_bytes:
                self._overlong_at = self._lines + 1
                self._pending.clear()
            if self._overlong_at is not None:
                self._end_overlong()
            else:
                self._pending += view[: first_nl + 1]
                self._parse(bytes(self._pending))
                self._pending.clear()
            start = first_nl + 1
        last_nl = view.rfind(b"\n", start)
        if last_nl < 0:
            self._stash(view[start:])
            return
        # Whole lines straight from the caller's buffer, a block at a time.
        while start <= last_nl:
            cut = last_nl
            if last_nl - start >= self._block_bytes:
                cut = view.rfind(b"\n", start, start + self._block_bytes + 1)
                if cut < 0:  # one line longer than a block: reported, not parsed
                    self._overlong_at = self._lines + 1
                    self._end_overlong()
                    start = view.find(b"\n", start) + 1
                    continue
            self._parse(np.frombuffer(view, dtype=np.uint8, count=cut + 1 - start, offset=start))
            start = cut + 1
        self._stash(view[start:])

    def finish(self) -> ParsedRegistry:
        """Parse the last line (newline or not), then sort and de-duplicate."""
        if self._finished:
            raise RuntimeError("the parser has finished")
        if not self._started and self._head:
            # A file of one or two bytes of a would-be mark: they are its text.
            self._started = True
            self._pending += self._head
            self._head.clear()
        if self._overlong_at is not None:
            self._end_overlong()
        elif self._pending:
            self._parse(bytes(self._pending) + b"\n")
            self._pending.clear()
        self._finished = True
        numbers = _sorted_unique(self._kept.take())
        return ParsedRegistry(
            numbers=numbers,
            lines=self._lines,
            valid=self._valid,
            bad_lines=tuple(self._bad),
            bad_count=self._bad_count,
            header=self._header,
        )

    # ------------------------------------------------------------ internals
    def _stash(self, rest: bytes | bytearray) -> None:
        """Keep an unfinished line; one longer than a block is dropped and reported."""
        if self._overlong_at is not None:
            return
        self._pending += rest
        if len(self._pending) > self._block_bytes:
            self._overlong_at = self._lines + 1
            self._pending.clear()

    def _end_overlong(self) -> None:
        assert self._overlong_at is not None
        self._lines += 1
        self._seen_text = True
        self._report(self._overlong_at, "", f"a line of over {self._block_bytes} bytes")
        self._overlong_at = None

    def _report(self, line: int, text: str, reason: str) -> None:
        self._bad_count += 1
        if len(self._bad) < self._max_reported:
            self._bad.append(BadLine(line, text, reason))

    def _parse(self, block: bytes | _Bytes) -> None:
        """One block of whole lines, each ending in a newline."""
        buf = block if isinstance(block, np.ndarray) else np.frombuffer(block, dtype=np.uint8)
        first_line = self._lines + 1
        # A block that parses whole as fixed-width lines has no header and no bad line.
        fixed = _fixed_width(buf, self._cc)
        if fixed is not None:
            self._seen_text = True
            self._kept.append(fixed)
            self._valid += int(fixed.size)
            self._lines += int(fixed.size)
            return
        parsed = _parse_lines(buf, self._cc)
        self._lines += parsed.line_count
        bad = parsed.bad_rows
        if not self._seen_text and parsed.first_text_row is not None:
            self._seen_text = True
            row = parsed.first_text_row
            if bad.size and bad[0] == row and _is_header(_line_bytes(buf, parsed, row)):
                self._header = _line_text(buf, parsed, row)
                bad = bad[1:]
        good = parsed.values
        self._kept.append(good)
        self._valid += int(good.size)
        room = self._max_reported - len(self._bad)
        for row in bad[: max(room, 0)].tolist():
            reason = classify_line(_line_bytes(buf, parsed, row), self._cc)
            text = _line_text(buf, parsed, row)
            self._bad.append(BadLine(first_line + row, text, str(reason)))
        self._bad_count += int(bad.size)


class _Segments:
    """The numbers found so far, copied into a few large arrays.

    Not kept as one small array per block: freed, those would stay in the
    allocator's heap and the process would keep their memory, on top of the
    sorted copy made from them. Arrays this large are mapped from the OS one
    by one and go back to it when freed (glibc's threshold is at most 32 MB).
    """

    __slots__ = ("_arrays", "_fill")

    _LARGEST = 5 << 20  # numbers: 40 MB

    def __init__(self) -> None:
        self._arrays: list[Int64Array] = []
        self._fill = 0  # numbers in the last array

    def append(self, values: Int64Array) -> None:
        at = 0
        while at < values.size:
            if not self._arrays or self._fill == self._arrays[-1].size:
                kept = sum(a.size for a in self._arrays)
                size = min(self._LARGEST, max(1 << 16, kept))
                self._arrays.append(np.empty(size, dtype=np.int64))
                self._fill = 0
            last = self._arrays[-1]
            count = min(values.size - at, last.size - self._fill)
            last[self._fill : self._fill + count] = values[at : at + count]
            self._fill += count
            at += count

    def take(self) -> list[Int64Array]:
        """The numbers, as views of the arrays; this holds none of them after."""
        arrays, self._arrays = self._arrays, []
        if arrays:
            arrays[-1] = arrays[-1][: self._fill]
        self._fill = 0
        return arrays


@dataclass(frozen=True, slots=True)
class _Lines:
    line_count: int
    starts: Int64Array  # per line: offset of its first byte
    ends: Int64Array  # per line: offset of its newline
    values: Int64Array  # the numbers of the good lines, in file order
    good_rows: Int64Array  # 0-based rows in the block of those lines
    bad_rows: Int64Array  # and of the lines that are not numbers
    first_text_row: int | None  # the first non-blank line's row


def _line_bytes(buf: _Bytes, lines: _Lines, row: int) -> bytes:
    return bytes(buf[lines.starts[row] : lines.ends[row]])


def _is_header(raw: bytes) -> bool:
    """A first line that names a column (``phone``, ``Number``) rather than being one."""
    return any(c.isalpha() for c in raw.decode("utf-8", errors="replace"))


def _line_text(buf: _Bytes, lines: _Lines, row: int) -> str:
    text = _line_bytes(buf, lines, row).strip(b" \t\r\n").decode("utf-8", errors="replace")
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def _fixed_width(buf: _Bytes, cc: int | None) -> Int64Array | None:
    """The numbers of a block whose every line is ``[+]digits[\\r]\\n`` of one width.

    None when the block is anything else, or has a bad line: the general path
    then parses it and words the reports.
    """
    size = int(buf.size)
    if size == 0:
        return None
    plus = int(buf[0] == _PLUS)
    cr = 0
    head = buf[: MAX_DIGITS + 4] == _NL  # a fixed-width line is short
    if not head.any():
        return None
    width = int(np.argmax(head)) + 1
    if width >= 2 and buf[width - 2] == _CR:
        cr = 1
    count = width - 1 - cr - plus
    if size % width or count < 1:
        return None
    if plus:
        if not (2 <= count <= MAX_DIGITS):
            return None
    elif cc != _NANP or count != 10:
        return None  # UK national lines come in two widths: the general path
    rows = buf.reshape(-1, width)
    if not (rows[:, -1] == _NL).all():
        return None
    if cr and not (rows[:, -2] == _CR).all():
        return None
    if plus and not (rows[:, 0] == _PLUS).all():
        return None
    digits = rows[:, plus : plus + count]
    # uint8 arithmetic wraps: anything below '0' becomes large, so one test.
    if ((digits - _ZERO) > 9).any():
        return None
    if plus:
        if (digits[:, 0] == _ZERO).any():
            return None
    elif (digits[:, 0] < _TWO).any() or (digits[:, 3] < _TWO).any():
        return None
    value = np.zeros(rows.shape[0], dtype=np.int64)
    for k in range(count):
        value *= 10
        value += digits[:, k]
    # Every digit was added as its ASCII code: take the '0's back out.
    value -= _ZERO * (_TEN_ONES if count == 10 else sum(10**k for k in range(count)))
    if not plus:
        assert cc is not None
        value += cc * _NATIONAL_SPAN
    return value


def _strip(space: BoolArray, first: Int64Array, last: Int64Array, step: int) -> None:
    """Move ``first`` forward (``step`` 1) or ``last`` back (-1) over spaces, in place.

    One pass per space: lines rarely have more than one or two, and each pass
    looks only at the lines still on a space.
    """
    moving, bound = (first, last) if step > 0 else (last, first)
    active = np.flatnonzero((moving - bound) * step <= 0)
    active = active[space[moving[active]]]
    while active.size:
        moving[active] += step
        active = active[(moving[active] - bound[active]) * step <= 0]
        active = active[space[moving[active]]]


def _parse_lines(buf: _Bytes, cc: int | None) -> _Lines:
    """Any block of whole lines: strip, validate and convert with array operations.

    Every array here is per line, but for two of the block's size (a mask and
    a running count), so a block of short lines costs a few passes over it.
    """
    ends = np.flatnonzero(buf == _NL).astype(np.int64)
    starts = np.empty_like(ends)
    if ends.size:
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
    space = (buf == _SP) | (buf == _TAB) | (buf == _CR) | (buf == _NL)
    # The stripped token of each line is buf[first : last + 1]; empty if last < first.
    first = starts.copy()
    last = ends - 1
    _strip(space, first, last, 1)
    _strip(space, first, last, -1)
    text = last >= first
    text_rows = np.flatnonzero(text)
    first_text_row = int(text_rows[0]) if text_rows.size else None
    first, last = first[text_rows], last[text_rows]
    plus = buf[first] == _PLUS
    dstart = first + plus
    ndig = last - dstart + 1
    # Bytes that are not digits, counted up to each offset: a token is clean
    # when none lies between its first digit and its last byte.
    not_digit = np.zeros(buf.size + 1, dtype=np.int32)
    np.cumsum((buf - _ZERO) > 9, out=not_digit[1:])
    clean = (ndig >= 1) & (not_digit[last + 1] == not_digit[np.minimum(dstart, last + 1)])
    lead = buf[dstart]  # within the block: every line ends in a newline
    e164 = clean & plus & (ndig >= 2) & (ndig <= MAX_DIGITS) & (lead != _ZERO)
    if cc == _NANP:
        exchange = buf[np.where(ndig == 10, dstart + 3, dstart)]
        national = clean & ~plus & (ndig == 10) & (lead >= _TWO) & (exchange >= _TWO)
    elif cc == _UK:
        after_trunk = buf[np.where(ndig >= 2, dstart + 1, dstart)]
        national = (
            clean & ~plus & ((ndig == 10) | (ndig == 11)) & (lead == _ZERO) & (after_trunk != _ZERO)
        )
    else:
        national = np.zeros_like(e164)
    good = e164 | national
    good_rows = np.flatnonzero(good)
    values = np.zeros(good_rows.size, dtype=np.int64)
    starts_good, ndig_good = dstart[good_rows], ndig[good_rows]
    # Digit by digit from the left, a pass per digit position. While every
    # line still has a digit there the pass is over whole arrays; after, over
    # the lines that do.
    shortest = int(ndig_good.min()) if ndig_good.size else 0
    for k in range(shortest):
        values *= 10
        values += buf[starts_good + k]
    values -= _ZERO * sum(10**k for k in range(shortest))
    active = np.flatnonzero(ndig_good > shortest)
    for k in range(shortest, MAX_DIGITS):
        active = active[ndig_good[active] > k]
        if not active.size:
            break
        values[active] = values[active] * 10 + buf[starts_good[active] + k] - _ZERO
    if cc == _NANP:
        values[national[good_rows]] += cc * _NATIONAL_SPAN
    elif cc == _UK:
        # The trunk 0 added nothing: the country code goes before the rest.
        rows = national[good_rows]
        values[rows] += cc * np.power(10, ndig_good[rows] - 1, dtype=np.int64)
    return _Lines(
        line_count=int(ends.size),
        starts=starts,
        ends=ends,
        values=values,
        good_rows=text_rows[good_rows],
        bad_rows=text_rows[~good],
        first_text_row=first_text_row,
    )


def _in_order(parts: list[Int64Array]) -> bool:
    """Whether the parts, one after another, are already sorted (a file published sorted)."""
    last: int | None = None
    for part in parts:
        if part.size == 0:
            continue
        if last is not None and int(part[0]) < last:
            return False
        if part.size > 1 and not (part[1:] >= part[:-1]).all():
            return False
        last = int(part[-1])
    return True


def _sorted_unique(parts: list[Int64Array]) -> Int64Array:
    """The parts' numbers sorted, each once, read-only; empties ``parts``.

    Sorted in place, to save a copy; not at all if the file was in order.
    """
    in_order = _in_order(parts)
    numbers = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    parts.clear()
    if not in_order:
        numbers.sort()
    if numbers.size > 1:
        fresh = numbers[1:] != numbers[:-1]
        if not fresh.all():
            keep = np.empty(numbers.size, dtype=np.bool_)
            keep[0] = True
            keep[1:] = fresh
            numbers = numbers[keep]
    numbers.flags.writeable = False
    return numbers


def parse_registry(
    data: bytes | bytearray,
    *,
    national_country_code: int | None = 1,
    max_reported: int = MAX_REPORTED_LINES,
) -> ParsedRegistry:
    """A whole registry file held in memory; see :class:`RegistryParser`."""
    parser = RegistryParser(national_country_code=national_country_code, max_reported=max_reported)
    parser.feed(data)
    return parser.finish()


def e164_lines_to_ints(text: bytes, count: int) -> Int64Array:
    """The numbers of ``count`` newline-separated E.164 lines, in order; -1 for the others.

    Lines are taken as they are: the caller makes sure none has spaces to strip.
    """
    buf = np.frombuffer(text + b"\n", dtype=np.uint8)
    fixed = _fixed_width(buf, None)
    if fixed is not None and fixed.size == count:
        return fixed
    lines = _parse_lines(buf, None)
    out = np.full(count, -1, dtype=np.int64)
    out[lines.good_rows] = lines.values
    return out
