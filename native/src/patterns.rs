//! The hot list's partial-plate patterns (`?` one character, `*` any run, any other character
//! itself), matched against canonical keys by one automaton for them all.
//!
//! The patterns make a nondeterministic automaton whose states are (pattern, tokens consumed).
//! A key is run through its deterministic counterpart, built lazily: a state is the set of
//! automaton states a prefix of keys reaches, made the first time a prefix reaches it and then
//! looked up, so a key costs one table lookup per character whatever the number of patterns.
//! The table is bounded (`max_states` states, `max_held` automaton states in all its sets): past
//! that it is emptied and built again as keys need it, so a hostile set of patterns costs time,
//! never memory or a wrong answer.

use std::collections::HashMap;
use std::sync::Arc;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Token {
    Lit(u32), // a character class: the characters no pattern names share class 0
    Any,
    Star,
}

/// A state of the deterministic automaton: not made yet.
const UNKNOWN: u32 = u32::MAX;
/// The state no pattern can be completed from (every run of it stays there).
const DEAD: u32 = 0;

pub struct Dfa {
    patterns: Vec<Vec<Token>>,
    ascii: [u32; 128],          // an ASCII character's class
    others: HashMap<char, u32>, // the class of a non-ASCII character a pattern names
    classes: usize,
    max_states: usize,
    max_held: usize,
    sets: Vec<Arc<[u64]>>, // per state: its automaton states, (pattern << 32 | consumed), sorted
    ids: HashMap<Arc<[u64]>, u32>, // the state of a set
    held: usize,           // the automaton states in all the sets
    next: Vec<u32>,        // per state and class: the next state, or UNKNOWN
    fits: Vec<Vec<u32>>,   // per state: the patterns a key ending there fits, ascending
    start: u32,
}

impl Dfa {
    pub fn new(patterns: &[String], max_states: usize, max_held: usize) -> Dfa {
        let mut ascii = [0u32; 128];
        let mut others = HashMap::new();
        let mut classes = 1usize;
        let mut tokens = Vec::with_capacity(patterns.len());
        for pattern in patterns {
            let mut out: Vec<Token> = Vec::with_capacity(pattern.len());
            for ch in pattern.chars() {
                let token = match ch {
                    '?' => Token::Any,
                    '*' => Token::Star,
                    _ => {
                        let code = ch as usize;
                        let class = if code < 128 {
                            if ascii[code] == 0 {
                                ascii[code] = classes as u32;
                                classes += 1;
                            }
                            ascii[code]
                        } else {
                            *others.entry(ch).or_insert_with(|| {
                                classes += 1;
                                (classes - 1) as u32
                            })
                        };
                        Token::Lit(class)
                    }
                };
                if !(token == Token::Star && out.last() == Some(&Token::Star)) {
                    out.push(token); // "**" is "*"
                }
            }
            tokens.push(out);
        }
        let mut dfa = Dfa {
            patterns: tokens,
            ascii,
            others,
            classes,
            max_states: max_states.max(2),
            max_held,
            sets: Vec::new(),
            ids: HashMap::new(),
            held: 0,
            next: Vec::new(),
            fits: Vec::new(),
            start: DEAD,
        };
        dfa.reset();
        dfa
    }

    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    pub fn states(&self) -> usize {
        self.sets.len()
    }

    pub fn held(&self) -> usize {
        self.held
    }

    /// Empty the table but for the dead state and the start.
    fn reset(&mut self) {
        self.sets.clear();
        self.ids.clear();
        self.held = 0;
        self.next.clear();
        self.fits.clear();
        self.intern(Vec::new());
        let mut start = Vec::new();
        for p in 0..self.patterns.len() {
            self.close(p, 0, &mut start);
        }
        start.sort_unstable();
        start.dedup();
        self.start = self.intern(start);
    }

    /// Add (pattern, consumed) and what it reaches without a character: past a `*`.
    fn close(&self, p: usize, mut at: usize, out: &mut Vec<u64>) {
        let tokens = &self.patterns[p];
        loop {
            out.push(((p as u64) << 32) | at as u64);
            if at < tokens.len() && tokens[at] == Token::Star {
                at += 1;
            } else {
                return;
            }
        }
    }

    fn intern(&mut self, set: Vec<u64>) -> u32 {
        if let Some(&id) = self.ids.get(&set[..]) {
            return id;
        }
        let id = self.sets.len() as u32;
        let fits: Vec<u32> = set
            .iter()
            .filter(|&&s| (s & 0xffff_ffff) as usize == self.patterns[(s >> 32) as usize].len())
            .map(|&s| (s >> 32) as u32)
            .collect();
        self.fits.push(fits);
        self.next
            .extend(std::iter::repeat(UNKNOWN).take(self.classes));
        self.held += set.len();
        let set: Arc<[u64]> = set.into();
        self.ids.insert(Arc::clone(&set), id);
        self.sets.push(set);
        id
    }

    /// The state after `state` reads a character of `class`, made now.
    fn step(&mut self, state: u32, class: u32) -> u32 {
        let mut out = Vec::new();
        for &s in self.sets[state as usize].iter() {
            let (p, at) = ((s >> 32) as usize, (s & 0xffff_ffff) as usize);
            match self.patterns[p].get(at) {
                Some(Token::Lit(c)) if *c == class => self.close(p, at + 1, &mut out),
                Some(Token::Any) => self.close(p, at + 1, &mut out),
                Some(Token::Star) => self.close(p, at, &mut out),
                _ => {}
            }
        }
        out.sort_unstable();
        out.dedup();
        let full = self.sets.len() >= self.max_states || self.held + out.len() > self.max_held;
        if full && !self.ids.contains_key(&out[..]) {
            self.reset(); // the table is full: start it again (state numbers change)
            return self.intern(out);
        }
        let id = self.intern(out);
        self.next[state as usize * self.classes + class as usize] = id;
        id
    }

    fn class(&self, ch: char) -> u32 {
        let code = ch as usize;
        if code < 128 {
            self.ascii[code]
        } else {
            self.others.get(&ch).copied().unwrap_or(0)
        }
    }

    /// The state a key ends in (DEAD as soon as no pattern can fit it).
    pub fn run<I: Iterator<Item = char>>(&mut self, key: I) -> u32 {
        let mut state = self.start;
        for ch in key {
            let class = self.class(ch);
            let known = self.next[state as usize * self.classes + class as usize];
            state = if known == UNKNOWN {
                self.step(state, class)
            } else {
                known
            };
            if state == DEAD {
                return DEAD;
            }
        }
        state
    }

    /// Whether some pattern fits the key whole.
    pub fn fits_any<I: Iterator<Item = char>>(&mut self, key: I) -> bool {
        let state = self.run(key);
        !self.fits[state as usize].is_empty()
    }

    /// The patterns that fit the key whole, ascending.
    pub fn fitting<I: Iterator<Item = char>>(&mut self, key: I) -> Vec<u32> {
        let state = self.run(key);
        self.fits[state as usize].clone()
    }
}
