//! Every registered generator keeps a `combinations` rule, through the bounded repair, on a public
//! table it was never tuned on: Palmer penguins (CC0; the copy the table crate's tests hold),
//! where Gentoos live only on Biscoe and Chinstraps only on Dream. Without the rule in the schema
//! the copula writes species on islands they never lived on; with it no generator does, and the
//! species' and islands' shares stay near the real ones.

use std::path::Path;

use ehrsynth_gen::SampleOptions;
use ehrsynth_gen::registry::{GENERATORS, GeneratorSettings};
use ehrsynth_table::constraint::{infer, violations};
use ehrsynth_table::io::read_table;
use ehrsynth_table::{Constraint, NoProgress, Schema, Table};

fn penguins() -> Table {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../ehrsynth-table/tests/data/penguins.csv.gz");
    read_table(&path, None).unwrap()
}

fn share(table: &Table, column: &str, value: &str) -> f64 {
    let c = table.column(column).unwrap();
    (0..table.n_rows())
        .filter(|&r| c.value(r).to_string() == value)
        .count() as f64
        / table.n_rows() as f64
}

/// Rows of `table` that break the rules of `rules`.
fn broken(rules: &Schema, table: &Table) -> usize {
    violations(rules, table).iter().map(|c| c.broken).sum()
}

#[test]
fn every_generator_keeps_the_species_on_their_islands() {
    let real = penguins();
    let mut with_rule = Schema::infer(&real, &Default::default()).unwrap();
    with_rule.constraints = infer(&real, &[])
        .into_iter()
        .map(|f| f.constraint)
        .filter(|c| matches!(c, Constraint::Combinations { .. }))
        .collect();
    assert_eq!(with_rule.constraints.len(), 1);
    let mut without = with_rule.clone();
    without.constraints.clear();
    let options = SampleOptions {
        rows: 4000,
        seed: 3,
        condition: None,
    };
    for entry in GENERATORS {
        let sample = |schema: &Schema| {
            let mut g = entry.generator(&GeneratorSettings::default()).unwrap();
            g.fit(&real, schema, 1, &NoProgress).unwrap();
            g.generate(&options, &NoProgress).unwrap()
        };
        let free = sample(&without);
        let kept = sample(&with_rule);
        // The positive control: the copula, whose Gaussian dependence cannot make a pair of
        // categories impossible, breaks the rule when the schema does not state it.
        if entry.name == "copula" {
            assert!(
                broken(&with_rule, &free) > 40,
                "{}",
                broken(&with_rule, &free)
            );
        }
        assert_eq!(broken(&with_rule, &kept), 0, "{}", entry.name);
        for (column, value) in [
            ("species", "Gentoo"),
            ("island", "Dream"),
            ("species", "Adelie"),
        ] {
            let (r, s) = (share(&real, column, value), share(&kept, column, value));
            assert!(
                (r - s).abs() < 0.08,
                "{}: {column} = {value}: real {r:.3}, synthetic {s:.3}",
                entry.name
            );
        }
    }
}
