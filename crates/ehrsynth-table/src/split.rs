//! Seeded splits of a table's rows: train/holdout stratified on the target, and hospital (site)
//! hold-outs for cross-hospital evaluation. Same table + same seed = same split.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::TableError;
use crate::table::Table;

/// Row indices of the two sides of a split, each in ascending order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Rows to fit on.
    pub train: Vec<usize>,
    /// Rows held out for evaluation.
    pub holdout: Vec<usize>,
    /// For site splits: the held-out site values; empty otherwise.
    pub holdout_sites: Vec<String>,
}

impl Split {
    /// The train and holdout tables.
    pub fn apply(&self, table: &Table) -> (Table, Table) {
        (table.take(&self.train), table.take(&self.holdout))
    }
}

fn check_share(share: f64) -> crate::Result<()> {
    if share > 0.0 && share < 1.0 {
        Ok(())
    } else {
        Err(TableError::Invalid(format!(
            "the holdout share must be between 0 and 1 (exclusive), got {share}"
        )))
    }
}

/// Cell text of `column` for grouping rows (missing = "").
fn keys(table: &Table, column: &str) -> crate::Result<Vec<String>> {
    let column = table.require(column)?;
    Ok((0..column.len())
        .map(|i| column.value(i).to_string())
        .collect())
}

/// Holds out `holdout_share` of the rows, the same share within each target value, so both sides
/// keep the outcome rate. Missing targets form their own stratum.
pub fn stratified_split(
    table: &Table,
    target: &str,
    holdout_share: f64,
    seed: u64,
) -> crate::Result<Split> {
    check_share(holdout_share)?;
    let mut strata: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (row, key) in keys(table, target)?.into_iter().enumerate() {
        strata.entry(key).or_default().push(row);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut train, mut holdout) = (Vec::new(), Vec::new());
    for rows in strata.values_mut() {
        rows.shuffle(&mut rng);
        let n_holdout = (rows.len() as f64 * holdout_share).round() as usize;
        holdout.extend_from_slice(&rows[..n_holdout]);
        train.extend_from_slice(&rows[n_holdout..]);
    }
    train.sort_unstable();
    holdout.sort_unstable();
    Ok(Split {
        train,
        holdout,
        holdout_sites: Vec::new(),
    })
}

/// Which hospitals to hold out.
#[derive(Debug, Clone, PartialEq)]
pub enum SiteHoldout {
    /// These site values (as written in the data, e.g. "73").
    Sites(Vec<String>),
    /// A seeded random share of the sites (at least one, never all).
    Share(f64),
}

/// Holds out every row of the chosen sites. Rows with a missing site stay in train.
pub fn site_split(
    table: &Table,
    site: &str,
    holdout: &SiteHoldout,
    seed: u64,
) -> crate::Result<Split> {
    let row_sites = keys(table, site)?;
    let mut sites: Vec<&str> = row_sites
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    sites.sort_unstable();
    sites.dedup();
    if sites.len() < 2 {
        return Err(TableError::Invalid(format!(
            "column '{site}' has {} distinct site(s); a site split needs at least two",
            sites.len()
        )));
    }
    let chosen: Vec<String> = match holdout {
        SiteHoldout::Sites(list) => {
            for s in list {
                if !sites.contains(&s.as_str()) {
                    return Err(TableError::Invalid(format!(
                        "site '{s}' does not occur in column '{site}' ({} sites, e.g. {})",
                        sites.len(),
                        sites.iter().take(5).copied().collect::<Vec<_>>().join(", ")
                    )));
                }
            }
            if list.len() >= sites.len() {
                return Err(TableError::Invalid(
                    "every site is held out; keep at least one for training".into(),
                ));
            }
            list.clone()
        }
        SiteHoldout::Share(share) => {
            check_share(*share)?;
            let mut shuffled = sites.clone();
            shuffled.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
            let n = ((sites.len() as f64 * share).round() as usize).clamp(1, sites.len() - 1);
            let mut picked: Vec<String> = shuffled[..n].iter().map(|s| s.to_string()).collect();
            picked.sort();
            picked
        }
    };
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for (row, s) in row_sites.iter().enumerate() {
        if chosen.contains(s) {
            held.push(row)
        } else {
            train.push(row)
        }
    }
    Ok(Split {
        train,
        holdout: held,
        holdout_sites: chosen,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::column::Column;

    fn table(n: usize) -> Table {
        let death: Vec<Option<bool>> = (0..n).map(|i| Some(i % 10 == 0)).collect();
        let site: Vec<Option<i64>> = (0..n).map(|i| Some((i % 7) as i64)).collect();
        Table::new(vec![
            Column::binary("death", &death),
            Column::integer("hospitalid", &site),
        ])
        .unwrap()
    }

    #[test]
    fn stratified_split_keeps_the_outcome_rate_and_is_seeded() {
        let t = table(1000);
        let s = stratified_split(&t, "death", 0.3, 7).unwrap();
        assert_eq!(s.holdout.len(), 300);
        assert_eq!(s.train.len() + s.holdout.len(), 1000);
        let deaths = s.holdout.iter().filter(|&&i| i % 10 == 0).count();
        assert_eq!(deaths, 30);
        assert_eq!(s, stratified_split(&t, "death", 0.3, 7).unwrap());
        assert_ne!(s, stratified_split(&t, "death", 0.3, 8).unwrap());
        assert!(stratified_split(&t, "death", 1.0, 7).is_err());
        assert!(stratified_split(&t, "nope", 0.3, 7).is_err());
    }

    #[test]
    fn site_split_holds_out_whole_hospitals() {
        let t = table(700);
        let s = site_split(&t, "hospitalid", &SiteHoldout::Sites(vec!["3".into()]), 1).unwrap();
        assert_eq!(s.holdout.len(), 100);
        assert!(s.holdout.iter().all(|&i| i % 7 == 3));
        let share = site_split(&t, "hospitalid", &SiteHoldout::Share(0.3), 1).unwrap();
        assert_eq!(share.holdout_sites.len(), 2);
        assert_eq!(share.holdout.len(), 200);
        let err =
            site_split(&t, "hospitalid", &SiteHoldout::Sites(vec!["99".into()]), 1).unwrap_err();
        assert!(err.to_string().contains("site '99' does not occur"));
    }
}
