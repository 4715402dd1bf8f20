//! A full hot-list sync's per-record work for the NCIC LPR extract (schemas/feeds/ncic_lpr_extract.md):
//! a data line to its entry's key, plate and encoded value, without a Python object on the way.
//!
//! Like the read kernel, it answers only for a line the Python path (streams/hotlists/adapters/
//! ncic.py, `_parse`, and `check_entry`) turns into an entry, with the same entry, byte for byte as
//! `dumps(entry_to_dict(entry))` encodes it; for anything else or any doubt it answers None and the
//! Python path decides and words the error. So it takes only printable ASCII lines without `"` or
//! `\` (nothing to escape in JSON, nothing `str.strip` reads as space but the space), a plain plate
//! (letters and digits), a state of two letters or none, and a file code of the table it was given.
//! The layout (columns, file codes, vehicle fields) comes from Python, never fixed here. The
//! P5/P22 purpose classifier stays in Python: the caller runs it on the reason and case given back.

use std::collections::{HashMap, HashSet};

use crate::digest::crc32;

/// What the caller needs of one line: the entry's key and plate, the CRC-32 of its key, its value
/// as the hot-list topic holds it, and the reason and case for the purpose classifier.
pub struct Made {
    pub key: String,
    pub plate: String,
    pub crc: u32,
    pub value: Vec<u8>,
    pub reason: String,
    pub case: Option<String>,
}

pub struct Layout {
    pub source: String,
    pub columns: usize,
    pub file: usize,
    pub nic: usize,
    pub ori: usize,
    pub lic: usize,
    pub lis: usize,
    pub oca: usize,
    pub mis: usize,
    /// The vehicle's fields as an entry names them, in name order, with the column of each.
    pub vehicle: Vec<(String, usize)>,
    /// File code -> (list type, description).
    pub files: HashMap<String, (String, String)>,
    /// File codes whose records are dropped (P5): always the Python path, which says so.
    pub dropped: HashSet<String>,
    pub max_plate: usize,
}

/// A text JSON writes as it is: printable ASCII without a quote or a backslash.
pub fn plain(text: &str) -> bool {
    text.bytes().all(|c| (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\')
}

fn string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
}

fn nullable(out: &mut Vec<u8>, text: &str) {
    if text.is_empty() {
        out.extend_from_slice(b"null");
    } else {
        string(out, text);
    }
}

impl Layout {
    pub fn made(&self, line: &str) -> Option<Made> {
        if !plain(line) {
            return None;
        }
        let fields: Vec<&str> = line.split('|').map(|f| f.trim_matches(' ')).collect();
        if fields.len() != self.columns {
            return None;
        }
        let file = fields[self.file];
        if self.dropped.contains(file) {
            return None;
        }
        let (list_type, description) = self.files.get(file)?;
        let nic = fields[self.nic];
        let lic = fields[self.lic];
        let lis = fields[self.lis];
        if nic.is_empty()
            || lic.is_empty()
            || lic.len() > self.max_plate
            || !lic.bytes().all(|c| c.is_ascii_alphanumeric())
            || !(lis.is_empty() || (lis.len() == 2 && lis.bytes().all(|c| c.is_ascii_alphabetic())))
        {
            return None;
        }
        let plate = lic.to_ascii_uppercase();
        let mis = fields[self.mis];
        let reason = if mis.is_empty() {
            description.clone()
        } else {
            format!("{}: {}", description, mis)
        };
        let key = format!("{}:{}", self.source, nic);
        let mut out = Vec::with_capacity(400);
        out.extend_from_slice(b"{\"source\":");
        string(&mut out, &self.source);
        out.extend_from_slice(b",\"entry_id\":");
        string(&mut out, nic);
        out.extend_from_slice(b",\"plate\":");
        string(&mut out, &plate);
        out.extend_from_slice(b",\"plate_state\":");
        nullable(&mut out, lis);
        out.extend_from_slice(b",\"list_type\":");
        string(&mut out, list_type);
        out.extend_from_slice(b",\"reason\":");
        string(&mut out, &reason);
        out.extend_from_slice(b",\"case_number\":");
        nullable(&mut out, fields[self.oca]);
        out.extend_from_slice(
            b",\"effective_at\":null,\"expires_at\":null,\"synced_at\":null,\"entered_by\":null,\"approved_by\":null,\"ori\":",
        );
        nullable(&mut out, fields[self.ori]);
        out.extend_from_slice(b",\"vehicle\":");
        let mut any = false;
        for (name, at) in &self.vehicle {
            let value = fields[*at];
            if value.is_empty() {
                continue;
            }
            out.push(if any { b',' } else { b'{' });
            any = true;
            string(&mut out, name);
            out.push(b':');
            string(&mut out, value);
        }
        out.extend_from_slice(if any { b"}}" } else { b"null}" });
        let case = fields[self.oca];
        Some(Made {
            crc: crc32(key.as_bytes()),
            key,
            plate,
            value: out,
            reason,
            case: if case.is_empty() { None } else { Some(case.to_string()) },
        })
    }
}
