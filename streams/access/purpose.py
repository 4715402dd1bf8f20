"""What a stated purpose may be (P15, P16, P22): words, not people, so it is pure and shared by the
query rules and the vendor audit.

A purpose naming immigration enforcement or reproductive health care is refused (P22; California
SB 54 and SB 34, Civil Code 1798.90.55). A query needs a case or incident number (P16). A purpose
of one vague word ("investigation", "bolo") cannot be audited (P23).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote_plus

__all__ = ["Finding", "case_numbers", "classify", "forbidden_purpose", "is_vague", "normalize_purpose"]

IMMIGRATION = "immigration"
REPRODUCTIVE = "reproductive"


@dataclass(frozen=True, slots=True)
class Finding:
    """Why a text reads as serving a forbidden purpose: the topic and the words that said so."""

    topic: str  # IMMIGRATION or REPRODUCTIVE
    term: str  # the triggering words, as normalized, for the refusal message

    @property
    def message(self) -> str:
        if self.topic == IMMIGRATION:
            return (
                f"P22: ALPR data may not be used for immigration enforcement (SB 54, Civil Code "
                f"1798.90.55); the text names {self.term!r}"
            )
        return (
            "P22: ALPR data may not be used to investigate reproductive health care; "
            f"the text names {self.term!r}"
        )


_IMMIGRATION = re.compile(
    r"\b(?:immigration|immigrants?|ice|i\.c\.e\.?|hsi|ero|deport\w*|removal proceedings?|illegal aliens?"
    r"|undocumented|border patrol|cbp|visa overstays?|overstay\w*|287 ?\(?g\)?|detainers?|migrants?)(?!\w)"
)
_REPRODUCTIVE = re.compile(
    r"\b(?:abortion\w*|reproductive|planned parenthood|family planning|pregnan\w*|miscarriage\w*"
    r"|contracepti\w*|mifepristone|misoprostol)\b"
)
_VAGUE = frozenset(
    {
        "",
        "investigation",
        "investigations",
        "inv",
        "invest",
        "bolo",
        "test",
        "testing",
        "search",
        "query",
        "lookup",
        "other",
        "n/a",
        "na",
        "none",
        "crime",
        "criminal",
        "police",
        "law enforcement",
        "le",
        "follow up",
        "follow-up",
        "followup",
        "case",
        "info",
        "information",
        "intel",
    }
)
#: Case or incident numbers as agencies write them: SJ-26-004512, MIL26-02381, 26-123456, RNO-26-7761,
#: C2600123. A bare number is not one: "10851 VC" is a statute, "408-277-5200" a phone number.
_CASE = re.compile(r"\b(?:[A-Z]{1,6}-?)?(?:\d{2}|\d{4})-\d{3,8}\b(?!-)|\b[A-Z]{1,4}\d{6,10}\b")


def normalize_purpose(text: str | None) -> str:
    """Lower case, URL-decoded (``Property+Crime``), accents and runs of spaces folded."""
    raw = unquote_plus(text or "")
    folded = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode()
    return " ".join(folded.lower().split())


def classify(text: str | None) -> Finding | None:
    """Whether a text (a purpose, a case field, a hot-list reason or list name) serves immigration
    enforcement or the investigation of reproductive health care (P5, P22), and which words say so."""
    purpose = normalize_purpose(text)
    found = _IMMIGRATION.search(purpose)
    if found:
        return Finding(IMMIGRATION, found.group(0))
    found = _REPRODUCTIVE.search(purpose)
    if found:
        return Finding(REPRODUCTIVE, found.group(0))
    return None


def forbidden_purpose(text: str | None) -> str | None:
    """The rule a purpose breaks (P22), naming the words that triggered it, or None."""
    found = classify(text)
    return found.message if found else None


def case_numbers(text: str | None) -> list[str]:
    """Case or incident numbers found in the text."""
    return _CASE.findall(unquote_plus(text or "").upper())


def is_vague(text: str | None) -> bool:
    """A purpose that says nothing an auditor can check: empty, one generic word, or only a number."""
    purpose = normalize_purpose(text)
    words = re.sub(r"[^a-z ]", " ", purpose).split()
    if purpose in _VAGUE or " ".join(words) in _VAGUE:
        return True
    return not words  # only digits and punctuation: a case number with no reason
