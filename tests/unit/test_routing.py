"""The id pattern accepts exactly the digit strings whose value is in range."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from portal.routing import MAX_ID, digits_up_to


@given(limit=st.integers(0, MAX_ID), value=st.integers(0, 10**10 - 1))
def test_pattern_matches_exactly_the_values_up_to_the_limit(limit, value):
    pattern = re.compile(digits_up_to(limit))
    text = str(value)
    expected = value <= limit and len(text) <= len(str(limit))
    assert bool(pattern.fullmatch(text)) == expected


@given(value=st.integers(0, MAX_ID), width=st.integers(1, 10))
def test_leading_zeros_within_the_width_are_accepted(value, width):
    text = str(value).zfill(width)
    assert bool(re.fullmatch(digits_up_to(MAX_ID), text)) == (len(text) <= 10)


def test_the_edges_of_the_id_range():
    pattern = re.compile(digits_up_to(MAX_ID))
    assert pattern.fullmatch("2147483647")
    assert not pattern.fullmatch("2147483648")
    assert not pattern.fullmatch("9999999999")
    assert not pattern.fullmatch("21474836470")
