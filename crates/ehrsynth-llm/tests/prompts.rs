//! The strategies' prompts: snapshots of each (insta; accept a deliberate change with
//! `cargo insta review` or `INSTA_UPDATE=always`), and the privacy rule: without an explicit opt-in for the provider, no real
//! row — and no value seen fewer than k times — ever appears in a prompt.

use ehrsynth_llm::context::{ContextOptions, PromptContext};
use ehrsynth_llm::prompt::{Strategy, Template};
use ehrsynth_table::{Column, ColumnKind, ColumnSpec, Role, Schema, Table};

fn schema() -> Schema {
    let mut age = ColumnSpec::new("age", ColumnKind::Continuous);
    (age.min, age.max, age.unit, age.missing_allowed) =
        (Some(16.0), Some(90.0), Some("years".into()), false);
    age.description = Some("age at admission".into());
    let mut lactate = ColumnSpec::new("lactate", ColumnKind::Continuous);
    (lactate.min, lactate.max, lactate.unit) = (Some(0.1), Some(30.0), Some("mmol/L".into()));
    let mut female = ColumnSpec::new("is_female", ColumnKind::Binary);
    (female.role, female.missing_allowed) = (Role::Group, false);
    let mut unit = ColumnSpec::new("unit", ColumnKind::Categorical);
    unit.categories = vec!["MICU".into(), "SICU".into(), "CCU".into()];
    let mut note = ColumnSpec::new("note", ColumnKind::Categorical);
    note.description = Some("free text".into());
    let mut death = ColumnSpec::new("death", ColumnKind::Binary);
    (death.role, death.missing_allowed) = (Role::Target, false);
    Schema::new(vec![age, lactate, female, unit, note, death]).unwrap()
}

/// 200 rows; every row carries a unique secret note and an unusual age with many decimals;
/// the unit "CCU" occurs only 5 times (below k = 10).
fn table() -> Table {
    let n = 200;
    let age: Vec<Option<f64>> = (0..n)
        .map(|i| Some(20.0 + (i as f64 * 0.337_911).rem_euclid(60.0) + 0.000_123))
        .collect();
    let lactate: Vec<Option<f64>> = (0..n)
        .map(|i| (i % 4 != 0).then_some(1.0 + (i % 17) as f64 * 0.25))
        .collect();
    let female: Vec<Option<bool>> = (0..n).map(|i| Some(i % 2 == 0)).collect();
    let unit: Vec<Option<&str>> = (0..n)
        .map(|i| {
            Some(if i < 5 {
                "CCU"
            } else if i % 3 == 0 {
                "SICU"
            } else {
                "MICU"
            })
        })
        .collect();
    let notes: Vec<String> = (0..n).map(|i| format!("SECRET-{i:04}")).collect();
    let note: Vec<Option<&str>> = notes.iter().map(|s| Some(s.as_str())).collect();
    let death: Vec<Option<bool>> = (0..n).map(|i| Some(i % 9 == 0)).collect();
    Table::new(vec![
        Column::continuous("age", &age),
        Column::continuous("lactate", &lactate),
        Column::binary("is_female", &female),
        Column::categorical("unit", &unit),
        Column::categorical("note", &note),
        Column::binary("death", &death),
    ])
    .unwrap()
}

fn all_prompts(context: &PromptContext) -> Vec<(Strategy, String)> {
    [
        Strategy::Naive,
        Strategy::Schema,
        Strategy::Conditional,
        Strategy::Group,
    ]
    .into_iter()
    .map(|s| {
        (
            s,
            Template::builtin(s).render(
                context,
                25,
                (s == Strategy::Group).then_some("is_female = 1"),
            ),
        )
    })
    .collect()
}

#[test]
fn every_strategy_matches_its_snapshot() {
    let context =
        PromptContext::build(&table(), &schema(), &ContextOptions::default(), "openai", 1).unwrap();
    for (strategy, prompt) in all_prompts(&context) {
        insta::assert_snapshot!(strategy.name(), prompt);
    }
}

#[test]
fn without_opt_in_no_real_row_reaches_a_prompt() {
    let data = table();
    let context =
        PromptContext::build(&data, &schema(), &ContextOptions::default(), "openai", 1).unwrap();
    for (strategy, prompt) in all_prompts(&context) {
        assert!(
            !prompt.contains("SECRET-"),
            "{}: a per-patient value leaked",
            strategy.name()
        );
        assert!(
            !prompt.contains("CCU "),
            "{}: a category of 5 rows was not suppressed",
            strategy.name()
        );
        for i in 0..data.n_rows() {
            let age = data.column("age").unwrap().value(i).to_string();
            assert!(
                !prompt.contains(&age),
                "{}: the exact age of row {i} ({age}) appears",
                strategy.name()
            );
            let row: Vec<String> = data.row(i).iter().map(ToString::to_string).collect();
            assert!(
                !prompt.contains(&row.join(",")),
                "{}: row {i} appears",
                strategy.name()
            );
        }
    }
    // Asking for real examples without naming this provider is refused outright.
    let wants_examples = ContextOptions {
        real_examples: 20,
        ..ContextOptions::default()
    };
    let err = PromptContext::build(&data, &schema(), &wants_examples, "openai", 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--allow-real-examples openai"), "{err}");
    let other_provider = ContextOptions {
        real_examples: 20,
        allow_real_examples_for: Some("anthropic".into()),
        ..ContextOptions::default()
    };
    assert!(PromptContext::build(&data, &schema(), &other_provider, "openai", 1).is_err());
}

#[test]
fn with_opt_in_for_this_provider_real_rows_are_shown() {
    let data = table();
    let options = ContextOptions {
        real_examples: 20,
        allow_real_examples_for: Some("OpenAI".into()),
        ..ContextOptions::default()
    };
    let context = PromptContext::build(&data, &schema(), &options, "openai", 1).unwrap();
    let prompt = Template::builtin(Strategy::Naive).render(&context, 25, None);
    assert_eq!(prompt.matches("SECRET-").count(), 20);
}

#[test]
fn custom_templates_need_rows_and_columns() {
    assert!(Template::custom(Strategy::Naive, "Write some rows.").is_err());
    let t = Template::custom(Strategy::Naive, "Give me {rows} rows of {columns}.").unwrap();
    let context =
        PromptContext::build(&table(), &schema(), &ContextOptions::default(), "openai", 1).unwrap();
    assert_eq!(
        t.render(&context, 3, None),
        "Give me 3 rows of age, lactate, is_female, unit, note, death.\n"
    );
    assert!(Strategy::parse("GROUP").is_ok() && Strategy::parse("fancy").is_err());
}

#[test]
fn the_in_process_model_sees_real_rows_by_default_and_http_providers_never_without_opt_in() {
    use ehrsynth_llm::context::{DEFAULT_LOCAL_EXAMPLES, default_examples};
    assert_eq!(default_examples("local", None), DEFAULT_LOCAL_EXAMPLES);
    assert_eq!(default_examples("local", Some(0)), 0);
    assert_eq!(default_examples("openai-compatible", None), 0);
    assert_eq!(default_examples("openai", Some(5)), 5);
    let data = table();
    let options = ContextOptions {
        real_examples: default_examples("local", None),
        ..ContextOptions::default()
    };
    // The local model: examples without any opt-in, drawn afresh per seed.
    let local = PromptContext::build(&data, &schema(), &options, "local", 1).unwrap();
    assert!(local.has_examples());
    // They open its answer (which it continues) rather than stand in the question.
    let prompt = Template::builtin(Strategy::Group).prompt(&local, 10, Some("is_female = 1"));
    let opening = prompt.answer_start.as_deref().unwrap_or_default();
    assert_eq!(opening.matches("SECRET-").count(), DEFAULT_LOCAL_EXAMPLES);
    assert_eq!(
        opening.lines().count(),
        DEFAULT_LOCAL_EXAMPLES,
        "data lines, no header"
    );
    assert_eq!(prompt.text.matches("SECRET-").count(), 0);
    let redrawn = local.with_examples_drawn(&data, &schema(), DEFAULT_LOCAL_EXAMPLES, 2);
    assert_ne!(redrawn.examples_csv, local.examples_csv);
    // The same request to a server (even one on this machine) is refused without the opt-in.
    for provider in ["openai-compatible", "openai", "anthropic", "gemini"] {
        let err = PromptContext::build(&data, &schema(), &options, provider, 1).unwrap_err();
        assert!(err.to_string().contains("--allow-real-examples"), "{err}");
    }
}
