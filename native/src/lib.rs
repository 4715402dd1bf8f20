//! The worker's read-batch kernel: one pass over a record of the reads topic that decodes and
//! checks it against schemas/read.json and makes almost no Python object per read.
//!
//! It answers only for records the Python path (streams/codec.py, `decode_read_batches`) accepts
//! whole, with the same values; for anything else, or any doubt, it answers None and the Python
//! path decides (and words the refusal). So it is stricter than the schema where that is simpler:
//! only the batch form `{"reads":[...]}`, printable ASCII strings without escapes, no duplicate
//! keys, RFC 3339 times with at most 6 digits of fraction, finite numbers.

mod digest;
mod ncic;
mod patterns;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// schemas/read.json as this kernel checks it, one row a property: name, JSON types, minLength,
/// maxLength, minimum, maximum, pattern, enum, format. A Python test compares it with the schema,
/// so a change there that the kernel does not know fails loudly (tests/unit/test_native_reads.py).
const PROPERTIES: &[Property] = &[
    Property {
        name: "read_id",
        types: &["string"],
        min_len: Some(1),
        max_len: Some(128),
        minimum: None,
        maximum: None,
        pattern: None,
        values: None,
        format: None,
    },
    Property {
        name: "camera_id",
        types: &["string"],
        min_len: Some(1),
        max_len: Some(64),
        minimum: None,
        maximum: None,
        pattern: Some(CAMERA_ID_PATTERN),
        values: None,
        format: None,
    },
    Property {
        name: "captured_at",
        types: &["string"],
        min_len: None,
        max_len: None,
        minimum: None,
        maximum: None,
        pattern: None,
        values: None,
        format: Some("date-time"),
    },
    Property {
        name: "plate",
        types: &["string"],
        min_len: Some(1),
        max_len: Some(16),
        minimum: None,
        maximum: None,
        pattern: None,
        values: None,
        format: None,
    },
    Property {
        name: "plate_state",
        types: &["string", "null"],
        min_len: None,
        max_len: None,
        minimum: None,
        maximum: None,
        pattern: Some("^[A-Z]{2}$"),
        values: None,
        format: None,
    },
    Property {
        name: "confidence",
        types: &["number"],
        min_len: None,
        max_len: None,
        minimum: Some(0.0),
        maximum: Some(1.0),
        pattern: None,
        values: None,
        format: None,
    },
    Property {
        name: "lat",
        types: &["number", "null"],
        min_len: None,
        max_len: None,
        minimum: Some(-90.0),
        maximum: Some(90.0),
        pattern: None,
        values: None,
        format: None,
    },
    Property {
        name: "lon",
        types: &["number", "null"],
        min_len: None,
        max_len: None,
        minimum: Some(-180.0),
        maximum: Some(180.0),
        pattern: None,
        values: None,
        format: None,
    },
    Property {
        name: "position_source",
        types: &["string", "null"],
        min_len: None,
        max_len: None,
        minimum: None,
        maximum: None,
        pattern: None,
        values: Some(&["read", "camera"]),
        format: None,
    },
    Property {
        name: "image_ref",
        types: &["string", "null"],
        min_len: None,
        max_len: Some(1024),
        minimum: None,
        maximum: None,
        pattern: None,
        values: None,
        format: None,
    },
    Property {
        name: "vehicle_make",
        types: &["string", "null"],
        min_len: None,
        max_len: Some(64),
        minimum: None,
        maximum: None,
        pattern: None,
        values: None,
        format: None,
    },
    Property {
        name: "vehicle_model",
        types: &["string", "null"],
        min_len: None,
        max_len: Some(64),
        minimum: None,
        maximum: None,
        pattern: None,
        values: None,
        format: None,
    },
    Property {
        name: "vehicle_color",
        types: &["string", "null"],
        min_len: None,
        max_len: Some(32),
        minimum: None,
        maximum: None,
        pattern: None,
        values: None,
        format: None,
    },
];
const REQUIRED: &[&str] = &[
    "read_id",
    "camera_id",
    "captured_at",
    "plate",
    "plate_state",
    "confidence",
];
/// The camera id grammar (streams/cameras/ids.py), which `camera_id_ok` implements.
const CAMERA_ID_PATTERN: &str =
    "^[A-Za-z0-9](?:[A-Za-z0-9._:-]| (?=[A-Za-z0-9._:-])){0,63}(?![\\s\\S])";

struct Property {
    name: &'static str,
    types: &'static [&'static str],
    min_len: Option<usize>,
    max_len: Option<usize>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    pattern: Option<&'static str>,
    values: Option<&'static [&'static str]>,
    format: Option<&'static str>,
}

// Field indexes, in PROPERTIES' order (a bit each in the "seen" mask).
const READ_ID: usize = 0;
const CAMERA_ID: usize = 1;
const CAPTURED_AT: usize = 2;
const PLATE: usize = 3;
const PLATE_STATE: usize = 4;
const CONFIDENCE: usize = 5;
const LAT: usize = 6;
const LON: usize = 7;
const POSITION_SOURCE: usize = 8;
const IMAGE_REF: usize = 9;
const VEHICLE_MAKE: usize = 10;
const VEHICLE_MODEL: usize = 11;
const VEHICLE_COLOR: usize = 12;
const REQUIRED_MASK: u32 = (1 << READ_ID)
    | (1 << CAMERA_ID)
    | (1 << CAPTURED_AT)
    | (1 << PLATE)
    | (1 << PLATE_STATE)
    | (1 << CONFIDENCE);

/// One good read: where its object, plate, camera id and capture time are in the payload, its
/// position (NaN: none), and its capture time as microseconds since the epoch (UTC).
struct Read {
    span: (usize, usize),
    plate: (usize, usize),
    camera: (usize, usize),
    captured: (usize, usize),
    instant: i64,
    lat: f64,
    lon: f64,
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    /// The next byte after whitespace, consumed when it is `c`.
    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.i < self.b.len() && self.b[self.i] == c {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    /// A string's text (its byte range): printable ASCII without escapes, else None. Eight bytes
    /// are looked at a time (most of a read's bytes are in its strings).
    fn string(&mut self) -> Option<(usize, usize)> {
        if !self.eat(b'"') {
            return None;
        }
        let b = self.b;
        let start = self.i;
        let mut i = start;
        while i + 8 <= b.len() {
            let mut chunk = [0u8; 8];
            chunk.copy_from_slice(&b[i..i + 8]);
            let found = special(u64::from_le_bytes(chunk));
            if found != 0 {
                i += (found.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        while i < b.len() && !is_special(b[i]) {
            i += 1;
        }
        if b.get(i) != Some(&b'"') {
            return None; // an escape, a byte that is not printable ASCII, or the end
        }
        self.i = i + 1;
        Some((start, i))
    }

    fn null(&mut self) -> bool {
        if self.peek() == Some(b'n') && self.b[self.i..].starts_with(b"null") {
            self.i += 4;
            true
        } else {
            false
        }
    }

    /// A JSON number as msgspec decodes it into a float: an integer literal is an int made a
    /// float (so -0 is 0.0), anything else the correctly rounded double. None when not finite,
    /// or an integer literal of more digits than an i64 surely holds.
    fn number(&mut self) -> Option<f64> {
        self.ws();
        let b = self.b;
        let start = self.i;
        let mut i = start;
        let negative = b.get(i) == Some(&b'-');
        if negative {
            i += 1;
        }
        let int_start = i;
        let mut mantissa: u64 = 0;
        match b.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => {
                while let Some(&c @ b'0'..=b'9') = b.get(i) {
                    mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
                    i += 1;
                }
            }
            _ => return None,
        }
        let int_digits = i - int_start;
        let (mut fraction, mut exponent) = (0, false);
        if b.get(i) == Some(&b'.') {
            i += 1;
            let digits = i;
            while let Some(&c @ b'0'..=b'9') = b.get(i) {
                mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
                i += 1;
            }
            fraction = i - digits;
            if fraction == 0 {
                return None;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            exponent = true;
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let digits = i;
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
            if i == digits {
                return None;
            }
        }
        self.i = i;
        if fraction == 0 && !exponent {
            // an int, made a float as Python does (exactly, or rounded to nearest as below)
            if int_digits > 18 {
                return None;
            }
            let value = mantissa as f64;
            return Some(if negative && mantissa != 0 {
                -value
            } else {
                value
            });
        }
        if !exponent && int_digits + fraction <= 19 && mantissa <= 1 << 53 && fraction <= 22 {
            // the digits (at most 19: no overflow) are exact in a double, as is 10^22: one
            // division, correctly rounded (Clinger's fast path, the full parse's first step too)
            let value = mantissa as f64 / POWERS_OF_TEN[fraction];
            return Some(if negative { -value } else { value });
        }
        let value = std::str::from_utf8(&b[start..i])
            .ok()?
            .parse::<f64>()
            .ok()?;
        if value.is_finite() {
            Some(value)
        } else {
            None
        }
    }
}

const POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A byte that ends a string or that the kernel does not take in one: `"`, `\\`, a control
/// character, anything not ASCII or DEL.
fn is_special(c: u8) -> bool {
    c == b'"' || c == b'\\' || !(0x20..=0x7e).contains(&c)
}

/// The special bytes (`is_special`) of eight, as their high bits; the lowest one set is exact
/// (a borrow or carry only reaches bytes above a special one).
fn special(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let quote = x ^ (ONES * u64::from(b'"'));
    let backslash = x ^ (ONES * u64::from(b'\\'));
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
    let beyond = (x.wrapping_add(ONES) | x) & HIGH; // 0x7f and up
    zero(quote) | zero(backslash) | control | beyond
}

/// The index in PROPERTIES of a field's name (in the same order: the differential tests decode
/// every field both ways).
fn field(name: &[u8]) -> Option<usize> {
    Some(match name {
        b"read_id" => READ_ID,
        b"camera_id" => CAMERA_ID,
        b"captured_at" => CAPTURED_AT,
        b"plate" => PLATE,
        b"plate_state" => PLATE_STATE,
        b"confidence" => CONFIDENCE,
        b"lat" => LAT,
        b"lon" => LON,
        b"position_source" => POSITION_SOURCE,
        b"image_ref" => IMAGE_REF,
        b"vehicle_make" => VEHICLE_MAKE,
        b"vehicle_model" => VEHICLE_MODEL,
        b"vehicle_color" => VEHICLE_COLOR,
        _ => return None,
    })
}

fn within(value: f64, index: usize) -> bool {
    let p = &PROPERTIES[index];
    p.minimum.map_or(true, |m| value >= m) && p.maximum.map_or(true, |m| value <= m)
}

fn length_ok(range: (usize, usize), index: usize) -> bool {
    let p = &PROPERTIES[index];
    let n = range.1 - range.0;
    p.min_len.map_or(true, |m| n >= m) && p.max_len.map_or(true, |m| n <= m)
}

fn id_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-')
}

/// The camera id grammar: a letter or digit, then up to 63 characters, each an id character or a
/// space followed by one.
fn camera_id_ok(s: &[u8]) -> bool {
    if s.is_empty() || s.len() > 64 || !s[0].is_ascii_alphanumeric() {
        return false;
    }
    for (k, &c) in s.iter().enumerate().skip(1) {
        if c == b' ' {
            if !s.get(k + 1).map_or(false, |&n| id_char(n)) {
                return false;
            }
        } else if !id_char(c) {
            return false;
        }
    }
    true
}

fn digits(s: &[u8]) -> Option<i64> {
    let mut n: i64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(c - b'0');
    }
    Some(n)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An RFC 3339 date-time in the form `datetime.fromisoformat` parses the same (upper-case T and
/// Z, a UTC offset, 1-6 digits of fraction, a day of the calendar, year 1-9999, no leap second),
/// as microseconds since the epoch; None for anything else.
fn rfc3339(s: &[u8]) -> Option<i64> {
    if s.len() < 20
        || s[4] != b'-'
        || s[7] != b'-'
        || s[10] != b'T'
        || s[13] != b':'
        || s[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (digits(&s[0..4])?, digits(&s[5..7])?, digits(&s[8..10])?);
    let (hour, minute, second) = (
        digits(&s[11..13])?,
        digits(&s[14..16])?,
        digits(&s[17..19])?,
    );
    if year < 1 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut i = 19;
    let mut micros = 0;
    if s[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
        let n = i - start;
        if n == 0 || n > 6 {
            return None;
        }
        micros = digits(&s[start..i])? * 10_i64.pow((6 - n) as u32);
    }
    let offset = match &s[i..] {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, m) = (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?);
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = h * 60 + m;
            if *sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
        _ => return None,
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset * 60;
    Some(seconds * 1_000_000 + micros)
}

/// A nullable string field's text, or None when it is null (Err: neither, or out of its rules).
fn nullable_string(s: &mut Scanner<'_>, index: usize) -> Result<Option<(usize, usize)>, ()> {
    if s.null() {
        return Ok(None);
    }
    let range = s.string().ok_or(())?;
    if length_ok(range, index) {
        Ok(Some(range))
    } else {
        Err(())
    }
}

fn nullable_number(s: &mut Scanner<'_>, index: usize) -> Option<f64> {
    if s.null() {
        return Some(f64::NAN);
    }
    let value = s.number()?;
    if within(value, index) {
        Some(value)
    } else {
        None
    }
}

/// One read object, checked whole; None when anything in it is not known good.
fn read(s: &mut Scanner<'_>) -> Option<Read> {
    s.ws();
    let start = s.i;
    if !s.eat(b'{') {
        return None;
    }
    let mut seen: u32 = 0;
    let (mut plate, mut camera, mut captured) = ((0, 0), (0, 0), (0, 0));
    let mut instant = 0;
    let (mut lat, mut lon) = (f64::NAN, f64::NAN);
    let mut from_camera = false;
    loop {
        let key = s.string()?;
        if !s.eat(b':') {
            return None;
        }
        let name = &s.b[key.0..key.1];
        let index = field(name)?;
        if seen & (1 << index) != 0 {
            return None; // a duplicate key: msgspec keeps the last, the schema's validator the first
        }
        seen |= 1 << index;
        match index {
            READ_ID => {
                let r = s.string()?;
                if !length_ok(r, index) {
                    return None;
                }
            }
            CAMERA_ID => {
                camera = s.string()?;
                if !length_ok(camera, index) || !camera_id_ok(&s.b[camera.0..camera.1]) {
                    return None;
                }
            }
            CAPTURED_AT => {
                captured = s.string()?;
                instant = rfc3339(&s.b[captured.0..captured.1])?;
            }
            PLATE => {
                plate = s.string()?;
                if !length_ok(plate, index) {
                    return None;
                }
            }
            PLATE_STATE => {
                if let Some(r) = nullable_string(s, index).ok()? {
                    if !(r.1 - r.0 == 2 && s.b[r.0..r.1].iter().all(u8::is_ascii_uppercase)) {
                        return None;
                    }
                }
            }
            CONFIDENCE => {
                if !within(s.number()?, index) {
                    return None;
                }
            }
            LAT => lat = nullable_number(s, index)?,
            LON => lon = nullable_number(s, index)?,
            POSITION_SOURCE => {
                if let Some(r) = nullable_string(s, index).ok()? {
                    match &s.b[r.0..r.1] {
                        b"read" => {}
                        b"camera" => from_camera = true,
                        _ => return None,
                    }
                }
            }
            IMAGE_REF | VEHICLE_MAKE | VEHICLE_MODEL | VEHICLE_COLOR => {
                nullable_string(s, index).ok()?;
            }
            _ => return None,
        }
        if s.eat(b',') {
            continue;
        }
        if s.eat(b'}') {
            break;
        }
        return None;
    }
    // Required fields; lat and lon together; "camera" names a position that is there
    // (streams/reads/model.py position_problem, schemas/read.json allOf).
    if seen & REQUIRED_MASK != REQUIRED_MASK
        || lat.is_nan() != lon.is_nan()
        || (from_camera && lat.is_nan())
    {
        return None;
    }
    Some(Read {
        span: (start, s.i),
        plate,
        camera,
        captured,
        instant,
        lat,
        lon,
    })
}

/// The reads of a record `{"reads":[read, ...]}` (1 to `max_reads` of them, all good), else None.
fn batch(payload: &[u8], max_bytes: usize, max_reads: usize) -> Option<Vec<Read>> {
    if payload.len() > max_bytes || !payload.starts_with(b"{\"reads\":") {
        return None;
    }
    let mut s = Scanner { b: payload, i: 9 };
    if !s.eat(b'[') {
        return None;
    }
    let mut reads = Vec::new();
    loop {
        reads.push(read(&mut s)?);
        if reads.len() > max_reads {
            return None;
        }
        if s.eat(b',') {
            continue;
        }
        if s.eat(b']') {
            break;
        }
        return None;
    }
    if !s.eat(b'}') {
        return None;
    }
    s.ws();
    if s.i != payload.len() {
        return None;
    }
    Some(reads)
}

/// FNV-1a: the distinct camera ids of a record are short keys a record sends, not an attacker's
/// choice to collide (and a collision costs time, never a wrong answer).
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &c in bytes {
            h = (h ^ u64::from(c)).wrapping_mul(0x100_0000_01b3);
        }
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

fn text<'p>(
    py: Python<'p>,
    payload: &[u8],
    range: (usize, usize),
) -> PyResult<Bound<'p, PyString>> {
    let s = std::str::from_utf8(&payload[range.0..range.1])?; // ASCII, checked by the scanner
    Ok(PyString::new_bound(py, s))
}

/// What the screen needs of the index (`HotlistIndex.native_screen`): its Bloom filter of
/// canonical keys, the OCR classes' table (byte -> its class's representative) and its partial
/// patterns (None: there are none).
struct Screen<'a> {
    bloom: &'a Bloom,
    table: &'a [u8],
    patterns: Option<&'a Patterns>,
}

/// The canonical keys of a record's plates, "\n"-joined, and the positions of its candidates
/// (native u32s, ascending): the Bloom's positives and the keys a partial pattern fits. None when
/// a plate is not one the kernel normalizes exactly as `normalize_plate` does (then the Python
/// screen takes the record's plates).
fn screened(payload: &[u8], reads: &[Read], screen: &Screen<'_>) -> Option<(String, Vec<u8>)> {
    let mut keys = String::with_capacity(reads.len() * 8);
    let mut positives = Vec::new();
    let mut partial = screen.patterns.map(|p| p.dfa.borrow_mut());
    let mut key = [0u8; MAX_PLATE_LEN];
    for (n, r) in reads.iter().enumerate() {
        // normalize_plate: upper-case, drop " -.\t", then 1 to MAX_PLATE_LEN of A-Z0-9; the
        // scanner took printable ASCII only, so upper() is ASCII's and there is no tab
        let mut len = 0;
        for &c in &payload[r.plate.0..r.plate.1] {
            let c = c.to_ascii_uppercase();
            if matches!(c, b' ' | b'-' | b'.') {
                continue;
            }
            if !(c.is_ascii_uppercase() || c.is_ascii_digit()) || len == MAX_PLATE_LEN {
                return None; // refused (bad_plate): the Python path words it
            }
            key[len] = screen.table[usize::from(c)];
            len += 1;
        }
        if len == 0 {
            return None;
        }
        let key = &key[..len];
        if n > 0 {
            keys.push('\n');
        }
        keys.push_str(std::str::from_utf8(key).ok()?); // ASCII: the table is checked when made
        let fits = |dfa: &mut patterns::Dfa| dfa.fits_any(key.iter().map(|&b| char::from(b)));
        if screen.bloom.contains_bytes(key) || partial.as_deref_mut().map_or(false, fits) {
            positives.extend_from_slice(&(n as u32).to_ne_bytes());
        }
    }
    Some((keys, positives))
}

fn result<'p>(
    py: Python<'p>,
    payload: &[u8],
    reads: &[Read],
    screen: Option<&Screen<'_>>,
) -> PyResult<Bound<'p, PyTuple>> {
    let found = screen.and_then(|s| screened(payload, reads, s));
    let plates = PyList::empty_bound(py);
    let mut spans = Vec::with_capacity(reads.len() * 8);
    let mut lats = Vec::with_capacity(reads.len() * 8);
    let mut lons = Vec::with_capacity(reads.len() * 8);
    let mut distinct: HashSet<&[u8], BuildHasherDefault<Fnv>> = HashSet::default();
    let cameras = PyList::empty_bound(py);
    let (mut earliest, mut latest) = (&reads[0], &reads[0]);
    let mut placed = true;
    for r in reads {
        if found.is_none() {
            plates.append(text(py, payload, r.plate)?)?;
        }
        spans.extend_from_slice(&(r.span.0 as u32).to_ne_bytes());
        spans.extend_from_slice(&(r.span.1 as u32).to_ne_bytes());
        lats.extend_from_slice(&r.lat.to_ne_bytes());
        lons.extend_from_slice(&r.lon.to_ne_bytes());
        placed &= !r.lat.is_nan();
        if distinct.insert(&payload[r.camera.0..r.camera.1]) {
            cameras.append(text(py, payload, r.camera)?)?;
        }
        // the first of equal instants, as Python's min() and max() keep
        if r.instant < earliest.instant {
            earliest = r;
        }
        if r.instant > latest.instant {
            latest = r;
        }
    }
    let first: PyObject = match found {
        Some((keys, positives)) => (
            reads.len(),
            PyString::new_bound(py, &keys),
            PyBytes::new_bound(py, &positives),
        )
            .into_py(py),
        None => plates.into_any().unbind(),
    };
    let items: Vec<PyObject> = vec![
        first,
        cameras.into_any().unbind(),
        PyBytes::new_bound(py, &spans).into_any().unbind(),
        PyBytes::new_bound(py, &lats).into_any().unbind(),
        PyBytes::new_bound(py, &lons).into_any().unbind(),
        placed.into_py(py),
        text(py, payload, earliest.captured)?.into_any().unbind(),
        text(py, payload, latest.captured)?.into_any().unbind(),
    ];
    Ok(PyTuple::new_bound(py, items))
}

/// `HotlistIndex.native_screen()`: the Bloom filter, the OCR classes' table, the partial patterns.
type ScreenArgs<'p> = (PyRef<'p, Bloom>, Vec<u8>, Option<PyRef<'p, Patterns>>);

/// For each payload, None ("not sure: let the Python path decide") or, for a read batch every
/// read of which is good, a tuple: the plates (list of str, in read order), the distinct camera
/// ids (list of str), each read's object as a byte range of the payload (bytes of native u32
/// pairs), the lats and lons (bytes of native doubles, NaN: no position), whether every read has
/// a position, and the texts of the earliest and latest capture times.
///
/// With `screen` (a Bloom, a 256-byte table of the OCR classes' representatives, A-Z0-9 to
/// ASCII, and the partial patterns or None) the plates are screened here too: in their place
/// comes (the number of reads, their canonical keys joined by "\n", the positions of the
/// candidates as native u32s: the Bloom's positives and the keys a pattern fits), unless a plate
/// of the record is not one the kernel normalizes (the plates then, as without).
#[pyfunction]
#[pyo3(signature = (payloads, max_bytes, max_reads, screen=None))]
fn check_read_batches<'p>(
    py: Python<'p>,
    payloads: &Bound<'p, PyList>,
    max_bytes: usize,
    max_reads: usize,
    screen: Option<ScreenArgs<'p>>,
) -> PyResult<Bound<'p, PyList>> {
    let screen = match &screen {
        Some((bloom, table, patterns)) => {
            let ascii = (b'A'..=b'Z').chain(b'0'..=b'9').all(|c| {
                table
                    .get(usize::from(c))
                    .map_or(false, |&t| t.is_ascii_alphanumeric())
            });
            if table.len() != 256 || !ascii {
                return Err(pyo3::exceptions::PyValueError::new_err(
                    "the screen's table maps each byte, A-Z0-9 to ASCII letters or digits",
                ));
            }
            Some(Screen {
                bloom,
                table,
                patterns: patterns.as_deref(),
            })
        }
        None => None,
    };
    let out = PyList::empty_bound(py);
    for item in payloads.iter() {
        let answer = match item.downcast::<PyBytes>() {
            Ok(bytes) => {
                let payload = bytes.as_bytes();
                match batch(payload, max_bytes.min(u32::MAX as usize), max_reads) {
                    Some(reads) => result(py, payload, &reads, screen.as_ref())?.into_any(),
                    None => py.None().into_bound(py),
                }
            }
            Err(_) => py.None().into_bound(py),
        };
        out.append(answer)?;
    }
    Ok(out)
}

/// The most characters of a normalized plate (streams/matching/normalize.py MAX_PLATE_LEN).
const MAX_PLATE_LEN: usize = 10;

/// A Bloom filter of strings (the hot list's canonical keys): `k` bits of `m` set per key by
/// double hashing of one 64-bit hash of its UTF-8 bytes, sized by the standard formulas for
/// `capacity` keys at `error_rate` false positives. The kernel probes it with a key's bytes and
/// Python with a str: the same bytes, the same bits.
#[pyclass(module = "alpr_native")]
struct Bloom {
    bits: Vec<u64>,
    m: u64,
    k: u32,
}

/// A 64-bit hash of a key's bytes: 8 bytes at a time folded in by multiplication, then mixed
/// (SplitMix64's finalizer), so every input bit reaches every output bit.
fn hash_bytes(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = (bytes.len() as u64).wrapping_mul(K) ^ 0x243f_6a88_85a3_08d3;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = mix(h ^ u64::from_le_bytes(word)).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        h = mix(h ^ u64::from_le_bytes(word)).wrapping_mul(K);
    }
    mix(h)
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Bloom {
    /// The bits of a key: h1 + i * h2 for i < k (h2 odd, so they differ), each taken mod m.
    fn positions(&self, bytes: &[u8]) -> impl Iterator<Item = u64> {
        let h1 = hash_bytes(bytes);
        let h2 = mix(h1 ^ 0x5851_f42d_4c95_7f2d) | 1;
        let m = self.m;
        (0..u64::from(self.k)).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % m)
    }

    fn contains_bytes(&self, bytes: &[u8]) -> bool {
        self.positions(bytes)
            .all(|p| self.bits[(p >> 6) as usize] & (1 << (p & 63)) != 0)
    }

    fn add_bytes(&mut self, bytes: &[u8]) {
        let positions: Vec<u64> = self.positions(bytes).collect();
        for p in positions {
            self.bits[(p >> 6) as usize] |= 1 << (p & 63);
        }
    }
}

#[pymethods]
impl Bloom {
    #[new]
    fn new(capacity: u64, error_rate: f64) -> PyResult<Self> {
        if capacity == 0 || !(error_rate > 0.0 && error_rate < 1.0) {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "a Bloom filter needs a capacity of at least 1 and an error rate between 0 and 1",
            ));
        }
        // m = -n ln p / (ln 2)^2 bits, k = m/n ln 2 hashes (rounded, at least one)
        let ln2 = std::f64::consts::LN_2;
        let n = capacity as f64;
        let m = (-n * error_rate.ln() / (ln2 * ln2)).ceil().max(64.0) as u64;
        let k = ((m as f64 / n) * ln2).round().max(1.0) as u32;
        Ok(Bloom {
            bits: vec![0; ((m + 63) / 64) as usize],
            m,
            k,
        })
    }

    fn add(&mut self, key: &str) {
        self.add_bytes(key.as_bytes());
    }

    fn update(&mut self, keys: &Bound<'_, PyAny>) -> PyResult<()> {
        for key in keys.iter()? {
            let key = key?;
            self.add_bytes(key.downcast::<PyString>()?.to_str()?.as_bytes());
        }
        Ok(())
    }

    fn __contains__(&self, key: &str) -> bool {
        self.contains_bytes(key.as_bytes())
    }

    #[getter]
    fn size_in_bits(&self) -> u64 {
        self.m
    }

    #[getter]
    fn hash_count(&self) -> u32 {
        self.k
    }
}

/// The hot list's partial patterns over canonical keys (`?` one character, `*` any run, any other
/// character itself, as the OCR classes' representative the caller made it): `lines(keys)` the
/// line numbers of "\n"-separated keys some pattern fits whole, `fitting(key)` the positions of
/// the patterns a key fits. One automaton for them all (patterns.rs), so a key costs one lookup
/// per character however many patterns there are. Its table holds at most `max_states` states
/// and `max_held` automaton states in their sets (8 bytes each; 8 MB by default).
#[pyclass(module = "alpr_native")]
struct Patterns {
    dfa: RefCell<patterns::Dfa>,
}

#[pymethods]
impl Patterns {
    #[new]
    #[pyo3(signature = (patterns, max_states=4096, max_held=1 << 20))]
    fn new(patterns: Vec<String>, max_states: usize, max_held: usize) -> Self {
        Patterns {
            dfa: RefCell::new(patterns::Dfa::new(&patterns, max_states, max_held)),
        }
    }

    fn __len__(&self) -> usize {
        self.dfa.borrow().len()
    }

    fn lines(&self, keys: &str) -> Vec<u32> {
        let mut dfa = self.dfa.borrow_mut();
        let mut out = Vec::new();
        for (n, key) in keys.split('\n').enumerate() {
            if dfa.fits_any(key.chars()) {
                out.push(n as u32);
            }
        }
        out
    }

    fn fitting(&self, key: &str) -> Vec<u32> {
        self.dfa.borrow_mut().fitting(key.chars())
    }

    /// The states its table holds now (the tests: it stays within `max_states`).
    fn states(&self) -> usize {
        self.dfa.borrow().states()
    }

    /// The automaton states its table's sets hold in all (the tests: within `max_held`, but for
    /// the start's set, which is always held).
    fn held(&self) -> usize {
        self.dfa.borrow().held()
    }
}

/// A full sync's per-record work for NCIC LPR extract lines (ncic.rs): `made(line)` gives
/// (key, plate, crc32 of the key, value, reason, case) for a line the Python path makes into an
/// entry, else None. The layout comes from streams/hotlists/adapters/ncic.py.
#[pyclass(module = "alpr_native", frozen)]
struct NcicLines {
    layout: ncic::Layout,
}

#[pymethods]
impl NcicLines {
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        source: String,
        columns: HashMap<String, usize>,
        vehicle: Vec<(String, String)>,
        files: HashMap<String, (String, String)>,
        dropped: HashSet<String>,
        max_plate: usize,
    ) -> PyResult<Self> {
        let column = |name: &str| -> PyResult<usize> {
            columns
                .get(name)
                .copied()
                .ok_or_else(|| pyo3::exceptions::PyValueError::new_err(format!("no column {}", name)))
        };
        let mut texts: Vec<&String> = vec![&source];
        texts.extend(vehicle.iter().map(|(name, _)| name));
        texts.extend(files.values().flat_map(|(a, b)| vec![a, b]));
        if let Some(text) = texts.into_iter().find(|t| !ncic::plain(t)) {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "{:?} would need escaping in JSON",
                text
            )));
        }
        let vehicle = vehicle
            .iter()
            .map(|(name, col)| column(col).map(|at| (name.clone(), at)))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(NcicLines {
            layout: ncic::Layout {
                source,
                columns: columns.len(),
                file: column("FILE")?,
                nic: column("NIC")?,
                ori: column("ORI")?,
                lic: column("LIC")?,
                lis: column("LIS")?,
                oca: column("OCA")?,
                mis: column("MIS")?,
                vehicle,
                files,
                dropped,
                max_plate,
            },
        })
    }

    fn made<'p>(&self, py: Python<'p>, line: &str) -> Option<Bound<'p, PyTuple>> {
        let made = self.layout.made(line)?;
        Some(PyTuple::new_bound(
            py,
            [
                made.key.into_py(py),
                made.plate.into_py(py),
                made.crc.into_py(py),
                PyBytes::new_bound(py, &made.value).into_py(py),
                made.reason.into_py(py),
                made.case.into_py(py),
            ],
        ))
    }
}

/// BLAKE2b of a text's UTF-8 (str) or of bytes, `size` bytes long: hashlib.blake2b(data,
/// digest_size=size).digest().
#[pyfunction]
fn blake2b<'p>(py: Python<'p>, data: &Bound<'p, PyAny>, size: usize) -> PyResult<Bound<'p, PyBytes>> {
    if !(1..=64).contains(&size) {
        return Err(pyo3::exceptions::PyValueError::new_err("size must be 1-64"));
    }
    let digest = if let Ok(text) = data.downcast::<PyString>() {
        digest::blake2b(text.to_str()?.as_bytes(), size)
    } else {
        digest::blake2b(data.downcast::<PyBytes>()?.as_bytes(), size)
    };
    Ok(PyBytes::new_bound(py, &digest))
}

/// The rules of schemas/read.json this kernel checks: (required fields, {property: constraints}).
#[pyfunction]
fn schema_rules(py: Python<'_>) -> PyResult<PyObject> {
    let props = pyo3::types::PyDict::new_bound(py);
    for p in PROPERTIES {
        let rule = pyo3::types::PyDict::new_bound(py);
        rule.set_item("type", p.types.to_vec())?;
        if let Some(v) = p.min_len {
            rule.set_item("minLength", v)?;
        }
        if let Some(v) = p.max_len {
            rule.set_item("maxLength", v)?;
        }
        if let Some(v) = p.minimum {
            rule.set_item("minimum", v)?;
        }
        if let Some(v) = p.maximum {
            rule.set_item("maximum", v)?;
        }
        if let Some(v) = p.pattern {
            rule.set_item("pattern", v)?;
        }
        if let Some(v) = p.values {
            rule.set_item("enum", v.to_vec())?;
        }
        if let Some(v) = p.format {
            rule.set_item("format", v)?;
        }
        props.set_item(p.name, rule)?;
    }
    Ok((REQUIRED.to_vec(), props).into_py(py))
}

#[pymodule]
fn alpr_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(check_read_batches, m)?)?;
    m.add_function(wrap_pyfunction!(schema_rules, m)?)?;
    m.add_class::<Bloom>()?;
    m.add_class::<Patterns>()?;
    m.add_class::<NcicLines>()?;
    m.add_function(wrap_pyfunction!(blake2b, m)?)?;
    Ok(())
}
