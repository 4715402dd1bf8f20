"""What makes a justification mean something (P2, P6, P12, P16): a case number in one of the agency's
formats and a reason naming a presumed crime or a listed non-criminal purpose.

A justification is what an auditor checks an access or an entry against (P15, P23). "N/A", "-",
"test" or a licence plate typed into the case field leave nothing to check, so they are refused
where they are typed, with the expected format in the message, instead of being flagged months
later by the P23 sampler. The rules are pure (words and the agency's profile), shared by searches
(P16), department hot-list entries (P2, P6) and evidence holds (P12).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from streams.access.purpose import classify, is_vague, normalize_purpose
from streams.errors import JustificationRefused, PolicyViolation
from streams.retention.policy import Profile

__all__ = [
    "CRIME_WORDS",
    "GENERIC",
    "check_assignment",
    "check_case_number",
    "check_crime_type",
    "check_purpose",
    "check_reason",
    "describe_formats",
    "is_major_crime",
    "looks_like_plate",
    "names_crime",
    "rule_first",
]

#: The rules of an agency without a profile of its own, and of callers that have none (the matcher's
#: defaults): the Profile's default case-number formats, purposes and partial-plate crimes.
GENERIC = Profile("generic", "an agency without a profile", 30, None, 731, 24, 5)

#: A licence plate as a case field holds one: 5 to 7 letters and digits, both present (8ABC123,
#: 7XYZ999, exempt E287021). Agencies' case numbers carry separators or are all digits.
_PLATE = re.compile(r"(?<![A-Z0-9-])(?=[A-Z0-9]{5,7}(?![A-Z0-9-]))(?=[A-Z0-9]*\d)(?=[A-Z0-9]*[A-Z])[A-Z0-9]+")

#: Code sections: "211 PC", "PC 211", "10851 VC", "VC 20001(a)", "11350 H&S", "245(a)(1) PC",
#: "Penal Code 187", and a section with a subdivision alone ("187(a)").
_CODE = (
    r"(?:p\.?c\.?|v\.?c\.?|h\s?&\s?s|h\.?s\.?c?|b\s?&\s?p|w\s?&\s?i"
    r"|penal code|vehicle code|health (?:and|&) safety code)"
)
_SECTION = r"\d{2,5}(?:\.\d{1,2})?[a-z]?(?:\s?\([0-9a-z]{1,3}\))*"
_CODE_SECTION = re.compile(
    rf"(?<![\w.])(?:{_SECTION}\s?{_CODE}|{_CODE}\s?{_SECTION}|\d{{2,5}}(?:\.\d{{1,2}})?\s?\([0-9a-z]{{1,3}}\))(?![\w])"
)

#: Presumed crimes in words (P2, P16). Matched as whole words in the normalized text, so "theft"
#: does not match "thefts" unless listed; plurals and "-ing" forms are spelled out where used.
CRIME_WORDS: tuple[str, ...] = (
    "abduction",
    "arson",
    "assault",
    "auto theft",
    "battery",
    "brandishing",
    "burglary",
    "burglaries",
    "carjacking",
    "carjackings",
    "child abuse",
    "counterfeiting",
    "criminal threats",
    "domestic violence",
    "drive-by",
    "drug trafficking",
    "dui",
    "dwi",
    "elder abuse",
    "embezzlement",
    "evading",
    "extortion",
    "felony",
    "firearm",
    "forgery",
    "fraud",
    "gang",
    "graffiti",
    "grand theft",
    "hit and run",
    "hit-and-run",
    "homicide",
    "human trafficking",
    "identity theft",
    "illegal dumping",
    "kidnapping",
    "larceny",
    "littering",
    "looting",
    "manslaughter",
    "misdemeanor",
    "murder",
    "narcotics",
    "pandering",
    "pimping",
    "possession",
    "rape",
    "reckless driving",
    "receiving stolen property",
    "robbery",
    "robberies",
    "sexual assault",
    "shooting",
    "shoplifting",
    "sideshow",
    "stalking",
    "stolen",
    "stolen car",
    "stolen plate",
    "stolen plates",
    "stolen property",
    "stolen vehicle",
    "street racing",
    "terrorism",
    "theft",
    "trafficking",
    "trespassing",
    "vandalism",
    "vehicle theft",
    "warrant",
    "weapons",
)
_CRIME_RE = re.compile(
    r"(?<![\w-])(?:"
    + "|".join(re.escape(w) for w in sorted(CRIME_WORDS, key=len, reverse=True))
    + r")(?![\w-])"
)
#: One digit per position in generated examples: "26" reads as a year, the rest as a serial.
_EXAMPLE_DIGITS = "004512000"


def _fold(value: str) -> str:
    """NFKC (full-width digits, ligatures) then trimmed and upper-cased: how case numbers compare."""
    return unicodedata.normalize("NFKC", value).strip().upper()


def rule_first(exc: PolicyViolation) -> str:
    """ "P16: the case number ..." rather than "... (P16)": the rule survives an audit field's cap."""
    return f"{exc.rule}: {str(exc).removesuffix(f' ({exc.rule})')}"


def looks_like_plate(value: str) -> str | None:
    """The first plate-shaped token in a case field (8ABC123, E287021), or None."""
    found = _PLATE.search(_fold(value))
    return found.group(0) if found else None


def check_case_number(
    value: str | None, profile: Profile, *, field: str = "case number", rule: str = "P16"
) -> str:
    """The case number, trimmed and upper-cased, if it has one of ``profile.case_number_formats``.

    A plate-shaped value is refused even if a format would take it (a plate in the case field is the
    misuse the rule exists for); a value naming immigration enforcement or reproductive care is
    refused under P22 (a case field is scanned like a purpose). ``rule`` names the rule served in the
    message: P16 for searches, P2 for entries, P12 for holds.
    """
    expected = describe_formats(profile.case_number_formats)
    raw = value or ""
    normalized = _fold(raw)
    if not normalized:
        raise JustificationRefused(rule, f"the {field} is missing; give one in the form {expected}")
    finding = classify(raw)
    if finding is not None:
        raise JustificationRefused("P22", f"the {field} {raw!r}: {finding.message.removeprefix('P22: ')}")
    plate = looks_like_plate(normalized)
    if plate is not None:
        raise JustificationRefused(
            rule,
            f"the {field} {raw!r} looks like a licence plate ({plate}), not a case number; "
            f"give the case or incident number in the form {expected}",
        )
    if not any(re.fullmatch(p, normalized) for p in profile.case_number_formats):
        raise JustificationRefused(
            rule,
            f"the {field} {raw!r} is not a case or incident number of {profile.agency}; expected {expected}",
        )
    return normalized


def names_crime(text: str | None) -> bool:
    """Whether a text names a presumed crime: a code section or a crime word."""
    purpose = normalize_purpose(text)
    return bool(_CODE_SECTION.search(purpose) or _CRIME_RE.search(purpose))


def _names_purpose(purpose: str, purposes: Iterable[str]) -> bool:
    return any(_phrase(normalize_purpose(p)).search(purpose) for p in purposes if p.strip())


def check_reason(text: str | None, profile: Profile, *, field: str = "reason", rule: str = "P2") -> str:
    """The reason, trimmed, if it names a presumed crime or one of ``profile.non_criminal_purposes``.

    P2 and P16 ask for the presumed crime (or other purpose such as an AMBER alert): "." or "keep"
    gives an auditor nothing to check. Returns the text with runs of spaces folded.
    """
    cleaned = " ".join((text or "").split())
    purpose = normalize_purpose(cleaned)
    if names_crime(cleaned) or _names_purpose(purpose, profile.non_criminal_purposes):
        return cleaned
    listed = ", ".join(profile.non_criminal_purposes)
    shown = repr(cleaned) if cleaned else "(empty)"
    raise JustificationRefused(
        rule,
        f"the {field} {shown} names no presumed crime; name the crime (e.g. 'robbery 211 PC', "
        f"'stolen vehicle 10851 VC') or a non-criminal purpose ({listed})",
    )


def check_crime_type(text: str | None, profile: Profile, *, rule: str = "P16") -> str:
    """The crime type of a search or hold (P16, P12): the same test as a reason, named as such."""
    return check_reason(text, profile, field="crime type", rule=rule)


def is_major_crime(text: str | None, profile: Profile) -> bool:
    """Whether a reason names one of ``profile.partial_plate_crimes`` (P6: partial plates only then).

    Numbers in the list ("211", "236.1") match as code sections, not inside longer numbers.
    """
    return _names_purpose(normalize_purpose(text), profile.partial_plate_crimes)


@lru_cache(maxsize=256)
def _phrase(words: str) -> re.Pattern[str]:
    """A whole-word (or whole-number) match of a phrase, tolerant of spaces and hyphens between words."""
    parts = [re.escape(w) for w in re.split(r"[\s-]+", words) if w]
    return re.compile(r"(?<![\w.])" + r"[\s-]+".join(parts) + r"(?![\w]|\.\d)")


def describe_formats(patterns: Iterable[str]) -> str:
    """The formats in human form: "SJ-26-004512, a 9-digit number or a 7-digit number"."""
    parts = [_describe(p) for p in patterns]
    if len(parts) <= 1:
        return "".join(parts) or "(no format configured)"
    return ", ".join(parts[:-1]) + " or " + parts[-1]


@lru_cache(maxsize=64)
def _describe(pattern: str) -> str:
    digits = re.fullmatch(r"\\d\{(\d+)(?:,(\d+))?\}", pattern)
    if digits:
        low, high = digits.group(1), digits.group(2)
        return f"a {low}-digit number" if high is None else f"a {low}- to {high}-digit number"
    example = _example(pattern)
    if example is not None and re.fullmatch(pattern, example):
        return example
    return f"a value matching /{pattern}/"


_TOKEN = re.compile(
    r"(?P<atom>\\d|\[A-Z\]|\[0-9\]|\\-|\\.|[A-Z0-9-]|\.)(?:\{(?P<lo>\d+)(?:,(?P<hi>\d*))?\}|(?P<opt>[?*+]))?"
)


def _example(pattern: str) -> str | None:
    """A readable value matching a simple pattern (literals, \\d, [A-Z], counts, ?); None otherwise."""
    out: list[str] = []
    position = 0
    while position < len(pattern):
        token = _TOKEN.match(pattern, position)
        if token is None:
            return None
        position = token.end()
        atom = token.group("atom")
        if token.group("lo") is not None:
            low = int(token.group("lo"))
            hi_text = token.group("hi")
            high = low if hi_text is None else (int(hi_text) if hi_text else low + 4)
        else:
            low, high = {None: (1, 1), "?": (1, 1), "*": (1, 1), "+": (1, 1)}[token.group("opt")]
        if atom in (r"\d", "[0-9]"):
            count = 2 if low <= 2 <= high and high <= 2 else min(high, max(low, 6))
            out.append("26" if count == 2 else _EXAMPLE_DIGITS[:count].rjust(count, "0"))
        elif atom == "[A-Z]":
            count = min(high, max(low, 2))
            out.append("AB"[:count].ljust(count, "C"))
        else:
            out.append(atom.removeprefix("\\") * max(low, 1))
    return "".join(out)


#: One-word purposes that say nothing even beside a crime type (P15, P23); is_vague() has the rest.
_JUNK_PURPOSES = frozenset(
    {"keep", "xyz", "asdf", "stuff", "thing", "things", "misc", "tbd", "pending", "see case"}
)


def check_purpose(text: str | None, profile: Profile, *, field: str = "purpose", rule: str = "P16") -> str:
    """The purpose of a search or hold, trimmed (P15, P16).

    Beside a crime type that names the crime, the purpose may describe the task in words ("evidence
    for trial", "locate suspect vehicle"); it must still say something an auditor can check: one
    vague word ("test", "keep", "bolo", "n/a") or no word of four letters is refused.
    """
    cleaned = " ".join((text or "").split())
    purpose = normalize_purpose(cleaned)
    if names_crime(cleaned) or _names_purpose(purpose, profile.non_criminal_purposes):
        return cleaned
    words = re.findall(r"[a-z]+", purpose)
    if is_vague(cleaned) or " ".join(words) in _JUNK_PURPOSES or not any(len(w) >= 4 for w in words):
        shown = repr(cleaned) if cleaned else "(empty)"
        raise JustificationRefused(
            rule,
            f"the {field} {shown} says nothing an auditor can check; say why in words "
            "(e.g. 'locate the robbery suspect vehicle', 'AMBER alert')",
        )
    return cleaned


#: Assignments that name no unit (P2): the directory must give the entering member's real one.
_JUNK_ASSIGNMENTS = frozenset(
    {"xyz", "abc", "asdf", "none", "test", "tbd", "unknown", "other", "n/a", "na", "x"}
)


def check_assignment(text: str | None, *, field: str = "assignment", rule: str = "P2") -> str:
    """The entering member's assignment (P2), trimmed: a unit an auditor can find ("Southern
    Division patrol", "Robbery Unit"), so at least four letters and not a placeholder."""
    cleaned = " ".join((text or "").split())
    folded = normalize_purpose(cleaned)
    letters = sum(ch.isalpha() for ch in folded)
    if letters < 4 or folded in _JUNK_ASSIGNMENTS or is_vague(cleaned):
        shown = repr(cleaned) if cleaned else "(none)"
        raise JustificationRefused(
            rule,
            f"the entering member's {field} {shown} names no unit; an administrator records the "
            "member's real assignment in the directory (e.g. 'Southern Division patrol')",
        )
    return cleaned
