//! The schema's order rules are kept by construction by both statistical generators: with only
//! the orders in the schema (so the repair could only fix orders), sampled rows need no repair,
//! and a condition on a column coded as a gap is refused with a message.

use std::sync::Mutex;

use ehrsynth_cohort::features::eicu_schema;
use ehrsynth_cohort::reference::{ReferenceConfig, reference_cohort};
use ehrsynth_gen::{BayesNet, BayesNetConfig, Condition, GaussianCopula, Generator, SampleOptions};
use ehrsynth_table::constraint::violations;
use ehrsynth_table::{Constraint, NoProgress, Progress, Schema};

/// Keeps every finish message (the generators say there how many rows they repaired).
#[derive(Default)]
struct Messages(Mutex<Vec<String>>);

impl Progress for Messages {
    fn start(&self, _label: &str, _total: Option<u64>, _unit: &str) {}
    fn advance(&self, _delta: u64) {}
    fn finish(&self, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }
}

fn orders_only() -> Schema {
    let mut schema = eicu_schema();
    schema
        .constraints
        .retain(|c| matches!(c, Constraint::Order { .. }));
    schema.constraint_notes.clear();
    assert_eq!(schema.constraints.len(), 14);
    schema
}

fn check(generator: &mut dyn Generator) {
    let cohort = reference_cohort(&ReferenceConfig {
        rows: 4000,
        hospitals: 8,
        seed: 5,
    })
    .unwrap()
    .table;
    let schema = orders_only();
    generator.fit(&cohort, &schema, 1, &NoProgress).unwrap();
    let messages = Messages::default();
    let options = SampleOptions {
        rows: 3000,
        seed: 2,
        condition: None,
    };
    let synthetic = generator.generate(&options, &messages).unwrap();
    let said = messages.0.lock().unwrap().join(" | ");
    assert!(!said.contains("repaired"), "{}: {said}", generator.name());
    let broken: usize = violations(&schema, &synthetic)
        .iter()
        .map(|c| c.broken)
        .sum();
    assert_eq!(broken, 0, "{}", generator.name());

    let on_gap = SampleOptions {
        condition: Some(Condition {
            column: "heartrate_max".into(),
            value: "100".into(),
        }),
        ..options
    };
    let refused = generator
        .generate(&on_gap, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("gap above the columns below it"),
        "{refused}"
    );
}

#[test]
fn the_copula_keeps_orders_without_a_repair() {
    check(&mut GaussianCopula::new());
}

#[test]
fn the_bayesian_network_keeps_orders_without_a_repair() {
    check(&mut BayesNet::new(BayesNetConfig::default()));
}
