"""The partial-plate patterns in the native kernel (``alpr_native.Patterns``, issue 19) against
the rule they state: ``?`` is one character, ``*`` any run of them (none too), any other character
is itself, and a pattern fits a canonical key whole. The oracle here is a plain dynamic program,
written apart from the kernel's automaton; the matcher, the replay query and the load generator
all go through the kernel."""

from __future__ import annotations

from functools import cache

import pytest
from alpr_native import Patterns
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.matching.matcher import HotlistIndex, MatchRules, PlateQuery, pattern_key
from streams.matching.normalize import OcrClasses
from streams.settings import DEFAULT_OCR_CLASSES
from tests.factories import NOW, local_entry

#: A few letters and digits (OCR class members among them), a non-ASCII letter, a regex character.
KEY_CHARS = "AB80OØ."
PATTERN_CHARS = KEY_CHARS + "?*"


def glob_fits(pattern: str, key: str) -> bool:
    """The rule, as a dynamic program over (pattern position, key position)."""

    @cache
    def fits(i: int, j: int) -> bool:
        if i == len(pattern):
            return j == len(key)
        if pattern[i] == "*":
            return fits(i + 1, j) or (j < len(key) and fits(i, j + 1))
        if j == len(key):
            return False
        return (pattern[i] == "?" or pattern[i] == key[j]) and fits(i + 1, j + 1)

    return fits(0, 0)


patterns = st.lists(st.text(PATTERN_CHARS, max_size=8), max_size=12)
keys = st.lists(st.text(KEY_CHARS, max_size=12), min_size=1, max_size=20)


@settings(max_examples=400, deadline=None)
@given(patterns, keys, st.sampled_from([2, 3, 8, 4096]), st.sampled_from([1, 16, 1 << 20]))
def test_the_kernel_fits_a_key_exactly_when_the_rule_says(
    listed: list[str], read: list[str], max_states: int, max_held: int
) -> None:
    """Also with a table too small to hold the automaton: emptied and built again, it answers the
    same and stays within its bounds (but for the start's set and the one being made)."""
    kernel = Patterns(listed, max_states=max_states, max_held=max_held)
    assert len(kernel) == len(listed)
    for key in read:
        assert kernel.fitting(key) == [i for i, p in enumerate(listed) if glob_fits(p, key)], key
    assert kernel.lines("\n".join(read)) == [
        n for n, key in enumerate(read) if any(glob_fits(p, key) for p in listed)
    ]
    automaton = sum(len(p) + 1 for p in listed)  # every (pattern, consumed)
    assert kernel.states() <= max(max_states, 3)
    assert kernel.held() <= max(max_held, 2 * automaton)


def test_patterns_as_witnesses_give_them() -> None:
    kernel = Patterns(["7AB*", "*C123", "7AB?123", "?ABC???", "7**B"])
    lines = ["7AB", "7ABX", "8ZC123", "C123", "7ABQ123", "XABC999", "7B", "7XYZB", "NOPE", ""]
    assert kernel.lines("\n".join(lines)) == [0, 1, 2, 3, 4, 5, 6, 7]
    assert kernel.fitting("7ABC123") == [0, 1, 2, 3]
    assert kernel.fitting("7AB") == [0, 4]  # "7**B" is "7*B"
    assert kernel.fitting("7ABC12") == [0]
    assert kernel.fitting("") == []


def test_a_key_never_fits_an_empty_list_and_text_is_not_a_list() -> None:
    assert Patterns([]).lines("7ABC123\n\nX") == []
    with pytest.raises(TypeError):
        Patterns("7AB*")  # a str would be taken as a list of one-character patterns


def test_a_thousand_patterns_take_a_bounded_table() -> None:
    """Many patterns starting with '*' (every read is tried against each): the table stays within
    its bound while thousands of distinct keys run through it."""
    listed = [f"*{n:04d}*" for n in range(1000)]
    kernel = Patterns(listed, max_states=512)
    read = [f"X{n}Y" for n in range(10_000, 15_000)]
    got = kernel.lines("\n".join(read))
    assert len(got) == 1000  # X10000Y .. X10999Y: "0nnn" is in them and in no other
    assert got == [n for n, key in enumerate(read) if any(p[1:-1] in key for p in listed)]
    assert kernel.states() <= 512


def test_patterns_that_make_large_states_are_bounded_in_memory_too() -> None:
    """3,000 patterns led by '*' put 6,000 automaton states or more in every table state (millions
    in all for these keys): with room for 50,000 the table is emptied on the way, and answers the
    same. (With the default room, 2**20, such a list costs its reads time: P6 keeps partial plates
    to major crimes, a few dozen.)"""
    listed = [f"*{n:04d}*" for n in range(3000)]
    read = [f"{n:07d}" for n in range(0, 7_000_000, 4999)]
    expected = [n for n, key in enumerate(read) if any(int(key[i : i + 4]) < 3000 for i in range(4))]
    unbounded = Patterns(listed, max_held=1 << 30)
    assert unbounded.lines("\n".join(read)) == expected
    assert unbounded.held() > 1_000_000
    kernel = Patterns(listed, max_held=50_000)
    assert kernel.lines("\n".join(read)) == expected
    assert 0 < kernel.held() <= 50_000


# -- through the matcher -----------------------------------------------------------------------------

RULES = MatchRules(OcrClasses.of(DEFAULT_OCR_CLASSES))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.text("7ABO08S5?*", min_size=3, max_size=8), min_size=1, max_size=6, unique=True),
    st.lists(st.text("7ABO08S5", min_size=1, max_size=9), min_size=1, max_size=10),
)
def test_the_index_s_partial_candidates_are_the_rule_s_over_representatives(
    listed: list[str], read: list[str]
) -> None:
    """A pattern's characters count as their OCR class (pattern_key): 0 and O are one."""
    index = HotlistIndex(RULES)
    entries = []
    for n, pattern in enumerate(listed):
        if "?" not in pattern and "*" not in pattern:
            continue
        if sum(ch not in "?*" for ch in pattern) < 3:  # P6: three known characters at least
            continue
        entry = local_entry(entry_id=f"p{n}", plate=pattern, synced_at=NOW)
        index.upsert(entry)
        entries.append(entry)
    for plate in read:
        canonical = RULES.ocr.canonical(plate)
        expected = [e for e in entries if glob_fits(pattern_key(e.plate, RULES.ocr), canonical)]
        assert index.partial_candidates(canonical) == expected
        assert index.partial_lines(canonical) == ([0] if expected else [])


def test_an_investigator_s_partial_query_fits_by_the_same_rule() -> None:
    query = PlateQuery(RULES, partial="7ab-?12*")
    assert query.kind("7ABC123") == "partial"
    assert query.kind("7A8C12") == "partial"  # B and 8 are one OCR class
    assert query.kind("7ABC1") is None
    assert PlateQuery(RULES, partial="7A.?").kind("7AXB") is None  # "." is itself, not any character
