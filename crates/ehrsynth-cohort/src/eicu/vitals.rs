//! Vital signs: the admission time (first charted heart rate) and the hourly vitals of day 1.
//!
//! The original source is `nurseCharting` (MIT-LCP/eicu-code pivoted-vital.sql labels and valid
//! ranges). Without it, `vitalPeriodic` (heart rate, respiration, SpO2, temperature, invasive
//! pressures) and `vitalAperiodic` (non-invasive pressures) stand in. Values charted at the same
//! time are averaged per variable first; systolic, diastolic and mean pressure take the invasive
//! value of that time when there is one, else the non-invasive one; then values are averaged
//! per hour (see [`super::hourly`]).

use std::collections::HashMap;
use std::path::PathBuf;

use ehrsynth_table::Progress;

use super::hourly::{HourlySeries, grid_anchor, hour_of};
use super::source::{Row, stream};
use crate::error::CohortError;

/// The raw charted variables, before invasive and non-invasive pressures are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum RawVital {
    /// Heart rate.
    HeartRate,
    /// Respiratory rate.
    RespRate,
    /// SpO2.
    Spo2,
    /// Temperature (°C).
    Temperature,
    /// Non-invasive systolic.
    NibpSys,
    /// Non-invasive diastolic.
    NibpDia,
    /// Non-invasive mean.
    NibpMean,
    /// Invasive systolic.
    IbpSys,
    /// Invasive diastolic.
    IbpDia,
    /// Invasive mean.
    IbpMean,
}

const RAW_COUNT: usize = 10;

impl RawVital {
    /// Valid range (inclusive), from eicu-code's pivoted-vital.sql.
    pub fn range(self) -> (f64, f64) {
        match self {
            RawVital::HeartRate => (25.0, 225.0),
            RawVital::RespRate => (0.0, 60.0),
            RawVital::Spo2 => (0.0, 100.0),
            RawVital::Temperature => (25.0, 46.0),
            RawVital::NibpSys => (25.0, 250.0),
            RawVital::NibpDia => (1.0, 200.0),
            RawVital::NibpMean => (1.0, 250.0),
            RawVital::IbpSys => (1.0, 300.0),
            RawVital::IbpDia => (1.0, 200.0),
            RawVital::IbpMean => (1.0, 250.0),
        }
    }

    fn accepts(self, value: f64) -> bool {
        let (lo, hi) = self.range();
        value >= lo && value <= hi
    }

    /// The nurseCharting variable for a (celltypevallabel, celltypevalname) pair.
    pub fn from_nurse_charting(label: &str, name: &str) -> Option<Self> {
        Some(match (label, name) {
            ("Heart Rate", "Heart Rate") => RawVital::HeartRate,
            ("Respiratory Rate", "Respiratory Rate") => RawVital::RespRate,
            ("O2 Saturation", "O2 Saturation") => RawVital::Spo2,
            ("Temperature", "Temperature (C)") => RawVital::Temperature,
            ("Non-Invasive BP", "Non-Invasive BP Systolic") => RawVital::NibpSys,
            ("Non-Invasive BP", "Non-Invasive BP Diastolic") => RawVital::NibpDia,
            ("Non-Invasive BP", "Non-Invasive BP Mean") => RawVital::NibpMean,
            ("Invasive BP", "Invasive BP Systolic") => RawVital::IbpSys,
            ("Invasive BP", "Invasive BP Diastolic") => RawVital::IbpDia,
            ("Invasive BP", "Invasive BP Mean")
            | ("MAP (mmHg)", "Value")
            | ("Arterial Line MAP (mmHg)", "Value") => RawVital::IbpMean,
            _ => return None,
        })
    }
}

/// nurseCharting cell categories that hold vitals.
const VITAL_CATEGORIES: [&str; 3] = ["Vital Signs", "Scores", "Other Vital Signs and Infusions"];

/// A plain decimal number as the original regex `^[-]?[0-9]+[.]?[0-9]*$` accepts it.
pub fn is_plain_number(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// Where the vitals come from.
#[derive(Debug, Clone)]
pub enum VitalSource {
    /// nurseCharting, as the original study.
    NurseCharting(PathBuf),
    /// The automatically recorded tables, either of which may be absent.
    Monitors {
        /// vitalPeriodic.
        periodic: Option<PathBuf>,
        /// vitalAperiodic.
        aperiodic: Option<PathBuf>,
    },
}

const NURSE_COLUMNS: [&str; 7] = [
    "patientunitstayid",
    "nursingchartoffset",
    "nursingchartentryoffset",
    "nursingchartcelltypecat",
    "nursingchartcelltypevallabel",
    "nursingchartcelltypevalname",
    "nursingchartvalue",
];
const PERIODIC_COLUMNS: [&str; 9] = [
    "patientunitstayid",
    "observationoffset",
    "heartrate",
    "respiration",
    "sao2",
    "temperature",
    "systemicsystolic",
    "systemicdiastolic",
    "systemicmean",
];
const PERIODIC_VARS: [RawVital; 7] = [
    RawVital::HeartRate,
    RawVital::RespRate,
    RawVital::Spo2,
    RawVital::Temperature,
    RawVital::IbpSys,
    RawVital::IbpDia,
    RawVital::IbpMean,
];
const APERIODIC_COLUMNS: [&str; 5] = [
    "patientunitstayid",
    "observationoffset",
    "noninvasivesystolic",
    "noninvasivediastolic",
    "noninvasivemean",
];
const APERIODIC_VARS: [RawVital; 3] = [RawVital::NibpSys, RawVital::NibpDia, RawVital::NibpMean];

/// One valid charted value: (stay, offset, entry offset, variable) and the value.
#[derive(Debug, Clone, Copy)]
struct Charted {
    stay: u32,
    offset: i32,
    entry: i32,
    var: RawVital,
    value: f64,
}

/// Calls `emit` with each valid charted value of one nurseCharting row.
fn nurse_row(row: &Row<'_>, mut emit: impl FnMut(i64, f64, f64, RawVital, f64)) {
    if !VITAL_CATEGORIES.contains(&row.text(3)) {
        return;
    }
    let Some(var) = RawVital::from_nurse_charting(row.text(4), row.text(5)) else {
        return;
    };
    let text = row.text(6);
    if !is_plain_number(text) {
        return;
    }
    if let (Some(stay), Some(offset), Some(value)) = (row.integer(0), row.number(1), row.number(6))
        && var.accepts(value)
    {
        emit(stay, offset, row.number(2).unwrap_or(offset), var, value);
    }
}

/// Calls `emit` with each valid value of one vitalPeriodic / vitalAperiodic row.
fn monitor_row(
    row: &Row<'_>,
    vars: &[RawVital],
    mut emit: impl FnMut(i64, f64, f64, RawVital, f64),
) {
    let (Some(stay), Some(offset)) = (row.integer(0), row.number(1)) else {
        return;
    };
    for (i, &var) in vars.iter().enumerate() {
        if let Some(value) = row.number(i + 2).filter(|&v| var.accepts(v)) {
            emit(stay, offset, offset, var, value);
        }
    }
}

/// First and last charted heart rate (minutes) of each stay in `stays`, from the heart-rate source.
pub fn heart_rate_span(
    source: &VitalSource,
    stays: &HashMap<i64, u32>,
    progress: &dyn Progress,
) -> Result<HashMap<i64, (f64, f64)>, CohortError> {
    let mut span: HashMap<i64, (f64, f64)> = HashMap::new();
    let mut note = |stay: i64, offset: f64, _: f64, var: RawVital, _: f64| {
        if var == RawVital::HeartRate && stays.contains_key(&stay) {
            let e = span.entry(stay).or_insert((offset, offset));
            e.0 = e.0.min(offset);
            e.1 = e.1.max(offset);
        }
    };
    match source {
        VitalSource::NurseCharting(path) => {
            stream(path, &NURSE_COLUMNS, progress, |r| {
                nurse_row(r, &mut note);
                Ok(())
            })?;
        }
        VitalSource::Monitors {
            periodic: Some(path),
            ..
        } => {
            stream(path, &PERIODIC_COLUMNS[..3], progress, |r| {
                monitor_row(r, &PERIODIC_VARS[..1], &mut note);
                Ok(())
            })?;
        }
        VitalSource::Monitors { periodic: None, .. } => {}
    }
    Ok(span)
}

/// The merged day-1 vitals of one stay, in [`crate::features::VITALS`] order.
pub type StayVitals = [HourlySeries; 7];

/// Reads the vitals of the cohort's stays inside hours [0, 24] of each stay's grid.
/// `stays` maps stay id -> index into `anchors` (the admission offset of each stay).
pub fn day_one_vitals(
    source: &VitalSource,
    stays: &HashMap<i64, u32>,
    admit_offsets: &[f64],
    progress: &dyn Progress,
) -> Result<Vec<StayVitals>, CohortError> {
    let anchors: Vec<f64> = admit_offsets.iter().map(|&a| grid_anchor(a)).collect();
    let mut charted: Vec<Charted> = Vec::new();
    let mut keep = |stay: i64, offset: f64, entry: f64, var: RawVital, value: f64| {
        if let Some(&idx) = stays.get(&stay) {
            let hour = hour_of(offset, anchors[idx as usize]);
            if (0..=24).contains(&hour) {
                charted.push(Charted {
                    stay: idx,
                    offset: offset as i32,
                    entry: entry as i32,
                    var,
                    value,
                });
            }
        }
    };
    match source {
        VitalSource::NurseCharting(path) => {
            stream(path, &NURSE_COLUMNS, progress, |r| {
                nurse_row(r, &mut keep);
                Ok(())
            })?;
        }
        VitalSource::Monitors {
            periodic,
            aperiodic,
        } => {
            if let Some(path) = periodic {
                stream(path, &PERIODIC_COLUMNS, progress, |r| {
                    monitor_row(r, &PERIODIC_VARS, &mut keep);
                    Ok(())
                })?;
            }
            if let Some(path) = aperiodic {
                stream(path, &APERIODIC_COLUMNS, progress, |r| {
                    monitor_row(r, &APERIODIC_VARS, &mut keep);
                    Ok(())
                })?;
            }
        }
    }
    Ok(merge_into_hours(charted, &anchors))
}

/// Averages values charted at the same time, merges pressures, and bins them by hour.
fn merge_into_hours(mut charted: Vec<Charted>, anchors: &[f64]) -> Vec<StayVitals> {
    let mut out: Vec<StayVitals> = (0..anchors.len()).map(|_| Default::default()).collect();
    charted.sort_unstable_by_key(|c| (c.stay, c.offset, c.entry));
    for group in charted.chunk_by(|a, b| (a.stay, a.offset, a.entry) == (b.stay, b.offset, b.entry))
    {
        let mut sums = [(0.0f64, 0u32); RAW_COUNT];
        for c in group {
            let s = &mut sums[c.var as usize];
            s.0 += c.value;
            s.1 += 1;
        }
        let mean = |v: RawVital| {
            let (sum, n) = sums[v as usize];
            (n > 0).then(|| sum / f64::from(n))
        };
        let merged = [
            mean(RawVital::HeartRate),
            mean(RawVital::IbpSys).or(mean(RawVital::NibpSys)),
            mean(RawVital::IbpDia).or(mean(RawVital::NibpDia)),
            mean(RawVital::IbpMean).or(mean(RawVital::NibpMean)),
            mean(RawVital::RespRate),
            mean(RawVital::Temperature),
            mean(RawVital::Spo2),
        ];
        let stay = group[0].stay as usize;
        let hour = hour_of(f64::from(group[0].offset), anchors[stay]);
        for (series, value) in out[stay].iter_mut().zip(merged) {
            if let Some(v) = value {
                series.add(hour, v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_numbers_match_the_original_pattern() {
        for ok in ["72", "-3", "36.6", "12."] {
            assert!(is_plain_number(ok), "{ok}");
        }
        for bad in ["", "-", ".", ".5", "1e3", "72 bpm", "1.2.3"] {
            assert!(!is_plain_number(bad), "{bad}");
        }
    }

    #[test]
    fn pressures_prefer_invasive_values_charted_at_the_same_time() {
        let c = |offset, var, value| Charted {
            stay: 0,
            offset,
            entry: offset,
            var,
            value,
        };
        let charted = vec![
            c(30, RawVital::NibpSys, 100.0),
            c(30, RawVital::IbpSys, 140.0),
            c(50, RawVital::NibpSys, 120.0),
            c(50, RawVital::HeartRate, 80.0),
            c(50, RawVital::HeartRate, 90.0),
        ];
        let out = merge_into_hours(charted, &[0.0]);
        // hour 1 holds the invasive 140 (time 30) and the non-invasive 120 (time 50): mean 130.
        assert_eq!(out[0][1].summary(0, 24).unwrap().first, 130.0);
        assert_eq!(out[0][0].summary(0, 24).unwrap().first, 85.0);
    }
}
