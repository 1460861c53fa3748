//! Constrained decoding end to end: random walks that pick uniformly among the allowed tokens of
//! a realistic byte-level vocabulary must always finish with the wanted number of rows, and the
//! answer must parse with the project's answer parser and validate against the schema.

use std::sync::Arc;

use ehrsynth_cohort::features::eicu_schema;
use ehrsynth_llm::grammar::{
    ConstrainedDecoder, GrammarError, RowFormat, RowGrammar, TokenVocabulary,
};
use ehrsynth_llm::parse::{AnswerFormat, parse_answer};
use ehrsynth_table::{ColumnKind, ColumnSpec, Constraint, Schema};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const END_OF_TEXT: u32 = 0;

/// A byte-level vocabulary like a BPE model's: end-of-text and chat control tokens, all 256
/// bytes, and merges cut from text like the answers (header, categories, numbers, separators)
/// plus some prose words.
fn vocabulary(schema: &Schema, seed: u64) -> Vec<Vec<u8>> {
    let mut tokens: Vec<Vec<u8>> = vec![
        b"<|endoftext|>".to_vec(),
        b"<|im_start|>".to_vec(),
        b"<|im_end|>".to_vec(),
        b"<repo_name>".to_vec(),
    ];
    tokens.extend((0..=255u8).map(|b| vec![b]));
    let mut corpus = String::new();
    for spec in schema.columns() {
        corpus.push_str(&spec.name);
        corpus.push(',');
        for c in &spec.categories {
            corpus.push_str(c);
            corpus.push_str(",\"");
            corpus.push_str(c);
            corpus.push_str("\",");
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for _ in 0..400 {
        let x: f64 = rng.random_range(-200.0..2000.0);
        corpus.push_str(&format!("{x:.2},{},,", x.round() as i64));
        corpus.push_str(if rng.random_bool(0.3) { "\n" } else { ", " });
    }
    corpus.push_str(" the patient NA None null unknown Hello, here are the rows:\n```csv\n");
    let bytes = corpus.as_bytes();
    for _ in 0..3000 {
        let len = rng.random_range(2..=8usize);
        let start = rng.random_range(0..bytes.len() - len);
        tokens.push(bytes[start..start + len].to_vec());
    }
    for merge in [
        ", ", ",\n", "\n", ",,", "0,", "1,", "0\n", "1\n", ".5", ".0", ".00", "-1", "12", "100",
        "\n\n", " ", "NA", "None", "null", "\",", ",\"", "{\"", "\":", ",\"", "\"}", "}\n",
        ":null", ":\"", "\",\"",
    ] {
        tokens.push(merge.as_bytes().to_vec());
    }
    tokens
}

/// Decodes with uniformly random allowed tokens until the answer is complete; checks that some
/// token is always allowed, that only end-of-text is allowed at the end, and that refused
/// tokens are refused by `accept` too.
fn random_answer(decoder: &mut ConstrainedDecoder, vocab_size: usize, rng: &mut ChaCha8Rng) {
    let mut mask = vec![false; vocab_size];
    let mut steps = 0;
    while !decoder.is_finished() {
        decoder.allowed(&mut mask);
        let allowed: Vec<u32> = (0..vocab_size as u32)
            .filter(|&i| mask[i as usize])
            .collect();
        assert!(!allowed.is_empty(), "dead end after {:?}", decoder.text());
        assert!(!mask[END_OF_TEXT as usize] && !mask[1] && !mask[2] && !mask[3]);
        if steps % 7 == 0 {
            // A refused token is refused by accept too, and changes nothing.
            if let Some(refused) = (0..vocab_size as u32).find(|&i| !mask[i as usize]) {
                let before = decoder.text().to_string();
                assert!(decoder.accept(refused).is_err());
                assert_eq!(decoder.text(), before);
            }
        }
        let token = allowed[rng.random_range(0..allowed.len())];
        decoder.accept(token).expect("an allowed token is accepted");
        steps += 1;
        assert!(steps < 100_000, "no end in sight: {:?}", decoder.text());
    }
    decoder.allowed(&mut mask);
    let allowed: Vec<usize> = (0..vocab_size).filter(|&i| mask[i]).collect();
    assert_eq!(allowed, vec![END_OF_TEXT as usize]);
    decoder.accept(END_OF_TEXT).unwrap();
}

/// Runs `walks` random answers of `rows` rows, in CSV and in JSON Lines, and checks each
/// parses and validates fully.
fn check_walks(
    schema: &Schema,
    columns: &[String],
    fixed: &[(String, String)],
    rows: usize,
    walks: u64,
    seed: u64,
) {
    for format in [RowFormat::Csv, RowFormat::JsonLines] {
        check_format(schema, columns, fixed, rows, walks, seed, format);
    }
}

fn check_format(
    schema: &Schema,
    columns: &[String],
    fixed: &[(String, String)],
    rows: usize,
    walks: u64,
    seed: u64,
    format: RowFormat,
) {
    let grammar = RowGrammar::build(schema, columns, fixed, format, 3).expect("grammar");
    let grammar = Arc::new(grammar);
    let (answer_format, header_lines) = match format {
        RowFormat::Csv => (AnswerFormat::Csv, 1),
        RowFormat::JsonLines => (AnswerFormat::JsonRows, 0),
    };
    let tokens = vocabulary(schema, seed);
    let size = tokens.len();
    let vocab = Arc::new(TokenVocabulary::new(tokens, END_OF_TEXT));
    assert!(vocab.missing_single_bytes().is_empty());
    // The subset keeps the schema's rules across columns (the eICU schema's race one-hot set
    // and vital orders), so every walk's rows must keep them too.
    let subset = schema.subset(columns).unwrap();
    for walk in 0..walks {
        let mut rng = ChaCha8Rng::seed_from_u64(seed * 1000 + walk);
        let mut decoder = ConstrainedDecoder::new(grammar.clone(), vocab.clone(), rows);
        random_answer(&mut decoder, size, &mut rng);
        let text = decoder.text();
        assert!(text.starts_with(grammar.header()), "{text}");
        assert_eq!(text.lines().count(), rows + header_lines, "{text}");
        if format == RowFormat::JsonLines {
            for line in text.lines() {
                let object: serde_json::Value = serde_json::from_str(line).expect("JSON line");
                assert_eq!(object.as_object().unwrap().len(), columns.len());
            }
        }
        let parsed = parse_answer(text, &subset, answer_format);
        assert!(parsed.rejected.is_empty(), "{:?}\n{text}", parsed.rejected);
        assert_eq!(parsed.rows.len(), rows, "{text}");
        for row in &parsed.rows {
            subset.validate_cells(row).unwrap();
            for (name, value) in fixed {
                let at = columns.iter().position(|c| c == name).unwrap();
                assert_eq!(&row[at], value);
            }
        }
    }
}

fn names(schema: &Schema) -> Vec<String> {
    schema.names().into_iter().map(str::to_string).collect()
}

#[test]
fn eicu_rows_always_complete_parse_and_validate() {
    let schema = eicu_schema();
    check_walks(&schema, &names(&schema), &[], 3, 4, 1);
    let fixed = vec![("is_female".to_string(), "1".to_string())];
    check_walks(&schema, &names(&schema), &fixed, 2, 2, 2);
}

fn spec(name: &str, kind: ColumnKind, range: Option<(f64, f64)>, missing: bool) -> ColumnSpec {
    let mut s = ColumnSpec::new(name, kind);
    if let Some((lo, hi)) = range {
        s.min = Some(lo);
        s.max = Some(hi);
    }
    s.missing_allowed = missing;
    s
}

fn categorical(name: &str, categories: &[&str], missing: bool) -> ColumnSpec {
    let mut s = spec(name, ColumnKind::Categorical, None, missing);
    s.categories = categories.iter().map(|c| c.to_string()).collect();
    s
}

fn edge_schema() -> Schema {
    use ColumnKind::*;
    Schema::new(vec![
        spec("zero", Continuous, Some((0.0, 0.0)), false),
        spec("negative", Continuous, Some((-5.5, -2.0)), false),
        spec("temperature", Continuous, Some((35.0, 42.0)), false),
        spec("count", Integer, Some((-3.0, 3.0)), true),
        spec("tiny", Continuous, Some((0.00012, 0.00019)), false),
        spec("flag", Binary, Some((0.0, 1.0)), false),
        categorical("only", &["single"], false),
        categorical(
            "odd",
            &[
                "a, b",
                "5\"6",
                "--",
                "x|y",
                "None",
                " pad",
                "zero",
                "Ünïcode ✓",
            ],
            false,
        ),
        categorical("free", &[], false),
        spec("anything", Continuous, None, true),
        spec("whole", Integer, Some((7.0, 7.0)), true),
    ])
    .unwrap()
}

#[test]
fn edge_case_columns_stay_valid() {
    let schema = edge_schema();
    check_walks(&schema, &names(&schema), &[], 4, 12, 3);
    // Another order, a subset and a fixed column.
    let columns: Vec<String> = ["odd", "temperature", "only", "count"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let fixed = vec![("odd".to_string(), "a, b".to_string())];
    check_walks(&schema, &columns, &fixed, 3, 6, 4);
}

#[test]
fn all_missing_allowed_and_single_columns_work() {
    use ColumnKind::*;
    let schema = Schema::new(vec![
        spec("a", Continuous, Some((1.0, 2.0)), true),
        spec("b", Integer, None, true),
        categorical("c", &["x"], true),
    ])
    .unwrap();
    check_walks(&schema, &names(&schema), &[], 5, 10, 5);
    // One column: an empty row would be a blank line, so the value is required.
    check_walks(&schema, &["c".to_string()], &[], 3, 4, 6);
    check_walks(&schema, &["a".to_string()], &[], 3, 4, 7);
}

/// Binary columns in an exactly-one set and an at-most-one set, two order chains whose
/// columns' ranges differ (a later column's range narrows an earlier one), and a blood-gas
/// panel (a number, an integer and a category) missing together.
fn constrained_schema() -> Schema {
    use ColumnKind::*;
    let flag = |name: &str, missing: bool| spec(name, Binary, Some((0.0, 1.0)), missing);
    let mut schema = Schema::new(vec![
        flag("race_a", false),
        flag("race_b", false),
        flag("race_c", false),
        flag("flag_x", true),
        flag("flag_y", true),
        spec("hr_min", Continuous, Some((20.0, 200.0)), true),
        spec("hr_first", Continuous, Some((30.0, 180.0)), false),
        spec("hr_max", Continuous, Some((40.0, 120.0)), false),
        spec("count_lo", Integer, Some((0.0, 10.0)), false),
        spec("count_hi", Integer, Some((5.0, 8.0)), false),
        spec("ph", Continuous, Some((6.8, 7.8)), true),
        spec("paco2", Integer, Some((10.0, 120.0)), true),
        categorical("gas_site", &["arterial", "venous"], true),
    ])
    .unwrap();
    let list = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    schema.constraints = vec![
        Constraint::OneHot {
            columns: list(&["race_a", "race_b", "race_c"]),
            exactly: true,
        },
        Constraint::OneHot {
            columns: list(&["flag_x", "flag_y"]),
            exactly: false,
        },
        Constraint::Order {
            columns: list(&["hr_min", "hr_first", "hr_max"]),
        },
        Constraint::Order {
            columns: list(&["count_lo", "count_hi"]),
        },
        Constraint::MissingTogether {
            columns: list(&["ph", "paco2", "gas_site"]),
        },
    ];
    schema
}

#[test]
fn rows_keep_the_one_hot_sets_and_orders_in_any_writing_order() {
    let schema = constrained_schema();
    check_walks(&schema, &names(&schema), &[], 6, 12, 11);
    let mut reversed = names(&schema);
    reversed.reverse();
    check_walks(&schema, &reversed, &[], 6, 12, 12);
    // A group request fixes one member of the set: the others can only be 0.
    let fixed = vec![("race_b".to_string(), "1".to_string())];
    check_walks(&schema, &reversed, &fixed, 4, 6, 13);
}

/// A random column: any kind, bounds that may be negative, empty-width or absent.
fn random_spec(i: usize, rng: &mut ChaCha8Rng) -> ColumnSpec {
    let name = format!("col{i}");
    let missing = rng.random_bool(0.4);
    match rng.random_range(0..4) {
        0 => categorical(
            &name,
            &["alpha", "beta", "gamma delta", "e,f", "Other"][..rng.random_range(1..=5)],
            missing,
        ),
        1 => spec(&name, ColumnKind::Binary, Some((0.0, 1.0)), missing),
        kind => {
            let kind = if kind == 2 {
                ColumnKind::Integer
            } else {
                ColumnKind::Continuous
            };
            let a: f64 = (rng.random_range(-500.0..500.0_f64) * 100.0).round() / 100.0;
            let width = match rng.random_range(0..4) {
                0 => 0.0,
                1 => rng.random_range(0.0..1.5),
                _ => rng.random_range(0.0..400.0),
            };
            let (lo, hi) = if kind == ColumnKind::Integer {
                (a.floor(), (a + width).floor().max(a.floor()))
            } else {
                (a, a + width)
            };
            let range = if rng.random_bool(0.15) {
                None
            } else {
                Some((lo, hi))
            };
            spec(&name, kind, range, missing)
        }
    }
}

#[test]
fn random_schemas_never_dead_end() {
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    for case in 0..25u64 {
        let n = rng.random_range(1..8);
        let columns: Vec<ColumnSpec> = (0..n).map(|i| random_spec(i, &mut rng)).collect();
        let schema = Schema::new(columns).unwrap();
        check_walks(&schema, &names(&schema), &[], 3, 3, 100 + case);
    }
}

#[test]
fn refusals_say_why() {
    let schema = edge_schema();
    let columns = vec!["temperature".to_string(), "flag".to_string()];
    let grammar = Arc::new(RowGrammar::csv(&schema, &columns, &[]).unwrap());
    let tokens: Vec<Vec<u8>> = ["<|endoftext|>", "temperature,flag\n", "5", "3", "7", ",1\n"]
        .iter()
        .map(|t| t.as_bytes().to_vec())
        .collect();
    let vocab = Arc::new(TokenVocabulary::new(tokens, 0));
    let mut decoder = ConstrainedDecoder::new(grammar, vocab, 1);
    assert!(matches!(
        decoder.accept(0),
        Err(GrammarError::EndTooEarly {
            rows_done: 0,
            rows: 1
        })
    ));
    assert!(matches!(
        decoder.accept(9),
        Err(GrammarError::UnknownToken { .. })
    ));
    decoder.accept(1).unwrap();
    let err = decoder.accept(2).unwrap_err().to_string();
    assert!(
        err.contains("column 'temperature'") && err.contains("35.000, 42.000"),
        "{err}"
    );
    let mut mask = vec![false; 6];
    decoder.allowed(&mut mask);
    assert_eq!(mask, [false, false, false, true, false, false]);
    decoder.accept(3).unwrap();
    decoder.allowed(&mut mask);
    // "35" and "37" are temperatures, "33" is not, and "3" alone is not complete.
    assert_eq!(mask, [false, false, true, false, true, false]);
    assert!(decoder.accept(3).is_err() && decoder.accept(5).is_err());
    decoder.accept(4).unwrap();
    decoder.accept(5).unwrap();
    assert!(decoder.is_finished());
    assert_eq!(decoder.text(), "temperature,flag\n37,1\n");
    decoder.allowed(&mut mask);
    assert_eq!(mask, [true, false, false, false, false, false]);
    assert!(matches!(
        decoder.accept(3),
        Err(GrammarError::AfterEnd { .. })
    ));
    decoder.accept(0).unwrap();
}

#[test]
fn impossible_requests_are_clear_errors() {
    let schema = edge_schema();
    let err = |columns: &[&str], fixed: &[(&str, &str)]| {
        let columns: Vec<String> = columns.iter().map(|s| s.to_string()).collect();
        let fixed: Vec<(String, String)> = fixed
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        RowGrammar::csv(&schema, &columns, &fixed)
            .unwrap_err()
            .to_string()
    };
    assert!(err(&["nope"], &[]).contains("'nope' is not in the schema"));
    assert!(err(&["flag"], &[("temperature", "36")]).contains("not among the generated"));
    assert!(err(&["temperature"], &[("temperature", "50")]).contains("invalid value"));
    assert!(err(&["temperature"], &[("temperature", "")]).contains("may not be missing"));
    assert!(err(&[], &[]).contains("no columns"));
}

#[test]
fn json_lines_look_like_json() {
    let schema = edge_schema();
    let columns = vec![
        "temperature".to_string(),
        "count".to_string(),
        "odd".to_string(),
    ];
    let grammar = RowGrammar::json_lines(&schema, &columns, &[]).unwrap();
    assert_eq!(grammar.header(), "");
    let tokens: Vec<Vec<u8>> = [
        "<|endoftext|>",
        "{\"temperature\":",
        "36.5",
        ",\"count\":null",
        ",\"odd\":",
        "\"a, b\"",
        "}\n",
    ]
    .iter()
    .map(|t| t.as_bytes().to_vec())
    .collect();
    let mut decoder = ConstrainedDecoder::new(
        Arc::new(grammar),
        Arc::new(TokenVocabulary::new(tokens, 0)),
        1,
    );
    for token in 1..=6 {
        decoder.accept(token).unwrap();
    }
    assert!(decoder.is_finished());
    assert_eq!(
        decoder.text(),
        "{\"temperature\":36.5,\"count\":null,\"odd\":\"a, b\"}\n"
    );
}

#[test]
fn a_decoder_rewound_to_its_mark_allows_and_writes_what_it_did_there() {
    let schema = eicu_schema();
    let columns: Vec<String> = schema
        .names()
        .iter()
        .take(4)
        .map(|n| n.to_string())
        .collect();
    let grammar = Arc::new(RowGrammar::csv(&schema, &columns, &[]).unwrap());
    let tokens = vocabulary(&schema, 3);
    let vocab = Arc::new(TokenVocabulary::new(tokens.clone(), END_OF_TEXT));
    let mut decoder = ConstrainedDecoder::new(grammar, vocab, 2);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut walk = |decoder: &mut ConstrainedDecoder, steps: usize| {
        for _ in 0..steps {
            let mut mask = vec![false; tokens.len()];
            decoder.allowed(&mut mask);
            let allowed: Vec<u32> = (0..tokens.len() as u32)
                .filter(|&i| mask[i as usize])
                .collect();
            if decoder.is_finished() || allowed.is_empty() {
                break;
            }
            decoder
                .accept(allowed[rng.random_range(0..allowed.len())])
                .unwrap();
        }
    };
    walk(&mut decoder, 12);
    let (text, mut before) = (decoder.text().to_string(), vec![false; tokens.len()]);
    decoder.allowed(&mut before);
    decoder.mark();
    walk(&mut decoder, 5);
    assert_ne!(decoder.text(), text, "the walk went on");
    assert!(decoder.rewind());
    assert_eq!(decoder.text(), text);
    let mut after = vec![false; tokens.len()];
    decoder.allowed(&mut after);
    assert_eq!(before, after);
    assert!(!decoder.rewind(), "a mark is used once");
}
