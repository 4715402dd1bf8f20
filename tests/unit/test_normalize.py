import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.errors import InvalidRecord
from streams.matching.normalize import (
    OcrClasses,
    differing_positions,
    normalize_plate,
    normalize_plates,
    partition_for,
)
from streams.settings import DEFAULT_OCR_CLASSES

OCR = OcrClasses.of(DEFAULT_OCR_CLASSES)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("7abc123", "7ABC123"), ("7ABC 123", "7ABC123"), ("7-ABC-123", "7ABC123"), (" 8.dog.512 ", "8DOG512")],
)
def test_normalize_strips_separators_and_uppercases(text: str, expected: str) -> None:
    assert normalize_plate(text) == expected


@pytest.mark.parametrize("text", ["", " - ", "7ABC#23", "ÄBC123", "12345678901"])
def test_normalize_refuses_what_cannot_be_a_plate(text: str) -> None:
    with pytest.raises(InvalidRecord) as info:
        normalize_plate(text)
    assert info.value.code == "bad_plate"


def test_default_classes_map_confusables_to_one_key() -> None:
    assert OCR.canonical("0ODQ") == "0000"
    assert OCR.canonical("1I") == "11"
    assert OCR.canonical("8B5S2Z") == "885522"
    assert OCR.canonical("8DOG512") == OCR.canonical("BD0G5I2")
    assert OCR.canonical("7ABC123") != OCR.canonical("7ABC124")


def test_letters_outside_classes_are_kept() -> None:
    assert OCR.canonical("XKM") == "XKM"
    assert OCR.equivalents("X") == "X"
    assert set(OCR.equivalents("O")) == set("0ODQ")


def test_differing_positions() -> None:
    assert differing_positions("8DOG512", "8D0G5I2") == 2
    assert differing_positions("ABC", "ABC") == 0


def test_partition_is_stable_and_in_range() -> None:
    assert partition_for("7ABC123", 12) == partition_for("7ABC123", 12)
    assert all(0 <= partition_for(f"K{i}", 12) < 12 for i in range(200))
    assert len({partition_for(f"K{i}", 12) for i in range(200)}) == 12


@settings(max_examples=400, deadline=None)
@given(
    texts=st.lists(
        st.one_of(
            st.sampled_from(
                ["7ABC123", "7abc-123", " 8 DOG.512", "###", "", "X" * 11, "ÄBC1", "AB\nC", "ß12"]
            ),
            st.text(alphabet="AB7 -.\t\n#é", max_size=12),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_a_batch_of_plates_is_normalized_as_each_plate_alone(texts) -> None:
    """The batch path (one pass over the joined text, the refused ones looked at again) gives each
    plate what normalize_plate gives it alone: the same plate, or a refusal with the same words."""
    plates, refused = normalize_plates(texts)
    for i, text in enumerate(texts):
        try:
            alone = normalize_plate(text)
        except InvalidRecord as exc:
            assert plates[i] == "" and str(refused[i]) == str(exc)
        else:
            assert plates[i] == alone and i not in refused


def _reference_normalize(text: str) -> str | None:
    """What normalize_plate states: upper-case, separators dropped, then only 1-10 ASCII letters
    and digits are a plate (None: refused)."""
    plate = "".join(ch for ch in text.upper() if ch not in " -.\t")
    return plate if 0 < len(plate) <= 10 and plate.isascii() and plate.isalnum() else None


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="7aBzß0ǅ².- \t#ÄİıK", max_size=14))
def test_a_plate_is_normalized_as_stated_on_either_way(text: str) -> None:
    """The shortcut for a plate already plain gives what the full way gives, refusals included."""
    expected = _reference_normalize(text)
    if expected is None:
        with pytest.raises(InvalidRecord):
            normalize_plate(text)
    else:
        assert normalize_plate(text) == expected
