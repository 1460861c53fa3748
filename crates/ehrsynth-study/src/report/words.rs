//! The report's words for the data at hand. On the paper's kind of data (eICU-shaped: an outcome
//! `death` and most of the paper's 83 columns) the report speaks of ICU stays, in-hospital death
//! and hospitals, and shows the paper's published numbers beside ours. On any other table it
//! names the table's own outcome and site columns and leaves the paper's numbers out: they were
//! measured on eICU and compare with nothing else.

use crate::results::{DataRoles, StudyResults};

/// The words one report uses.
pub struct Words<'a> {
    roles: &'a DataRoles,
}

impl<'a> Words<'a> {
    /// The words for a study's data.
    pub fn of(results: &'a StudyResults) -> Self {
        Self {
            roles: &results.roles,
        }
    }

    /// The paper's kind of data: its numbers and its words apply.
    pub fn eicu(&self) -> bool {
        self.roles.eicu_shaped
    }

    /// The outcome in a few words: "in-hospital death", or "outcome = '1_yes'".
    pub fn outcome(&self) -> String {
        if self.eicu() {
            "in-hospital death".into()
        } else {
            format!("{} = '{}'", self.roles.target, self.roles.positive)
        }
    }

    /// What one site is called: "hospital" on eICU data, else "site".
    pub fn site(&self) -> &'static str {
        if self.eicu() { "hospital" } else { "site" }
    }

    /// The report's opening sentence.
    pub fn lede(&self) -> &'static str {
        if self.eicu() {
            "Synthetic ICU patient data compared with the real patients they imitate, following Lin, Yu and Lee (CHIL 2025)."
        } else {
            "Synthetic rows compared with the real rows they imitate, with the measures of Lin, Yu and Lee (CHIL 2025); their published numbers were measured on eICU and are not shown for this table."
        }
    }

    /// The outcome's rate among the training rows, as the end of a sentence.
    pub fn outcome_rate(&self, rate: f64) -> String {
        if self.eicu() {
            format!("of whom {:.1}% died in hospital", 100.0 * rate)
        } else {
            format!("{:.1}% of whom have {}", 100.0 * rate, self.outcome())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_data_are_named_by_their_own_columns() {
        let trial = DataRoles {
            target: "cd4_drop".into(),
            positive: "1_yes".into(),
            site: Some("center".into()),
            eicu_shaped: false,
            cross_site_note: None,
        };
        let words = Words { roles: &trial };
        assert_eq!(words.outcome(), "cd4_drop = '1_yes'");
        assert_eq!(words.site(), "site");
        assert!(!words.lede().contains(" ICU"));
        assert!(!words.outcome_rate(0.244).contains("died"));
        let eicu = DataRoles::default();
        let words = Words { roles: &eicu };
        assert_eq!(words.outcome_rate(0.083), "of whom 8.3% died in hospital");
    }
}
