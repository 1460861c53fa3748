//! Constraint inference on a public table it was never tuned on: NYC taxi trips of March 2019
//! (seaborn-data's `taxis`, NYC Open Data), with its three categorical columns one-hot coded by
//! `scripts/encode_taxis.py`. The test knows the rules the coding put there and the ones the data
//! hold, and checks that inference finds those and nothing by chance.

use std::path::Path;

use ehrsynth_table::constraint::infer;
use ehrsynth_table::io::read_table;
use ehrsynth_table::{Constraint, Schema};

fn taxis() -> ehrsynth_table::Table {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/taxis_encoded.csv.gz");
    read_table(&path, None).unwrap()
}

fn labels(found: &[Constraint]) -> Vec<String> {
    found.iter().map(Constraint::label).collect()
}

#[test]
fn inference_finds_the_coded_one_hot_sets_and_the_money_orders_of_taxi_trips() {
    let table = taxis();
    assert_eq!(table.n_rows(), 6433);
    let found: Vec<Constraint> = infer(&table, &[])
        .into_iter()
        .map(|i| i.constraint)
        .collect();
    assert_eq!(
        labels(&found),
        vec![
            // Every trip is a yellow or a green cab: exactly one.
            "exactly_one(color_yellow, color_green)",
            // 44 trips have no payment type: at most one.
            "one_hot(pay_credit_card, pay_cash)",
            // The Bronx (99 pickups) is left out: with Brooklyn (383) independent columns would
            // share only 5.9 rows, too few to tell a rule from chance (ONE_HOT_EVIDENCE = 8).
            // Staten Island has no pickup: a constant column, in no set.
            "one_hot(pickup_manhattan, pickup_queens, pickup_brooklyn)",
            // The fare is part of the total, and seaborn kept only trips tipping less than the
            // fare; tip <= total follows and is not written twice.
            "order(fare <= total)",
            "order(tip <= fare)",
        ]
    );
    // Tolls (almost always 0) never exceed the fare either, but the two do not measure one
    // quantity (medians 0 and 9.5 apart by more than the fare's IQR): no rule is proposed.
    assert!(
        !labels(&found)
            .iter()
            .any(|l| l.contains("tolls") || l.contains("passengers"))
    );
}

#[test]
fn the_inferred_rules_hold_on_the_table_and_round_trip_through_its_schema_file() {
    let table = taxis();
    let mut schema = Schema::infer(&table, &Default::default()).unwrap();
    schema.constraints = infer(&table, &[])
        .into_iter()
        .map(|i| i.constraint)
        .collect();
    let report = schema.validate_table(&table).unwrap();
    assert!(report.rejected.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("taxis.schema.toml");
    schema.save(&path).unwrap();
    assert_eq!(Schema::load(&path).unwrap().constraints, schema.constraints);
}

/// Palmer penguins (Gorman, Williams and Fraser 2014, CC0; the copy in PyPI's `palmerpenguins`
/// 0.1.6, `palmerpenguins/data/penguins.csv`, gzipped): 344 penguins of three species on three
/// islands. Gentoos live only on Biscoe and Chinstraps only on Dream; Adelies on all three.
fn penguins() -> ehrsynth_table::Table {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/penguins.csv.gz");
    read_table(&path, None).unwrap()
}

#[test]
fn inference_finds_which_species_live_on_which_island_and_no_chance_combination() {
    let table = penguins();
    assert_eq!(table.n_rows(), 344);
    let found = infer(&table, &[]);
    let combinations: Vec<&ehrsynth_table::constraint::Inferred> = found
        .iter()
        .filter(|f| matches!(f.constraint, Constraint::Combinations { .. }))
        .collect();
    // Sex with species or island, and island with year, have every combination: no rule.
    assert_eq!(combinations.len(), 1, "{found:#?}");
    let Constraint::Combinations { columns, allowed } = &combinations[0].constraint else {
        unreachable!()
    };
    assert_eq!(columns, &["species", "island"]);
    let mut pairs: Vec<String> = allowed.iter().map(|a| a.join(" on ")).collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            "Adelie on Biscoe",
            "Adelie on Dream",
            "Adelie on Torgersen",
            "Chinstrap on Dream",
            "Gentoo on Biscoe"
        ]
    );
    // The strongest missing pair: 124 Gentoos and 124 penguins on Dream would share 44.7.
    let evidence = &combinations[0].evidence;
    assert!(evidence.contains("5 of the 9 combinations"), "{evidence}");
    assert!(
        evidence.contains("45 rows of species = Gentoo, island = Dream"),
        "{evidence}"
    );
    // Every real row holds the rule, and a Gentoo on Torgersen breaks it.
    let mut schema = Schema::infer(&table, &Default::default()).unwrap();
    schema.constraints = vec![combinations[0].constraint.clone()];
    schema.check_constraints().unwrap();
    assert!(
        ehrsynth_table::constraint::violations(&schema, &table)
            .iter()
            .all(|c| c.broken == 0)
    );
    let mut cells: Vec<String> = (0..table.n_columns())
        .map(|c| table.columns()[c].value(0).to_string())
        .collect();
    cells[0] = "Gentoo".into();
    let err = schema.validate_cells(&cells).unwrap_err();
    assert_eq!(err[0].column, "combinations(species, island)");
}
