//! Number fields of the schema grammar: values as integers at scale 10^decimals inside an
//! interval, read byte by byte with a prefix test that keeps every state completable (see the
//! parent module's docs for the language). The interval is the column's range, or a narrower one
//! that rules across columns give a field in one row ([`super::cross`]).
//!
//! Not here: which decimals a column gets (the grammar's builder) or how a field ends.

use ehrsynth_table::ColumnSpec;

use super::{MAX_DECIMALS, NUMBER_CAP};

/// The values a number field may take, as integers at its rule's scale (both ends included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Interval {
    min: i128,
    max: i128,
}

impl Interval {
    /// The magnitudes allowed with one sign (negative magnitudes start at 1: no `-0`).
    fn magnitudes(&self, negative: bool) -> Option<(u128, u128)> {
        if negative {
            (self.min <= -1).then(|| ((-self.max).max(1) as u128, (-self.min) as u128))
        } else {
            (self.max >= 0).then(|| (self.min.max(0) as u128, self.max as u128))
        }
    }
}

/// Numbers as integers at scale 10^decimals in the column's range (`lo`, `hi`: its ends as the
/// validator compares them, unbounded sides capped; `range`: the same at the rule's scale).
#[derive(Debug, Clone)]
pub(super) struct NumberRule {
    pub(super) decimals: u32,
    scale: u128,
    lo: f64,
    hi: f64,
    pub(super) range: Interval,
}

/// The bytes read so far of a number field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NumberState {
    negative: bool,
    int_digits: u8,
    int_value: u128,
    dot: bool,
    frac_digits: u8,
    frac_value: u128,
}

pub(super) const NUMBER_START: NumberState = NumberState {
    negative: false,
    int_digits: 0,
    int_value: 0,
    dot: false,
    frac_digits: 0,
    frac_value: 0,
};

/// `x` with `decimals` decimals as text, e.g. (-1234, 2) → "-12.34".
pub(super) fn format_scaled(n: i128, decimals: u32) -> String {
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
    pub(super) fn new(spec: &ColumnSpec, decimals: u32) -> Option<Self> {
        let lo = spec.min.unwrap_or(-NUMBER_CAP).max(-NUMBER_CAP);
        let hi = spec.max.unwrap_or(NUMBER_CAP).min(NUMBER_CAP);
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return None;
        }
        let (min, max) = scaled_bounds(lo, hi, decimals)?;
        Some(Self {
            decimals,
            scale: 10u128.pow(decimals),
            lo,
            hi,
            range: Interval { min, max },
        })
    }

    /// The interval of this rule's values that also lie in `[lo, hi]` (bounds other fields of
    /// the row set), or `None` when no value of the rule does.
    pub(super) fn within(&self, lo: f64, hi: f64) -> Option<Interval> {
        let (lo, hi) = (lo.max(self.lo), hi.min(self.hi));
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return None;
        }
        let (min, max) = scaled_bounds(lo, hi, self.decimals)?;
        Some(Interval { min, max })
    }

    /// The value of a complete number `s` (as the validator reads its text).
    pub(super) fn value(&self, s: &NumberState) -> f64 {
        let magnitude = self.complete_value(s).unwrap_or(0) as i128;
        scaled_value(
            if s.negative { -magnitude } else { magnitude },
            self.decimals,
        )
    }

    /// The interval's ends as text, for messages.
    pub(super) fn describe(&self, range: &Interval) -> String {
        format!(
            "a number in [{}, {}] with at most {} decimals",
            format_scaled(range.min, self.decimals),
            format_scaled(range.max, self.decimals),
            self.decimals
        )
    }

    /// Continuous: `decimals` decimals, more if the range is too narrow.
    pub(super) fn continuous(spec: &ColumnSpec, decimals: u32) -> Option<Self> {
        (decimals..=MAX_DECIMALS.max(decimals)).find_map(|d| Self::new(spec, d))
    }

    /// The magnitude of a complete number, if `s` is one.
    fn complete_value(&self, s: &NumberState) -> Option<u128> {
        if s.int_digits == 0 || (s.dot && s.frac_digits == 0) {
            return None;
        }
        let rest = 10u128.pow(self.decimals - u32::from(s.frac_digits));
        Some(s.int_value * self.scale + s.frac_value * rest)
    }

    /// Whether `s` is a complete number in `range`.
    pub(super) fn is_complete(&self, s: &NumberState, range: &Interval) -> bool {
        match (self.complete_value(s), range.magnitudes(s.negative)) {
            (Some(v), Some((lo, hi))) => lo <= v && v <= hi,
            _ => false,
        }
    }

    /// Whether some completion of `s` is a number in `range`.
    fn is_live(&self, s: &NumberState, range: &Interval) -> bool {
        let Some((lo, hi)) = range.magnitudes(s.negative) else {
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

    /// The state after `byte`, if some completion of it still lies in `range`.
    pub(super) fn step(&self, s: &NumberState, byte: u8, range: &Interval) -> Option<NumberState> {
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
        self.is_live(&next, range).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehrsynth_table::ColumnKind;
    use ehrsynth_table::validate::validate_text;

    fn continuous(min: Option<f64>, max: Option<f64>) -> ColumnSpec {
        let mut spec = ColumnSpec::new("x", ColumnKind::Continuous);
        spec.min = min;
        spec.max = max;
        spec.missing_allowed = false;
        spec
    }

    /// The state after `text`, if every byte is allowed.
    fn run(rule: &NumberRule, text: &str) -> Option<NumberState> {
        text.bytes()
            .try_fold(NUMBER_START, |s, b| rule.step(&s, b, &rule.range))
    }

    /// Whether some completion of `s` within `depth` more bytes is complete (a search).
    fn can_complete(rule: &NumberRule, s: &NumberState, depth: usize) -> bool {
        rule.is_complete(s, &rule.range)
            || (depth > 0
                && b"0123456789.-".iter().any(|&b| {
                    rule.step(s, b, &rule.range)
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
                let accepted = run(&rule, s).is_some_and(|st| rule.is_complete(&st, &rule.range));
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
                run(&rule, text).is_some_and(|s| rule.is_complete(&s, &rule.range)),
                "{text}"
            );
        }
        for text in ["-13", "131", "1.0", "-0", "00", "01", "1e2", "+1"] {
            assert!(
                !run(&rule, text).is_some_and(|s| rule.is_complete(&s, &rule.range)),
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
        assert!(!run(&rule, "3").is_some_and(|s| rule.is_complete(&s, &rule.range)));
    }

    #[test]
    fn narrow_ranges_get_more_decimals() {
        let spec = continuous(Some(0.00012), Some(0.00019));
        let rule = NumberRule::continuous(&spec, 3).unwrap();
        assert_eq!(rule.decimals, 5);
        let s = run(&rule, "0.00015").unwrap();
        assert!(rule.is_complete(&s, &rule.range));
        assert!(run(&rule, "0.0002").is_none());
    }

    #[test]
    fn bounds_match_the_validators_float_comparison() {
        // 0.1 + 0.2 is just above 0.3: "0.3" must be refused when it is the minimum.
        let spec = continuous(Some(0.1 + 0.2), Some(1.0));
        let rule = NumberRule::continuous(&spec, 1).unwrap();
        assert!(validate_text(&spec, "0.3").is_some());
        assert!(!run(&rule, "0.3").is_some_and(|s| rule.is_complete(&s, &rule.range)));
        assert!(run(&rule, "0.4").is_some_and(|s| rule.is_complete(&s, &rule.range)));
    }
}
