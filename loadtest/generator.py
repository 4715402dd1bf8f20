"""Camera traffic for load tests: realistic plate reads that know their own ground truth.

Pure Python, no Kafka. :class:`HotlistFixture` is the hot list the traffic runs against,
:class:`Traffic` streams the reads (an iterator: 3 M reads never sit in memory at once) and
records, for each read it has yielded, every alert the project's matcher must raise for it
(:meth:`Traffic.expected`), so a load run measures recall and false alerts, not only speed.

Calibration (public numbers; ``python -m loadtest.generator`` prints what the model gives)
------------------------------------------------------------------------------------------
* Plate recurrence, from the Seattle PD week (93,490 reads over 9 devices; 68,188 distinct
  plates; 16% of plates seen more than once, making 39% of reads; at most 169 reads of one
  plate; 14% of plates seen by more than one device). Model: a read is a passing plate, never
  seen again, with probability ``TRANSIENT_SHARE`` (0.52); otherwise one of a fixed pool of
  ``POOL_SIZE`` (25,000) regular plates (commuters, vans) drawn with Zipf weights
  rank^-``POOL_ZIPF`` (0.52): a least-squares fit of the expected distinct plates, share seen
  more than once, their share of reads and the top plate's count. A Seattle-sized week (9
  cameras at 93,490 reads/week, daily profile, seed 5) gives 92,735 reads, 67,256 distinct
  plates, 15.7% seen more than once making 38.9% of reads, a top plate of 159 reads, and 14.1%
  seen by more than one camera (other seeds: top plate 145-170). Cameras are drawn
  independently of plates, which at 9 cameras lands on Seattle's 14%; at 5,000 cameras nearly
  every recurring plate is seen by several. The pool does not grow: the shares are calibrated
  per ~93 k reads, and a longer sample sees the regulars more often, as a longer week would.
* Gaps between one camera's reads (Seattle's busiest device): median ~2 s, p90 ~19 s, ~18% of
  reads in the same second as the previous one (reads come in platoons). Model: log-normal
  gaps with sigma = ln(19/2) / z(0.90) = 1.757 (the p90/median ratio), which at a 2 s median
  puts ~20% of reads in the previous read's second (measured on one camera with a 9.4 s mean
  gap: median 2.03 s, p90 18.8 s, 19.7% in the same second). The shape is kept and the scale set per
  camera so the network mean is ``rate``: at 5,000 cameras and 5,000 reads/s the average
  camera's mean gap is 1 s (median 0.21 s); a camera with a 9.4 s mean gap is Seattle's busiest.
  Each camera starts in its stationary state (first read after U x a length-biased gap), so
  the rate holds from the first second.
* Camera activity: log-normal weights (sigma 1): a few heavy cameras, most light.
* Hits: Irvine saw 0.03% of reads hit over six years; deployments report 0.03-0.5%. The default
  ``hit_rate`` of 0.1% is a load-test knob. Misreads: ``ocr_error_rate`` of all reads, hits
  included; 70% are confusable substitutions (one position, two in 30% of them), 30% drop a
  character.
* ``daily_profile``: hourly multipliers of San José local time, from ~0.1x the mean at 3 am
  to ~1.9x at 5 pm, normalized to a mean of 1 over 24 h, so ``rate`` stays the daily mean
  (the peak is ~1.9 x ``rate``).

Ground truth
------------
Exact entries have unique canonical keys (under the default OCR classes) and are in force and
fresh (``synced_at=now``; reads must be captured within 24 h of ``now``, P4). Plates that are
not hits are regenerated until their canonical key is not listed and fits no partial pattern.
A hit is a listed plate (or a plate filled into a partial pattern), possibly misread; its
expected alerts are computed by the matcher's own rules (canonical lookup, exact or within
``max_substitutions`` differing positions; partial patterns through the kernel's
``alpr_native.Patterns`` of :func:`~streams.matching.matcher.pattern_key`), so a read that
also fits a partial pattern expects both alerts. A hit whose misread the matcher cannot catch (a
dropped character) is reported by :meth:`Traffic.missed`, never by :meth:`Traffic.expected`.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import math
import random
import string
import time
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from statistics import NormalDist, median, quantiles
from typing import Any
from zoneinfo import ZoneInfo

from alpr_native import Patterns

from streams.cameras.registry import Camera
from streams.codec import entry_to_dict
from streams.hotlists.model import HotlistEntry, Person
from streams.matching.matcher import EXACT, OCR_EQUIVALENT, PARTIAL, pattern_key
from streams.matching.normalize import OcrClasses, differing_positions
from streams.settings import DEFAULT_OCR_CLASSES

__all__ = [
    "Expected",
    "HotlistFixture",
    "Missed",
    "Traffic",
    "TrafficShape",
    "gap_stats",
    "plate_stats",
]

Json = dict[str, Any]

GAP_SIGMA = math.log(19 / 2) / NormalDist().inv_cdf(0.9)
CAMERA_SIGMA = 1.0
TRANSIENT_SHARE = 0.52
POOL_SIZE = 25_000
POOL_ZIPF = 0.52
DROP_SHARE = 0.3
TWO_SUBSTITUTIONS = 0.3
SAN_JOSE = (37.3382, -121.8863)
LOCAL_TZ = ZoneInfo("America/Los_Angeles")
_RAW_HOURLY = (
    *(0.30, 0.18, 0.12, 0.10, 0.14, 0.35, 0.80, 1.45, 1.70, 1.30, 1.15, 1.20),
    *(1.30, 1.30, 1.40, 1.60, 1.80, 1.85, 1.45, 1.05, 0.85, 0.70, 0.55, 0.42),
)
HOURLY = tuple(m * 24 / sum(_RAW_HOURLY) for m in _RAW_HOURLY)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_GAP_BITS = 16
_WINDOW_READS = 16_384  # reads merged and sorted per window of (operational) time
_LETTERS = string.ascii_uppercase
_DIGITS = string.digits
_ALNUM = _LETTERS + _DIGITS
_FIRST = "123456789"
_STANDARD = "DLLLDDD"  # California's standard sequence, e.g. 7ABC123
_CONFIDENT = tuple(round(0.80 + 0.19 * i / 255, 3) for i in range(256))
_UNSURE = tuple(round(0.55 + 0.30 * i / 255, 3) for i in range(256))
_LIST_MIX = (
    *(("stolen_vehicle", "Stolen vehicle (NCIC VEH)"),) * 11,
    *(("stolen_plate", "Stolen license plate (NCIC LIC)"),) * 5,
    *(("wanted_person", "Wanted person: felony warrant, registered owner"),) * 2,
    *(("missing_person", "Missing person associated with vehicle"),) * 2,
)
_ORIS = ("CA0431400", "CA0430000", "CA0010900", "CA0190000", "CA0380100", "CA0410000", "CA0300000")
_BOLOS = (
    ("bolo", "PC 211 robbery suspect vehicle"),
    ("felony_vehicle", "PC 245(a)(1) assault with a deadly weapon, suspect vehicle"),
    ("bolo", "PC 215 carjacking series, vehicle seen leaving"),
    ("felony_vehicle", "VC 20001 hit and run with injury"),
)
_OFFICER = Person("Officer Dana Reyes", "4417", "Southern Division patrol")
_LIEUTENANT = Person("Lt. Marcus Hale", "2210", rank="lieutenant")


@dataclass(frozen=True)
class TrafficShape:
    cameras: int = 5000
    rate: float = 5000.0  # reads/s over the whole network (mean)
    hit_rate: float = 0.001  # share of reads that are of a listed plate (exact or misread)
    ocr_error_rate: float = 0.02  # share of reads with OCR errors (substitution or a dropped character)
    partial_share: float = 0.1  # share of hits that are partial-pattern hits
    seed: int = 1
    daily_profile: bool = False  # False: constant rate; True: a 24 h profile (quiet nights, rush hours)

    def __post_init__(self) -> None:
        if self.cameras < 1:
            raise ValueError(f"TrafficShape.cameras={self.cameras}: need at least one camera")
        if not self.rate > 0:
            raise ValueError(f"TrafficShape.rate={self.rate}: must be more than 0 reads/s")
        for name in ("hit_rate", "ocr_error_rate", "partial_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"TrafficShape.{name}={value}: must be a share between 0 and 1")


@dataclass(frozen=True)
class Expected:
    read_id: str
    entry_key: str
    match_kind: str  # "exact" | "ocr_equivalent" | "partial"


@dataclass(frozen=True)
class Missed:
    """A read of a listed plate (or one made to fit a partial pattern) that the matcher cannot catch."""

    read_id: str
    entry_key: str
    plate_read: str
    reason: str  # "dropped_character" | "too_many_substitutions"


@cache
def _tables() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    letters3 = tuple(a + b + c for a in _LETTERS for b in _LETTERS for c in _LETTERS)
    digits3 = tuple(f"{i:03d}" for i in range(1000))
    digits2 = tuple(f"{i:02d}" for i in range(100))
    return letters3, digits3, digits2


@cache
def _gap_table() -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Log-normal gap quantiles (mean 1) indexed by random bits, and their cumulative sums."""
    size = 1 << _GAP_BITS
    normal = NormalDist()
    raw = [math.exp(GAP_SIGMA * normal.inv_cdf((i + 0.5) / size)) for i in range(size)]
    mean = sum(raw) / size
    gaps = tuple(g / mean for g in raw)
    return gaps, tuple(itertools.accumulate(gaps))


class _Plates:
    """A fast deterministic source of California-looking plates (standard, commercial, personalized)."""

    def __init__(self, rng: random.Random) -> None:
        self._bits = rng.getrandbits
        self._choices = rng.choices
        self._l3, self._d3, self._d2 = _tables()

    def __call__(self) -> str:
        n = self._bits(58)
        kind = n >> 48  # 10 bits: 85% standard, 7% commercial, 8% personalized
        if kind < 870:  # 7ABC123
            return _FIRST[n % 9] + self._l3[(n // 9) % 17_576] + self._d3[(n // 158_184) % 1000]
        if kind < 942:  # commercial: 4H12345
            return (
                _FIRST[n % 9]
                + _LETTERS[(n // 9) % 26]
                + self._d2[(n // 234) % 100]
                + self._d3[(n // 23_400) % 1000]
            )
        return "".join(self._choices(_ALNUM, k=4 + n % 4))  # personalized, 4-7 characters


class HotlistFixture:
    """The hot list the traffic is generated against: ``exact_entries`` plates, ``partial_entries`` patterns.

    All entries are valid, in force and fresh as of ``now``; exact entries have distinct
    canonical keys under the default OCR classes (one listed plate, one entry).
    """

    def __init__(
        self,
        exact_entries: int = 1_000_000,
        partial_entries: int = 100,
        seed: int = 1,
        now: datetime | None = None,
    ) -> None:
        if exact_entries < 0 or partial_entries < 0:
            raise ValueError("exact_entries and partial_entries must be 0 or more")
        now = datetime.now(UTC) if now is None else now
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self.now = now
        rng = random.Random(f"hotlist-{seed}")
        plates = _Plates(rng)
        ocr = OcrClasses.of(DEFAULT_OCR_CLASSES)
        table = str.maketrans({ch: ocr.representative(ch) for cls in ocr.classes for ch in cls})
        bits = rng.getrandbits
        by_key: dict[str, HotlistEntry | tuple[HotlistEntry, ...]] = {}
        exact: list[HotlistEntry] = []
        append = exact.append
        # A million acyclic objects: the cyclic collector would walk them again and again (2 of 7 s).
        collecting = gc.isenabled()
        gc.disable()
        try:
            for i in range(exact_entries):
                plate = plates()
                key = plate.translate(table)
                while key in by_key:
                    plate = plates()
                    key = plate.translate(table)
                n = bits(16)
                list_type, reason = _LIST_MIX[n % len(_LIST_MIX)]
                entry = HotlistEntry(
                    "ncic", f"LT{i:08d}", plate, "CA", list_type, reason, None, None, None, now,
                    None, None, _ORIS[n % len(_ORIS)],
                )  # fmt: skip
                by_key[key] = entry
                append(entry)
        finally:
            if collecting:
                gc.enable()
        self.exact: list[HotlistEntry] = exact
        self.partials: list[HotlistEntry] = self._partials(partial_entries, rng, plates)
        self.entries: list[HotlistEntry] = exact + self.partials
        self._indexes = {ocr.classes: by_key}

    def _partials(self, count: int, rng: random.Random, plates: _Plates) -> list[HotlistEntry]:
        """Partial plates as witnesses give them: a prefix, a suffix, one or two unknown characters."""
        patterns: list[str] = []
        seen: set[str] = set()
        while len(patterns) < count:
            plate = plates()
            while len(plate) != 7 or not plate[0].isdigit() or not plate[4:].isdigit():
                plate = plates()
            family = rng.random()
            if family < 0.15:
                pattern = plate[:3] + "*"  # 7AB*: three known, the fewest P6 allows
            elif family < 0.35:
                pattern = plate[:4] + "*"  # 7ABC*
            elif family < 0.60:
                i = rng.randrange(7)
                pattern = plate[:i] + "?" + plate[i + 1 :]  # 7AB?123
            elif family < 0.80:
                i, j = sorted(rng.sample(range(7), 2))
                pattern = plate[:i] + "?" + plate[i + 1 : j] + "?" + plate[j + 1 :]  # ?AB?123
            elif family < 0.90:
                pattern = "*" + plate[3:]  # *C123
            else:
                pattern = "?" + plate[1:4] + "???"  # ?ABC???
            if pattern not in seen:
                seen.add(pattern)
                patterns.append(pattern)
        out = []
        for i, pattern in enumerate(patterns):
            list_type, reason = _BOLOS[i % len(_BOLOS)]
            out.append(
                HotlistEntry(
                    source="local",
                    entry_id=f"LTP{i:05d}",
                    plate=pattern,
                    plate_state="CA",
                    list_type=list_type,
                    reason=reason,
                    case_number=f"SJ-26-{5000 + i:06d}",
                    entered_by=_OFFICER,
                    approved_by=_LIEUTENANT,
                )
            )
        return out

    def canonical_index(self, ocr: OcrClasses) -> dict[str, HotlistEntry | tuple[HotlistEntry, ...]]:
        """Exact entries by canonical key under ``ocr`` (a tuple where several entries share a key)."""
        index = self._indexes.get(ocr.classes)
        if index is None:
            index = {}
            for entry in self.exact:
                key = ocr.canonical(entry.plate)
                held = index.get(key)
                if held is None:
                    index[key] = entry
                else:
                    index[key] = (*(held if isinstance(held, tuple) else (held,)), entry)
            self._indexes[ocr.classes] = index
        return index

    def entry_dicts(self) -> Iterator[Json]:
        """Each entry as the hot-list topic carries it."""
        for entry in self.entries:
            yield entry_to_dict(entry)


class Traffic:
    """Reads from ``shape.cameras`` cameras around San José, with the alerts they must raise."""

    def __init__(
        self, shape: TrafficShape, hotlist: HotlistFixture, ocr: OcrClasses, max_substitutions: int = 2
    ) -> None:
        self.shape = shape
        self.hotlist = hotlist
        self.ocr = ocr
        self.max_substitutions = max_substitutions
        #: candidate plates thrown away because they were listed or fit a partial pattern
        self.collisions_avoided = 0
        self._rng = rng = random.Random(f"traffic-{shape.seed}")
        self._exact = hotlist.canonical_index(ocr)
        # ocr.canonical as a translation table (the same mapping, without a call per plate)
        self._canonical = str.maketrans({ch: ocr.representative(ch) for cls in ocr.classes for ch in cls})
        self._partials = hotlist.partials
        self._patterns = Patterns([pattern_key(e.plate, ocr) for e in hotlist.partials])
        # what the OCR may read instead of a character (the rest of its class)
        self._alternatives = {ch: cls.replace(ch, "") for cls in ocr.classes for ch in cls}
        self._plates = _Plates(rng)
        self._pool = [self._unlisted() for _ in range(POOL_SIZE)]
        self._pool_cum = tuple(itertools.accumulate((r + 1) ** -POOL_ZIPF for r in range(POOL_SIZE)))
        self._ids = itertools.count(1)
        self._expected: list[Expected] = []
        self._missed: list[Missed] = []
        weights = [rng.lognormvariate(0.0, CAMERA_SIGMA) for _ in range(shape.cameras)]
        total = sum(weights)
        self._camera_weights = [w / total for w in weights]
        width = max(5, len(str(shape.cameras)))
        self._camera_ids = [f"cam-{i + 1:0{width}d}" for i in range(shape.cameras)]
        self._lat = [round(SAN_JOSE[0] + rng.gauss(0.0, 0.05), 6) for _ in range(shape.cameras)]
        self._lon = [round(SAN_JOSE[1] + rng.gauss(0.0, 0.06), 6) for _ in range(shape.cameras)]
        hit = shape.hit_rate
        self._transient_cut = hit + (1.0 - hit) * TRANSIENT_SHARE
        self._ocr_cut = int(shape.ocr_error_rate * (1 << 24))

    # -- ground truth ---------------------------------------------------------------------

    def cameras(self) -> list[Camera]:
        """The traffic's cameras as the registry holds them (mobile units, agency LOAD): the worker
        screens reads only from registered cameras."""
        return [
            Camera(camera_id, f"load-test camera {camera_id}", "LOAD", "mobile", lat, lon)
            for camera_id, lat, lon in zip(self._camera_ids, self._lat, self._lon, strict=True)
        ]

    def expected(self) -> list[Expected]:
        """Every alert the reads yielded so far must raise, one per (read, entry)."""
        return list(self._expected)

    def missed(self) -> list[Missed]:
        """Reads of listed plates misread beyond what the matcher can catch (not in :meth:`expected`)."""
        return list(self._missed)

    def truth(self, plate: str) -> list[tuple[HotlistEntry, str]]:
        """What the matcher raises for a normalized plate read: the entries and how they match."""
        canonical = self.ocr.canonical(plate)
        found = [(self._partials[i], PARTIAL) for i in self._patterns.fitting(canonical)]
        held = self._exact.get(canonical)
        for entry in () if held is None else held if isinstance(held, tuple) else (held,):
            if entry.plate == plate:
                found.append((entry, EXACT))
            elif differing_positions(entry.plate, plate) <= self.max_substitutions:
                found.append((entry, OCR_EQUIVALENT))
        return found

    def _listed(self, plate: str) -> bool:
        canonical = plate.translate(self._canonical)
        if canonical in self._exact:
            return True
        return bool(self._patterns.fitting(canonical))

    def _unlisted(self) -> str:
        """A plate that is not listed and fits no partial pattern."""
        make, table, exact, fitting = self._plates, self._canonical, self._exact, self._patterns.fitting
        while True:
            plate = make()
            canonical = plate.translate(table)
            if canonical not in exact and not fitting(canonical):
                return plate
            self.collisions_avoided += 1

    # -- misreads -------------------------------------------------------------------------

    def _substitute(self, plate: str, count: int) -> str | None:
        """``plate`` with ``count`` confusable characters misread within their class (same canonical key)."""
        alternatives = self._alternatives
        positions = [i for i, ch in enumerate(plate) if ch in alternatives]
        if not positions:
            return None
        chars = list(plate)
        for i in self._rng.sample(positions, min(count, len(positions))):
            chars[i] = self._rng.choice(alternatives[chars[i]])
        return "".join(chars)

    def _drop(self, plate: str) -> str | None:
        if len(plate) < 3:
            return None
        i = self._rng.randrange(len(plate))
        return plate[:i] + plate[i + 1 :]

    def _misread_unlisted(self, plate: str) -> str:
        if self._rng.random() >= DROP_SHARE:
            misread = self._substitute(plate, 1 + (self._rng.random() < TWO_SUBSTITUTIONS))
            if misread is not None:
                return misread  # the canonical key is unchanged: still unlisted
        dropped = self._drop(plate)
        if dropped is None or self._listed(dropped):
            return plate
        return dropped

    # -- hits -----------------------------------------------------------------------------

    def _fill(self, pattern: str) -> str:
        """A plate that fits a partial pattern, shaped like a standard plate where the length allows."""
        rng = self._rng
        fixed = len(pattern.replace("*", ""))
        extra = max(0, 7 - fixed) if "*" in pattern else 0
        template = pattern.replace("*", "?" * extra, 1).replace("*", "")
        shape = _STANDARD if len(template) == 7 else None
        chars = []
        for i, ch in enumerate(template):
            if ch != "?":
                chars.append(ch)
            elif shape is None:
                chars.append(rng.choice(_ALNUM))
            elif shape[i] == "L":
                chars.append(rng.choice(_LETTERS))
            else:
                chars.append(rng.choice(_FIRST if i == 0 else _DIGITS))
        return "".join(chars)

    def _hit(self, read_id: str) -> tuple[str, float] | None:
        rng = self._rng
        exact, partials = self.hotlist.exact, self.hotlist.partials
        if partials and (not exact or rng.random() < self.shape.partial_share):
            target = rng.choice(partials)
            plate = self._fill(target.plate)
        elif exact:
            target = exact[rng.randrange(len(exact))]
            plate = target.plate
        else:
            return None
        reason = ""
        if rng.random() < self.shape.ocr_error_rate:
            misread = None
            if rng.random() >= DROP_SHARE:
                count = 2 if rng.random() < TWO_SUBSTITUTIONS else 1
                misread = self._substitute(plate, min(count, max(1, self.max_substitutions)))
                reason = "too_many_substitutions"
            if misread is None:
                misread = self._drop(plate)
                reason = "dropped_character"
            plate = plate if misread is None else misread
        found = self.truth(plate)
        for entry, kind in found:
            self._expected.append(Expected(read_id, entry.key, kind))
        if all(entry.key != target.key for entry, _ in found):
            self._missed.append(Missed(read_id, target.key, plate, reason))
        return plate, _UNSURE[rng.getrandbits(8)] if reason else _CONFIDENT[rng.getrandbits(8)]

    def _plate_source(self) -> Callable[[str], tuple[str, float]]:
        """A function giving the plate and confidence of the next read (and recording a hit's alerts).

        A closure over locals: it runs once per read, and 200,000 reads/s leave ~5 us for each.
        """
        rng, shape = self._rng, self.shape
        random_, bits = rng.random, rng.getrandbits
        hit_rate, cut, ocr_cut = shape.hit_rate, self._transient_cut, self._ocr_cut
        pool, pool_cum = self._pool, self._pool_cum
        pool_scale = pool_cum[-1] / (1.0 - cut)
        unlisted, misread, hit = self._unlisted, self._misread_unlisted, self._hit

        def plate_for(read_id: str) -> tuple[str, float]:
            u = random_()
            if u < hit_rate:
                found = hit(read_id)
                if found is not None:
                    return found
            plate = unlisted() if u < cut else pool[bisect_right(pool_cum, (u - cut) * pool_scale)]
            b = bits(32)
            if (b >> 8) < ocr_cut:
                return misread(plate), _UNSURE[b & 255]
            return plate, _CONFIDENT[b & 255]

        return plate_for

    # -- time -----------------------------------------------------------------------------

    def _segments(
        self, start: datetime, duration_s: float
    ) -> tuple[list[float], list[float], list[float], float]:
        """Real start, operational start and rate multiplier of each local hour; operational end."""
        if not self.shape.daily_profile:
            return [0.0], [0.0], [1.0], duration_s
        local = start.astimezone(LOCAL_TZ)
        into_hour = local.minute * 60 + local.second + local.microsecond / 1e6
        seg_t, seg_tau, seg_m = [], [], []
        t = tau = 0.0
        hour = local.hour
        length = 3600.0 - into_hour
        while True:
            m = HOURLY[hour % 24]
            seg_t.append(t)
            seg_tau.append(tau)
            seg_m.append(m)
            if t + length >= duration_s:
                return seg_t, seg_tau, seg_m, tau + (duration_s - t) * m
            t += length
            tau += length * m
            hour += 1
            length = 3600.0

    def reads(self, start: datetime, duration_s: float) -> Iterator[tuple[float, Json]]:
        """``(offset_s, read)`` in non-decreasing offset order, ``captured_at = start + offset``.

        Read ids stay unique across calls; each call starts every camera afresh.
        """
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError("start must be timezone-aware")
        if duration_s < 0:
            raise ValueError(f"duration_s={duration_s}: must be 0 or more")
        return self._reads(start, duration_s)

    def _reads(self, start: datetime, duration_s: float) -> Iterator[tuple[float, Json]]:
        shape = self.shape
        cameras = shape.cameras
        rng = self._rng
        bits = rng.getrandbits
        gaps, gaps_cum = _gap_table()
        mean_gap = [1.0 / (shape.rate * w) for w in self._camera_weights]
        # stationary start: the first read comes U x a length-biased gap in
        next_tau = [
            g * rng.random() * gaps[bisect_right(gaps_cum, rng.random() * gaps_cum[-1])] for g in mean_gap
        ]
        seg_t, seg_tau, seg_m, tau_end = self._segments(start, duration_s)
        profiled = shape.daily_profile
        seg = 0
        start_us = (start - _EPOCH) // _US
        duration_us = int(duration_s * 1e6)
        window = _WINDOW_READS / shape.rate
        ids, plate_for = self._ids, self._plate_source()
        camera_ids, lats, lons = self._camera_ids, self._lat, self._lon
        second, prefix = -1, ""
        w_start = 0.0
        while w_start < tau_end:
            w_end = min(w_start + window, tau_end)
            events: list[int] = []
            append = events.append
            for c in range(cameras):
                nt = next_tau[c]
                if nt < w_end:
                    g = mean_gap[c]
                    while nt < w_end:
                        append(int(nt * 1e6) * cameras + c)
                        nt += g * gaps[bits(_GAP_BITS)]
                    next_tau[c] = nt
            events.sort()
            for key in events:
                t_us, c = divmod(key, cameras)
                if profiled:
                    tau = t_us / 1e6
                    while seg + 1 < len(seg_tau) and seg_tau[seg + 1] <= tau:
                        seg += 1
                    t_us = min(int((seg_t[seg] + (tau - seg_tau[seg]) / seg_m[seg]) * 1e6), duration_us)
                sec, frac = divmod(start_us + t_us, 1_000_000)
                if sec != second:
                    second = sec
                    prefix = (_EPOCH + timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%S.")
                read_id = f"lt-{next(ids)}"
                plate, confidence = plate_for(read_id)
                yield (
                    t_us / 1e6,
                    {
                        "read_id": read_id,
                        "camera_id": camera_ids[c],
                        "captured_at": f"{prefix}{frac:06d}+00:00",
                        "plate": plate,
                        "plate_state": "CA",
                        "confidence": confidence,
                        "lat": lats[c],
                        "lon": lons[c],
                    },
                )
            w_start = w_end


# -- calibration helpers ------------------------------------------------------------------


def plate_stats(reads: Iterable[tuple[float, Json]]) -> dict[str, float]:
    """Recurrence of a sample of reads: the numbers the Seattle week calibrates."""
    counts: Counter[str] = Counter()
    cameras: dict[str, set[str]] = defaultdict(set)
    for _, read in reads:
        counts[read["plate"]] += 1
        cameras[read["plate"]].add(read["camera_id"])
    total = sum(counts.values())
    plates = len(counts)
    repeated = [n for n in counts.values() if n > 1]
    return {
        "reads": total,
        "distinct_plates": plates,
        "plates_seen_more_than_once": round(len(repeated) / max(plates, 1), 4),
        "reads_of_those_plates": round(sum(repeated) / max(total, 1), 4),
        "max_reads_of_one_plate": max(counts.values(), default=0),
        "plates_seen_by_more_than_one_camera": round(
            sum(1 for c in cameras.values() if len(c) > 1) / max(plates, 1), 4
        ),
    }


def gap_stats(reads: Iterable[tuple[float, Json]], camera_id: str | None = None) -> dict[str, float]:
    """Gaps between one camera's reads (the busiest camera unless named)."""
    offsets: dict[str, list[float]] = defaultdict(list)
    seconds: dict[str, list[str]] = defaultdict(list)
    for offset, read in reads:
        offsets[read["camera_id"]].append(offset)
        seconds[read["camera_id"]].append(read["captured_at"][:19])
    if not offsets:
        raise ValueError("no reads")
    camera = camera_id or max(offsets, key=lambda k: len(offsets[k]))
    times, secs = offsets[camera], seconds[camera]
    if len(times) < 3:
        raise ValueError(f"camera {camera} has fewer than three reads")
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return {
        "camera_reads": len(times),
        "gap_median_s": round(median(gaps), 3),
        "gap_p90_s": round(quantiles(gaps, n=10)[-1], 3),
        "same_second_share": round(sum(a == b for a, b in itertools.pairwise(secs)) / len(gaps), 4),
    }


def main(argv: list[str] | None = None) -> None:
    """Print the calibration sample (a Seattle-sized week) and the generator's speed."""
    parser = argparse.ArgumentParser(prog="python -m loadtest.generator")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args(argv)
    now = datetime.now(UTC).replace(microsecond=0)
    ocr = OcrClasses.of(DEFAULT_OCR_CLASSES)
    week = Traffic(
        TrafficShape(cameras=9, rate=93_490 / (7 * 86_400), seed=5, daily_profile=True),
        HotlistFixture(1000, 20, now=now),
        ocr,
    )
    sample = list(week.reads(now, 7 * 86_400))
    busy = TrafficShape(cameras=1, rate=1 / (2.0 * math.exp(GAP_SIGMA**2 / 2)), seed=6)
    busy_gaps = gap_stats(Traffic(busy, HotlistFixture(1000, 20, now=now), ocr).reads(now, 30_000 * 9.4))
    started = time.perf_counter()
    fixture = HotlistFixture(args.entries, 100, now=now)
    build_s = time.perf_counter() - started
    traffic = Traffic(TrafficShape(), fixture, ocr)
    started = time.perf_counter()
    count = sum(1 for _ in traffic.reads(now, args.seconds))
    elapsed = time.perf_counter() - started
    summary = {
        "seattle_week_sample": plate_stats(sample),
        "camera_as_busy_as_seattles_busiest": busy_gaps,
        "fixture_entries": len(fixture.entries),
        "fixture_build_s": round(build_s, 2),
        "reads": count,
        "reads_per_s": round(count / elapsed),
        "expected_alerts": len(traffic.expected()),
        "missed": len(traffic.missed()),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
