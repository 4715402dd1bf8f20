"""What a stated purpose may be (P5, P15, P16, P22): words, not people, so it is pure and shared by the
hot-list loaders, the query rules, holds, sharing and the vendor audit.

A text naming immigration enforcement or the investigation of reproductive health care is refused
(P5, P22; California SB 54 and SB 34, Civil Code 1798.90.55). A query needs a case or incident number
(P16). A purpose of one vague word ("investigation", "bolo") cannot be audited (P23).

How :func:`classify` reads a text, and why:

* People who want around a word filter write it another way, so the text is read in folded views:
  Unicode NFKC (full-width and styled letters), invisible characters removed, case and accents
  folded, look-alike Cyrillic and Greek letters read as Latin ("Іmmigration"), digits and symbols
  inside words read as letters ("1mmigration", "mifepri$tone"), and separators inside a word
  dropped ("I.C.E.", "I C E", "Im-mi-gra-tion", "ICE_ERO").  Statutes and forms (8 USC 1326, I-205,
  287(g)) are matched on a view whose digits are left alone, so folding digits never hides them.
* Terms cover English, Spanish, Tagalog, Vietnamese, Chinese, Korean and Russian, the federal
  statutes and forms, the agencies and their acronyms and the NCIC Immigration Violator File.
* A crime investigation may name such words: the agency impersonated ("posing as ICE", "ICE
  impersonation series"), the office or clinic robbed, burned or threatened, the immigrant defrauded
  or kidnapped. A term is therefore not a finding when a crime context makes it the victim, the
  target or the impersonated identity. A crime word alone neutralizes nothing: "Deported felon
  re-entry 8 USC 1326" and "ICE detainer for DUI suspect" are immigration enforcement.  Statutes,
  forms and non-Latin terms are never neutralized.
* Decided: human trafficking (PC 236.1) is a state crime with victims and is allowed; "human
  smuggling" and 8 USC 1324 (bringing in and harboring aliens) are federal immigration law and are
  refused, unless the smuggled people are named as the victims ("victims of human smuggling").
  A California citation ("written notice to appear", VC 40500) is not the immigration Notice to
  Appear (form I-862). The highway I-205 is not form I-205.
"""

from __future__ import annotations

import functools
import importlib
import operator
import re
import string
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import unquote_plus

__all__ = [
    "IMMIGRATION",
    "REPRODUCTIVE",
    "Finding",
    "case_numbers",
    "classify",
    "classify_fields",
    "forbidden_purpose",
    "is_vague",
    "normalize_purpose",
]

IMMIGRATION = "immigration"
REPRODUCTIVE = "reproductive"


@dataclass(frozen=True, slots=True)
class Finding:
    """Why a text reads as serving a forbidden purpose: the topic and the words that said so."""

    topic: str  # IMMIGRATION or REPRODUCTIVE
    term: str  # the triggering words as the user wrote them (normalized when they cannot be located)

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


# -- folding ---------------------------------------------------------------------------------------

#: Zero-width and other invisible characters that split a word without showing.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]"
)
#: Letters that look like Latin ones (after case folding): Cyrillic, Greek, and a few Latin variants.
_HOMOGLYPHS = str.maketrans(
    "авеёһіїјкмнорстухѕԁԛԝӏɡүѵԍԑ"  # Cyrillic
    "αβεηικμνορτυχζϲϳϒ"  # Greek
    "ıɪɩɑðđłøǀⅰօꓲꭵս",  # Latin variants, Armenian and Lisu look-alikes that NFKC keeps
    "abeehiijkmhopctyxsdqwigyvgeabehikmnoptyxzcjyiiiaddloiioiiu",
)
#: Digits read as letters inside a word ("1mmigration", "ab0rt1on").
_LEET = str.maketrans({"1": "i", "0": "o", "3": "e", "4": "a", "5": "s", "7": "t"})
_SYMBOL_LETTERS = (
    (re.compile(r"@(?=[^\W\d_])|(?<=[^\W\d_])@"), "a"),
    (re.compile(r"\$(?=[^\W\d_])|(?<=[^\W\d_])\$"), "s"),
    (re.compile(r"[|!](?=[^\W\d_])"), "i"),
)
_TOKEN = re.compile(r"[^\W_]+")
_SYMBOLS = re.compile(r"[@$|!]")
#: Separators people put inside a word ("I.C.E.", "Im-mi-gra-tion", "ICE_ERO"): a run of them
#: between two letters. (The separator comes first, the letter before it is checked behind: the
#: regex engine then jumps from separator to separator instead of trying every position.)
_SEPARATOR = r"[-._·'’‘`*~/\\+=]"
_INNER_SEPARATORS = re.compile(rf"{_SEPARATOR}(?<=[^\W\d_]{_SEPARATOR}){_SEPARATOR}*(?=[^\W\d_])")
#: A run of single letters is one spelled-out word ("I C E", "i.c.e.").
_SPELLED = re.compile(r"(?<!\S)[a-z](?: [a-z](?!\S))+")
_SPELLED_HINT = re.compile(r"\b[a-z] [a-z]\b")
#: The same in ASCII words padded with a space each side (a literal first character: faster).
_SPELLED_HINT_ASCII = re.compile(" [a-z] [a-z] ")
#: ASCII characters that are not letters or digits, as spaces: they separate words as _TOKEN does
#: (bytes.translate: five times str.translate's speed).
_NOT_ALNUM = bytes.maketrans(
    bytes(c for c in range(128) if not chr(c).isalnum()),
    b" " * sum(1 for c in range(128) if not chr(c).isalnum()),
)


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", kept)


def _plain(text: str) -> str:
    """NFKC, invisible characters gone, case folded: the view in which non-Latin terms are read."""
    text = unquote_plus(text) if "%" in text else text.replace("+", " ")  # unquote_plus, faster
    if text.isascii():
        return text.lower()
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).casefold()


def _latin(plain: str) -> str:
    """Accents stripped, look-alike letters read as Latin: statutes and forms are read here."""
    if plain.isascii():
        return plain
    return _strip_marks(plain).translate(_HOMOGLYPHS)


def _tokens(latin: str) -> list[str]:
    """The words of a text, digits and symbols inside a word read as letters."""
    if _SYMBOLS.search(latin):
        for pattern, letter in _SYMBOL_LETTERS:
            latin = pattern.sub(letter, latin)
    if latin.isascii():
        tokens = latin.encode("ascii").translate(_NOT_ALNUM).decode("ascii").split()
    else:
        tokens = _TOKEN.findall(latin)
    return [t if t.isalpha() or t.isdigit() else t.translate(_LEET) for t in tokens]


def _spelled(tokens: list[str]) -> str:
    """The words single-spaced, each run of single letters joined into one word ("i c e")."""
    words = " ".join(tokens)
    if _SPELLED_HINT_ASCII.search(f" {words} ") if words.isascii() else _SPELLED_HINT.search(words):
        words = _SPELLED.sub(lambda m: m.group(0).replace(" ", ""), words)
    return words


def _words(latin: str) -> str:
    """Single-spaced words, digits and symbols inside a word read as letters, spelled-out runs joined."""
    return _spelled(_tokens(latin))


def _single_letters(tokens: list[str]) -> tuple[bool, bool]:
    """Whether the words begin, and end, with a single letter (a run of them may go on in a text
    joined to them: see _classify_pair)."""
    if not tokens:
        return False, False
    first, last = tokens[0], tokens[-1]
    return len(first) == 1 and "a" <= first <= "z", len(last) == 1 and "a" <= last <= "z"


class _Views(NamedTuple):
    """What classify() scans for terms in a text: its words, and its words with the separators
    inside words dropped (the same when it has none), each with :func:`_single_letters`."""

    words: str
    words_edges: tuple[bool, bool]
    joined: str
    joined_edges: tuple[bool, bool]
    separated: bool  # separators inside words were dropped: ``joined`` is scanned too


@functools.lru_cache(maxsize=1024)  # a field's views serve its own check, then the fields' together
def _views(latin: str) -> _Views:
    tokens = _tokens(latin)
    words, edges = _spelled(tokens), _single_letters(tokens)
    if _INNER_SEPARATORS.search(latin) is None:
        return _Views(words, edges, words, edges, separated=False)
    joined = _tokens(_INNER_SEPARATORS.sub("", latin))
    return _Views(words, edges, _spelled(joined), _single_letters(joined), separated=True)


def _fold_char(char: str) -> str:
    folded = _latin(_plain(char)) if not char.isascii() else char.lower()
    return "".join(c for c in folded.translate(_LEET) if c.isalnum())


def _as_written(text: str, term: str) -> str:
    """The words of the original text that a normalized term came from ("Іmmigration", "I.C.E")."""
    original = unquote_plus(text)
    skeleton: list[str] = []
    where: list[int] = []
    for index, char in enumerate(original):
        for folded in _fold_char(char):
            skeleton.append(folded)
            where.append(index)
    wanted = "".join(_fold_char(c) for c in term)
    at = "".join(skeleton).find(wanted) if wanted else -1
    if at < 0:
        return term
    return original[where[at] : where[at + len(wanted) - 1] + 1]


# -- terms -----------------------------------------------------------------------------------------
# Patterns over the word views: lower-case ASCII words separated by single spaces, longest first.

_IMMIGRATION_WORDS = r"""
immigration\w* | immigrants? | immigrate[ds]? | [il]mmigra\w* | emigrants? | migrants? | migrant\w*
| inmigra\w* | migracion\w* | migratori[oa]s? | la migra | migra | imigra\w* | imigrasyon
| deport\w*(?<!deportment) | deportasyon | expulsion (?:order|proceeding\w*)
| removable (?:alien|noncitizen|immigrant|foreign\w*|person|individual)s?
| (?:expedited|final order of) removal | orders? of removal
| removal (?:orders?|proceeding\w*|targets?|operations?|flights?|hearings?|cases?|officers?|priorit\w*)
| (?:targets?|targeted|candidates?|slated|scheduled|marked) for (?:removal|deportation)
| (?:immigration|residency|legal|citizenship) status | status illegal
| enforcement and removal | voluntary departure | self deport\w*
| (?:illegal|criminal|undocumented|removable|deportable|excludable|inadmissible|resident|nonresident) aliens?
| aliens? | illegals
| illegal (?:immigra\w*|entry|entrant\w*|re ?entry|border crossing|crossing|status|migrants?)
| unlawful (?:presence|entry|re ?entry|status) | unlawfully present | out of status | overstay\w*
| visa (?:overstay\w*|violat\w*|status|expir\w*|revo\w*) | expired visas? | green cards? | daca
| undocumented | indocumentad[oa]s? | sin (?:papeles|documentos) | no papers | noncitizens? | non citizens?
| (?:inmigrantes?|extranjer[oa]s?|personas?|trabajador(?:es)?|un|una|los|las) ilegal(?:es)?
| ilegal na (?:dayuhan|imigrante) | walang (?:papeles|dokumento)
| estatus migratorio | permanencia ilegal | orden(?:es)? de (?:deportacion|expulsion|remocion)
| patrulla fronteriza | solicitantes? de asilo | asilad[oa]s?
| asylum\w* | asylee\w* | refugee status | naturali[sz]ation | citizenship (?:status|check|verification)
| proof of citizenship
| detainers? | administrative (?:arrest )?warrants? | warrants? of (?:removal|deportation)
| notice to appear | ntas?
| human smuggling | (?:people|person|persons|human|alien|migrant) smuggl\w*
| smuggling of (?:persons|people|humans|aliens|migrants)
| border (?:patrol|crossing|crossers?|jumpers?|lookouts?|wall|agents?) | crossed the border\w*
| entered without inspection
| wetbacks? | anchor bab(?:y|ies)
| ice | ero | hsi | cbp | usbp | uscis | dhs | eoir
| homeland security | customs and border protection | customs border protection
| secure communities | immigration violators? | ncic iv | iv file | ivf file
| di tru | nhap cu | truc xuat | khong giay to
"""
_REPRODUCTIVE_WORDS = r"""
abortion\w* | abortifacient\w* | abortiv[oa]s? | aborto\w* | abortar | aborsyon | pagpapalaglag | pha thai
| mifepristone | mifeprex | misoprostol | cytotec | plan b | morning after pills? | day after pills?
| emergency contracepti\w* | contracepti\w* | anticonceptiv\w* | birth control
| planned parenthood | reproductive\w* | salud reproductiva | family planning | planificacion familiar
| women s (?:health )?(?:clinics?|centers?|centres?) | womens (?:health )?(?:clinics?|centers?|centres?)
| (?:women s|womens) health | fertility clinics? | clinica de (?:aborto\w*|mujeres|la mujer)
| pregnancy terminations? | (?:terminat|abort)\w* (?:of )?(?:(?:a|her|the|their) )?pregnanc\w*
| interrupcion (?:voluntaria )?del embarazo
| (?:pildora|pastilla)s? del dia (?:siguiente|despues) | miscarriage\w* | stillbirth investigation\w*
"""


def _alternatives(words: str) -> str:
    return re.sub(r"\s*\|\s*", "|", "".join(words.split("\n")).strip())


#: One scan finds either topic; the group that matched names it.
_TERMS = re.compile(
    rf"(?<![^\W_])(?:(?P<{IMMIGRATION}>{_alternatives(_IMMIGRATION_WORDS)})"
    rf"|(?P<{REPRODUCTIVE}>{_alternatives(_REPRODUCTIVE_WORDS)}))(?![^\W_])"
)

# -- where a term can start ------------------------------------------------------------------------
# A word view holds words of [^\W_] separated by single spaces, so a term can only start where a word
# does. Most words cannot begin any term: a hot-list load classifies two texts per entry (its case
# field, then the fields together), and trying the whole alternation at every word of them was most
# of a full feed sync. The first characters a term can begin with are derived from _TERMS itself
# (never kept by hand), so the scan below finds exactly what _TERMS.finditer finds.

#: The characters of an ASCII word view: lower-case letters and digits, words separated by spaces.
_ASCII_VIEW_CHARS = frozenset(string.ascii_lowercase + string.digits + " ")
_ASCII_VIEW = re.compile(r"[a-z0-9 ]*")
_PREFIX = 3  # characters of a term's start that a word must share with it


# The stdlib's own reading of a pattern (re._parser), which the term pattern's derived facts below
# (_term_starts, _most_spaces) walk; a construct they do not follow raises _NotUnderstood.
_RE_PARSER: Any = importlib.import_module("re._parser")
_RE_OPS: Any = importlib.import_module("re._constants")
_WORD_CHARS = frozenset(c for c in _ASCII_VIEW_CHARS if c.isalnum() or c == "_")
_DIGIT_CHARS = frozenset(c for c in _ASCII_VIEW_CHARS if c.isdigit())
_SPACE_CHARS = frozenset(c for c in _ASCII_VIEW_CHARS if c.isspace())
#: Each category of a character class (\w, \d, \s and their negations) as characters of an ASCII view.
_CATEGORIES: dict[Any, frozenset[str]] = {
    _RE_OPS.CATEGORY_WORD: _WORD_CHARS,
    _RE_OPS.CATEGORY_DIGIT: _DIGIT_CHARS,
    _RE_OPS.CATEGORY_SPACE: _SPACE_CHARS,
    _RE_OPS.CATEGORY_NOT_WORD: _ASCII_VIEW_CHARS - _WORD_CHARS,
    _RE_OPS.CATEGORY_NOT_DIGIT: _ASCII_VIEW_CHARS - _DIGIT_CHARS,
    _RE_OPS.CATEGORY_NOT_SPACE: _ASCII_VIEW_CHARS - _SPACE_CHARS,
}


class _NotUnderstood(Exception):
    """A construct of a pattern that a reading of it here does not follow."""


def _class_chars(items: Any) -> set[str]:
    """The characters of an ASCII view that a character class ([...], parsed) matches."""
    ops = _RE_OPS
    out: set[str] = set()
    negate = False
    for op, arg in items:
        if op is ops.NEGATE:
            negate = True
        elif op is ops.LITERAL:
            out.add(chr(arg))
        elif op is ops.RANGE:
            out.update(chr(c) for c in range(arg[0], arg[1] + 1))
        elif op is ops.CATEGORY and arg in _CATEGORIES:
            out |= _CATEGORIES[arg]
        else:
            raise _NotUnderstood
    return set(_ASCII_VIEW_CHARS - out) if negate else out & _ASCII_VIEW_CHARS


def _term_starts(pattern: str, flags: int, length: int) -> frozenset[str] | None:
    """Every string of up to ``length`` characters of an ASCII view that a match of ``pattern`` can
    begin with (the whole match when shorter), or None when a construct of the pattern is not
    understood here (then every word is tried). Zero-width assertions are ignored, which can only
    add starts: the set is a superset, never a subset, of what can really match."""
    ops = _RE_OPS

    def sequence(items: Any, room: int) -> set[str]:
        starts = {""}
        for op, arg in items:
            longer: set[str] = set()
            for start in starts:
                if len(start) >= room:
                    longer.add(start)
                else:
                    longer.update(start + more for more in item(op, arg, room - len(start)))
            starts = longer
        return starts

    def item(op: Any, arg: Any, room: int) -> set[str]:
        if op is ops.LITERAL:
            return {chr(arg)} & _ASCII_VIEW_CHARS
        if op is ops.NOT_LITERAL:
            return set(_ASCII_VIEW_CHARS - {chr(arg)})
        if op is ops.ANY:
            return set(_ASCII_VIEW_CHARS)
        if op is ops.IN:
            return _class_chars(arg)
        if op is ops.CATEGORY and arg in _CATEGORIES:
            return set(_CATEGORIES[arg])
        if op is ops.BRANCH:
            return set().union(*(sequence(branch, room) for branch in arg[1]))
        if op is ops.SUBPATTERN:
            return sequence(arg[-1], room)
        if op in (ops.AT, ops.ASSERT, ops.ASSERT_NOT):
            return {""}  # zero-width: ignoring it only allows more
        if op in (ops.MAX_REPEAT, ops.MIN_REPEAT, ops.POSSESSIVE_REPEAT):
            low, high, body = arg
            unit = sequence(body, room)
            found: set[str] = set()
            current, count = {""}, 0
            while True:
                if count >= low:
                    found |= current
                if count == high:
                    return found
                following = {s if len(s) >= room else (s + u)[:room] for s in current for u in unit}
                if following == current:  # every further repetition gives the same starts
                    return found | current
                current, count = following, count + 1
        raise _NotUnderstood

    if flags & re.IGNORECASE:
        return None  # a literal would then match other characters than its own
    try:
        return frozenset(sequence(_RE_PARSER.parse(pattern, flags).data, length))
    except _NotUnderstood:
        return None


_STARTS = _term_starts(_TERMS.pattern, _TERMS.flags, _PREFIX)
#: What the word a term starts with begins with: the start itself, or its first word when the start
#: holds a space ("la " of "la migra"). A term covers whole words (its lookarounds), so a word whose
#: first three characters (all of it when shorter) are not here begins none.
_KEYS = None if _STARTS is None else frozenset(start.split(" ")[0] for start in _STARTS)
_KEY = operator.itemgetter(slice(0, _PREFIX))


def _most_spaces(pattern: str, flags: int) -> int | None:
    """The most spaces a match of ``pattern`` can hold, or None when unbounded or a construct is not
    understood here. Lookarounds count as if they matched text: the bound can only grow."""
    ops = _RE_OPS

    def most(items: Any) -> int:
        total = 0
        for op, arg in items:
            if op is ops.LITERAL:
                total += arg == ord(" ")
            elif op in (ops.NOT_LITERAL, ops.ANY):
                total += 1
            elif op is ops.IN:
                total += " " in _class_chars(arg)
            elif op is ops.BRANCH:
                total += max(most(branch) for branch in arg[1])
            elif op is ops.SUBPATTERN:
                total += most(arg[-1])
            elif op in (ops.ASSERT, ops.ASSERT_NOT):
                total += most(arg[1])
            elif op in (ops.MAX_REPEAT, ops.MIN_REPEAT, ops.POSSESSIVE_REPEAT):
                _low, high, body = arg
                inner = most(body)
                if inner and high is ops.MAXREPEAT:
                    raise _NotUnderstood
                total += inner * high
            elif op is not ops.AT:
                raise _NotUnderstood
        return total

    try:
        return most(_RE_PARSER.parse(pattern, flags).data)
    except _NotUnderstood:
        return None


#: A field is quiet when no term can start in its last words (_quiet): none then reaches the next.
_MOST_SPACES = _most_spaces(_TERMS.pattern, _TERMS.flags)


def _term_matches(view: str) -> Iterator[re.Match[str]]:
    """``_TERMS.finditer(view)``, trying only the words where a term can start (_term_starts): in
    an ASCII view a term starts at 0 or after a space (its lookbehind), so nothing is skipped."""
    if _KEYS is None or _ASCII_VIEW.fullmatch(view) is None:
        yield from _TERMS.finditer(view)
        return
    words = view.split(" ")
    if _KEYS.isdisjoint(map(_KEY, words)):  # most texts: no word begins a term
        return
    at = end = 0
    for word in words:
        if at >= end and _KEY(word) in _KEYS:  # finditer's matches never overlap
            found = _TERMS.match(view, at)
            if found is not None:
                end = found.end()
                yield found
        at += len(word) + 1


#: Statutes, forms and file codes, on the accent-folded view whose digits are untouched.
_STATUTES = re.compile(
    r"(?<![\w.])8\W{0,3}u\W{0,2}s\W{0,2}c(?:\W{0,2}a)?\W{0,3}(?:§+|sec(?:tion)?s?\.?|ss\.?)?\W{0,3}\d{3,4}"
    r"|(?<![\w.])8\W{0,3}c\W{0,2}f\W{0,2}r\W{0,3}(?:§+|part|sec(?:tion)?\.?)?\W{0,3}\d{3}"
    r"|\btitle\W+8\W+(?:of\W+the\W+)?(?:u\W{0,2}s\W{0,2}c|united states code|u\W{0,2}s\W+code)"
    r"|\b18\W{0,3}u\W{0,2}s\W{0,2}c\W{0,3}(?:§+\W{0,3})?1546\b"
    r"|\bu\W{0,2}s\W{0,2}c\W{0,3}(?:§+\W{0,3})?13(?:2[3-6]|57)\b"
    r"|\bina\W{0,3}(?:§+|sec(?:tion)?\.?)?\W{0,3}\d{3}\b"
    r"|\b287\W{0,2}\(?\W{0,2}g\b\W{0,2}\)?"
    r"|\b212\W{0,2}\(\W{0,2}a\W{0,2}\)\W{0,2}\(\W{0,2}\d"
    r"|\b(?:form\W+)?i\W{0,2}(?:200|203|213|216|247\W?[adnx]?|286|862|94|130|485|551|589|765|797[a-z]?)\b"
    r"|\bi\W{0,2}205\b"
)
#: Every statute above starts with one of these words: most texts skip the long pattern.
#: (Each starts with its first character and looks behind it, so that the regex engine jumps from
#: one of those characters to the next instead of trying every position.)
_STATUTE_HINT = re.compile(
    r"1(?<![\w.]1)8\W{0,3}[uc]|8(?<![\w.]8)\W{0,3}[uc]|t(?<![\w.]t)itle|u(?<![\w.]u)\W{0,2}s\W{0,2}c"
    r"|i(?<![\w.]i)(?:na|\W{0,2}\d)|2(?<![\w.]2)(?:87|12)|f(?<![\w.]f)orm"
)
#: Immigration and reproductive terms of the other scripts, on the NFKC case-folded view.
_SCRIPT_TERMS = (
    (
        IMMIGRATION,
        re.compile(
            r"移民|驱逐|驅逐|遣返|递解|遞解|非法入境|无证|無證|偷渡|国土安全|國土安全"
            r"|이민(?:국|자|법|단속|세관|청|관|신분|(?![가-힣]))|추방|불법\s?체류|미등록\s?이주|서류\s?미비|국토안보"
            r"|иммигра\w*|мигрант\w*|депорт\w*|нелегал\w*"
        ),
    ),
    (
        REPRODUCTIVE,
        re.compile(
            r"堕胎|墮胎|人工流产|人工流產|流产药|流產藥|中絶|计划生育|計劃生育|낙태|임신\s?중절|аборт\w*"
        ),
    ),
)

# -- what a term is not ----------------------------------------------------------------------------

#: "ice" the frozen water or the drug, not the agency.
_ICE_NOT_AGENCY_AFTER = re.compile(
    r" (?:cream\w*|rink\w*|skat\w*|hockey|machines?|makers?|chests?|cubes?|storms?|age|berg\w*|picks?"
    r"|buckets?|box\w*|plant|house|chips?|road\w*|patch\w*|bath|packs?|dispensers?|vending|tea|coffee"
    r"|water|sheets?|fishing|sculpture\w*|pipe|baggies?|dealer\w*|dealing|sales|crystals?)\b"
    r"| on (?:the )?(?:road\w*|bridges?|freeway|highway|overpass|pavement|windshield)\b"
)
_ICE_NOT_AGENCY_BEFORE = re.compile(
    r"\b(?:dry|black|shaved|crushed|bagged|bags? of|blocks? of|thin|crystal|meth|methamphetamine"
    r"|narcotics?|drugs?|possession of|sales? of|selling|grams? of|ounces? of|oz of|pounds? of"
    r"|gram|ounce|oz|lb|lbs|hs 1137\d|11377|11378|11379) $"
)
_NOT_IMMIGRATION_BEFORE = {
    "removal": re.compile(
        r"\b(?:vehicle|tow|towing|graffiti|tree|debris|snow|trash|abatement|sign|property) $"
    ),
    "notice to appear": re.compile(
        r"\b(?:written|signed|promise|citation|cite|cited|traffic|vc|40500|misdemeanor|issued a|issued) $"
    ),
    "detainer": re.compile(r"\b(?:agreement on|interstate) $"),
}
_NOT_IMMIGRATION_AFTER = {
    "notice to appear": re.compile(r" (?:in court|citation|cite|for (?:a )?(?:traffic|vc|misdemeanor))\b"),
}
#: Interstate 205 (Tracy), not the removal warrant form I-205.
_I205_HIGHWAY = re.compile(
    r"\b(?:on|off|via|to|from|take|took|hwy|highway|fwy|freeway|interstate|along) \W*i\W{0,2}205\b"
    r"|\bi\W{0,2}205\W{0,2}(?:n|s|e|w|nb|sb|eb|wb|north\w*|south\w*|east\w*|west\w*|fwy|freeway"
    r"|exit\w*|ramps?|on ?ramp|off ?ramp|at|near|corridor|interchange|overpass|mile)\b"
)

#: A crime context that makes the next term its victim, target or impersonated identity.
_FILLER = (
    r"(?:a|an|the|of|as|at|on|to|be|by|in|into|from|federal|us|u s|local|officers?|agents?|law|de|del|la|el"
    r"|los|las|un|una|contra|en|agentes?|oficina|clinica|immigration|ice|ero|hsi|cbp|dhs|border|patrol"
    r"|purported|alleged|self described|so called|his|her|their|its|against|targeting|near|outside"
    r"|is|was|are|were|calls?|letters?|messages?|emails?|fired|nurses?|staff|workers?|employees?)"
)
_NEUTRAL_BEFORE = re.compile(
    r"\b(?:impersonat\w*|posing as|poses as|posed as|pose as|pretend\w*(?: to be)?|claim\w* to be|fake|phony"
    r"|bogus|false|counterfeit|imposters?|impostors?|sham|fraud\w*|scam\w*|defraud\w*|swindl\w*|extort\w*"
    r"|rob|robs|robbed|robber\w*|burglar\w*|assault\w*|attack\w*|threat\w*|vandali\w*|arson\w*|firebomb\w*"
    r"|bomb\w*|shoot\w*|shots?|kidnap\w*|missing|stalk\w*|harass\w*|torch\w*|break ins?|broke into"
    r"|breaking into|broken into|trespass\w*|blockad\w*|obstruct\w*|intimidat\w*|murder\w*|homicide"
    r"|stabb\w*|carjack\w*"
    r"|theft|thefts|stole|stolen|smash\w*|battery|hate crimes?|face act|victim\w*|blocking|blocked|"
    r"robo|asalto|fraude|estafa\w*|suplantacion|haciendose pasar por|se hizo pasar por|falsos?|falsas?"
    r"|victimas?|incendio|amenazas?)"
    rf"(?: {_FILLER}){{0,5}} $"
)
_NEUTRAL_AFTER = re.compile(
    r"^(?: (?:clinics?|offices?|law|attorneys?|attorney s|lawyers?|centers?|centres?|buildings?|facilit\w*"
    r"|staff|employees?|workers?|officers?|agents?|uniforms?|badges?|vests?|jackets?|raids?|providers?"
    r"|doctors?|patients?|volunteers?|escorts?|ice|ero|hsi|cbp|dhs|consultants?|notarios?|services|preparers?"
    r"|farmworkers?|laborers?|day laborers?|families|family|man|woman|men|women|couple|students?|drivers?"
    r"|s|federal|falso|falsos|falsa|oficina|clinica|agente|agentes)){0,3}"
    r" (?:impersonat\w*|imposters?|impostors?|robber\w*|robbed|burglar\w*|arson\w*|vandal\w*|break ins?"
    r"|firebomb\w*|bombing\w*|shooting\w*|attack\w*|assault\w*|threats?|threatened|intimidat\w*|harass\w*"
    r"|blockade\w*|victims?|defrauded|scammed|extorted|kidnapp\w*|fraud|frauds|scams?|swindl\w*"
    r"|falso|falsos|robo|asalto|estafa\w*|fraude|beaten|stabbed|shot|attacked|assaulted|threatened"
    r"|held (?:for ransom|hostage|captive)|stalked)\b"
)
#: An agency acronym followed by a number is that agency's case or file number (P22: case fields).
_AGENCY_ACRONYMS = frozenset({"ice", "ero", "hsi", "cbp", "usbp", "uscis", "dhs", "eoir"})
_NUMBER_NEXT = re.compile(r" \d")
#: A fraud named right after a term is the person's ("immigration fraud", visa fraud): only a
#: consultant's, notario's or preparer's scheme (matched above with its noun) makes immigrants victims.
_FRAUD_BY_THE_PERSON = re.compile(r"^ (?:fraud|frauds|scams?|fraude|estafa\w*)\b")


def _excused(term: str, before: str, after: str) -> bool:
    """Whether the words around a term make it something other than a forbidden purpose."""
    if term in _AGENCY_ACRONYMS and _NUMBER_NEXT.match(after):
        return False  # "ERO-26-000001": that agency's own case number, whatever words precede it
    if term == "ice" and (_ICE_NOT_AGENCY_AFTER.match(after) or _ICE_NOT_AGENCY_BEFORE.search(before)):
        return True
    for head, pattern in _NOT_IMMIGRATION_BEFORE.items():
        if term.startswith(head) and pattern.search(before):
            return True
    for head, pattern in _NOT_IMMIGRATION_AFTER.items():
        if term.startswith(head) and pattern.match(after):
            return True
    if _NEUTRAL_AFTER.match(after):
        return not _FRAUD_BY_THE_PERSON.match(after)
    return bool(_NEUTRAL_BEFORE.search(before))


def _find_words(view: str) -> tuple[str, str] | None:
    """The first term of a word view that no context excuses: (topic, term as normalized)."""
    for found in _term_matches(view):
        term = found.group(0)
        before = view[max(0, found.start() - 120) : found.start()]
        after = view[found.end() : found.end() + 120]
        if not _excused(term, before, after):
            return found.lastgroup or IMMIGRATION, term
    return None


def _find_statute(latin: str) -> str | None:
    """The first immigration statute, form or file code of the text (never excused but I-205 the road)."""
    if not _STATUTE_HINT.search(latin):
        return None
    for found in _STATUTES.finditer(latin):
        if (
            "205" in found.group(0)
            and not found.group(0).startswith("form")
            and _I205_HIGHWAY.search(latin[max(0, found.start() - 20) : found.end() + 20])
        ):
            continue
        return found.group(0).strip()
    return None


@functools.lru_cache(maxsize=65_536)  # a pure function of the text; feed reasons repeat a lot
def classify(text: str | None) -> Finding | None:
    """Whether a text (a purpose, a case field, a hot-list reason or list name, an agency name) serves
    immigration enforcement or the investigation of reproductive health care (P5, P22), and which words
    say so. See the module docstring for how texts are folded and which crime contexts excuse a term."""
    if not text:
        return None
    plain = _plain(text)
    latin = _latin(plain)
    statute = _find_statute(latin)
    if statute is not None:
        return Finding(IMMIGRATION, _as_written(text, statute))
    if not plain.isascii():
        for topic, pattern in _SCRIPT_TERMS:
            found = pattern.search(plain)
            if found:
                return Finding(topic, found.group(0))
    views = _views(latin)
    result = _find_words(views.words)
    if result is None and views.separated:
        result = _find_words(views.joined)
    if result is None:
        return None
    topic, term = result
    return Finding(topic, _as_written(text, term))


def classify_fields(*texts: str | None) -> Finding | None:
    """:func:`classify` over the fields of one request (purpose, crime type, case number; an entry's
    reason and case): each field on its own, so a crime word in one field cannot excuse a term in
    another, then all together, so a term split across fields is still found."""
    if len(texts) == 2 and _quiet_pair(*texts):
        return None
    for text in texts:
        found = classify(text)
        if found is not None:
            return found
    present = [t for t in texts if t]
    if len(present) == 2 and all(t.isascii() and "%" not in t for t in present):
        return _classify_pair(*present)
    return classify(" ".join(present))


def _classify_pair(first: str, second: str) -> Finding | None:
    """``classify(f"{first} {second}")`` for two ASCII texts without URL escapes (a hot-list entry's
    reason and case: two per entry, the second unique), from the views of each that their own
    classify() just made. Each step of the reading stays within a word or looks one character
    across a space, so the text's folded view is theirs joined by a space, and so are its word views
    unless a run of single letters ("i c e") crosses from one into the other: then the text is read
    whole. Statutes are looked for in the whole text, and terms and their contexts in the whole
    word views, as classify() does."""
    text = f"{first} {second}"
    latin = _plain(text)
    statute = _find_statute(latin)
    if statute is not None:
        return Finding(IMMIGRATION, _as_written(text, statute))
    one, two = _views(_plain(first)), _views(_plain(second))
    if (one.words_edges[1] and two.words_edges[0]) or (one.joined_edges[1] and two.joined_edges[0]):
        return classify(text)
    result = _find_words(_spaced(one.words, two.words))
    if result is None and (one.separated or two.separated):
        result = _find_words(_spaced(one.joined, two.joined))
    if result is None:
        return None
    topic, term = result
    return Finding(topic, _as_written(text, term))


def _quiet_pair(first: str | None, second: str | None) -> bool:
    """Whether two ASCII fields without URL escapes (a feed entry's reason, which repeats, and its
    case, which is unique) are proven to name nothing, each alone and together: what the second's
    classify() and :func:`_classify_pair` would conclude, with one cheap look at the second. False:
    read them the long way (that decides; nothing is concluded here).

    The first field is quiet (:func:`_quiet`, remembered per text). The statute hint is searched in
    the fields together: a hint in the second alone is one there too (the space before it reads as
    the start of a text). Every word of the second's word views, and of the words a run of single
    letters makes with them, is a piece of its letters and digits run together, digits read as
    letters (_FOLD), so when no start of a term (_KEYS) is in that, no word of them begins a term
    (_term_matches). None that starts in the first reaches the second (_quiet), and the first does
    not end with a single letter, so the fields together hold no term either."""
    if _KEY_INSIDE is None or not (first and second and second.isascii()):
        return False
    if not _quiet(first) or not _SYMBOLS_OR_ESCAPES.isdisjoint(second):
        return False
    if _STATUTE_HINT.search(f"{first} {second}".replace("+", " ").lower()):
        return False
    return _KEY_INSIDE.search(second.lower().encode("ascii").translate(_FOLD, _NOT_FOLDED)) is None


#: Characters that make a text's words other than its letters and digits (@ read as "a"), or that
#: escape others (%): a second field holding one is read the long way.
_SYMBOLS_OR_ESCAPES = frozenset("@$|!%")
#: An ASCII text's letters and digits run together, digits read as letters (_LEET): bytes.translate.
_FOLD = bytes.maketrans(bytes(_LEET), bytes(map(ord, _LEET.values())))
_NOT_FOLDED = bytes(c for c in range(128) if not chr(c).isalnum())


def _any_of(keys: frozenset[str]) -> re.Pattern[bytes]:
    """A pattern matching any of ``keys`` anywhere, its alternatives grouped by first letter: the
    engine tries a group only at a position holding its letter (a flat alternation of 113 keys
    tried each at every position cost four times as much)."""
    rests: dict[str, list[str]] = {}
    for key in sorted(keys):
        rests.setdefault(key[0], []).append(re.escape(key[1:]))
    return re.compile("|".join(f"{first}(?:{'|'.join(r)})" for first, r in rests.items()).encode("ascii"))


#: Any start of a term, anywhere (None: the starts are unknown or hold a digit; no shortcut).
_KEY_INSIDE = (
    _any_of(_KEYS)
    if _KEYS is not None and _MOST_SPACES is not None and all(k.isascii() and k.isalpha() for k in _KEYS)
    else None
)


@functools.lru_cache(maxsize=4096)  # feed reasons repeat: one look per distinct text
def _quiet(text: str) -> bool:
    """Whether an ASCII text without URL escapes names nothing, holds no term at all (an excused
    term's context would read on into a field after it), does not end with a single letter, and
    its last words begin no term (a term holds at most _MOST_SPACES spaces, so one starting earlier
    ends within the text)."""
    if not text.isascii() or "%" in text or classify(text) is not None:
        return False
    assert _KEYS is not None and _MOST_SPACES is not None  # noqa: S101 (_KEY_INSIDE is set)
    views = _views(text.replace("+", " ").lower())
    if views.words_edges[1] or views.joined_edges[1]:
        return False
    for view in (views.words, views.joined):
        words = view.split(" ")
        if not _KEYS.isdisjoint(map(_KEY, words[max(0, len(words) - _MOST_SPACES) :])):
            return False
        if next(_term_matches(view), None) is not None:
            return False
    return True


def _spaced(first: str, second: str) -> str:
    return f"{first} {second}" if first and second else first or second


def forbidden_purpose(*texts: str | None) -> str | None:
    """The rule the fields of a purpose break (P22), naming the words that triggered it, or None."""
    found = classify_fields(*texts)
    return found.message if found else None


# -- case numbers and vague purposes ---------------------------------------------------------------

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
