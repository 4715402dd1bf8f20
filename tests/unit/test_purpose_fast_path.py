"""The classifier's fast path gives the slow path's answer (P5, P22): the term scan that tries only
the words where a term can start finds exactly what the whole scan finds, on any text, look-alike
letters and other scripts included."""

from __future__ import annotations

import re
import string
import unicodedata
from urllib.parse import unquote_plus

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from streams.access import purpose
from streams.access.purpose import Finding, classify, classify_fields

#: Pieces people write: terms and their disguises, crime contexts that excuse, case numbers,
#: statutes, look-alike letters (Cyrillic, Greek, Armenian), full-width and styled letters, other
#: scripts, invisible characters, separators, leet digits and symbols, URL escapes.
PIECES = [
    "ice", "ICE", "I.C.E.", "I C E", "ICE_ERO", "ice cream", "ero", "ERO-26-000001", "hsi", "cbp",
    "immigration", "1mmigration", "Im-mi-gra-tion", "inmigración", "la migra", "un ilegal",
    "deported", "deportment", "removal", "tow removal", "removal order", "illegal alien", "alien",
    "notice to appear", "written notice to appear", "ncic iv", "iv file", "di tru", "no papers",
    "abortion", "ab0rt1on", "mifepri$tone", "plan b", "women s clinic", "planned-parenthood",
    "posing as", "robbery of", "impersonating", "victims of", "fraud", "cream", "agent", "26-0001",
    "8 USC 1326", "8 U.S.C. § 1325", "I-205", "I-205 NB", "on I-205", "287(g)", "INA 212", "form I-862",
    "NCIC Vehicle File: stolen vehicle", "SJ-V000000001", "SJ-26-004512", "C2600123", "10851 VC",
    "\u0406mmigration", "\u0399mmigration", "іс\u0435", "ісе", "ΙСΕ", "аbоrtion", "ѕmuggling",
    "ｉｃｅ", "𝐈𝐂𝐄", "im\u200bmigration", "i\u00adce", "移民", "驱逐", "이민국", "낙태", "аборт",
    "депортация", "%49CE", "+", "a+b", "%2", "%zz", "%E2%80%8B", "%D0%86mmigration", "Im+migration",
    "@bortion", "|ce", "!ce", "3r0", "title 8", "18 u.s.c.", "ina", "form", "i-", "212(a)(6)", "usc",
    " ", "  ", "-", ".", "_", "/", ",", ":", "'", "’", "*", "+", "%", "$", "@", "|", "!", "\t",
    "a", "b", "c", "d", "e", "i", "s", "u", "v", "x", "0", "1", "2", "3", "4", "5", "7", "8",
]  # fmt: skip

texts = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=6)), min_size=1, max_size=12).map(
    "".join
)


def _views(text: str) -> list[str]:
    """The word views classify() scans for a text."""
    latin = purpose._latin(purpose._plain(text))
    return [purpose._words(latin), purpose._words(purpose._INNER_SEPARATORS.sub("", latin))]


def test_the_fast_path_is_on() -> None:
    """The starts are derived from the terms themselves; None would mean every word is tried."""
    assert purpose._STARTS is not None and 50 < len(purpose._STARTS) < 1000
    assert {"imm", "ice", "ero", "abo", "la ", "un "} <= purpose._STARTS
    assert "veh" not in purpose._STARTS and "sto" not in purpose._STARTS
    assert purpose._KEYS is not None and {"la", "un", "ice"} <= purpose._KEYS
    assert "" not in purpose._KEYS and not any(start.startswith(" ") for start in purpose._STARTS)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
@example("ncic vehicle file stolen vehicle sj v000000001 ice")
@example("posing as ice agent ice cream ice 26 ero removal")
@example("la migra un ilegal i c e")
def test_the_term_scan_finds_what_the_whole_scan_finds(text: str) -> None:
    for view in [text, text.lower(), *_views(text)]:
        fast = [(m.span(), m.lastgroup) for m in purpose._term_matches(view)]
        slow = [(m.span(), m.lastgroup) for m in purpose._TERMS.finditer(view)]
        assert fast == slow, view


@settings(max_examples=500, deadline=None)
@given(text=texts, other=texts)
@example(text="posing as", other="ICE 26-0001")
@example(text="Deported felon re-entry 8 USC", other="1326")
@example(text="NCIC Vehicle File: stolen vehicle i c", other="e")
@example(text="robbery of i.c", other="e. office")
@example(text="ICE", other="cream truck")
@example(text="x@", other="@y")
def test_classify_gives_the_slow_paths_answer(text: str, other: str) -> None:
    for sample in (text, other, f"{text} {other}"):
        assert purpose.classify.__wrapped__(sample) == _reference_classify(sample), sample
    assert classify_fields(text, other) == _reference_fields(text, other)
    assert classify_fields(text, None, other) == _reference_fields(text, None, other)
    assert classify_fields(text, other, text) == _reference_fields(text, other, text)


#: Phrases that name a term only when two fields are read together (split anywhere between them).
SPLIT = [
    "la migra", "illegal alien", "notice to appear", "ncic iv", "posing as ICE 26-0001", "I C E",
    "i.c.e. raid", "8 USC 1326", "title 8 u.s.c.", "form I-862", "ICE cream", "plan b", "un ilegal",
    "Im-mi-gra-tion", "ab0rt1on", "victims of human smuggling", "ERO 26-1", "women s clinic",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(SPLIT), st.integers(min_value=0), texts, texts)
def test_two_fields_read_together_as_the_slow_path_reads_them(
    phrase: str, cut: int, before: str, after: str
) -> None:
    at = cut % (len(phrase) + 1)
    for first, second in (
        (phrase[:at], phrase[at:]),
        (before + phrase[:at], phrase[at:]),
        (phrase[:at], phrase[at:] + after),
        (phrase[:at].strip(), phrase[at:].strip()),
    ):
        assert classify_fields(first, second) == _reference_fields(first, second), (first, second)


#: The patterns as they were written before they were reordered for speed: the reference.
INNER_SEPARATORS = re.compile(r"(?<=[^\W\d_])[-._·'’‘`*~/\\+=]+(?=[^\W\d_])")
STATUTE_HINT = re.compile(r"(?<![\w.])(?:1?8\W{0,3}[uc]|title|u\W{0,2}s\W{0,2}c|ina|287|212|form|i\W{0,2}\d)")
SPELLED_HINT = re.compile(r"\b[a-z] [a-z]\b")


def _reference_plain(text: str) -> str:
    text = unquote_plus(text)
    if text.isascii():
        return text.lower()
    return purpose._INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).casefold()


def _reference_words(latin: str) -> str:
    if purpose._SYMBOLS.search(latin):
        for pattern, letter in purpose._SYMBOL_LETTERS:
            latin = pattern.sub(letter, latin)
    tokens = purpose._TOKEN.findall(latin)
    words = " ".join(t.translate(purpose._LEET) if not (t.isalpha() or t.isdigit()) else t for t in tokens)
    if SPELLED_HINT.search(words):
        words = purpose._SPELLED.sub(lambda m: m.group(0).replace(" ", ""), words)
    return words


def _reference_find_words(view: str) -> tuple[str, str] | None:
    for found in purpose._TERMS.finditer(view):
        term = found.group(0)
        before = view[max(0, found.start() - 120) : found.start()]
        after = view[found.end() : found.end() + 120]
        if not purpose._excused(term, before, after):
            return found.lastgroup or purpose.IMMIGRATION, term
    return None


def _reference_classify(text: str | None) -> Finding | None:
    """classify() as written before its fast paths: every view built, every position scanned."""
    if not text:
        return None
    plain = _reference_plain(text)
    latin = purpose._latin(plain)
    if STATUTE_HINT.search(latin):
        for found in purpose._STATUTES.finditer(latin):
            if (
                "205" in found.group(0)
                and not found.group(0).startswith("form")
                and purpose._I205_HIGHWAY.search(latin[max(0, found.start() - 20) : found.end() + 20])
            ):
                continue
            return Finding(purpose.IMMIGRATION, purpose._as_written(text, found.group(0).strip()))
    if not plain.isascii():
        for topic, pattern in purpose._SCRIPT_TERMS:
            script = pattern.search(plain)
            if script:
                return Finding(topic, script.group(0))
    result = _reference_find_words(_reference_words(latin))
    if result is None and INNER_SEPARATORS.search(latin):
        result = _reference_find_words(_reference_words(INNER_SEPARATORS.sub("", latin)))
    if result is None:
        return None
    return Finding(result[0], purpose._as_written(text, result[1]))


def _reference_fields(*texts: str | None) -> Finding | None:
    for text in texts:
        found = _reference_classify(text)
        if found is not None:
            return found
    return _reference_classify(" ".join(t for t in texts if t))


@settings(max_examples=500, deadline=None)
@given(texts)
@example("I.C.E. raid, Im-mi-gra-tion, ICE_ERO, a - b, SJ-V000000001, 8-USC, x·y")
@example("8 USC 1326, 18 u.s.c. 1546, title 8, ina 212, 287(g), 212(a)(6), form i-862, i-205, x8 uc, .ina")
@example("i c e, a b, x y z 1 2, ab c d, 1 a b")
def test_the_reordered_patterns_match_as_the_written_ones(text: str) -> None:
    for latin in {text, text.lower(), purpose._latin(purpose._plain(text))}:
        assert purpose._INNER_SEPARATORS.sub("", latin) == INNER_SEPARATORS.sub("", latin)
        assert bool(purpose._INNER_SEPARATORS.search(latin)) == bool(INNER_SEPARATORS.search(latin))
        assert bool(purpose._STATUTE_HINT.search(latin)) == bool(STATUTE_HINT.search(latin)), latin
        assert purpose._words(latin) == _reference_words(latin)
    assert purpose._plain(text) == _reference_plain(text)


@pytest.mark.parametrize(
    "text",
    [
        "ICE-26-000001",
        "NCIC Vehicle File: stolen vehicle ERO-26-1",
        "\u0406mmigration",
        "ΙСΕ raid",
        "1mmigration enforcement",
        "I.C.E. raid",
        "Planned-Parenthood patient",
        "移民",
    ],
)
def test_look_alikes_and_other_scripts_are_still_refused(text: str) -> None:
    assert classify(text) is not None


def test_a_construct_not_understood_tries_every_word() -> None:
    """An unknown regex construct (a back-reference) or case-blind matching gives no starts."""
    assert purpose._term_starts(r"(a)\1", 0, 3) is None
    assert purpose._term_starts("ice", re.IGNORECASE, 3) is None
    assert purpose._term_starts(r"ice|la migra|x\w*", 0, 3) == frozenset(
        {"ice", "la "}
        | {"x", *(f"x{c}" for c in purpose._ASCII_VIEW_CHARS - {" "})}
        | {f"x{c}{d}" for c in purpose._ASCII_VIEW_CHARS - {" "} for d in purpose._ASCII_VIEW_CHARS - {" "}}
    )


#: Reasons as the feeds write them (the NCIC descriptions, with and without a note) and case fields
#: as agencies write them, with the pieces that could make either name something.
FEED_REASONS = [
    "NCIC Vehicle File: stolen vehicle",
    "NCIC License Plate File: stolen plate",
    "NCIC Wanted Person File: vehicle of a wanted person",
    "NCIC Protection Order File: vehicle of a restrained person",
    "NCIC Vehicle File: stolen vehicle: taken from the lot at night",
    "SVS: stolen vehicle",
    "NCIC Vehicle File: stolen vehicle: posing as",
    "NCIC Vehicle File: stolen vehicle ncic",
    "robbed by",
    "stolen vehicle a",
]  # fmt: skip
CASE_PIECES = [
    "SJ-", "V", "000", "001", "26-", "004512", "C2600123", "ERO", "ICE", "1CE", "-", " ", ".", "/", "+",
    "I", "V", "IV", "USC", "8", "1326", "I-205", "287(g)", "la", "no", "un", "di", "a", "b", "3r0",
    "@", "$", "!", "|", "%49", "abort", "12", "4", "5", "7", "0", "1",
]  # fmt: skip
cases = st.lists(
    st.one_of(st.sampled_from(CASE_PIECES), st.text(alphabet=string.printable, max_size=4)), max_size=8
).map("".join)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(st.sampled_from(FEED_REASONS), texts), cases)
@example("NCIC Vehicle File: stolen vehicle", "SJ-V000000001")
@example("NCIC Vehicle File: stolen vehicle", "ERO-26-1")
@example("NCIC Vehicle File: stolen vehicle ncic", "IV-1")
@example("NCIC Vehicle File: stolen vehicle: posing as", "ICE 26-0001")
@example("robbed by", "ERO 26-1")
@example("stolen vehicle a", "b ortion")
@example("NCIC Vehicle File: stolen vehicle", "8 USC 1326")
@example("NCIC Vehicle File: stolen vehicle", "i.c.e")
@example("NCIC Vehicle File: stolen vehicle", "1 c 3")
def test_a_feed_entrys_reason_and_case_as_the_slow_path_reads_them(reason: str, case: str) -> None:
    """The shortcut for a quiet reason and a case number (_quiet_pair) concludes only what the
    long way concludes: nothing found, each field alone and both together."""
    assert classify_fields(reason, case) == _reference_fields(reason, case), (reason, case)
    if purpose._quiet_pair(reason, case):
        assert _reference_fields(reason, case) is None


def test_the_shortcut_is_taken_for_a_feed_entry() -> None:
    """A feed's reason and case number are read the short way (a full sync reads a million)."""
    assert purpose._MOST_SPACES == 3
    assert purpose._KEY_INSIDE is not None
    reason = "NCIC Vehicle File: stolen vehicle"
    assert purpose._quiet_pair(reason, "SJ-V000000001")
    assert purpose._quiet_pair(reason, "SJ-26-000017")
    assert purpose._quiet_pair(reason, "C2600123")
    assert not purpose._quiet_pair(reason, "ERO-26-1")  # read the long way, which refuses it
    assert classify_fields(reason, "ERO-26-1") is not None
    assert not purpose._quiet_pair("posing as ICE", "x")  # a term in the first (excused): long way
    assert not purpose._quiet_pair(reason + " ncic", "x")  # its last words may begin a term


def test_the_most_spaces_of_a_pattern() -> None:
    assert purpose._most_spaces(r"a b|c d e", 0) == 2
    assert purpose._most_spaces(r"a(?: b){0,4}", 0) == 4
    assert purpose._most_spaces(r"a\w*b", 0) == 0
    assert purpose._most_spaces(r"a[^\W_]b", 0) == 0
    assert purpose._most_spaces(r"a\W{2}b", 0) == 2
    assert purpose._most_spaces(r"a(?: b)*", 0) is None  # unbounded
    assert purpose._most_spaces(r"(a)\1", 0) is None  # not understood


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=string.ascii_lowercase + "0123456789-", max_size=40))
@example("di")
@example("xxdhs")
@example("abo")
@example("ab")
def test_the_key_pattern_finds_exactly_the_keys_inside_a_text(text: str) -> None:
    """_KEY_INSIDE (its alternatives grouped by first letter) matches a text exactly when one of the
    starts of a term (_KEYS) is a piece of it."""
    assert purpose._KEY_INSIDE is not None and purpose._KEYS is not None
    inside = any(key in text for key in purpose._KEYS)
    assert (purpose._KEY_INSIDE.search(text.encode()) is not None) == inside, text
