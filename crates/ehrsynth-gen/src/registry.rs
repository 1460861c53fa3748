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
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GeneratorSettings {
    /// Differential-privacy budget ε (`None`: no privacy).
    pub epsilon: Option<f64>,
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
    /// A fresh generator with `settings`; an ε for a generator that takes none is an error.
    pub fn generator(&self, settings: &GeneratorSettings) -> Result<Box<dyn Generator>, GenError> {
        if settings.epsilon.is_some() && !self.takes_epsilon {
            return Err(GenError::Invalid(format!(
                "epsilon applies to the {} only",
                epsilon_takers(|g| g.label)
            )));
        }
        Ok((self.build)(settings))
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
        build: |_| Box::new(GaussianCopula::new()),
    },
    GeneratorEntry {
        name: "bayesnet",
        label: "Bayesian network",
        about: "Bayesian network (PrivBayes), optionally differentially private",
        takes_epsilon: true,
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
        build: |_| Box::new(crate::SequentialCart::new(crate::CartConfig::default())),
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
            let private = entry.generator(&GeneratorSettings { epsilon: Some(1.0) });
            assert_eq!(private.is_ok(), entry.takes_epsilon, "{}", entry.name);
        }
        assert_eq!(find(LLM), None);
        let copula = find("copula").unwrap();
        let error = copula
            .generator(&GeneratorSettings { epsilon: Some(1.0) })
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
}
