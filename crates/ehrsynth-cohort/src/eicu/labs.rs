//! Laboratory values and blood gases over hours [-24, 24] (the 24-hour look-back), from `lab`.
//!
//! Following eicu-code's pivoted-lab.sql / pivoted-bg.sql: results at the same (stay, labname,
//! time, revision) that disagree are dropped; results outside the valid range are dropped; of
//! the revisions of one result the latest is kept; labs fed by two names (glucose) take the
//! larger value at one time; the P/F ratio is PaO2 / FiO2 charted at the same time, FiO2 given
//! as a fraction (20-100 % is divided by 100; 1-20 and > 100 are dropped).

use std::collections::HashMap;
use std::path::Path;

use ehrsynth_table::Progress;

use super::hourly::{HourlySeries, grid_anchor, hour_of};
use super::source::stream;
use crate::error::CohortError;
use crate::features::{FIO2_LABNAME, LABS};

/// Index of the P/F ratio in [`LABS`].
fn pf_ratio_index() -> usize {
    LABS.iter()
        .position(|l| l.name == "bg_pao2fio2ratio")
        .unwrap_or(LABS.len())
}

fn pao2_index() -> usize {
    LABS.iter()
        .position(|l| l.name == "bg_pao2")
        .unwrap_or(LABS.len())
}

/// The lab names read, each with the feature it feeds (`None` = FiO2, used for the ratio).
fn lab_names() -> Vec<(&'static str, Option<usize>)> {
    let mut names: Vec<(&str, Option<usize>)> = LABS
        .iter()
        .enumerate()
        .flat_map(|(i, l)| l.labnames.iter().map(move |n| (*n, Some(i))))
        .collect();
    names.push((FIO2_LABNAME, None));
    names
}

/// FiO2 as a fraction, or `None` when it cannot be one.
pub fn fio2_fraction(value: f64) -> Option<f64> {
    if (0.2..=1.0).contains(&value) {
        Some(value)
    } else if (20.0..=100.0).contains(&value) {
        Some(value / 100.0)
    } else {
        None
    }
}

#[derive(Debug, Clone, Copy)]
struct LabResult {
    stay: u32,
    name: u8,
    offset: i32,
    revised: i32,
    value: f64,
}

/// The day-1 lab series of each stay, in [`LABS`] order.
pub type StayLabs = Vec<HourlySeries>;

/// Reads the lab results of the cohort's stays inside hours [-24, 24].
pub fn early_labs(
    path: &Path,
    stays: &HashMap<i64, u32>,
    admit_offsets: &[f64],
    progress: &dyn Progress,
) -> Result<Vec<StayLabs>, CohortError> {
    let anchors: Vec<f64> = admit_offsets.iter().map(|&a| grid_anchor(a)).collect();
    let names = lab_names();
    let name_index: HashMap<&str, u8> = names
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (*n, i as u8))
        .collect();
    let mut results = Vec::new();
    let columns = [
        "patientunitstayid",
        "labname",
        "labresultoffset",
        "labresultrevisedoffset",
        "labresult",
    ];
    stream(path, &columns, progress, |r| {
        let Some(&name) = name_index.get(r.text(1)) else {
            return Ok(());
        };
        let (Some(stay), Some(offset), Some(value)) = (r.integer(0), r.number(2), r.number(4))
        else {
            return Ok(());
        };
        let Some(&idx) = stays.get(&stay) else {
            return Ok(());
        };
        if (-24..=24).contains(&hour_of(offset, anchors[idx as usize])) {
            results.push(LabResult {
                stay: idx,
                name,
                offset: offset as i32,
                revised: r.number(3).map_or(i32::MIN, |x| x as i32),
                value,
            });
        }
        Ok(())
    })?;
    Ok(bin_results(results, &names, &anchors))
}

/// Deduplicates, range-filters and picks the latest revision, then bins by hour.
fn bin_results(
    mut results: Vec<LabResult>,
    names: &[(&str, Option<usize>)],
    anchors: &[f64],
) -> Vec<StayLabs> {
    results.sort_unstable_by(|a, b| {
        (a.stay, a.name, a.offset, a.revised)
            .cmp(&(b.stay, b.name, b.offset, b.revised))
            .then(a.value.total_cmp(&b.value))
    });
    // One value per (stay, labname, time): the latest consistent, in-range revision.
    let mut chosen: Vec<(u32, u8, i32, f64)> = Vec::new();
    for same_time in
        results.chunk_by(|a, b| (a.stay, a.name, a.offset) == (b.stay, b.name, b.offset))
    {
        let mut latest = None;
        for revision in same_time.chunk_by(|a, b| a.revised == b.revised) {
            let consistent = revision.iter().all(|r| r.value == revision[0].value);
            let value = revision[0].value;
            let in_range = match names[revision[0].name as usize].1 {
                Some(feature) => value >= LABS[feature].range.0 && value <= LABS[feature].range.1,
                None => fio2_fraction(value).is_some(),
            };
            if consistent && in_range {
                latest = Some(value);
            }
        }
        if let Some(v) = latest {
            chosen.push((same_time[0].stay, same_time[0].name, same_time[0].offset, v));
        }
    }
    let mut out: Vec<StayLabs> = (0..anchors.len())
        .map(|_| vec![HourlySeries::default(); LABS.len()])
        .collect();
    chosen.sort_unstable_by_key(|c| (c.0, c.2));
    for at_time in chosen.chunk_by(|a, b| (a.0, a.2) == (b.0, b.2)) {
        let stay = at_time[0].0 as usize;
        let hour = hour_of(f64::from(at_time[0].2), anchors[stay]);
        let mut values: Vec<Option<f64>> = vec![None; LABS.len()];
        let mut fio2 = None;
        for &(_, name, _, value) in at_time {
            match names[name as usize].1 {
                Some(f) => values[f] = Some(values[f].map_or(value, |v: f64| v.max(value))),
                None => fio2 = fio2_fraction(value),
            }
        }
        if let (Some(pao2), Some(fraction)) = (values[pao2_index()], fio2) {
            values[pf_ratio_index()] = Some(pao2 / fraction);
        }
        for (series, value) in out[stay].iter_mut().zip(values) {
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

    fn result(name: &str, offset: i32, revised: i32, value: f64) -> LabResult {
        let names = lab_names();
        let idx = names.iter().position(|(n, _)| *n == name).unwrap() as u8;
        LabResult {
            stay: 0,
            name: idx,
            offset,
            revised,
            value,
        }
    }

    fn feature(name: &str) -> usize {
        LABS.iter().position(|l| l.name == name).unwrap()
    }

    #[test]
    fn revisions_duplicates_ranges_and_ratio() {
        let results = vec![
            result("BUN", 10, 20, 30.0),
            result("BUN", 10, 90, 32.0), // later revision wins
            result("lactate", 10, 10, 2.0),
            result("lactate", 10, 10, 3.0), // disagreeing duplicate: dropped, earlier none left
            result("albumin", 10, 10, 9.0), // out of range
            result("paO2", 100, 100, 80.0),
            result("FiO2", 100, 100, 40.0), // 40 % -> 0.4
            result("glucose", 200, 200, 100.0),
            result("bedside glucose", 200, 200, 140.0), // the larger at one time
        ];
        let out = bin_results(results, &lab_names(), &[0.0]);
        let s = &out[0];
        assert_eq!(s[feature("bun")].summary(-24, 24).unwrap().first, 32.0);
        assert!(s[feature("lactate")].summary(-24, 24).is_none());
        assert!(s[feature("albumin")].summary(-24, 24).is_none());
        assert_eq!(
            s[feature("bg_pao2fio2ratio")]
                .summary(-24, 24)
                .unwrap()
                .first,
            200.0
        );
        assert_eq!(s[feature("glucose")].summary(-24, 24).unwrap().first, 140.0);
    }

    #[test]
    fn fio2_is_read_as_a_fraction() {
        assert_eq!(fio2_fraction(0.5), Some(0.5));
        assert_eq!(fio2_fraction(21.0), Some(0.21));
        assert_eq!(fio2_fraction(10.0), None);
        assert_eq!(fio2_fraction(10000.0), None);
    }
}
