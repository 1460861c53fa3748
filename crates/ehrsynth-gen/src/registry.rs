//! The statistical generators, one entry each ([`GENERATORS`]): the name users type, the label
//! the report prints, the line `--help` shows, whether it takes a differential-privacy budget,
//! and how to build it. The CLI's `--generator`, a study's `[[generators]] kind`, the study's
//! checks, the report and the quickstart all read this list, so a new generator is its own file
//! plus one entry here.
//!
//! Not here: the LLM strategies, which are built from their own settings ([`crate::strategies`]); the
//! name `llm` is reserved for them ([`LLM`]).

use crate::generator::{GenError, Generator};
use crate::{BayesNet, BayesNetConfig, GaussianCopula};

/// The name of the LLM strategies wherever a generator is named.
pub const LLM: &str = "llm";

/// The settings a statistical generator may take.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeneratorSettings {
    /// Differential-privacy budget ε (`None`: no privacy).
    pub epsilon: Option<f64>,
    /// The generator's own settings by name (`min_leaf = 50`), checked against its entry's
    /// [`GeneratorEntry::settings`] when it is built.
    pub values: Vec<(String, f64)>,
}

impl GeneratorSettings {
    /// The settings given as `NAME=VALUE` texts (the CLI's `--set`); which names a generator
    /// knows is checked when it is built.
    pub fn with_assignments(
        epsilon: Option<f64>,
        assignments: &[String],
    ) -> Result<Self, GenError> {
        let mut values: Vec<(String, f64)> = Vec::new();
        for text in assignments {
            let Some((name, value)) = text.split_once('=') else {
                return Err(GenError::Invalid(format!(
                    "setting '{text}' is not NAME=VALUE (e.g. min_leaf=50)"
                )));
            };
            let name = name.trim();
            let parsed: f64 = value.trim().parse().map_err(|_| {
                GenError::Invalid(format!(
                    "setting {name}: '{}' is not a number",
                    value.trim()
                ))
            })?;
            if values.iter().any(|(n, _)| n == name) {
                return Err(GenError::Invalid(format!("setting {name} given twice")));
            }
            values.push((name.to_string(), parsed));
        }
        Ok(Self { epsilon, values })
    }

    /// The value given for `setting`, else its default.
    pub fn value(&self, setting: &Setting) -> f64 {
        self.values
            .iter()
            .find(|(name, _)| name == setting.name)
            .map_or(setting.default, |(_, value)| *value)
    }

    /// The value given for `setting` (else its default) as a count.
    pub fn count(&self, setting: &Setting) -> usize {
        self.value(setting) as usize
    }
}

/// A setting of one generator: a whole number within bounds, with its default.
#[derive(Debug)]
pub struct Setting {
    /// The name users type (`min_leaf`).
    pub name: &'static str,
    /// One line for `--help` and the docs.
    pub about: &'static str,
    /// Used when the setting is not given.
    pub default: f64,
    /// The smallest value allowed.
    pub min: f64,
    /// The largest value allowed.
    pub max: f64,
}

impl Setting {
    /// Whether `value` is allowed: a whole number within the bounds.
    fn check(&self, generator: &str, value: f64) -> Result<(), GenError> {
        if value.fract() == 0.0 && (self.min..=self.max).contains(&value) {
            return Ok(());
        }
        Err(GenError::Invalid(format!(
            "{generator} setting {}: {value} is not a whole number from {} to {}",
            self.name, self.min, self.max
        )))
    }
}

/// One statistical generator.
#[derive(Debug)]
pub struct GeneratorEntry {
    /// The name users type (`copula`).
    pub name: &'static str,
    /// What the report calls it (`Gaussian copula`).
    pub label: &'static str,
    /// One line for `--help`.
    pub about: &'static str,
    /// Whether it takes an ε (`--epsilon`, a study's `epsilon = [...]`).
    pub takes_epsilon: bool,
    /// Its own settings (`--set NAME=VALUE`), none for most.
    pub settings: &'static [Setting],
    /// A fresh, unfitted generator.
    pub build: fn(&GeneratorSettings) -> Box<dyn Generator>,
}

impl PartialEq for GeneratorEntry {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for GeneratorEntry {}

impl GeneratorEntry {
    /// A fresh generator with `settings`; an ε for a generator that takes none, a setting it
    /// does not have or a value out of bounds is an error.
    pub fn generator(&self, settings: &GeneratorSettings) -> Result<Box<dyn Generator>, GenError> {
        if settings.epsilon.is_some() && !self.takes_epsilon {
            return Err(GenError::Invalid(format!(
                "epsilon applies to the {} only",
                epsilon_takers(|g| g.label)
            )));
        }
        for (name, value) in &settings.values {
            match self.settings.iter().find(|s| s.name == name) {
                Some(setting) => setting.check(self.name, *value)?,
                None => return Err(GenError::Invalid(self.unknown_setting(name))),
            }
        }
        Ok((self.build)(settings))
    }

    /// Why `name` is refused, with the settings this generator has.
    fn unknown_setting(&self, name: &str) -> String {
        if self.settings.is_empty() {
            return format!("the {} takes no settings (got {name})", self.label);
        }
        let known: Vec<&str> = self.settings.iter().map(|s| s.name).collect();
        format!(
            "the {} has no setting {name} (its settings: {})",
            self.label,
            known.join(", ")
        )
    }

    /// One line for `--help`: what it is, and its settings with their defaults.
    pub fn help(&self) -> String {
        if self.settings.is_empty() {
            return self.about.to_string();
        }
        let settings: Vec<String> = self
            .settings
            .iter()
            .map(|s| format!("{}={}", s.name, s.default))
            .collect();
        format!("{} [--set {}]", self.about, settings.join(" "))
    }

    /// The report's words for a cell of this generator: the label, with ε when private.
    pub fn label_with(&self, epsilon: Option<f64>) -> String {
        match epsilon {
            Some(e) if self.takes_epsilon => format!("{} (ε = {e})", self.label),
            _ => self.label.to_string(),
        }
    }
}

/// Every statistical generator, in the order they are listed to users.
pub static GENERATORS: &[GeneratorEntry] = &[
    GeneratorEntry {
        name: "copula",
        label: "Gaussian copula",
        about: "Gaussian copula with empirical marginals",
        takes_epsilon: false,
        settings: &[],
        build: |_| Box::new(GaussianCopula::new()),
    },
    GeneratorEntry {
        name: "bayesnet",
        label: "Bayesian network",
        about: "Bayesian network (PrivBayes), optionally differentially private",
        takes_epsilon: true,
        settings: &[],
        build: |settings| {
            Box::new(BayesNet::new(BayesNetConfig {
                epsilon: settings.epsilon,
                ..BayesNetConfig::default()
            }))
        },
    },
    GeneratorEntry {
        name: "cart",
        label: "sequential CART",
        about: "sequential CART (synthpop's method): a tree per column on the ones before",
        takes_epsilon: false,
        settings: crate::cart::SETTINGS,
        build: |settings| {
            Box::new(crate::SequentialCart::new(
                crate::CartConfig::from_settings(settings),
            ))
        },
    },
];

/// The statistical generator called `name` (exactly, as users type it).
pub fn find(name: &str) -> Option<&'static GeneratorEntry> {
    GENERATORS.iter().find(|g| g.name == name)
}

/// Every generator name users may type: the statistical ones, then [`LLM`].
pub fn names() -> &'static [&'static str] {
    static NAMES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        GENERATORS
            .iter()
            .map(|g| g.name)
            .chain(std::iter::once(LLM))
            .collect()
    })
}

/// The generators that take an ε, as words ("bayesnet", "Bayesian network and ...").
pub fn epsilon_takers(word: impl Fn(&GeneratorEntry) -> &'static str) -> String {
    let words: Vec<&str> = GENERATORS
        .iter()
        .filter(|g| g.takes_epsilon)
        .map(word)
        .collect();
    words.join(" and ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_builds_its_generator_and_names_are_unique() {
        let names = names();
        for (i, name) in names.iter().enumerate() {
            assert!(!names[i + 1..].contains(name), "{name} twice");
        }
        for entry in GENERATORS {
            assert_eq!(find(entry.name), Some(entry));
            let generator = entry.generator(&GeneratorSettings::default()).unwrap();
            assert_eq!(
                generator.name(),
                entry.name,
                "the generator names itself as listed"
            );
            let private = entry.generator(&GeneratorSettings {
                epsilon: Some(1.0),
                ..GeneratorSettings::default()
            });
            assert_eq!(private.is_ok(), entry.takes_epsilon, "{}", entry.name);
        }
        assert_eq!(find(LLM), None);
        let copula = find("copula").unwrap();
        let error = copula
            .generator(&GeneratorSettings {
                epsilon: Some(1.0),
                ..GeneratorSettings::default()
            })
            .err()
            .unwrap();
        assert_eq!(
            error.to_string(),
            "epsilon applies to the Bayesian network only"
        );
        assert_eq!(
            find("bayesnet").unwrap().label_with(Some(0.5)),
            "Bayesian network (ε = 0.5)"
        );
        assert_eq!(copula.label_with(None), "Gaussian copula");
    }

    #[test]
    fn settings_are_checked_against_the_generators_own_list() {
        let set = |texts: &[&str]| {
            let texts: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
            GeneratorSettings::with_assignments(None, &texts)
        };
        let error = |name: &str, texts: &[&str]| {
            let settings = set(texts).unwrap();
            find(name)
                .unwrap()
                .generator(&settings)
                .err()
                .unwrap()
                .to_string()
        };
        let cart = find("cart").unwrap();
        assert!(cart.generator(&set(&["min_leaf=50"]).unwrap()).is_ok());
        assert_eq!(
            crate::CartConfig::from_settings(&set(&["min_leaf=50", "target_trees=3"]).unwrap()),
            crate::CartConfig {
                min_leaf: 50,
                target_trees: 3,
                ..crate::CartConfig::default()
            }
        );
        assert_eq!(
            error("cart", &["leaf=5"]),
            "the sequential CART has no setting leaf \
             (its settings: min_leaf, max_depth, fit_rows, target_trees, additive_target)"
        );
        assert!(error("cart", &["min_leaf=0"]).contains("from 1 to"));
        assert!(error("cart", &["max_depth=2.5"]).contains("not a whole number"));
        assert!(error("copula", &["min_leaf=5"]).contains("takes no settings"));
        for bad in ["min_leaf", "min_leaf=many", "min_leaf=1,min_leaf=2"] {
            assert!(set(&[bad]).is_err(), "{bad}");
        }
        assert!(set(&["min_leaf=1", "min_leaf=2"]).is_err(), "given twice");
        assert!(cart.help().contains("--set min_leaf=20"));
    }
}
