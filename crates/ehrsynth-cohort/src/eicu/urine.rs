//! Urine output summed over hours [0, 24], from `intakeOutput`.
//!
//! eicu-code's pivoted-uo.sql keeps output cells under
//! `flowsheet|Flowsheet Cell Labels|I&O|Output (ml)|` whose label is one of ~130 urine labels
//! (urine, Foley, straight/condom/urethral catheter, nephrostomy, suprapubic, incontinence,
//! void...). We classify the label by those same words rather than by the literal list, so
//! spelling variants it missed count too; Foley labels mentioning PACU are excluded as there.

use std::collections::HashMap;
use std::path::Path;

use ehrsynth_table::Progress;

use super::hourly::{grid_anchor, hour_of};
use super::source::stream;
use crate::error::CohortError;

const OUTPUT_PREFIX: &str = "flowsheet|Flowsheet Cell Labels|I&O|Output (ml)|";

const URINE_WORDS: [&str; 15] = [
    "urine",
    "uop",
    "urinary",
    "foley",
    "urethral",
    "urethal",
    "straight cath",
    "straightcath",
    "strait cath",
    "condom",
    "nephrostomy",
    "suprapubic",
    "incont",
    "void",
    "texas cath",
];

/// Whether an intakeOutput `cellpath` records urine output.
pub fn is_urine_path(cellpath: &str) -> bool {
    let Some(label) = cellpath.strip_prefix(OUTPUT_PREFIX) else {
        return false;
    };
    let label = label.to_ascii_lowercase();
    URINE_WORDS.iter().any(|w| label.contains(w)) && !label.contains("pacu")
}

/// Urine output (mL) of each stay over hours [0, 24]; stays without any urine row get 0,
/// as in the original (a sum over no rows).
pub fn urine_output(
    path: &Path,
    stays: &HashMap<i64, u32>,
    admit_offsets: &[f64],
    progress: &dyn Progress,
) -> Result<Vec<f64>, CohortError> {
    let anchors: Vec<f64> = admit_offsets.iter().map(|&a| grid_anchor(a)).collect();
    let mut totals = vec![0.0; admit_offsets.len()];
    let columns = [
        "patientunitstayid",
        "intakeoutputoffset",
        "cellpath",
        "cellvaluenumeric",
    ];
    stream(path, &columns, progress, |r| {
        if !is_urine_path(r.text(2)) {
            return Ok(());
        }
        if let (Some(stay), Some(offset), Some(value)) = (r.integer(0), r.number(1), r.number(3))
            && let Some(&idx) = stays.get(&stay)
            && (0..=24).contains(&hour_of(offset, anchors[idx as usize]))
        {
            totals[idx as usize] += value;
        }
        Ok(())
    })?;
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urine_labels_are_recognised() {
        for yes in [
            "Urine",
            "Urine Output-Foley",
            "Straight Cath UOP",
            "Incontient urine",
            "Condom Catheter",
        ] {
            assert!(is_urine_path(&format!("{OUTPUT_PREFIX}{yes}")), "{yes}");
        }
        for no in ["Stool", "Emesis", "Chest Tube #1", "Foley PACU"] {
            assert!(!is_urine_path(&format!("{OUTPUT_PREFIX}{no}")), "{no}");
        }
        assert!(!is_urine_path(
            "flowsheet|Flowsheet Cell Labels|I&O|Intake (ml)|Urine"
        ));
    }
}
