"""What a stated purpose may be (P15, P16, P22): words, not people, so it is pure and shared by the
query rules and the vendor audit.

A purpose naming immigration enforcement or reproductive health care is refused (P22; California
SB 54 and SB 34, Civil Code 1798.90.55). A query needs a case or incident number (P16). A purpose
of one vague word ("investigation", "bolo") cannot be audited (P23).
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote_plus

__all__ = ["case_numbers", "forbidden_purpose", "is_vague", "normalize_purpose"]

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


def forbidden_purpose(text: str | None) -> str | None:
    """The rule a purpose breaks (P22), or None."""
    purpose = normalize_purpose(text)
    if _IMMIGRATION.search(purpose):
        return "P22: ALPR data may not be used for immigration enforcement (SB 54, Civil Code 1798.90.55)"
    if _REPRODUCTIVE.search(purpose):
        return "P22: ALPR data may not be used to investigate reproductive health care"
    return None


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
