"""The breach notice (P27): ``alpr breach notice --incident FILE``.

Source: San José Council Policy "Automated License Plate Recognition for Parking Operations"
(2019), section DATA BREACH NOTIFICATION REQUIREMENTS.
After discovering a breach that disclosed personal information to an unauthorized third party,
the City notifies everyone reasonably believed to be affected, "in the most expedient time
possible and without reasonable delay", with a notice that is, in the policy's own words and order:

1. Titled "Notification of Data Breach"
2. "What Happened"
3. "What Information Was Involved"
4. "What We Are Doing"
5. "What You Can Do"
6. "For More Information"
   a. Name and contact information for department reporting the breach
   b. A list of the personal information subject to the breach
   c. Either the date, estimated date, or the date range that the breach occurred if the
      information can be determined when the notice is provided
      i. If notification was delayed as a result of law enforcement investigation
      ii. A general description of the breach incident

The notice also states the date it is given and the date the breach was discovered. The
Councilmembers' memo of Mar. 6 2026, item 4, adds that SJPD must
report any unauthorized disclosure or data leak of ALPR data to the City Council via an
information memo: every notice ends with that reminder, outside the text sent to individuals.
Where it says what information was involved, the notice states the program's retention from the
agency profile (P11-P13), which bounds how old the exposed reads can be.

A notice goes to the public and cannot be recalled, so its fields are checked for substance, not
only presence: a placeholder ("x", "TBD", "n/a", "lorem ipsum") or a one-word description is
refused, the contact must say how to reach the department (a telephone number, an e-mail or a
postal address), and each piece of information involved is named in words.

Everything here is pure (incident mapping in, text out) except :func:`write_notice`; a refused
incident writes nothing.
"""

from __future__ import annotations

import os
import re
import tempfile
import textwrap
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal

from streams.errors import InvalidRecord
from streams.retention.policy import Profile

__all__ = [
    "FIELDS",
    "FORMATS",
    "BreachDate",
    "Format",
    "Incident",
    "IncidentInvalid",
    "council_memo_reminder",
    "load_incident",
    "parse_incident",
    "render_notice",
    "write_notice",
]

Format = Literal["md", "txt"]
FORMATS: tuple[Format, ...] = ("md", "txt")

TITLE = "Notification of Data Breach"
#: The headings of the notice, items 2-6 of the policy, in its order.
SECTIONS = (
    "What Happened",
    "What Information Was Involved",
    "What We Are Doing",
    "What You Can Do",
    "For More Information",
)
#: Item 6's sub-items, in the policy's words and order.
MORE_INFO = {
    "a": "Name and contact information for department reporting the breach",
    "b": "A list of the personal information subject to the breach",
    "c": "Either the date, estimated date, or the date range that the breach occurred",
    "i": "If notification was delayed as a result of law enforcement investigation",
    "ii": "A general description of the breach incident",
}

#: Keys of the incident file, in the notice's order, with what each one is for.
FIELDS: dict[str, str] = {
    "what_happened": "item 2 'What Happened' and 6.c.ii: a general description of the breach incident",
    "information_involved": "items 3 and 6.b: a list of the personal information subject to the breach",
    "what_we_are_doing": "item 4 'What We Are Doing'",
    "what_you_can_do": "item 5 'What You Can Do'",
    "department": "item 6.a: name of the department reporting the breach",
    "contact": "item 6.a: contact information of that department",
    "breach_date": (
        "item 6.c: the date of the breach; or breach_date_estimated; or breach_date_from and "
        "breach_date_to; or breach_date_unknown = true if it cannot be determined yet"
    ),
    "discovered": "the date the breach was discovered",
    "delayed_by_law_enforcement": "item 6.c.i: true or false, was notification delayed by an investigation",
}
OPTIONAL = {
    "breach_date_estimated",
    "breach_date_from",
    "breach_date_to",
    "breach_date_unknown",
    "delay_reason",
    "notice_date",
    "incident",
}
#: Minimum words of the prose fields: a reader must learn something from each.
MIN_WORDS = {
    "what_happened": 6,
    "what_we_are_doing": 5,
    "what_you_can_do": 4,
    "department": 2,
    "delay_reason": 4,
}
_PLACEHOLDER = re.compile(
    r"^(?:x+|tbd|tba|todo|to do|n/?a|none|null|nil|test(?:ing)?|placeholder|fill me in|fixme|xxx+|\?+|-+|\.+"
    r"|lorem ipsum.*|same as above|see above|unknown)$"
)
_CONTACT = re.compile(
    r"\(?\b\d{3}\)?[\s.-]*\d{3}[\s.-]*\d{4}\b"  # a North American telephone number
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # an e-mail address
    r"|https?://\S+"  # a web form
    r"|\b\d{1,6}\s+\w+.*\b(?:street|st|avenue|ave|road|rd|boulevard|blvd|way|drive|dr|lane|ln|plaza|suite)\b",
    re.IGNORECASE,
)
MONTHS = "January February March April May June July August September October November December".split()


class IncidentInvalid(InvalidRecord):
    """The incident description is incomplete or inconsistent; ``problems`` lists each fault."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            "breach_incident",
            f"incident {source} refused, no notice written ({len(problems)} problem(s)):\n{lines}",
        )
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class BreachDate:
    """Item 6.c: a date, an estimated date, a range, or not determinable when the notice is given."""

    kind: Literal["date", "estimated", "range", "unknown"]
    start: date | None = None
    end: date | None = None

    @property
    def known(self) -> bool:
        return self.kind != "unknown" and self.start is not None

    def describe(self) -> str:
        """The time of the breach as a phrase completing "The breach occurred ..." (only when known)."""
        if not self.known or self.start is None:
            raise ValueError("an undetermined breach date has no 'occurred ...' phrase; see occurred()")
        if self.kind == "range" and self.end is not None and self.end != self.start:
            return f"between {long_date(self.start)} and {long_date(self.end)}"
        if self.kind == "estimated":
            return f"on or about {long_date(self.start)} (estimated)"
        return f"on {long_date(self.start)}"


@dataclass(frozen=True, slots=True)
class Incident:
    what_happened: str
    information_involved: tuple[str, ...]
    what_we_are_doing: str
    what_you_can_do: str
    department: str
    contact: str
    breach: BreachDate
    discovered: date
    delayed_by_law_enforcement: bool
    delay_reason: str
    notice_date: date
    incident: str


def long_date(day: date) -> str:
    """'April 2, 2026' whatever the process locale."""
    return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"


def _date(raw: object, key: str, problems: list[str]) -> date | None:
    """A TOML date (2026-04-02) or the same as a string; a time of day is refused."""
    if isinstance(raw, datetime):
        problems.append(f"{key} = {raw.isoformat()}: give a date without a time, e.g. {raw.date()}")
        return None
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            pass
    problems.append(f"{key} = {raw!r} is not a date: use YYYY-MM-DD, e.g. 2026-04-02")
    return None


def _words(text: str) -> list[str]:
    """The words of a text that carry letters ("201", "-" and "x" do not count as saying anything)."""
    return [w for w in re.findall(r"[^\W\d_][\w'.-]*", text) if len(w) > 1 or w.lower() in ("a", "i")]


def _placeholder(text: str) -> bool:
    return bool(_PLACEHOLDER.match(" ".join(text.lower().split()).strip(" .;:,")))


def _prose(key: str, text: str, problems: list[str], what: str | None = None) -> None:
    """A field a reader must learn from: not a placeholder, and at least ``MIN_WORDS[key]`` words."""
    label = what or key
    if _placeholder(text):
        problems.append(
            f"{label} = {text.strip()!r} is a placeholder; "
            f"write what the reader needs ({FIELDS.get(key, key)})"
        )
        return
    need = MIN_WORDS.get(key, 1)
    if len(_words(text)) < need:
        problems.append(
            f"{label} = {text.strip()!r} says too little: "
            f"write at least {need} words ({FIELDS.get(key, key)})"
        )


def _text(data: Mapping[str, object], key: str, problems: list[str]) -> str:
    raw = data.get(key)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        problems.append(f"missing required field {key} ({FIELDS[key]})")
        return ""
    if not isinstance(raw, str):
        problems.append(f"{key} must be text, not {type(raw).__name__}")
        return ""
    if key == "contact":
        if not _CONTACT.search(raw):
            problems.append(
                f"contact = {raw.strip()!r} does not say how to reach the department: "
                "give a telephone number, an e-mail address, a web address or a street address (item 6.a)"
            )
    else:
        _prose(key, raw, problems)
    return raw.strip()


def _items(data: Mapping[str, object], key: str, problems: list[str]) -> tuple[str, ...]:
    raw = data.get(key)
    if raw is None or raw == []:
        problems.append(f"missing required field {key} ({FIELDS[key]})")
        return ()
    if not isinstance(raw, list) or not all(isinstance(v, str) and v.strip() for v in raw):
        problems.append(f'{key} must be a list of non-empty texts, e.g. ["License plate numbers"]')
        return ()
    for item in raw:
        if _placeholder(item) or not any(len(w) >= 3 for w in _words(item)):
            problems.append(
                f"{key} item {item.strip()!r} does not name a kind of information; "
                'write e.g. "License plate numbers"'
            )
    if len({" ".join(v.lower().split()) for v in raw}) < len(raw):
        problems.append(f"{key} lists the same information twice")
    return tuple(v.strip() for v in raw)


def _breach_date(data: Mapping[str, object], problems: list[str]) -> BreachDate | None:
    given = [k for k in ("breach_date", "breach_date_estimated", "breach_date_from") if k in data]
    unknown = data.get("breach_date_unknown", False)
    if not isinstance(unknown, bool):
        problems.append(f"breach_date_unknown = {unknown!r}: use true or false")
        return None
    if "breach_date_to" in data and "breach_date_from" not in data:
        problems.append("breach_date_to needs breach_date_from (a date range has both ends)")
        return None
    if len(given) + unknown == 0:
        problems.append(f"missing required field breach_date ({FIELDS['breach_date']})")
        return None
    if len(given) + unknown > 1:
        named = given + (["breach_date_unknown"] if unknown else [])
        problems.append(f"give only one of {', '.join(named)} (item 6.c is one date, estimate or range)")
        return None
    if unknown:
        return BreachDate("unknown")
    if given == ["breach_date_from"]:
        if "breach_date_to" not in data:
            problems.append("breach_date_from needs breach_date_to (a date range has both ends)")
            return None
        start = _date(data["breach_date_from"], "breach_date_from", problems)
        end = _date(data["breach_date_to"], "breach_date_to", problems)
        if start is None or end is None:
            return None
        if end < start:
            problems.append(f"breach_date_to {end} is before breach_date_from {start}")
            return None
        return BreachDate("range", start, end)
    key = given[0]
    day = _date(data[key], key, problems)
    if day is None:
        return None
    return BreachDate("estimated" if key == "breach_date_estimated" else "date", day, day)


def parse_incident(data: Mapping[str, object], today: date, source: str = "<incident>") -> Incident:
    """Check every field at once; raise :class:`IncidentInvalid` naming each fault.

    Dates: none lies after ``today``; the breach did not start after it was discovered; the notice
    is not dated before the discovery.
    """
    problems: list[str] = []
    unknown_keys = sorted(set(data) - set(FIELDS) - OPTIONAL)
    for key in unknown_keys:
        problems.append(f"unknown field {key!r}: the fields are {', '.join([*FIELDS, *sorted(OPTIONAL)])}")
    what_happened = _text(data, "what_happened", problems)
    involved = _items(data, "information_involved", problems)
    doing = _text(data, "what_we_are_doing", problems)
    you_can_do = _text(data, "what_you_can_do", problems)
    department = _text(data, "department", problems)
    contact = _text(data, "contact", problems)
    breach = _breach_date(data, problems)
    discovered: date | None = None
    if "discovered" not in data:
        problems.append(f"missing required field discovered ({FIELDS['discovered']})")
    else:
        discovered = _date(data["discovered"], "discovered", problems)
    delayed = data.get("delayed_by_law_enforcement")
    if delayed is None:
        problems.append(
            f"missing required field delayed_by_law_enforcement ({FIELDS['delayed_by_law_enforcement']})"
        )
    elif not isinstance(delayed, bool):
        problems.append(f"delayed_by_law_enforcement = {delayed!r}: use true or false")
    reason = data.get("delay_reason", "")
    if not isinstance(reason, str):
        problems.append("delay_reason must be text")
        reason = ""
    if delayed is True and not reason.strip():
        problems.append(
            "delayed_by_law_enforcement = true needs delay_reason (which investigation, until when)"
        )
    elif delayed is True:
        _prose("delay_reason", reason, problems)
    notice = today if "notice_date" not in data else _date(data["notice_date"], "notice_date", problems)
    ref = data.get("incident", "")
    if not isinstance(ref, str):
        problems.append("incident (your reference, e.g. an incident number) must be text")
        ref = ""

    dated = {"discovered": discovered, "notice_date": notice}
    if breach is not None and breach.start is not None:
        dated = {"breach date": breach.start, "end of the breach date range": breach.end, **dated}
    for what, day in dated.items():
        if day is not None and day > today:
            problems.append(f"{what} {day} is in the future (today is {today})")
    if breach is not None and breach.start is not None and discovered is not None:
        if discovered < breach.start:
            problems.append(f"discovered {discovered} is before the breach began ({breach.start})")
    if discovered is not None and notice is not None and notice < discovered:
        problems.append(f"notice_date {notice} is before the breach was discovered ({discovered})")

    if problems or breach is None or discovered is None or notice is None:
        raise IncidentInvalid(source, problems)
    return Incident(
        what_happened=what_happened,
        information_involved=involved,
        what_we_are_doing=doing,
        what_you_can_do=you_can_do,
        department=department,
        contact=contact,
        breach=breach,
        discovered=discovered,
        delayed_by_law_enforcement=bool(delayed),
        delay_reason=reason.strip(),
        notice_date=notice,
        incident=ref.strip(),
    )


def retention_statement(profile: Profile, breach: BreachDate) -> str:
    """What the retention (P11-P13) says about the age of the data that can be involved."""
    hits = (
        "kept indefinitely"
        if profile.hit_retention_days is None
        else f"kept for {profile.hit_retention_days} days"
    )
    text = (
        f"The ALPR program ({profile.agency}) keeps each license plate read (the plate number, "
        f"photographs of the vehicle and plate, and the date, time and place of the read) for "
        f"{profile.read_retention_days} days and then purges it from all active and backup systems, "
        f"unless the read is tied to an active criminal investigation. Hit (alert) records are {hits}."
    )
    if breach.start is not None:
        oldest = breach.start - timedelta(days=profile.read_retention_days)
        last = breach.end or breach.start
        text += (
            f" The reads that may be involved were therefore made between {long_date(oldest)} and "
            f"{long_date(last)}, apart from reads held for an investigation."
        )
    else:
        text += (
            f" The reads that may be involved are therefore at most {profile.read_retention_days} days "
            "older than the breach, apart from reads held for an investigation."
        )
    return text


def council_memo_reminder(incident: Incident) -> str:
    ref = f" ({incident.incident})" if incident.incident else ""
    return (
        f"Reminder (P27): this unauthorized disclosure{ref} must also be reported to the City Council "
        "in an information memo (Councilmembers' memo of March 6, 2026, item 4). This reminder is "
        "not part of the notice sent to individuals."
    )


def _fill(text: str, width: int, initial_indent: str = "", subsequent_indent: str = "") -> str:
    """Wrap for the text form; never split a word (e.g. 'multi-factor') across lines."""
    return textwrap.fill(
        text,
        width,
        initial_indent=initial_indent,
        subsequent_indent=subsequent_indent,
        break_on_hyphens=False,
        break_long_words=False,
    )


def _inline(text: str) -> str:
    return " ".join(text.split())


def _delay(incident: Incident) -> str:
    if incident.delayed_by_law_enforcement:
        return f"Yes. {incident.delay_reason}"
    return "No, this notification was not delayed as a result of a law enforcement investigation."


def occurred(breach: BreachDate) -> str:
    """Item 6.c as a sentence that reads correctly whether or not the date is known."""
    if not breach.known:
        return "The date of the breach could not be determined when this notice was provided"
    return f"The breach occurred {breach.describe()}"


def _when(incident: Incident) -> str:
    return f"{occurred(incident.breach)}; it was discovered on {long_date(incident.discovered)}."


def render_notice(incident: Incident, profile: Profile, fmt: Format = "md") -> str:
    """The notice, items 1-6 in the policy's order: what is sent to individuals, nothing else (the
    Council memo reminder is for the sender: :func:`council_memo_reminder`)."""
    paragraphs_2 = [incident.what_happened, _when(incident)]
    if incident.delayed_by_law_enforcement:
        paragraphs_2.append(
            f"This notification was delayed by a law enforcement investigation. {incident.delay_reason}"
        )
    more = [
        ("a", f"{incident.department}. {_inline(incident.contact)}", None),
        ("b", "; ".join(incident.information_involved) + ".", None),
        ("c", _when(incident), None),
        ("i", _delay(incident), "c"),
        ("ii", _inline(incident.what_happened), "c"),
    ]
    bodies: list[tuple[str, list[str], list[str]]] = [
        (SECTIONS[0], paragraphs_2, []),
        (SECTIONS[1], [retention_statement(profile, incident.breach)], list(incident.information_involved)),
        (SECTIONS[2], [incident.what_we_are_doing], []),
        (SECTIONS[3], [incident.what_you_can_do], []),
    ]
    dated = f"Date of this notice: {long_date(incident.notice_date)}"
    if fmt == "md":
        out = [f"# {TITLE}", "", dated, ""]
        for heading, paragraphs, bullets in bodies:
            out += [f"## {heading}", ""]
            if bullets:
                out += [f"- {b}" for b in bullets] + [""]
            for para in paragraphs:
                out += [para.strip(), ""]
        out += [f"## {SECTIONS[4]}", ""]
        for key, value, parent in more:
            indent = "  " if parent else ""
            out.append(f"{indent}- **{key}. {MORE_INFO[key]}:** {value}")
        return "\n".join([*out, ""])
    if fmt == "txt":
        out = [TITLE, "=" * len(TITLE), "", dated, ""]
        for heading, paragraphs, bullets in bodies:
            out += [heading, "-" * len(heading), ""]
            if bullets:
                out += [_fill(b, 78, initial_indent="  - ", subsequent_indent="    ") for b in bullets]
                out.append("")
            for para in paragraphs:
                for chunk in para.strip().split("\n\n"):
                    out += [_fill(_inline(chunk), 78), ""]
        out += [SECTIONS[4], "-" * len(SECTIONS[4]), ""]
        for key, value, parent in more:
            lead = f"{'   ' if parent else ''}{key}. "
            out.append(_fill(f"{lead}{MORE_INFO[key]}: {value}", 78, subsequent_indent=" " * len(lead)))
        return "\n".join([*out, ""])
    raise ValueError(f"unknown format {fmt!r}: use one of {FORMATS}")


def load_incident(path: Path) -> dict[str, object]:
    """Read a TOML incident description; a missing or unparsable file is refused by name."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise IncidentInvalid(str(path), [f"no such file: {path}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise IncidentInvalid(str(path), [f"not valid TOML: {exc}"]) from exc
    except OSError as exc:
        raise IncidentInvalid(str(path), [f"cannot read it: {exc.strerror}"]) from exc


def write_notice(
    incident_path: Path, out: Path | None, fmt: Format, profile: Profile, today: date
) -> tuple[str, Incident]:
    """Check the incident, render it, and (with ``out``) replace ``out`` atomically.

    Returns the notice text and the incident. Nothing is written unless every check passes.
    """
    incident = parse_incident(load_incident(incident_path), today, str(incident_path))
    text = render_notice(incident, profile, fmt)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.chmod(tmp, 0o644)  # mkstemp makes it private; a notice is meant to be read
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return text, incident
