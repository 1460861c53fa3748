//! The columns an audit is told to treat as target, site and groups, checked before any work:
//! a name that is not a column is an error that names the closest column, and one column in
//! two roles is an error. Used by the audit itself and by the commands that take `--target`,
//! `--site` or `--group` (split, importance, evaluate, schema), so all say the same thing.
//!
//! Not here: inferring roles from data (ehrsynth-table's schema inference).

use crate::error::EvalError;

/// The roles named for one run (`None` / empty: not named).
#[derive(Debug, Clone, Copy, Default)]
pub struct NamedRoles<'a> {
    /// The outcome column.
    pub target: Option<&'a str>,
    /// The site (hospital) column.
    pub site: Option<&'a str>,
    /// Group columns.
    pub groups: &'a [String],
}

/// Checks that every named role is one of `columns` (the table's column names) and that no
/// column holds two roles.
pub fn check_roles(columns: &[&str], roles: NamedRoles<'_>) -> Result<(), EvalError> {
    let named = roles
        .target
        .map(|t| ("target", t))
        .into_iter()
        .chain(roles.site.map(|s| ("site", s)))
        .chain(roles.groups.iter().map(|g| ("group", g.as_str())));
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for (role, name) in named {
        if !columns.contains(&name) {
            return Err(EvalError::Invalid(unknown_column_message(
                role, name, columns,
            )));
        }
        if let Some((other, _)) = seen.iter().find(|(_, n)| *n == name) {
            return Err(EvalError::Invalid(if *other == role {
                format!("column '{name}' is named as a {role} twice")
            } else {
                format!(
                    "column '{name}' cannot be both the {other} and a {role}: give each role its own column"
                )
            }));
        }
        seen.push((role, name));
    }
    Ok(())
}

fn unknown_column_message(role: &str, name: &str, columns: &[&str]) -> String {
    let mut message = format!("the {role} column '{name}' is not a column of the table");
    match closest_name(name, columns) {
        Some(close) => message += &format!("; did you mean '{close}'?"),
        None => {
            let shown: Vec<&str> = columns.iter().take(8).copied().collect();
            let more = if columns.len() > shown.len() {
                ", ..."
            } else {
                ""
            };
            message += &format!(" (columns: {}{more})", shown.join(", "));
        }
    }
    message
}

/// The column whose name is nearest to `name` (case-insensitive edit distance), if it is near
/// enough to be a likely typo or renaming: at most 40% of the longer name's characters
/// differ (two in a five-letter name), or one name holds the other (`age` / `age_years`).
pub fn closest_name<'a>(name: &str, columns: &[&'a str]) -> Option<&'a str> {
    let wanted = name.to_lowercase();
    columns
        .iter()
        .map(|c| (c.to_lowercase(), *c))
        .filter(|(lower, _)| {
            let close = edit_distance(&wanted, lower) * 5
                <= 2 * wanted.chars().count().max(lower.chars().count());
            let holds = lower.len() >= 3
                && wanted.len() >= 3
                && (wanted.contains(lower.as_str()) || lower.contains(wanted.as_str()));
            close || holds
        })
        .min_by_key(|(lower, _)| edit_distance(&wanted, lower))
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: &[&str] = &["death", "hospitalid", "is_female", "age"];

    fn roles<'a>(
        target: Option<&'a str>,
        site: Option<&'a str>,
        groups: &'a [String],
    ) -> NamedRoles<'a> {
        NamedRoles {
            target,
            site,
            groups,
        }
    }

    #[test]
    fn a_typo_names_the_closest_column() {
        let e = check_roles(COLUMNS, roles(None, Some("hospital"), &[])).unwrap_err();
        assert!(e.to_string().contains("did you mean 'hospitalid'"), "{e}");
        let e = check_roles(COLUMNS, roles(Some("deaht"), None, &[])).unwrap_err();
        assert!(e.to_string().contains("'deaht'"), "{e}");
        assert!(e.to_string().contains("did you mean 'death'"), "{e}");
    }

    #[test]
    fn a_name_far_from_every_column_lists_the_columns() {
        let e = check_roles(COLUMNS, roles(Some("outcome_30d"), None, &[])).unwrap_err();
        assert!(e.to_string().contains("columns: death, hospitalid"), "{e}");
    }

    #[test]
    fn one_column_in_two_roles_is_refused() {
        let groups = vec!["death".to_string()];
        let e = check_roles(COLUMNS, roles(Some("death"), None, &groups)).unwrap_err();
        assert!(e.to_string().contains("both the target and a group"), "{e}");
        let e = check_roles(COLUMNS, roles(None, Some("age"), &["age".into()])).unwrap_err();
        assert!(e.to_string().contains("both the site and a group"), "{e}");
    }

    #[test]
    fn roles_that_are_columns_pass() {
        let groups = vec!["is_female".to_string()];
        check_roles(COLUMNS, roles(Some("death"), Some("hospitalid"), &groups)).unwrap();
    }

    #[test]
    fn a_renamed_column_is_found_by_containment() {
        assert_eq!(closest_name("age_years", &["death", "age"]), Some("age"));
        assert_eq!(closest_name("zzz", &["death", "age"]), None);
    }

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("death", "death"), 0);
    }
}
