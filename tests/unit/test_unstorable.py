"""``unstorable``: exactly the JSON values no database keeps as given are refused."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from dialer.storage.records import MAX_JSON_DEPTH, priority_problem, unstorable

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _bad(value: Any) -> bool:
    """An independent reading, through the standard encoder: strict JSON refuses
    NaN and the infinities, and a NUL anywhere (keys too) shows as an escape."""
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=True)
    except ValueError:
        return True
    # An escape, not an escaped backslash followed by "u0000" (an even run of
    # backslashes before it is text).
    return re.search(r"(?<!\\)(\\\\)*\\u0000", text) is not None


def test_the_oracle_tells_an_escaped_backslash_from_a_nul() -> None:
    assert not _bad("\\u0000") and _bad("\x00") and _bad({"k\x00": 1})


@given(_JSON)
def test_refused_exactly_when_a_string_holds_nul_or_a_float_is_not_finite(value: Any) -> None:
    assert (unstorable(value) is not None) == _bad(value)


def _nested(levels: int, leaf: Any = 1) -> Any:
    value = leaf
    for i in range(levels):
        value = [value] if i % 2 else {"k": value}
    return value


def test_nesting_is_refused_past_the_limit_at_any_depth_without_recursing() -> None:
    assert unstorable(_nested(MAX_JSON_DEPTH)) is None
    assert "nested deeper than" in (unstorable(_nested(MAX_JSON_DEPTH + 1)) or "")
    # Far past Python's recursion limit: the walk keeps its own stack.
    assert "nested deeper than" in (unstorable(_nested(200_000)) or "")
    # The first problem in the document is the one reported.
    assert "NUL" in (unstorable(["a\x00", _nested(100)]) or "")
    assert "nested" in (unstorable([_nested(100), "a\x00"]) or "")
    assert "NUL" in (unstorable({"k\x00": _nested(100)}) or "")


@given(_JSON)
def test_what_is_accepted_round_trips_through_strict_json(value: Any) -> None:
    if unstorable(value) is None:
        # allow_nan=False is what a JSON column (and the response encoder) insists on.
        assert json.loads(json.dumps(value, allow_nan=False)) == value


@given(st.integers() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=3))
def test_priorities_are_32_bit_integers_and_nothing_else(value: Any) -> None:
    fits = isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31
    assert (priority_problem(value) is None) == fits
