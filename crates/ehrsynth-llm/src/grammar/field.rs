//! One field's rule (number, choice, free text, fixed, missing) and its state as bytes arrive.

use super::*;

/// A choice among fixed byte strings (categories, binary digits, a fixed value), as a trie.
#[derive(Debug, Clone, Default)]
pub(super) struct ChoiceRule {
    /// Node 0 is the root; children sorted by byte.
    pub(super) children: Vec<Vec<(u8, u32)>>,
    pub(super) complete: Vec<bool>,
    /// Per node: the number its option reads as, where an option ends there and is one.
    pub(super) values: Vec<Option<f64>>,
}

impl ChoiceRule {
    pub(super) fn new<B: AsRef<[u8]>>(options: &[B]) -> Self {
        let mut rule = Self {
            children: vec![Vec::new()],
            complete: vec![false],
            values: vec![None],
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
                        rule.values.push(None);
                        new as usize
                    }
                };
            }
            rule.complete[at] = true;
            rule.values[at] = std::str::from_utf8(option.as_ref())
                .ok()
                .and_then(parse_number);
        }
        rule
    }

    pub(super) fn step(&self, node: u32, byte: u8) -> Option<u32> {
        let children = &self.children[node as usize];
        children.iter().find(|c| c.0 == byte).map(|c| c.1)
    }

    pub(super) fn has_options(&self) -> bool {
        self.complete.iter().any(|&c| c)
    }
}

/// Free text for categorical columns without a category list.
#[derive(Debug, Clone)]
pub(super) struct FreeTextRule {
    /// Texts that would not read back as themselves: column names (lowercase).
    pub(super) forbidden: Vec<String>,
    /// Written as a JSON string (`"text"`).
    pub(super) quoted: bool,
}

/// The bytes of a free-text field so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FreeTextState {
    pub(super) len: u8,
    pub(super) bytes: [u8; FREE_TEXT_MAX],
    /// The opening quote was read (quoted rules only).
    pub(super) open: bool,
    /// The closing quote was read.
    pub(super) closed: bool,
}

pub(super) fn free_text_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'-')
}

impl FreeTextRule {
    /// Whether `text` (non-empty, allowed bytes) reads back as itself.
    pub(super) fn acceptable(&self, text: &[u8]) -> bool {
        let Ok(t) = std::str::from_utf8(text) else {
            return false;
        };
        !is_missing_token(t)
            && !is_extra_missing(t)
            && !t.bytes().all(|b| b == b'-')
            && !self.forbidden.iter().any(|f| *f == t.to_lowercase())
    }

    pub(super) fn step(&self, s: &FreeTextState, byte: u8) -> Option<FreeTextState> {
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

    pub(super) fn is_complete(&self, s: &FreeTextState) -> bool {
        if self.quoted {
            s.closed
        } else {
            s.len > 0 && self.acceptable(&s.bytes[..s.len as usize])
        }
    }
}

#[derive(Debug, Clone)]
pub(super) enum FieldKind {
    Number(NumberRule),
    Choice(ChoiceRule),
    FreeText(FreeTextRule),
}

/// How a missing value is written, if allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Missing {
    /// Never missing.
    No,
    /// An empty field (CSV).
    Empty,
    /// `null` (JSON).
    Null,
}

/// One column's rule: its values, and how (whether) it may be missing.
#[derive(Debug, Clone)]
pub(super) struct FieldRule {
    pub(super) kind: FieldKind,
    pub(super) missing: Missing,
}

/// What the rules across columns leave a field in one row ([`cross`]), set when the field
/// begins from the values written before it: which values, and whether it may be missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Limit {
    pub(super) value: ValueLimit,
    pub(super) presence: Presence,
}

impl Limit {
    pub(super) const FREE: Limit = Limit {
        value: ValueLimit::Free,
        presence: Presence::AsSchema,
    };
}

/// The values a field may take under the rules across columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ValueLimit {
    /// The column's own rule.
    Free,
    /// A binary field that may only be this digit.
    Digit(u8),
    /// A number in this interval.
    Range(Interval),
}

/// Whether a field may be missing under the rules across columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Presence {
    /// As the column's own rule says.
    AsSchema,
    /// Never (a panel whose other columns were written).
    Required,
    /// Only missing (a panel whose other columns were left empty, or no number fits).
    MissingOnly,
}

/// Where inside a field the automaton is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FieldState {
    Number(NumberState),
    Choice(u32),
    FreeText(FreeTextState),
    /// Inside `null`, after this many bytes.
    Null(u8),
}

impl FieldRule {
    pub(super) fn start(&self) -> FieldState {
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

    /// The limit `bound` sets on this field. A bound no value of the column meets leaves only
    /// a missing value where one is allowed, and the column's own rule otherwise (that row
    /// then fails validation, which names the rule: a bounded cost, never a dead end); so does
    /// a presence the column cannot give.
    pub(super) fn limit(&self, bound: Bound) -> Limit {
        if bound.is_free() {
            return Limit::FREE;
        }
        let mut presence = match bound.present {
            Some(true) if self.has_present_values() => Presence::Required,
            Some(false) if self.missing != Missing::No => Presence::MissingOnly,
            _ => Presence::AsSchema,
        };
        let value = match &self.kind {
            FieldKind::Choice(_) => bound.digit.map_or(ValueLimit::Free, ValueLimit::Digit),
            FieldKind::Number(_) if bound.lo.is_infinite() && bound.hi.is_infinite() => {
                ValueLimit::Free
            }
            FieldKind::Number(rule) => match rule.within(bound.lo, bound.hi) {
                Some(range) => ValueLimit::Range(range),
                None => {
                    if self.missing != Missing::No && presence != Presence::Required {
                        presence = Presence::MissingOnly;
                    }
                    ValueLimit::Free
                }
            },
            FieldKind::FreeText(_) => ValueLimit::Free,
        };
        Limit { value, presence }
    }

    /// Whether the field has a value other than missing.
    pub(super) fn has_present_values(&self) -> bool {
        match &self.kind {
            FieldKind::Number(_) | FieldKind::FreeText(_) => true,
            FieldKind::Choice(rule) => rule.has_options(),
        }
    }

    /// The value of a complete field as the rules read it: its number, NaN for a present
    /// value that is not a number, `None` when missing.
    pub(super) fn value(&self, s: &FieldState) -> Option<f64> {
        if *s == self.start() {
            return None;
        }
        match (&self.kind, s) {
            (_, FieldState::Null(_)) => None,
            (FieldKind::Number(rule), FieldState::Number(n)) => Some(rule.value(n)),
            (FieldKind::Choice(rule), FieldState::Choice(node)) => {
                Some(rule.values[*node as usize].unwrap_or(f64::NAN))
            }
            _ => Some(f64::NAN),
        }
    }

    pub(super) fn is_complete(&self, s: &FieldState, limit: &Limit) -> bool {
        if *s == self.start() {
            return self.missing == Missing::Empty && limit.presence != Presence::Required;
        }
        match (&self.kind, s) {
            (_, FieldState::Null(at)) => *at == 4,
            _ if limit.presence == Presence::MissingOnly => false,
            (FieldKind::Number(rule), FieldState::Number(n)) => {
                rule.is_complete(n, range_of(rule, limit))
            }
            (FieldKind::Choice(rule), FieldState::Choice(node)) => rule.complete[*node as usize],
            (FieldKind::FreeText(rule), FieldState::FreeText(t)) => rule.is_complete(t),
            _ => false,
        }
    }

    pub(super) fn step(&self, s: &FieldState, byte: u8, limit: &Limit) -> Option<FieldState> {
        // No value starts with `n` (JSON strings start with a quote), so `null` is unambiguous.
        if self.missing == Missing::Null
            && byte == b'n'
            && *s == self.start()
            && limit.presence != Presence::Required
        {
            return Some(FieldState::Null(1));
        }
        match (&self.kind, s) {
            (_, FieldState::Null(at)) => {
                (b"null".get(*at as usize) == Some(&byte)).then_some(FieldState::Null(at + 1))
            }
            _ if limit.presence == Presence::MissingOnly => None,
            (FieldKind::Number(rule), FieldState::Number(n)) => rule
                .step(n, byte, range_of(rule, limit))
                .map(FieldState::Number),
            (FieldKind::Choice(_), FieldState::Choice(0)) if matches!(limit.value, ValueLimit::Digit(d) if d != byte) => {
                None
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
    pub(super) fn has_values(&self) -> bool {
        self.missing != Missing::No
            || match &self.kind {
                FieldKind::Number(_) | FieldKind::FreeText(_) => true,
                FieldKind::Choice(rule) => rule.has_options(),
            }
    }

    /// A short description of what the field accepts, for error messages.
    pub(super) fn describe(&self) -> String {
        let what = match &self.kind {
            FieldKind::Number(rule) => rule.describe(&rule.range),
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

/// The interval a number field keeps under `limit`.
pub(super) fn range_of<'a>(rule: &'a NumberRule, limit: &'a Limit) -> &'a Interval {
    match &limit.value {
        ValueLimit::Range(range) => range,
        _ => &rule.range,
    }
}

/// `text` as a CSV field: quoted when it holds a separator, a quote, or could read as a
/// Markdown rule or fence line.
pub(super) fn csv_field(text: &str) -> String {
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
pub(super) fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// Whether the answer parser reads `text` back as exactly `text` in a cell.
pub(super) fn reads_back(text: &str) -> bool {
    !text.is_empty()
        && clean_text(text) == text
        && !text.chars().any(char::is_control)
        && !is_missing_token(text)
}

#[cfg(test)]
mod tests {
    use super::*;

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
