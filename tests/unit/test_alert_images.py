"""An alert's images in the lifecycle and the alert view (issue 18, item 1; P7).

* The plate as read beside the plate as listed, position by position: OCR-equivalent characters
  (8/B, 0/O, 1/I) and a partial entry's open positions marked, each said in words.
* ``AlertImageShown`` folds into who was shown which image (once per person, read and kind),
  changes no status, and survives the codec and the schema.
* P7 gating: a read with a stored plate image is verified against it, by a person it was served to;
  a forged ``alpr-image:`` ref counts as no image; a vendor URL keeps the person's attestation; a
  read without an image keeps the read-text path.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from streams.alerts.lifecycle import (
    Actor,
    AlertImageShown,
    AlertRejected,
    AlertVisuallyVerified,
    StepRules,
    TransitionRefused,
    check_step,
    evolve,
    stored_image,
)
from streams.alerts.model import raise_alert
from streams.alerts.plate_diff import plate_diff
from streams.codec import alert_record_from_dict, event_to_dict
from streams.console.views import alert_detail
from streams.images.store import image_ref
from streams.matching.matcher import EXACT, OCR_EQUIVALENT, PARTIAL, match
from streams.matching.normalize import OcrClasses
from streams.settings import DEFAULT_OCR_CLASSES
from tests.factories import NOW, make_entry, make_index, make_read
from tests.unit.test_schemas import validator

OCR = OcrClasses.of(DEFAULT_OCR_CLASSES)
LEE = Actor("Dispatcher Lee", "D-101")
ANN = Actor("Dispatcher Ann", "D-102")
RULES = StepRules(low_confidence=0.5, separate_validation=True, entering_agency="CA0431000")
_ids = itertools.count()


def marks(read: str, listed: str, kind: str) -> list[tuple[str, str, str]]:
    return [(i["read"], i["listed"], i["mark"]) for i in plate_diff(read, listed, kind, OCR)]


# -- the plate comparison ------------------------------------------------------------------------


def test_an_exact_match_marks_nothing() -> None:
    items = plate_diff("7ABC123", "7ABC123", EXACT, OCR)
    assert all(i["same"] and i["mark"] == "same" for i in items) and len(items) == 7


@pytest.mark.parametrize(
    ("read", "listed", "at"),
    [("7ABC128", "7ABC12B", 6), ("7OBC123", "70BC123", 1), ("7ABCI23", "7ABC123", 4)],
)
def test_an_ocr_equivalent_character_is_marked_and_said_in_words_p7(read: str, listed: str, at: int) -> None:
    """8/B, O/0, I/1: the one position cameras confuse is marked "equivalent", every other "same"."""
    items = plate_diff(read, listed, OCR_EQUIVALENT, OCR)
    assert [i["mark"] for i in items] == ["equivalent" if n == at else "same" for n in range(7)]
    odd = items[at]
    assert odd["same"] is False and (odd["read"], odd["listed"]) == (read[at], listed[at])
    assert odd["label"].startswith(f"position {at + 1}: read {read[at]}, listed {listed[at]}: OCR-equivalent")


def test_a_partial_entry_marks_its_open_positions_as_wildcards() -> None:
    """``?`` is one open position, ``*`` a run of any length (here three characters, then none)."""
    assert marks("7ABC123", "7AB?12*", PARTIAL) == [
        ("7", "7", "same"),
        ("A", "A", "same"),
        ("B", "B", "same"),
        ("C", "?", "wildcard"),
        ("1", "1", "same"),
        ("2", "2", "same"),
        ("3", "*", "wildcard"),
    ]
    assert marks("7ABC123", "7ABC*", PARTIAL)[4:] == [
        ("1", "*", "wildcard"),
        ("2", "*", "wildcard"),
        ("3", "*", "wildcard"),
    ]
    assert marks("7ABC", "7ABC*", PARTIAL)[-1] == ("", "*", "wildcard")


def test_a_partial_entry_still_marks_an_ocr_equivalent_listed_character() -> None:
    assert marks("7A8C123", "7AB?12*", PARTIAL)[2] == ("8", "B", "equivalent")


def test_plates_of_different_lengths_mark_the_missing_positions() -> None:
    assert marks("7ABC12", "7ABC123", EXACT)[-1] == ("", "3", "missing")
    assert marks("7XBC123", "7ABC123", EXACT)[1] == ("X", "A", "different")


# -- the fold ------------------------------------------------------------------------------------


def alert_with(image: str | None, read_id: str = "r-img-1"):
    read = make_read(read_id=read_id, plate="7ABC123", captured_at=NOW, image_ref=image)
    [found] = match(make_index(make_entry(plate="7ABC123", entry_id="V1")), read)
    return raise_alert(read, found, NOW)


def stored_alert():
    return alert_with(image_ref("r-img-1", NOW))


def shown(alert, by: Actor | None = LEE, kind: str = "plate", read_id: str = "r-img-1") -> AlertImageShown:
    return AlertImageShown(
        f"s{next(_ids)}", alert.alert_id, NOW + timedelta(minutes=1), by, read_id=read_id, kind=kind
    )


def verify(alert, evidence: str, by: Actor = LEE) -> AlertVisuallyVerified:
    return AlertVisuallyVerified(
        f"v{next(_ids)}",
        alert.alert_id,
        NOW + timedelta(minutes=2),
        by,
        evidence_shown=evidence,
        characters_match=True,
        state_match=True,
    )


def test_an_image_shown_is_kept_once_per_person_read_and_kind_and_changes_no_status() -> None:
    alert = stored_alert()
    state = evolve(None, alert)
    first = shown(alert)
    after = evolve(state, first)
    assert (
        after.status == "unverified" and after.history == () and after.image_shown_to(LEE, "r-img-1", "plate")
    )
    assert evolve(after, first) is after  # redelivered: nothing changes
    again = evolve(after, shown(alert))  # shown once more (a reload): still one record
    assert len(again.images_shown) == 1
    both = evolve(again, shown(alert, kind="overview"))
    assert len(both.images_shown) == 2 and not both.image_shown_to(ANN, "r-img-1", "plate")


def test_an_image_shown_must_name_the_person_a_kind_and_a_read_of_the_alert() -> None:
    alert = stored_alert()
    state = evolve(None, alert)
    with pytest.raises(TransitionRefused, match="who was shown"):
        evolve(state, shown(alert, by=None))
    with pytest.raises(TransitionRefused, match="image kind"):
        evolve(state, shown(alert, kind="thumbnail"))
    with pytest.raises(TransitionRefused, match="not a read of alert"):
        evolve(state, shown(alert, read_id="someone-elses-read"))


def test_an_image_shown_is_recorded_on_a_closed_alert_too() -> None:
    alert = stored_alert()
    closed = evolve(evolve(None, alert), AlertRejected("x1", alert.alert_id, NOW, LEE, reason="misread"))
    assert evolve(closed, shown(alert)).status == "rejected"


def test_the_event_survives_the_codec_and_the_schema() -> None:
    alert = stored_alert()
    event = shown(alert, kind="overview")
    wire = event_to_dict(event)
    validator("alert_event").validate(wire)
    assert wire["kind"] == "overview" and wire["read_id"] == "r-img-1"
    assert alert_record_from_dict(wire) == event


# -- P7 gating -----------------------------------------------------------------------------------


def test_a_stored_image_is_recognised_only_by_the_ref_recomputed_from_the_read() -> None:
    assert stored_image(stored_alert().read)
    forged = image_ref("another-read", NOW)  # a key that came over the wire, of another read
    assert not stored_image(alert_with(forged).read)
    assert not stored_image(alert_with("https://vendor.example/img/1.jpg").read)
    assert not stored_image(alert_with(None).read)


def test_p7_a_stored_plate_image_must_be_opened_before_verifying() -> None:
    alert = stored_alert()
    state = evolve(None, alert)
    for evidence in ("read-text", "image"):
        with pytest.raises(TransitionRefused, match="P7: open the plate image first"):
            check_step(state, verify(alert, evidence), RULES)
    seen_by_ann = evolve(state, shown(alert, by=ANN))
    with pytest.raises(TransitionRefused, match="P7: open the plate image first"):
        check_step(seen_by_ann, verify(alert, "image"), RULES)  # Ann saw it, Lee did not
    overview_only = evolve(state, shown(alert, kind="overview"))
    with pytest.raises(TransitionRefused, match="P7: open the plate image first"):
        check_step(overview_only, verify(alert, "image"), RULES)
    seen = evolve(state, shown(alert))
    with pytest.raises(TransitionRefused, match="P7: open the plate image first"):
        check_step(seen, verify(alert, "read-text"), RULES)  # seen, but said to be against the text
    check_step(seen, verify(alert, "image"), RULES)  # accepted
    assert evolve(seen, verify(alert, "image")).status == "tentative_hit"


def test_p7_a_read_without_a_stored_image_keeps_the_read_text_path() -> None:
    plain = alert_with(None)
    check_step(evolve(None, plain), verify(plain, "read-text"), RULES)
    with pytest.raises(TransitionRefused, match="no captured image"):
        check_step(evolve(None, plain), verify(plain, "image"), RULES)
    forged = alert_with(image_ref("another-read", NOW))  # treated as no stored image
    check_step(evolve(None, forged), verify(forged, "read-text"), RULES)
    with pytest.raises(TransitionRefused, match="no captured image"):
        check_step(evolve(None, forged), verify(forged, "image"), RULES)


def test_p7_a_vendor_image_is_attested_by_the_person_as_before() -> None:
    """The system cannot serve a vendor's image to the person, so it cannot know it was seen: the
    verification says it was ("image"), or is made against the read text."""
    vendor = alert_with("https://vendor.example/img/1.jpg")
    for evidence in ("image", "read-text"):
        check_step(evolve(None, vendor), verify(vendor, evidence), RULES)


# -- the alert view ------------------------------------------------------------------------------


def test_the_alert_view_names_the_same_origin_images_and_the_plate_comparison() -> None:
    alert = stored_alert()
    state = evolve(evolve(None, alert), shown(alert))
    detail = alert_detail(state, NOW, NOW, timedelta(days=1))
    v = detail["verification"]
    assert v["plate_image"] == f"/api/alerts/{alert.alert_id}/images/plate"
    assert v["overview_image"] == f"/api/alerts/{alert.alert_id}/images/overview"
    assert v["image_required"] is True and v["image_url"] is None
    assert v["images_shown"][0]["by"] == {"user": "Dispatcher Lee", "badge": "D-101"}
    assert [i["mark"] for i in detail["plate_diff"]] == ["same"] * 7

    vendor = alert_detail(
        evolve(None, alert_with("https://vendor.example/1.jpg")), NOW, NOW, timedelta(days=1)
    )
    assert vendor["verification"]["plate_image"] is None and vendor["verification"]["image_required"] is False
    assert vendor["verification"]["image_url"] == "https://vendor.example/1.jpg"
