"""Registry files: parsing at the edges, against a line-by-line reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.compliance.registry import int_to_e164
from dialer.compliance.registry_file import (
    ParsedRegistry,
    RegistryParser,
    classify_line,
    parse_registry,
)


def numbers(parsed_numbers: np.ndarray) -> list[str]:
    return [int_to_e164(int(v)) for v in parsed_numbers]


# --- parsing ------------------------------------------------------------------
def test_ten_digit_lines_get_country_code_one_sorted_and_unique() -> None:
    parsed = parse_registry(b"4155550101\n2125550100\n4155550101\n")
    assert numbers(parsed.numbers) == ["+12125550100", "+14155550101"]
    assert (parsed.lines, parsed.valid, parsed.duplicates, parsed.bad_count) == (3, 3, 1, 0)
    assert parsed.header is None
    assert not parsed.numbers.flags.writeable


def test_e164_lines_of_any_country() -> None:
    parsed = parse_registry(b"+442079460000\n+14155550100\n+33142685300\n+12\n")
    assert numbers(parsed.numbers) == ["+12", "+14155550100", "+33142685300", "+442079460000"]


def test_crlf_blanks_spaces_bom_and_a_header_are_tolerated() -> None:
    text = b"\xef\xbb\xbfPhone Number\r\n\r\n  4155550100 \r\n\t+14155550101\t\r\n\n\n4155550102"
    parsed = parse_registry(text)
    assert numbers(parsed.numbers) == ["+14155550100", "+14155550101", "+14155550102"]
    assert parsed.header == "Phone Number"
    assert parsed.bad_lines == () and parsed.bad_count == 0
    assert parsed.lines == 7  # the last line has no newline and still counts


def test_a_header_is_only_the_first_line_with_text() -> None:
    parsed = parse_registry(b"\n4155550100\nphone\n")
    assert parsed.header is None
    assert [(b.line, b.text) for b in parsed.bad_lines] == [(3, "phone")]


def test_bad_lines_are_reported_with_their_line_number_and_why() -> None:
    lines = [
        b"phone",  # 1: header
        b"4155550100",  # 2
        b"415-555-0101",  # 3
        b"+0442079460000",  # 4
        b"0155550100",  # 5
        b"4151550100",  # 6
        b"14155550100",  # 7
        b"+1 415 555 0102",  # 8
        b"+",  # 9
        b"+1234567890123456",  # 10
        b"\xff\xfe",  # 11
        b"",  # 12: blank, not bad
        b"4155550103",  # 13
    ]
    parsed = parse_registry(b"\n".join(lines) + b"\n")
    assert numbers(parsed.numbers) == ["+14155550100", "+14155550103"]
    got = {b.line: (b.text, b.reason) for b in parsed.bad_lines}
    assert sorted(got) == [3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert parsed.bad_count == 9
    assert "not a number" in got[3][1]
    assert "start with 0" in got[4][1]
    assert "area code" in got[5][1]
    assert "exchange" in got[6][1]
    assert "11 digits" in got[7][1]
    assert "spaces inside" in got[8][1]
    assert "no digits" in got[9][1]
    assert "16 digits" in got[10][1]
    assert got[11][0] == "\ufffd\ufffd"  # shown, not a crash on bytes that are not UTF-8
    assert got[3][0] == "415-555-0101"


def test_the_report_is_capped_but_every_bad_line_is_counted() -> None:
    body = b"".join(b"bad%d\n" % i for i in range(50)) + b"4155550100\n"
    parsed = parse_registry(b"4155550199\n" + body, max_reported=10)
    assert parsed.bad_count == 50
    assert [b.line for b in parsed.bad_lines] == list(range(2, 12))
    assert len(parsed.numbers) == 2


def test_an_empty_file_or_only_blanks_gives_no_numbers() -> None:
    for data in (b"", b"\n\n\r\n  \n", b"phone\n"):
        parsed = parse_registry(data)
        assert parsed.numbers.size == 0 and parsed.numbers.dtype == np.int64
        assert parsed.bad_count == 0


def test_a_registry_without_national_numbers_refuses_ten_digit_lines() -> None:
    parsed = parse_registry(b"+442079460000\n2079460000\n", national_country_code=None)
    assert numbers(parsed.numbers) == ["+442079460000"]
    assert parsed.bad_lines[0].line == 2 and "need a '+'" in parsed.bad_lines[0].reason


def test_a_line_longer_than_a_block_is_reported_and_skipped() -> None:
    parser = RegistryParser(block_bytes=64)
    parser.feed(b"4155550100\n" + b"9" * 200)
    parser.feed(b"9" * 200 + b"\n4155550101\n")
    parser.feed(b"7" * 300)  # unfinished at the end, too
    parsed = parser.finish()
    assert numbers(parsed.numbers) == ["+14155550100", "+14155550101"]
    assert [(b.line, "over 64 bytes" in b.reason) for b in parsed.bad_lines] == [
        (2, True),
        (4, True),
    ]
    # The same inside one buffer fed at once.
    one = parse_registry(b"4155550100\n" + b"9" * 200 + b"\n4155550101\n")
    # The default block is far larger: an ordinary bad line.
    assert [b.reason.split(":")[0] for b in one.bad_lines] == ["200 digits"]
    small = RegistryParser(block_bytes=64)
    small.feed(b"4155550100\n" + b"9" * 200 + b"\n4155550101\n")
    assert [b.line for b in small.finish().bad_lines] == [2]


def test_fixed_width_blocks_and_the_general_path_agree() -> None:
    rng = np.random.default_rng(5)
    values = rng.integers(2_000_000_000, 9_999_999_999, 5000)
    values = values[(values // 1_000_000) % 10 >= 2]  # a valid exchange
    plain = b"".join(b"%d\n" % v for v in values)
    crlf = b"".join(b"+1%d\r\n" % v for v in values)
    messy = b"".join(b" %d \n" % v for v in values)  # spaces: never fixed width
    expected = np.unique(values + 10**10)
    for data in (plain, crlf, messy):
        for block in (64, 1000, 1 << 20):
            parser = RegistryParser(block_bytes=block)
            parser.feed(data)
            assert np.array_equal(parser.finish().numbers, expected), (data[:20], block)


# Lines as they come: valid ones of both kinds, near misses, and noise.
_national = st.builds(
    lambda a, e, n: b"%d%d%04d" % (a, e, n),
    st.integers(200, 999),
    st.integers(200, 999),
    st.integers(0, 9999),
)
# TPS lines, and near misses (a 0 after the trunk, 12 digits).
_uk = st.from_regex(rb"\A0[0-9]{9,11}\Z")
_e164 = st.from_regex(rb"\A\+[1-9][0-9]{1,14}\Z")
_noise = st.binary(max_size=20).map(lambda b: b.replace(b"\n", b""))
_near = st.text("0123456789+ \t\r-a", max_size=18).map(str.encode)
_line = st.one_of(_national, _uk, _e164, _noise, _near, st.just(b""), st.just(b"phone"))


def _reference(data: bytes, cc: int | None) -> tuple[set[int], list[int], str | None]:
    """What the parser should find, one line at a time with classify_line."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    found: set[int] = set()
    bad: list[int] = []
    header: str | None = None
    seen_text = False
    for number, raw in enumerate(lines, start=1):
        result = classify_line(raw, cc)
        stripped = raw.strip(b" \t\r\n")
        if not stripped:
            continue
        first, seen_text = not seen_text, True
        if isinstance(result, int):
            found.add(result)
        elif first and any(c.isalpha() for c in raw.decode("utf-8", "replace")):
            header = stripped.decode("utf-8", "replace")
        else:
            bad.append(number)
    return found, bad, header


def _fed_in_pieces(parser: RegistryParser, data: bytes, cuts: list[int]) -> ParsedRegistry:
    """``data`` fed in pieces of the sizes in ``cuts``, then the rest, then finished."""
    start = 0
    for size in cuts:
        parser.feed(data[start : start + size])
        start += size
    parser.feed(data[start:])
    return parser.finish()


@pytest.mark.parametrize("cuts", [[1], [2], [1, 1], [1, 1, 1], [3]])
@pytest.mark.parametrize(
    ("data", "numbers", "bad"),
    [
        (b"\xef\xbb\xbf", [], []),  # a byte-order mark alone: an empty file
        (b"\xef\xbb\xbf4155550100\n", [14155550100], []),
        (b"\xef", [], [1]),  # the start of a mark, and nothing more: text
        (b"\xef\xbb4155550100\n", [], [1]),
    ],
)
def test_a_byte_order_mark_split_over_the_first_pieces_is_still_one(
    data: bytes, numbers: list[int], bad: list[int], cuts: list[int]
) -> None:
    """Found by the property below on a clean run: a mark cut after its first byte was bad."""
    parsed = _fed_in_pieces(RegistryParser(national_country_code=1), data, cuts)
    assert parsed.numbers.tolist() == numbers
    assert [b.line for b in parsed.bad_lines] == bad


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_line, max_size=40),
    st.sampled_from([b"\n", b"\r\n"]),
    st.booleans(),
    st.lists(st.integers(1, 50), max_size=8),
    st.sampled_from([1, 44, None]),
)
def test_the_parser_agrees_with_the_line_by_line_reference(
    lines: list[bytes], newline: bytes, trailing: bool, cuts: list[int], cc: int | None
) -> None:
    data = newline.join(lines) + (newline if trailing and lines else b"")
    found, bad, header = _reference(data, cc)
    # Fed in pieces cut anywhere, even inside a CRLF.
    parsed = _fed_in_pieces(RegistryParser(national_country_code=cc, block_bytes=64), data, cuts)
    assert parsed.numbers.tolist() == sorted(found)
    assert [b.line for b in parsed.bad_lines] == bad
    assert parsed.bad_count == len(bad)
    assert parsed.header == (header[:39] + "…" if header and len(header) > 40 else header)
    assert all(b.reason and not b.reason.isdigit() for b in parsed.bad_lines)


def test_uk_national_lines_get_44_after_their_trunk_zero() -> None:
    data = b"01632960000\n0207946000\n+441632960001\n00123456789\n1632960000\n016329600001\n"
    parsed = parse_registry(data, national_country_code=44)
    assert numbers(parsed.numbers) == ["+44207946000", "+441632960000", "+441632960001"]
    reasons = {b.line: b.reason for b in parsed.bad_lines}
    assert set(reasons) == {4, 5, 6}
    assert "do not start with 0" in reasons[4]  # a 0 after the trunk: international prefix
    assert "trunk 0" in reasons[5]  # a NANP-looking line is not a UK number
    assert "12 digits" in reasons[6]
    # Fixed-width blocks of UK lines take the general path and give the same.
    lines = b"".join(b"0%d\n" % (7_000_000_000 + i) for i in range(3000))
    for block in (64, 1 << 20):
        parser = RegistryParser(national_country_code=44, block_bytes=block)
        parser.feed(lines)
        got = parser.finish()
        assert got.numbers[0] == 447_000_000_000 and got.numbers.size == 3000
        assert got.bad_count == 0


def test_classify_line_says_why() -> None:
    assert classify_line(b" 4155550100\r") == 14155550100
    assert classify_line(b"+442079460000") == 442079460000
    assert classify_line(b"") == "blank line"
    assert classify_line(b"2079460000", None) != 12079460000


def test_finish_twice_is_an_error() -> None:
    parser = RegistryParser()
    parser.finish()
    with pytest.raises(RuntimeError):
        parser.finish()
    with pytest.raises(RuntimeError):
        parser.feed(b"4155550100\n")


def test_a_file_in_order_and_one_out_of_order_give_the_same_copy() -> None:
    rng = np.random.default_rng(4)
    values = np.unique(rng.integers(2_000_000_000, 9_999_999_999, 20_000))
    values = values[(values // 1_000_000) % 10 >= 2]
    in_order = b"".join(b"%d\n" % v for v in values)
    shuffled = b"".join(b"%d\n" % v for v in rng.permutation(np.repeat(values, 2)))
    for data in (in_order, shuffled):
        parser = RegistryParser(block_bytes=4096)
        parser.feed(data)
        assert np.array_equal(parser.finish().numbers, values + 10**10)
