//! Schema-constrained decoding for an in-process LLM: a byte-level automaton that accepts exactly
//! the CSV answers whose every row parses ([`crate::llm::parse`]) and validates against the
//! schema, and a token mask computed from it at every decoding step.
//!
//! # The language ([`RowGrammar`])
//! In CSV ([`RowGrammar::csv`]) the answer is the header line (the column names, in the order
//! given, comma-separated), then `rows` data lines, each ending in `\n`, then nothing (only
//! end-of-text). A data line is one field per column separated by `,`. In JSON Lines
//! ([`RowGrammar::json_lines`]) there is no header and each line is one object with every
//! column as a key, in order (`{"age":61,"unit":"MICU","lactate":null}`). Between fields the
//! text is fixed (`,`, `\n`, `,"name":`, `}\n`), so the automaton is a sequence of literals and
//! fields. Each field follows a small rule compiled from the column's [`ColumnSpec`]:
//! - **Numbers** (integer and continuous): an optional `-`, an integer part without leading zeros
//!   (`0` or `[1-9][0-9]*`), and for continuous columns an optional `.` with 1 to `decimals`
//!   digits (3 by default, more only when the range is too narrow for 3). No exponent, no `+`, no
//!   `-0`. The value must lie in `[min, max]` (unbounded sides are capped at ±10¹²). Bounds are
//!   turned into an interval of integers at scale 10^decimals, found by formatting candidates and
//!   parsing them with `f64::from_str`, the validator's own conversion, so the test is exact.
//!   Prefix test: a digit (or `.`) may be added only if some completion of the field still lands
//!   in the interval. For an integer part `P` with `j` more digits to come the reachable values
//!   are `[P·10^j, (P+1)·10^j)` (times the scale), one interval per `j`, so the test is a few
//!   integer comparisons (in [35, 42]: `3` and `4` live, `5` dead, `42.` live only because `42.0`
//!   is, `42.1` dead).
//! - **Binary**: `0` or `1`.
//! - **Categorical** with categories: one of them, from a byte trie (in JSON as a JSON string). In
//!   CSV a category containing `,`,
//!   `"`, `;`, `|` or a tab, or that could read as a Markdown rule or fence, is written CSV-quoted
//!   (`"a, b"`, `""` for a quote). Categories the answer parser could not read back as
//!   themselves are left out: empty ones, ones with surrounding spaces or quote characters, line
//!   breaks or control characters, missing-value spellings (`NA`, `None`, ...) and ones equal to
//!   a column name (a row made of column names reads as a repeated header).
//! - **Categorical without categories** (any text validates): 1 to 24 characters from
//!   `[A-Za-z0-9_./-]`, not a missing-value spelling, not only dashes, not a column name.
//! - **Missing**: an empty field (JSON: `null`), only where the schema allows missing values (and
//!   never in a one-column CSV grammar, whose empty row would be a blank line).
//! - **Fixed** columns (the group a request is conditioned on) take only their given value.
//!
//! Every state the automaton can reach is *live* (some completion of the whole answer exists):
//! each step is refused unless the field state it leads to can still complete, and every field
//! has at least one complete value (checked when the grammar is built).
//!
//! # Masking ([`ConstrainedDecoder::allowed`])
//! Tokens are byte strings that may span fields (`",1"`, `".5\n"`). [`TokenVocabulary`] builds a
//! byte trie of all ordinary tokens once, flattened in depth-first order (each node stores its
//! byte, depth and the end of its subtree). Masking walks that array once with a stack of
//! automaton states, one per depth: a node whose byte the automaton refuses skips its whole
//! subtree, and a node it accepts allows every token that ends there. Cost is proportional to the
//! live part of the trie, not to the vocabulary (see the `grammar` bench for measured figures).
//! Special tokens (`<|im_start|>` and the like) are never allowed; end-of-text only when the
//! answer is complete, and then it is the only token allowed.
//!
//! The vocabulary must contain every single byte as a token (byte-level BPE vocabularies do);
//! [`TokenVocabulary::missing_single_bytes`] says which are absent otherwise.

use std::sync::Arc;

use ehrsynth_table::cell::{is_missing_token, parse_number};

use super::cell_text::{clean_text, eq_ci, is_extra_missing};
use ehrsynth_table::validate::validate_text;
use ehrsynth_table::{ColumnKind, ColumnSpec, Schema};

use crate::generator::GenError;

/// Decimals allowed in continuous values unless the range needs more.
pub const DEFAULT_DECIMALS: u32 = 3;
/// The most decimals a continuous value may get, for very narrow ranges.
const MAX_DECIMALS: u32 = 12;
/// Bound on the magnitude of numbers when the schema gives none.
const NUMBER_CAP: f64 = 1e12;
/// Longest free-text category value.
const FREE_TEXT_MAX: usize = 24;

// ---------------------------------------------------------------------------------------------
// Vocabulary

/// The model's tokens as raw bytes, with a byte trie for fast masking.
pub struct TokenVocabulary {
    tokens: Vec<Vec<u8>>,
    end_of_text: u32,
    special: Vec<bool>,
    trie: FlatTrie,
}

/// A byte trie in depth-first order. Node `i` (the root is implicit) has byte `bytes[i]`, depth
/// `depth[i]` (1 for a token's first byte), its subtree is `i..end[i]`, and the tokens ending at
/// it are `ids[first_id[i]..first_id[i + 1]]`.
#[derive(Default)]
struct FlatTrie {
    bytes: Vec<u8>,
    depth: Vec<u16>,
    end: Vec<u32>,
    first_id: Vec<u32>,
    ids: Vec<u32>,
    max_depth: usize,
}

/// A trie node while building: children sorted by byte.
#[derive(Default)]
struct BuildNode {
    children: Vec<(u8, u32)>,
    ids: Vec<u32>,
}

impl FlatTrie {
    fn build(tokens: &[Vec<u8>], usable: impl Fn(usize) -> bool) -> Self {
        let mut nodes = vec![BuildNode::default()];
        for (id, bytes) in tokens.iter().enumerate() {
            if bytes.is_empty() || !usable(id) {
                continue;
            }
            let mut at = 0usize;
            for &b in bytes {
                at = match nodes[at].children.binary_search_by_key(&b, |c| c.0) {
                    Ok(k) => nodes[at].children[k].1 as usize,
                    Err(k) => {
                        let new = nodes.len() as u32;
                        nodes[at].children.insert(k, (b, new));
                        nodes.push(BuildNode::default());
                        new as usize
                    }
                };
            }
            nodes[at].ids.push(id as u32);
        }
        let mut flat = FlatTrie::default();
        // Iterative pre-order walk: (node, byte, depth, index in flat when entered or None).
        let mut stack: Vec<(usize, u8, u16, Option<usize>)> = nodes[0]
            .children
            .iter()
            .rev()
            .map(|&(b, n)| (n as usize, b, 1, None))
            .collect();
        while let Some((node, byte, depth, entered)) = stack.pop() {
            if let Some(index) = entered {
                flat.end[index] = flat.bytes.len() as u32;
                continue;
            }
            let index = flat.bytes.len();
            flat.bytes.push(byte);
            flat.depth.push(depth);
            flat.end.push(0);
            flat.first_id.push(flat.ids.len() as u32);
            flat.ids.extend_from_slice(&nodes[node].ids);
            flat.max_depth = flat.max_depth.max(depth as usize);
            stack.push((node, byte, depth, Some(index)));
            for &(b, child) in nodes[node].children.iter().rev() {
                stack.push((child as usize, b, depth + 1, None));
            }
        }
        flat.first_id.push(flat.ids.len() as u32);
        flat
    }

    /// Calls `allow(id)` for every token whose bytes `step` accepts one by one from `start`.
    fn walk<S: Copy>(
        &self,
        start: S,
        mut step: impl FnMut(&S, u8) -> Option<S>,
        mut allow: impl FnMut(u32),
    ) {
        let mut states = vec![start; self.max_depth + 1];
        let n = self.bytes.len();
        let mut i = 0;
        while i < n {
            let depth = self.depth[i] as usize;
            match step(&states[depth - 1], self.bytes[i]) {
                None => i = self.end[i] as usize,
                Some(next) => {
                    states[depth] = next;
                    let ids = &self.ids[self.first_id[i] as usize..self.first_id[i + 1] as usize];
                    for &id in ids {
                        allow(id);
                    }
                    i += 1;
                }
            }
        }
    }
}

/// GPT-2's byte-to-character table, inverted: printable Latin-1 bytes stand for themselves,
/// the other 68 bytes for U+0100 onwards in byte order.
fn byte_level_decoder() -> std::collections::HashMap<char, u8> {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut next = 256u32;
    (0..=255u8)
        .map(|b| {
            let c = if printable(b) {
                char::from(b)
            } else {
                next += 1;
                char::from_u32(next - 1).unwrap_or('\u{FFFD}')
            };
            (c, b)
        })
        .collect()
}

/// A control token such as `<|im_start|>`, `<|endoftext|>` or `<repo_name>`.
fn looks_special(bytes: &[u8]) -> bool {
    bytes.len() >= 3
        && bytes[0] == b'<'
        && bytes[bytes.len() - 1] == b'>'
        && bytes[1..bytes.len() - 1]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'|')
        && (bytes.len() > 4 || bytes[1] == b'|')
}

impl TokenVocabulary {
    /// The vocabulary from each token's raw bytes (index = token id). Tokens that look like
    /// control tokens (`<|...|>`, `<name_with_underscores>`) are special and never allowed, nor
    /// are empty ones; mark others with [`TokenVocabulary::with_special`].
    pub fn new(tokens: Vec<Vec<u8>>, end_of_text: u32) -> Self {
        let special: Vec<bool> = tokens
            .iter()
            .enumerate()
            .map(|(id, t)| id as u32 == end_of_text || looks_special(t))
            .collect();
        Self::build(tokens, end_of_text, special)
    }

    /// The vocabulary from GPT-2 style byte-level token strings (as GGUF files of byte-level BPE
    /// models store them: each byte is one printable character, `Ġ` for a space, `Ċ` for a
    /// newline). Characters outside that alphabet (in control tokens) are kept as UTF-8.
    pub fn from_byte_level(tokens: &[String], end_of_text: u32) -> Self {
        let decode = byte_level_decoder();
        let bytes = tokens
            .iter()
            .map(|t| {
                let mut out = Vec::with_capacity(t.len());
                for c in t.chars() {
                    match decode.get(&c) {
                        Some(&b) => out.push(b),
                        None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                    }
                }
                out
            })
            .collect();
        Self::new(bytes, end_of_text)
    }

    /// The same vocabulary with tokens `ids` also special (e.g. the GGUF's control tokens).
    pub fn with_special(self, ids: impl IntoIterator<Item = u32>) -> Self {
        let mut special = self.special;
        for id in ids {
            if let Some(s) = special.get_mut(id as usize) {
                *s = true;
            }
        }
        Self::build(self.tokens, self.end_of_text, special)
    }

    fn build(tokens: Vec<Vec<u8>>, end_of_text: u32, special: Vec<bool>) -> Self {
        let trie = FlatTrie::build(&tokens, |id| !special[id]);
        Self {
            tokens,
            end_of_text,
            special,
            trie,
        }
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// True when there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The end-of-text token.
    pub fn end_of_text(&self) -> u32 {
        self.end_of_text
    }

    /// The bytes of token `id`.
    pub fn bytes(&self, id: u32) -> Option<&[u8]> {
        self.tokens.get(id as usize).map(Vec::as_slice)
    }

    /// Whether token `id` is special (never part of an answer's text).
    pub fn is_special(&self, id: u32) -> bool {
        self.special.get(id as usize).copied().unwrap_or(true)
    }

    /// Bytes with no single-byte ordinary token: decoding can get stuck only if some are needed.
    pub fn missing_single_bytes(&self) -> Vec<u8> {
        let mut present = [false; 256];
        for (id, t) in self.tokens.iter().enumerate() {
            if t.len() == 1 && !self.special[id] {
                present[t[0] as usize] = true;
            }
        }
        (0..=255u8).filter(|&b| !present[b as usize]).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Field rules

/// Numbers as integers at scale 10^decimals; `positive`/`negative` are the allowed magnitudes
/// with each sign (negative magnitudes start at 1: no `-0`).
#[derive(Debug, Clone)]
struct NumberRule {
    decimals: u32,
    scale: u128,
    positive: Option<(u128, u128)>,
    negative: Option<(u128, u128)>,
}

/// The bytes read so far of a number field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NumberState {
    negative: bool,
    int_digits: u8,
    int_value: u128,
    dot: bool,
    frac_digits: u8,
    frac_value: u128,
}

const NUMBER_START: NumberState = NumberState {
    negative: false,
    int_digits: 0,
    int_value: 0,
    dot: false,
    frac_digits: 0,
    frac_value: 0,
};

/// `x` with `decimals` decimals as text, e.g. (-1234, 2) → "-12.34".
fn format_scaled(n: i128, decimals: u32) -> String {
    let sign = if n < 0 { "-" } else { "" };
    let m = n.unsigned_abs();
    if decimals == 0 {
        return format!("{sign}{m}");
    }
    let scale = 10u128.pow(decimals);
    format!(
        "{sign}{}.{:0width$}",
        m / scale,
        m % scale,
        width = decimals as usize
    )
}

/// The value the validator sees for scaled integer `n`.
fn scaled_value(n: i128, decimals: u32) -> f64 {
    format_scaled(n, decimals)
        .parse::<f64>()
        .unwrap_or(f64::NAN)
}

/// The scaled integers whose value lies in `[lo, hi]`, exactly as the validator compares.
fn scaled_bounds(lo: f64, hi: f64, decimals: u32) -> Option<(i128, i128)> {
    let scale = 10f64.powi(decimals as i32);
    let mut min = (lo * scale).ceil() as i128;
    while scaled_value(min - 1, decimals) >= lo {
        min -= 1;
    }
    while scaled_value(min, decimals) < lo {
        min += 1;
    }
    let mut max = (hi * scale).floor() as i128;
    while scaled_value(max + 1, decimals) <= hi {
        max += 1;
    }
    while scaled_value(max, decimals) > hi {
        max -= 1;
    }
    (min <= max).then_some((min, max))
}

impl NumberRule {
    /// Integers (`decimals` = 0) or decimals in the spec's range; `None` when nothing fits.
    fn new(spec: &ColumnSpec, decimals: u32) -> Option<Self> {
        let lo = spec.min.unwrap_or(-NUMBER_CAP).max(-NUMBER_CAP);
        let hi = spec.max.unwrap_or(NUMBER_CAP).min(NUMBER_CAP);
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return None;
        }
        let (min, max) = scaled_bounds(lo, hi, decimals)?;
        let positive = (max >= 0).then(|| (min.max(0) as u128, max as u128));
        let negative = (min <= -1).then(|| ((-max).max(1) as u128, (-min) as u128));
        Some(Self {
            decimals,
            scale: 10u128.pow(decimals),
            positive,
            negative,
        })
    }

    /// Continuous: `decimals` decimals, more if the range is too narrow.
    fn continuous(spec: &ColumnSpec, decimals: u32) -> Option<Self> {
        (decimals..=MAX_DECIMALS.max(decimals)).find_map(|d| Self::new(spec, d))
    }

    fn magnitudes(&self, negative: bool) -> Option<(u128, u128)> {
        if negative {
            self.negative
        } else {
            self.positive
        }
    }

    /// The magnitude of a complete number, if `s` is one.
    fn complete_value(&self, s: &NumberState) -> Option<u128> {
        if s.int_digits == 0 || (s.dot && s.frac_digits == 0) {
            return None;
        }
        let rest = 10u128.pow(self.decimals - u32::from(s.frac_digits));
        Some(s.int_value * self.scale + s.frac_value * rest)
    }

    fn is_complete(&self, s: &NumberState) -> bool {
        match (self.complete_value(s), self.magnitudes(s.negative)) {
            (Some(v), Some((lo, hi))) => lo <= v && v <= hi,
            _ => false,
        }
    }

    /// Whether some completion of `s` is a number in range.
    fn is_live(&self, s: &NumberState) -> bool {
        let Some((lo, hi)) = self.magnitudes(s.negative) else {
            return false;
        };
        if s.int_digits == 0 {
            return true;
        }
        if s.dot {
            let rest = 10u128.pow(self.decimals - u32::from(s.frac_digits));
            let low = s.int_value * self.scale + s.frac_value * rest;
            return low <= hi && low + rest > lo;
        }
        if s.int_value == 0 {
            // "0" takes no more integer digits.
            return lo < self.scale;
        }
        let mut width = 1u128;
        loop {
            let low = s.int_value * width * self.scale;
            if low > hi {
                return false;
            }
            let high = (s.int_value + 1) * width * self.scale - 1;
            if high >= lo {
                return true;
            }
            width *= 10;
        }
    }

    fn step(&self, s: &NumberState, byte: u8) -> Option<NumberState> {
        let mut next = *s;
        match byte {
            b'-' if *s == NUMBER_START => next.negative = true,
            b'0'..=b'9' if !s.dot => {
                if s.int_digits == 1 && s.int_value == 0 {
                    return None;
                }
                next.int_digits = s.int_digits.checked_add(1)?;
                next.int_value = s.int_value * 10 + u128::from(byte - b'0');
            }
            b'0'..=b'9' => {
                if u32::from(s.frac_digits) >= self.decimals {
                    return None;
                }
                next.frac_digits += 1;
                next.frac_value = s.frac_value * 10 + u128::from(byte - b'0');
            }
            b'.' if !s.dot && s.int_digits > 0 && self.decimals > 0 => next.dot = true,
            _ => return None,
        }
        self.is_live(&next).then_some(next)
    }
}

/// A choice among fixed byte strings (categories, binary digits, a fixed value), as a trie.
#[derive(Debug, Clone, Default)]
struct ChoiceRule {
    /// Node 0 is the root; children sorted by byte.
    children: Vec<Vec<(u8, u32)>>,
    complete: Vec<bool>,
}

impl ChoiceRule {
    fn new<B: AsRef<[u8]>>(options: &[B]) -> Self {
        let mut rule = Self {
            children: vec![Vec::new()],
            complete: vec![false],
        };
        for option in options {
            let mut at = 0usize;
            for &b in option.as_ref() {
                at = match rule.children[at].binary_search_by_key(&b, |c| c.0) {
                    Ok(k) => rule.children[at][k].1 as usize,
                    Err(k) => {
                        let new = rule.children.len() as u32;
                        rule.children[at].insert(k, (b, new));
                        rule.children.push(Vec::new());
                        rule.complete.push(false);
                        new as usize
                    }
                };
            }
            rule.complete[at] = true;
        }
        rule
    }

    fn step(&self, node: u32, byte: u8) -> Option<u32> {
        let children = &self.children[node as usize];
        children.iter().find(|c| c.0 == byte).map(|c| c.1)
    }

    fn has_options(&self) -> bool {
        self.complete.iter().any(|&c| c)
    }
}

/// Free text for categorical columns without a category list.
#[derive(Debug, Clone)]
struct FreeTextRule {
    /// Texts that would not read back as themselves: column names (lowercase).
    forbidden: Vec<String>,
    /// Written as a JSON string (`"text"`).
    quoted: bool,
}

/// The bytes of a free-text field so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FreeTextState {
    len: u8,
    bytes: [u8; FREE_TEXT_MAX],
    /// The opening quote was read (quoted rules only).
    open: bool,
    /// The closing quote was read.
    closed: bool,
}

fn free_text_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'-')
}

impl FreeTextRule {
    /// Whether `text` (non-empty, allowed bytes) reads back as itself.
    fn acceptable(&self, text: &[u8]) -> bool {
        let Ok(t) = std::str::from_utf8(text) else {
            return false;
        };
        !is_missing_token(t)
            && !is_extra_missing(t)
            && !t.bytes().all(|b| b == b'-')
            && !self.forbidden.iter().any(|f| *f == t.to_lowercase())
    }

    fn step(&self, s: &FreeTextState, byte: u8) -> Option<FreeTextState> {
        if self.quoted && !s.open {
            return (byte == b'"').then_some(FreeTextState { open: true, ..*s });
        }
        if s.closed {
            return None;
        }
        if self.quoted && byte == b'"' {
            let done = s.len > 0 && self.acceptable(&s.bytes[..s.len as usize]);
            return done.then_some(FreeTextState { closed: true, ..*s });
        }
        let len = s.len as usize;
        if !free_text_byte(byte) || len >= FREE_TEXT_MAX {
            return None;
        }
        let mut next = *s;
        next.bytes[len] = byte;
        next.len += 1;
        let text = &next.bytes[..len + 1];
        // Live when complete now or after one more character (enough: that state is complete).
        let live = self.acceptable(text)
            || (len + 1 < FREE_TEXT_MAX
                && [b'x', b'q', b'z', b'7'].iter().any(|&c| {
                    let mut longer = text.to_vec();
                    longer.push(c);
                    self.acceptable(&longer)
                }));
        live.then_some(next)
    }

    fn is_complete(&self, s: &FreeTextState) -> bool {
        if self.quoted {
            s.closed
        } else {
            s.len > 0 && self.acceptable(&s.bytes[..s.len as usize])
        }
    }
}

#[derive(Debug, Clone)]
enum FieldKind {
    Number(NumberRule),
    Choice(ChoiceRule),
    FreeText(FreeTextRule),
}

/// How a missing value is written, if allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Missing {
    /// Never missing.
    No,
    /// An empty field (CSV).
    Empty,
    /// `null` (JSON).
    Null,
}

/// One column's rule: its values, and how (whether) it may be missing.
#[derive(Debug, Clone)]
struct FieldRule {
    kind: FieldKind,
    missing: Missing,
}

/// Where inside a field the automaton is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldState {
    Number(NumberState),
    Choice(u32),
    FreeText(FreeTextState),
    /// Inside `null`, after this many bytes.
    Null(u8),
}

impl FieldRule {
    fn start(&self) -> FieldState {
        match self.kind {
            FieldKind::Number(_) => FieldState::Number(NUMBER_START),
            FieldKind::Choice(_) => FieldState::Choice(0),
            FieldKind::FreeText(_) => FieldState::FreeText(FreeTextState {
                len: 0,
                bytes: [0; FREE_TEXT_MAX],
                open: false,
                closed: false,
            }),
        }
    }

    fn is_complete(&self, s: &FieldState) -> bool {
        if *s == self.start() {
            return self.missing == Missing::Empty;
        }
        match (&self.kind, s) {
            (_, FieldState::Null(at)) => *at == 4,
            (FieldKind::Number(rule), FieldState::Number(n)) => rule.is_complete(n),
            (FieldKind::Choice(rule), FieldState::Choice(node)) => rule.complete[*node as usize],
            (FieldKind::FreeText(rule), FieldState::FreeText(t)) => rule.is_complete(t),
            _ => false,
        }
    }

    fn step(&self, s: &FieldState, byte: u8) -> Option<FieldState> {
        // No value starts with `n` (JSON strings start with a quote), so `null` is unambiguous.
        if self.missing == Missing::Null && byte == b'n' && *s == self.start() {
            return Some(FieldState::Null(1));
        }
        match (&self.kind, s) {
            (_, FieldState::Null(at)) => {
                (b"null".get(*at as usize) == Some(&byte)).then_some(FieldState::Null(at + 1))
            }
            (FieldKind::Number(rule), FieldState::Number(n)) => {
                rule.step(n, byte).map(FieldState::Number)
            }
            (FieldKind::Choice(rule), FieldState::Choice(node)) => {
                rule.step(*node, byte).map(FieldState::Choice)
            }
            (FieldKind::FreeText(rule), FieldState::FreeText(t)) => {
                rule.step(t, byte).map(FieldState::FreeText)
            }
            _ => None,
        }
    }

    /// Whether the field can take any value at all.
    fn has_values(&self) -> bool {
        self.missing != Missing::No
            || match &self.kind {
                FieldKind::Number(_) | FieldKind::FreeText(_) => true,
                FieldKind::Choice(rule) => rule.has_options(),
            }
    }

    /// A short description of what the field accepts, for error messages.
    fn describe(&self) -> String {
        let what = match &self.kind {
            FieldKind::Number(rule) => {
                let side = |m: Option<(u128, u128)>, neg: bool| {
                    m.map(|(lo, hi)| {
                        let (lo, hi) = (lo as i128, hi as i128);
                        if neg { (-hi, -lo) } else { (lo, hi) }
                    })
                };
                let lo = side(rule.negative, true)
                    .or(side(rule.positive, false))
                    .map(|r| r.0);
                let hi = side(rule.positive, false)
                    .or(side(rule.negative, true))
                    .map(|r| r.1);
                match (lo, hi) {
                    (Some(lo), Some(hi)) => format!(
                        "a number in [{}, {}] with at most {} decimals",
                        format_scaled(lo, rule.decimals),
                        format_scaled(hi, rule.decimals),
                        rule.decimals
                    ),
                    _ => "a number".to_string(),
                }
            }
            FieldKind::Choice(_) => "one of the listed values".to_string(),
            FieldKind::FreeText(_) => "a short text".to_string(),
        };
        match self.missing {
            Missing::No => what,
            Missing::Empty => format!("{what} (or empty)"),
            Missing::Null => format!("{what} (or null)"),
        }
    }
}

/// `text` as a CSV field: quoted when it holds a separator, a quote, or could read as a
/// Markdown rule or fence line.
fn csv_field(text: &str) -> String {
    let needs_quotes = text.contains([',', '"', ';', '|', '\t'])
        || text.starts_with('~')
        || text.chars().all(|c| matches!(c, '-' | ':' | ' '));
    if needs_quotes {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// Whether the answer parser reads `text` back as exactly `text` in a cell.
fn reads_back(text: &str) -> bool {
    !text.is_empty()
        && clean_text(text) == text
        && !text.chars().any(char::is_control)
        && !is_missing_token(text)
}

// ---------------------------------------------------------------------------------------------
// Grammar

/// How rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFormat {
    /// A header line, then one comma-separated line per row; missing is an empty field.
    Csv,
    /// JSON Lines: one object per line, keys in column order; missing is `null`.
    JsonLines,
}

/// The answer language for given columns of a schema (see the module docs).
#[derive(Debug, Clone)]
pub struct RowGrammar {
    format: RowFormat,
    header: Vec<u8>,
    /// The text before each field: `,` in CSV (nothing before the first), `,"name":` in JSON.
    prefixes: Vec<Vec<u8>>,
    /// The text after the last field: `\n`, or `}\n` in JSON.
    row_end: Vec<u8>,
    fields: Vec<FieldRule>,
    columns: Vec<String>,
}

impl RowGrammar {
    /// The grammar of CSV answers with `columns` (schema names, in this order); `fixed` columns
    /// (name, value) take only their value. Continuous values get at most
    /// [`DEFAULT_DECIMALS`] decimals.
    pub fn csv(
        schema: &Schema,
        columns: &[String],
        fixed: &[(String, String)],
    ) -> Result<Self, GenError> {
        Self::build(schema, columns, fixed, RowFormat::Csv, DEFAULT_DECIMALS)
    }

    /// [`RowGrammar::csv`] as JSON Lines: `{"a":1,"b":"x","c":null}` per line, no header.
    pub fn json_lines(
        schema: &Schema,
        columns: &[String],
        fixed: &[(String, String)],
    ) -> Result<Self, GenError> {
        Self::build(
            schema,
            columns,
            fixed,
            RowFormat::JsonLines,
            DEFAULT_DECIMALS,
        )
    }

    /// A grammar in `format` with at most `decimals` decimals in continuous values (more only
    /// where a range is too narrow to hold any such value).
    pub fn build(
        schema: &Schema,
        columns: &[String],
        fixed: &[(String, String)],
        format: RowFormat,
        decimals: u32,
    ) -> Result<Self, GenError> {
        Self::build_with_precision(schema, columns, fixed, format, decimals, &[])
    }

    /// [`RowGrammar::build`] where the columns named in `precision` get their own number of
    /// decimals (the training data's precision: 0 writes integers only), the others `decimals`.
    pub fn build_with_precision(
        schema: &Schema,
        columns: &[String],
        fixed: &[(String, String)],
        format: RowFormat,
        decimals: u32,
        precision: &[(String, u32)],
    ) -> Result<Self, GenError> {
        let invalid = |m: String| GenError::Invalid(format!("constrained decoding: {m}"));
        if columns.is_empty() {
            return Err(invalid("no columns to generate".into()));
        }
        let decimals = decimals.min(MAX_DECIMALS);
        for (name, _) in fixed {
            if !columns.contains(name) {
                return Err(invalid(format!(
                    "fixed column '{name}' is not among the generated columns"
                )));
            }
        }
        let json = format == RowFormat::JsonLines;
        let mut fields = Vec::with_capacity(columns.len());
        for (i, name) in columns.iter().enumerate() {
            if columns[..i].contains(name) {
                return Err(invalid(format!("column '{name}' is listed twice")));
            }
            let spec = schema
                .column(name)
                .ok_or_else(|| invalid(format!("column '{name}' is not in the schema")))?;
            let fixed_value = fixed.iter().find(|(n, _)| n == name).map(|(_, v)| v);
            let mut rule = match fixed_value {
                Some(value) => fixed_rule(spec, value, json).map_err(invalid)?,
                None => {
                    let own = precision.iter().find(|(n, _)| n == name).map(|(_, d)| *d);
                    field_rule(
                        spec,
                        columns,
                        own.unwrap_or(decimals).min(MAX_DECIMALS),
                        json,
                    )
                    .ok_or_else(|| invalid(format!("column '{name}': no value fits its range")))?
                }
            };
            // A one-column CSV row that is empty would be a blank line, which parsers skip.
            if rule.missing == Missing::Empty && columns.len() == 1 {
                rule.missing = Missing::No;
            }
            if !rule.has_values() {
                return Err(invalid(format!(
                    "column '{name}' can take no value that reads back as itself"
                )));
            }
            fields.push(rule);
        }
        let (header, prefixes, row_end) = match format {
            RowFormat::Csv => {
                let mut header = columns
                    .iter()
                    .map(|c| csv_field(c))
                    .collect::<Vec<_>>()
                    .join(",")
                    .into_bytes();
                header.push(b'\n');
                let prefixes = (0..columns.len())
                    .map(|i| if i == 0 { Vec::new() } else { b",".to_vec() })
                    .collect();
                (header, prefixes, b"\n".to_vec())
            }
            RowFormat::JsonLines => {
                let prefixes = columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let open = if i == 0 { "{" } else { "," };
                        format!("{open}{}:", json_string(c)).into_bytes()
                    })
                    .collect();
                (Vec::new(), prefixes, b"}\n".to_vec())
            }
        };
        Ok(Self {
            format,
            header,
            prefixes,
            row_end,
            fields,
            columns: columns.to_vec(),
        })
    }

    /// The row format.
    pub fn format(&self) -> RowFormat {
        self.format
    }

    /// The generated columns, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The header line with its `\n` (empty for JSON Lines).
    pub fn header(&self) -> &str {
        std::str::from_utf8(&self.header).unwrap_or_default()
    }

    /// What column `index` accepts, in words.
    pub fn describe_field(&self, index: usize) -> Option<String> {
        self.fields.get(index).map(FieldRule::describe)
    }

    /// The literal text before field `column`, or after the last field when `column` is the
    /// number of columns.
    fn literal(&self, column: usize) -> &[u8] {
        self.prefixes.get(column).unwrap_or(&self.row_end)
    }
}

/// The rule of an unconstrained column.
fn field_rule(
    spec: &ColumnSpec,
    columns: &[String],
    decimals: u32,
    json: bool,
) -> Option<FieldRule> {
    let kind = match spec.kind {
        ColumnKind::Continuous => FieldKind::Number(NumberRule::continuous(spec, decimals)?),
        ColumnKind::Integer => FieldKind::Number(NumberRule::new(spec, 0)?),
        ColumnKind::Binary => FieldKind::Choice(ChoiceRule::new(&["0", "1"])),
        ColumnKind::Categorical if spec.categories.is_empty() => {
            FieldKind::FreeText(FreeTextRule {
                forbidden: columns.iter().map(|c| c.to_lowercase()).collect(),
                quoted: json,
            })
        }
        ColumnKind::Categorical => {
            let options: Vec<String> = spec
                .categories
                .iter()
                .filter(|c| reads_back(c) && !columns.iter().any(|name| eq_ci(name, c)))
                .map(|c| if json { json_string(c) } else { csv_field(c) })
                .collect();
            FieldKind::Choice(ChoiceRule::new(&options))
        }
    };
    Some(FieldRule {
        kind,
        missing: missing_kind(spec.missing_allowed, json),
    })
}

fn missing_kind(allowed: bool, json: bool) -> Missing {
    match (allowed, json) {
        (false, _) => Missing::No,
        (true, false) => Missing::Empty,
        (true, true) => Missing::Null,
    }
}

/// The rule of a column fixed to `value`.
fn fixed_rule(spec: &ColumnSpec, value: &str, json: bool) -> Result<FieldRule, String> {
    let name = &spec.name;
    if is_missing_token(value) {
        return if spec.missing_allowed {
            Ok(FieldRule {
                kind: FieldKind::Choice(ChoiceRule::new::<&str>(&[])),
                missing: missing_kind(true, json),
            })
        } else {
            Err(format!(
                "column '{name}' is fixed to a missing value but may not be missing"
            ))
        };
    }
    if !reads_back(value) {
        return Err(format!(
            "column '{name}' is fixed to '{value}', which does not read back as itself"
        ));
    }
    if let Some(reason) = validate_text(spec, value) {
        return Err(format!(
            "column '{name}' is fixed to an invalid value: {reason}"
        ));
    }
    if spec.kind.is_numeric() && parse_number(value).is_none() && spec.kind != ColumnKind::Binary {
        return Err(format!(
            "column '{name}' is fixed to '{value}', not a number"
        ));
    }
    let text = if json {
        json_string(value)
    } else {
        csv_field(value)
    };
    Ok(FieldRule {
        kind: FieldKind::Choice(ChoiceRule::new(&[text])),
        missing: Missing::No,
    })
}

// ---------------------------------------------------------------------------------------------
// Decoder

/// Where the automaton is in the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// At byte `.0` of the header line.
    Header(u32),
    /// At byte `at` of the literal before field `column` of data row `row` (after the last
    /// field when `column` is the number of columns).
    Literal { row: u32, column: u32, at: u32 },
    /// In data row `row` (0-based), column `column`.
    Field {
        row: u32,
        column: u32,
        state: FieldState,
    },
    /// All rows written: only end-of-text may follow.
    Done,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrammarError {
    /// The token id is outside the vocabulary.
    #[error("token {token} is not in the vocabulary ({size} tokens)")]
    UnknownToken {
        /// The token.
        token: u32,
        /// Vocabulary size.
        size: usize,
    },
    /// A special token other than end-of-text at the end.
    #[error("special token {token} ({text:?}) cannot be part of the answer")]
    SpecialToken {
        /// The token.
        token: u32,
        /// Its text (lossy).
        text: String,
    },
    /// End-of-text before the last row was complete.
    #[error("end-of-text after {rows_done} of {rows} rows; the answer is not complete")]
    EndTooEarly {
        /// Complete data rows so far.
        rows_done: usize,
        /// Rows wanted.
        rows: usize,
    },
    /// A token after the answer was complete.
    #[error("token {token} after the answer was complete; only end-of-text may follow")]
    AfterEnd {
        /// The token.
        token: u32,
    },
    /// A byte of the token breaks the grammar.
    #[error("token {token} ({text:?}) breaks the grammar at byte {offset} ({where_})")]
    Refused {
        /// The token.
        token: u32,
        /// Its text (lossy).
        text: String,
        /// Offset of the refused byte in the token.
        offset: usize,
        /// Where in the answer, and what was expected.
        where_: String,
    },
}

/// Masks and follows tokens so that the answer is the header, then `rows` rows, then end-of-text.
pub struct ConstrainedDecoder {
    grammar: Arc<RowGrammar>,
    vocab: Arc<TokenVocabulary>,
    rows: u32,
    position: Position,
    bytes: Vec<u8>,
    ended: bool,
    /// The state [`ConstrainedDecoder::rewind`] returns to: position, text length, ended.
    mark: Option<(Position, usize, bool)>,
}

impl ConstrainedDecoder {
    /// A decoder at the start of the answer.
    pub fn new(grammar: Arc<RowGrammar>, vocab: Arc<TokenVocabulary>, rows: usize) -> Self {
        let mut decoder = Self {
            grammar,
            vocab,
            rows: u32::try_from(rows).unwrap_or(u32::MAX),
            position: Position::Header(0),
            bytes: Vec::new(),
            ended: false,
            mark: None,
        };
        if decoder.grammar.header.is_empty() {
            decoder.position = decoder.row_start(0);
        }
        decoder
    }

    /// The position after `byte`, if the grammar allows it there.
    fn step(&self, position: &Position, byte: u8) -> Option<Position> {
        let grammar = &*self.grammar;
        match *position {
            Position::Header(at) => {
                let at = at as usize;
                (grammar.header.get(at) == Some(&byte)).then(|| {
                    if at + 1 < grammar.header.len() {
                        Position::Header(at as u32 + 1)
                    } else {
                        self.row_start(0)
                    }
                })
            }
            Position::Literal { row, column, at } => {
                let literal = grammar.literal(column as usize);
                (literal.get(at as usize) == Some(&byte)).then(|| {
                    if at as usize + 1 < literal.len() {
                        Position::Literal {
                            row,
                            column,
                            at: at + 1,
                        }
                    } else {
                        self.literal_end(row, column)
                    }
                })
            }
            Position::Field { row, column, state } => {
                let rule = &grammar.fields[column as usize];
                // The field ends where the next literal begins (`,`, `\n`, `,"name":`, `}`);
                // no field value continues with that byte once complete.
                let next = column + 1;
                if grammar.literal(next as usize).first() == Some(&byte) && rule.is_complete(&state)
                {
                    return Some(if grammar.literal(next as usize).len() > 1 {
                        Position::Literal {
                            row,
                            column: next,
                            at: 1,
                        }
                    } else {
                        self.literal_end(row, next)
                    });
                }
                rule.step(&state, byte)
                    .map(|state| Position::Field { row, column, state })
            }
            Position::Done => None,
        }
    }

    /// Where the automaton is once the literal before field `column` of `row` is read (or, at
    /// the start of a row, skipped when empty).
    fn literal_end(&self, row: u32, column: u32) -> Position {
        let grammar = &*self.grammar;
        if column as usize == grammar.fields.len() {
            return self.row_start(row + 1);
        }
        Position::Field {
            row,
            column,
            state: grammar.fields[column as usize].start(),
        }
    }

    /// The start of data row `row`.
    fn row_start(&self, row: u32) -> Position {
        if row >= self.rows {
            return Position::Done;
        }
        if self.grammar.literal(0).is_empty() {
            self.literal_end(row, 0)
        } else {
            Position::Literal {
                row,
                column: 0,
                at: 0,
            }
        }
    }

    /// Sets `mask[id]` to whether token `id` may come next (ids beyond the vocabulary: false).
    pub fn allowed(&mut self, mask: &mut [bool]) {
        mask.fill(false);
        if self.ended {
            return;
        }
        if self.position == Position::Done {
            if let Some(m) = mask.get_mut(self.vocab.end_of_text as usize) {
                *m = true;
            }
            return;
        }
        self.vocab.trie.walk(
            self.position,
            |p, b| self.step(p, b),
            |id| {
                if let Some(m) = mask.get_mut(id as usize) {
                    *m = true;
                }
            },
        );
    }

    /// Follows token `token`; on error nothing changes.
    pub fn accept(&mut self, token: u32) -> Result<(), GrammarError> {
        let vocab = &*self.vocab;
        let Some(bytes) = vocab.bytes(token) else {
            return Err(GrammarError::UnknownToken {
                token,
                size: vocab.len(),
            });
        };
        let text = || String::from_utf8_lossy(bytes).into_owned();
        if self.ended {
            return Err(GrammarError::AfterEnd { token });
        }
        if token == vocab.end_of_text {
            if self.position != Position::Done {
                return Err(GrammarError::EndTooEarly {
                    rows_done: self.rows_done(),
                    rows: self.rows as usize,
                });
            }
            self.ended = true;
            return Ok(());
        }
        if self.position == Position::Done {
            return Err(GrammarError::AfterEnd { token });
        }
        if vocab.is_special(token) {
            return Err(GrammarError::SpecialToken {
                token,
                text: text(),
            });
        }
        let mut position = self.position;
        for (offset, &b) in bytes.iter().enumerate() {
            match self.step(&position, b) {
                Some(next) => position = next,
                None => {
                    return Err(GrammarError::Refused {
                        token,
                        text: text(),
                        offset,
                        where_: self.describe(&position),
                    });
                }
            }
        }
        self.bytes.extend_from_slice(bytes);
        self.position = position;
        Ok(())
    }

    fn describe(&self, position: &Position) -> String {
        match *position {
            Position::Header(at) => format!(
                "header line at byte {at}, expected {:?}",
                self.grammar.header()
            ),
            Position::Literal { row, column, .. } => format!(
                "row {}, expected {:?}",
                row + 1,
                String::from_utf8_lossy(self.grammar.literal(column as usize))
            ),
            Position::Field { row, column, .. } => format!(
                "row {}, column '{}': expected {}",
                row + 1,
                self.grammar.columns[column as usize],
                self.grammar.fields[column as usize].describe()
            ),
            Position::Done => "after the last row".to_string(),
        }
    }

    /// True when all rows are written (only end-of-text may follow).
    pub fn is_finished(&self) -> bool {
        self.position == Position::Done
    }

    /// Remembers where the decoder stands, for [`ConstrainedDecoder::rewind`].
    pub fn mark(&mut self) {
        self.mark = Some((self.position, self.bytes.len(), self.ended));
    }

    /// Goes back to the last mark, forgetting the tokens accepted since; false without one.
    pub fn rewind(&mut self) -> bool {
        let Some((position, len, ended)) = self.mark.take() else {
            return false;
        };
        self.position = position;
        self.bytes.truncate(len);
        self.ended = ended;
        true
    }

    /// Complete data rows so far.
    pub fn rows_done(&self) -> usize {
        match self.position {
            Position::Header(_) => 0,
            Position::Literal { row, .. } | Position::Field { row, .. } => row as usize,
            Position::Done => self.rows as usize,
        }
    }

    /// The header line the answer starts with (empty for JSON Lines).
    pub fn header(&self) -> &str {
        self.grammar.header()
    }

    /// The answer so far (a token that ends inside a multi-byte character shows up once the
    /// character is complete).
    pub fn text(&self) -> &str {
        match std::str::from_utf8(&self.bytes) {
            Ok(t) => t,
            Err(e) => std::str::from_utf8(&self.bytes[..e.valid_up_to()]).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn continuous(min: Option<f64>, max: Option<f64>) -> ColumnSpec {
        let mut spec = ColumnSpec::new("x", ColumnKind::Continuous);
        spec.min = min;
        spec.max = max;
        spec.missing_allowed = false;
        spec
    }

    /// The state after `text`, if every byte is allowed.
    fn run(rule: &NumberRule, text: &str) -> Option<NumberState> {
        text.bytes().try_fold(NUMBER_START, |s, b| rule.step(&s, b))
    }

    /// Whether some completion of `s` within `depth` more bytes is complete (a search).
    fn can_complete(rule: &NumberRule, s: &NumberState, depth: usize) -> bool {
        rule.is_complete(s)
            || (depth > 0
                && b"0123456789.-".iter().any(|&b| {
                    rule.step(s, b)
                        .is_some_and(|next| can_complete(rule, &next, depth - 1))
                }))
    }

    /// -?(0|[1-9][0-9]*)(\.[0-9]{1,decimals})?, not a negative zero.
    fn canonical(text: &str, decimals: usize) -> bool {
        let body = text.strip_prefix('-').unwrap_or(text);
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (body, None),
        };
        let int_ok = int == "0"
            || (!int.is_empty()
                && !int.starts_with('0')
                && int.bytes().all(|b| b.is_ascii_digit()));
        let frac_ok = frac.is_none_or(|f| {
            !f.is_empty() && f.len() <= decimals && f.bytes().all(|b| b.is_ascii_digit())
        });
        let negative_zero = text.starts_with('-') && body.bytes().all(|b| b == b'0' || b == b'.');
        int_ok && frac_ok && !negative_zero
    }

    /// Every text over `-.0-9` of up to `len` bytes: accepted iff canonical and valid, and
    /// every accepted prefix can still complete.
    fn check_exhaustively(spec: &ColumnSpec, decimals: u32, len: usize) {
        let rule = NumberRule::continuous(spec, decimals).expect("some value fits");
        let d = rule.decimals as usize;
        let alphabet = b"0123456789.-";
        let mut texts = vec![String::new()];
        for _ in 0..len {
            let mut longer = Vec::new();
            for t in &texts {
                for &b in alphabet {
                    let mut s = t.clone();
                    s.push(b as char);
                    if let Some(state) = run(&rule, &s) {
                        assert!(
                            can_complete(&rule, &state, 20),
                            "{s:?} allowed but cannot complete in {spec:?}"
                        );
                    }
                    longer.push(s);
                }
            }
            for s in &longer {
                let accepted = run(&rule, s).is_some_and(|st| rule.is_complete(&st));
                let valid = canonical(s, d) && validate_text(spec, s).is_none();
                assert_eq!(accepted, valid, "{s:?} in {:?}..{:?}", spec.min, spec.max);
            }
            texts = longer;
        }
    }

    #[test]
    fn numbers_are_exactly_the_canonical_valid_ones() {
        let cases = [
            (Some(35.0), Some(42.0)),
            (Some(0.0), Some(0.0)),
            (Some(-5.5), Some(-2.0)),
            (Some(-3.5), Some(2.25)),
            (Some(7.1), Some(7.8)),
            (Some(-0.05), Some(0.0)),
            (None, Some(-990.0)),
            (Some(0.1), None),
        ];
        for (min, max) in cases {
            check_exhaustively(&continuous(min, max), 2, 5);
        }
        let mut integer = continuous(Some(-12.0), Some(130.0));
        integer.kind = ColumnKind::Integer;
        let rule = NumberRule::new(&integer, 0).unwrap();
        for text in ["-12", "-1", "0", "7", "130", "99"] {
            assert!(
                run(&rule, text).is_some_and(|s| rule.is_complete(&s)),
                "{text}"
            );
        }
        for text in ["-13", "131", "1.0", "-0", "00", "01", "1e2", "+1"] {
            assert!(
                !run(&rule, text).is_some_and(|s| rule.is_complete(&s)),
                "{text}"
            );
        }
    }

    #[test]
    fn prefixes_follow_the_range_for_temperature() {
        let rule = NumberRule::continuous(&continuous(Some(35.0), Some(42.0)), 3).unwrap();
        let live = |t: &str| run(&rule, t).is_some();
        assert!(live("3") && live("4") && live("35.") && live("42.") && live("42.000"));
        assert!(!live("5") && !live("0") && !live("-") && !live("2") && !live("43"));
        assert!(!live("42.1") && !live("42.001") && !live("34.") && !live("420"));
        assert!(!run(&rule, "3").is_some_and(|s| rule.is_complete(&s)));
    }

    #[test]
    fn narrow_ranges_get_more_decimals() {
        let spec = continuous(Some(0.00012), Some(0.00019));
        let rule = NumberRule::continuous(&spec, 3).unwrap();
        assert_eq!(rule.decimals, 5);
        let s = run(&rule, "0.00015").unwrap();
        assert!(rule.is_complete(&s));
        assert!(run(&rule, "0.0002").is_none());
    }

    #[test]
    fn bounds_match_the_validators_float_comparison() {
        // 0.1 + 0.2 is just above 0.3: "0.3" must be refused when it is the minimum.
        let spec = continuous(Some(0.1 + 0.2), Some(1.0));
        let rule = NumberRule::continuous(&spec, 1).unwrap();
        assert!(validate_text(&spec, "0.3").is_some());
        assert!(!run(&rule, "0.3").is_some_and(|s| rule.is_complete(&s)));
        assert!(run(&rule, "0.4").is_some_and(|s| rule.is_complete(&s)));
    }

    #[test]
    fn byte_level_strings_decode_to_bytes() {
        let tokens: Vec<String> = ["<|endoftext|>", "Ġthe", "Ċ", ",Ċ", "Ã©", "12"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let vocab = TokenVocabulary::from_byte_level(&tokens, 0);
        assert_eq!(vocab.bytes(1), Some(&b" the"[..]));
        assert_eq!(vocab.bytes(2), Some(&b"\n"[..]));
        assert_eq!(vocab.bytes(3), Some(&b",\n"[..]));
        assert_eq!(vocab.bytes(4), Some("é".as_bytes()));
        assert!(vocab.is_special(0) && !vocab.is_special(5));
        assert_eq!(byte_level_decoder().len(), 256);
    }

    #[test]
    fn special_tokens_are_recognised() {
        assert!(looks_special(b"<|im_start|>"));
        assert!(looks_special(b"<repo_name>"));
        assert!(looks_special(b"<|endoftext|>"));
        assert!(!looks_special(b"<5"));
        assert!(!looks_special(b"<b>"));
        assert!(!looks_special(b"a<b>"));
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("MICU"), "MICU");
        assert_eq!(csv_field("a, b"), "\"a, b\"");
        assert_eq!(csv_field("5\"6"), "\"5\"\"6\"");
        assert_eq!(csv_field("--"), "\"--\"");
        assert!(!reads_back(" a") && !reads_back("None") && !reads_back("'a'"));
        assert!(reads_back("Other/Unknown"));
    }
}
