//! The hour grid of the original SQL and hourly series of one variable.
//!
//! Hours are counted from `E0 = ceil(admit / 60) * 60` (admit = minutes of the first charted heart
//! rate after unit admission). A value charted at minute `c` falls in hour `ceil((c - E0) / 60)`,
//! so hour `h` covers the minutes `(E0 + 60(h-1), E0 + 60h]`: its end is in, its start is not.

/// The anchor of a stay's hour grid, in minutes from unit admission.
pub fn grid_anchor(admit_offset: f64) -> f64 {
    (admit_offset / 60.0).ceil() * 60.0
}

/// The hour a value charted at `offset` minutes falls in.
pub fn hour_of(offset: f64, anchor: f64) -> i64 {
    ((offset - anchor) / 60.0).ceil() as i64
}

/// Hourly sums and counts of one variable of one stay, ordered by hour.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HourlySeries {
    hours: Vec<(i64, f64, u32)>,
}

impl HourlySeries {
    /// Adds one value to hour `hour`.
    pub fn add(&mut self, hour: i64, value: f64) {
        match self.hours.binary_search_by_key(&hour, |h| h.0) {
            Ok(i) => {
                self.hours[i].1 += value;
                self.hours[i].2 += 1;
            }
            Err(i) => self.hours.insert(i, (hour, value, 1)),
        }
    }

    /// Hourly means inside `[from, to]`, in hour order.
    pub fn means(&self, from: i64, to: i64) -> impl Iterator<Item = f64> + '_ {
        self.hours
            .iter()
            .filter(move |h| h.0 >= from && h.0 <= to)
            .map(|h| h.1 / f64::from(h.2))
    }

    /// First, last, smallest and largest hourly mean inside `[from, to]`.
    pub fn summary(&self, from: i64, to: i64) -> Option<Summary> {
        let mut means = self.means(from, to);
        let first = means.next()?;
        let mut s = Summary {
            first,
            last: first,
            min: first,
            max: first,
        };
        for m in means {
            s.last = m;
            s.min = s.min.min(m);
            s.max = s.max.max(m);
        }
        Some(s)
    }

    /// The sum of all values inside `[from, to]` (not of means).
    pub fn total(&self, from: i64, to: i64) -> f64 {
        self.hours
            .iter()
            .filter(|h| h.0 >= from && h.0 <= to)
            .map(|h| h.1)
            .sum()
    }
}

/// First, last, min and max of a series of hourly means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The earliest hourly mean.
    pub first: f64,
    /// The latest hourly mean.
    pub last: f64,
    /// The smallest hourly mean.
    pub min: f64,
    /// The largest hourly mean.
    pub max: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_include_their_end_minute_but_not_their_start() {
        let anchor = grid_anchor(-7.0); // first heart rate 7 minutes before unit admission
        assert_eq!(anchor, 0.0);
        assert_eq!(hour_of(0.0, anchor), 0);
        assert_eq!(hour_of(1.0, anchor), 1);
        assert_eq!(hour_of(60.0, anchor), 1);
        assert_eq!(hour_of(61.0, anchor), 2);
        assert_eq!(hour_of(-60.0, anchor), -1);
        assert_eq!(hour_of(-59.0, anchor), 0);
        assert_eq!(grid_anchor(61.0), 120.0);
    }

    #[test]
    fn summaries_use_hourly_means() {
        let mut s = HourlySeries::default();
        for (h, v) in [(3, 100.0), (1, 80.0), (1, 90.0), (30, 10.0), (2, 70.0)] {
            s.add(h, v);
        }
        let sum = s.summary(0, 24).unwrap();
        assert_eq!(
            (sum.first, sum.last, sum.min, sum.max),
            (85.0, 100.0, 70.0, 100.0)
        );
        assert_eq!(s.total(0, 24), 340.0);
        assert!(s.summary(4, 24).is_none());
    }
}
