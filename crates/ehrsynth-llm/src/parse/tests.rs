use super::*;

/// age continuous 16–90 (required), is_female binary, race categorical, lactate continuous
/// 0.1–30, death binary.
fn schema() -> Schema {
    let mut age = ColumnSpec::new("age", ColumnKind::Continuous);
    age.min = Some(16.0);
    age.max = Some(90.0);
    age.missing_allowed = false;
    let female = ColumnSpec::new("is_female", ColumnKind::Binary);
    let mut race = ColumnSpec::new("race", ColumnKind::Categorical);
    race.categories = vec!["black".into(), "white".into(), "asian".into()];
    let mut lactate = ColumnSpec::new("lactate", ColumnKind::Continuous);
    lactate.min = Some(0.1);
    lactate.max = Some(30.0);
    let death = ColumnSpec::new("death", ColumnKind::Binary);
    Schema::new(vec![age, female, race, lactate, death]).unwrap()
}

fn csv(answer: &str) -> ParsedAnswer {
    parse_answer(answer, &schema(), AnswerFormat::Csv)
}

fn json(answer: &str) -> ParsedAnswer {
    parse_answer(answer, &schema(), AnswerFormat::JsonRows)
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

fn reasons(parsed: &ParsedAnswer) -> Vec<(usize, &str)> {
    parsed
        .rejected
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect()
}

const HEADER: &str = "age,is_female,race,lactate,death";

#[test]
fn a_clean_csv_answer_gives_its_rows() {
    let p = csv(&format!("{HEADER}\n45,1,white,2.1,0\n70,0,black,,1\n"));
    assert_eq!(
        p.rows,
        vec![
            row(&["45", "1", "white", "2.1", "0"]),
            row(&["70", "0", "black", "", "1"])
        ]
    );
    assert!(p.rejected.is_empty(), "{:?}", p.rejected);
    assert!(!p.truncated);
}

#[test]
fn fences_preamble_and_postscript_are_dropped_silently() {
    let answer = format!(
        "Here are 3 rows:\n\n```csv\n{HEADER}\n45,1,white,2.1,0\n\n50,0,asian,1.0,0\n\
             61,1,black,3.3,1\n```\n\nNote: these values are synthetic and not real patients."
    );
    let p = csv(&answer);
    assert_eq!(p.rows.len(), 3);
    assert_eq!(p.rows[2], row(&["61", "1", "black", "3.3", "1"]));
    assert!(p.rejected.is_empty(), "{:?}", p.rejected);
    assert!(!p.truncated);
    let tilde = csv(&format!("~~~\n{HEADER}\n45,1,white,2.1,0\n~~~"));
    assert_eq!(tilde.rows.len(), 1);
    assert!(tilde.rejected.is_empty());
}

#[test]
fn a_repeated_header_is_skipped() {
    let p = csv(&format!(
        "{HEADER}\n45,1,white,2.1,0\n{HEADER}\n50,0,asian,1.0,0\nAGE, Is_Female ,race,lactate,death\n51,0,asian,1.0,0"
    ));
    assert_eq!(p.rows.len(), 3);
    assert!(p.rejected.is_empty(), "{:?}", p.rejected);
}

#[test]
fn a_reordered_or_partial_header_maps_by_name() {
    let p = csv("\"Race\",death,AGE\nwhite,0,45\nasian,1,33\n");
    assert_eq!(
        p.rows,
        vec![
            row(&["45", "", "white", "", "0"]),
            row(&["33", "", "asian", "", "1"])
        ]
    );
    assert!(p.rejected.is_empty());
    // A later header with another order remaps the rows after it.
    let q = csv("age,race\n45,white\nrace,age\nblack,60\n");
    assert_eq!(q.rows[1], row(&["60", "", "black", "", ""]));
}

#[test]
fn headerless_rows_use_the_schema_order_only_at_the_right_width() {
    let p = csv("45,1,white,2.1,0\n50,0,asian,1.0,0\n52,0,asian,1.0\n61,1,black,3.3,1\n");
    assert_eq!(p.rows.len(), 3);
    assert_eq!(p.rows[1], row(&["50", "0", "asian", "1.0", "0"]));
    assert_eq!(reasons(&p), vec![(3, "expected 5 fields, found 4")]);
    assert!(!p.truncated);
}

#[test]
fn semicolon_and_tab_separated_answers_are_read() {
    let p = csv("age;is_female;race;lactate;death\n45;1;white;2.1;0\n50;0;asian;;1\n");
    assert_eq!(p.rows.len(), 2);
    assert_eq!(p.rows[1], row(&["50", "0", "asian", "", "1"]));
    let t = csv("age\tis_female\trace\tlactate\tdeath\n45\t1\twhite\t2.1\t0\n");
    assert_eq!(t.rows, vec![row(&["45", "1", "white", "2.1", "0"])]);
    // Headerless semicolons: the separator giving the schema's width wins.
    let h = csv("45;1;white;2.1;0\n50;0;asian;1.0;1\n");
    assert_eq!(h.rows.len(), 2);
    // Unquoted "2,1" in a semicolon answer is not a thousands separator: rejected.
    let d = csv("age;is_female;race;lactate;death\n45;1;white;2,1;0\n");
    assert!(d.rows.is_empty());
    assert!(
        d.rejected[0].reason.contains("column 'lactate'"),
        "{:?}",
        d.rejected
    );
}

#[test]
fn quoted_fields_keep_their_commas() {
    let p = csv(&format!(
        "{HEADER}\n45,1,\"white, non-hispanic\",2.1,0\n46,1,\"White\",\"2.5\",\"0\"\n"
    ));
    assert_eq!(p.rows, vec![row(&["46", "1", "white", "2.5", "0"])]);
    assert_eq!(
        reasons(&p),
        vec![(
            2,
            "column 'race': 'white, non-hispanic' is not one of the schema's categories"
        )]
    );
    // Thousands separators only in quoted cells; escaped quotes in free text.
    let mut los = ColumnSpec::new("los_minutes", ColumnKind::Integer);
    los.max = Some(100_000.0);
    let note = ColumnSpec::new("note", ColumnKind::Categorical);
    let s = Schema::new(vec![los, note]).unwrap();
    let q = parse_answer(
        "los_minutes,note\n\"1,200\",\"said \"\"hi\"\", left\"\n300,plain\n",
        &s,
        AnswerFormat::Csv,
    );
    assert_eq!(
        q.rows,
        vec![row(&["1200", "said \"hi\", left"]), row(&["300", "plain"])]
    );
}

#[test]
fn a_cut_off_last_row_sets_truncated() {
    let p = csv(&format!("{HEADER}\n45,1,white,2.1,0\n50,0,as"));
    assert_eq!(p.rows.len(), 1);
    assert!(p.truncated);
    assert_eq!(reasons(&p), vec![(3, TRUNCATED)]);
    // Cut inside a quoted field, even with the right number of fields.
    let q = csv(&format!("{HEADER}\n45,1,white,2.1,0\n50,0,\"asi"));
    assert!(q.truncated);
    assert_eq!(reasons(&q), vec![(3, TRUNCATED)]);
    // Fewer fields on the last line, even with a newline after it.
    let r = csv(&format!("{HEADER}\n45,1,white,2.1,0\n50,0\n"));
    assert!(r.truncated);
    // A short row followed by a closing fence was not cut off.
    let s = csv(&format!("```\n{HEADER}\n45,1,white,2.1,0\n50,0\n```"));
    assert!(!s.truncated);
    assert_eq!(reasons(&s), vec![(4, "expected 5 fields, found 2")]);
    // A complete answer without a final newline is not truncated.
    let t = csv(&format!("{HEADER}\n45,1,white,2.1,0"));
    assert!(!t.truncated);
    assert_eq!(t.rows.len(), 1);
}

#[test]
fn wrong_field_counts_are_rejected_with_the_counts() {
    let p = csv(&format!(
        "{HEADER}\n45,1,white,2.1,0,7\n45,1,white\n45,1,white,2.1,0,\n50,0,asian,1.0,0\n"
    ));
    assert_eq!(
        reasons(&p),
        vec![
            (2, "expected 5 fields, found 6"),
            (3, "expected 5 fields, found 3")
        ]
    );
    // One trailing empty field is tolerated.
    assert_eq!(p.rows.len(), 2);
    assert!(!p.truncated);
}

#[test]
fn prose_between_rows_is_rejected_but_not_around_them() {
    let p = csv(&format!(
        "Sure, here are the rows you asked for.\n{HEADER}\n45,1,white,2.1,0\n\
             The next patient is older than the others\n80,0,black,4.0,1\nHope this helps!"
    ));
    assert_eq!(p.rows.len(), 2);
    assert_eq!(reasons(&p), vec![(4, NOT_A_DATA_ROW)]);
    assert_eq!(
        p.rejected[0].text,
        "The next patient is older than the others"
    );
    assert!(!p.truncated);
}

#[test]
fn markdown_tables_and_comma_split_sentences_are_handled() {
    let p = csv(
        "| age | is_female | race | lactate | death |\n|---|:---:|---|---|---|\n\
             | 45 | 1 | white | 2.1 | 0 |\n| 50 | 0 | asian | | 1 |",
    );
    assert_eq!(
        p.rows,
        vec![
            row(&["45", "1", "white", "2.1", "0"]),
            row(&["50", "0", "asian", "", "1"])
        ]
    );
    assert!(p.rejected.is_empty() && !p.truncated, "{:?}", p.rejected);
    // A postscript with as many commas as columns is still prose.
    let q = csv(&format!(
        "{HEADER}\n45,1,white,2.1,0\nI hope, this, is, what, you wanted\n"
    ));
    assert_eq!(q.rows.len(), 1);
    assert!(q.rejected.is_empty(), "{:?}", q.rejected);
}

#[test]
fn units_and_yes_no_are_cleaned_in_numeric_columns() {
    let p = csv(&format!(
        "{HEADER}\n45 years,yes,white,1.2 mg/dL,No\n88 bpm,TRUE,asian,12%,false\n\
             37.2°C,0,black,2.0mmol/L,1\n"
    ));
    assert_eq!(
        p.rows,
        vec![
            row(&["45", "1", "white", "1.2", "0"]),
            row(&["88", "1", "asian", "12", "0"]),
            row(&["37.2", "0", "black", "2.0", "1"])
        ]
    );
    // Text that is not a number with a unit is left to validation.
    let q = csv(&format!("{HEADER}\n120/80,Female,white,about 2,0\n"));
    assert_eq!(
        reasons(&q),
        vec![(
            2,
            "column 'age': '120/80' is not a number (or an empty cell for missing); \
                 column 'is_female': 'Female' is not 0 or 1 (or an empty cell for missing); \
                 column 'lactate': 'about 2' is not a number (or an empty cell for missing)"
        )]
    );
}

#[test]
fn categories_match_case_insensitively() {
    let p = csv(&format!("{HEADER}\n45,1,White,2.1,0\n46,0,ASIAN,2.1,0\n"));
    assert_eq!(p.rows[0][2], "white");
    assert_eq!(p.rows[1][2], "asian");
    assert!(p.rejected.is_empty());
}

#[test]
fn invalid_rows_carry_the_schemas_reasons() {
    let p = csv(&format!(
        "{HEADER}\n104,1,white,2.1,0\n45,1,martian,45,0\n45,1,white,2.1,0\n"
    ));
    assert_eq!(p.rows.len(), 1);
    assert_eq!(
        reasons(&p),
        vec![
            (2, "column 'age': 104 is outside the valid range [16, 90]"),
            (
                3,
                "column 'race': 'martian' is not one of the schema's categories; \
                     column 'lactate': 45 is outside the valid range [0.1, 30]"
            )
        ]
    );
    assert_eq!(p.rejected[0].text, "104,1,white,2.1,0");
}

#[test]
fn missing_tokens_become_empty_cells() {
    let p = csv(&format!(
        "{HEADER}\n45,NA,-,n/a,unknown\n46,—,Unknown,null,N/A\n47,\" \",None,NaN,\n\
             NA,1,white,2.0,0\n"
    ));
    assert_eq!(
        p.rows,
        vec![
            row(&["45", "", "", "", ""]),
            row(&["46", "", "", "", ""]),
            row(&["47", "", "", "", ""])
        ]
    );
    assert_eq!(
        reasons(&p),
        vec![(
            5,
            "column 'age': missing, but the schema does not allow missing values"
        )]
    );
    // A category spelled like a missing token stays a category.
    let mut race = ColumnSpec::new("race", ColumnKind::Categorical);
    race.categories = vec!["Unknown".into(), "white".into()];
    let s = Schema::new(vec![race, ColumnSpec::new("x", ColumnKind::Integer)]).unwrap();
    let q = parse_answer("race,x\nunknown,1\n", &s, AnswerFormat::Csv);
    assert_eq!(q.rows, vec![row(&["Unknown", "1"])]);
}

#[test]
fn empty_and_refusing_answers_give_no_rows() {
    for answer in ["", "   \n\n", "```\n```", "\u{feff}"] {
        for format in [AnswerFormat::Csv, AnswerFormat::JsonRows] {
            let p = parse_answer(answer, &schema(), format);
            assert!(p.rows.is_empty() && !p.truncated, "{answer:?}");
            if format == AnswerFormat::Csv {
                assert!(p.rejected.is_empty(), "{answer:?}: {:?}", p.rejected);
            }
        }
    }
    let p = csv("I'm sorry, I can't help with that.");
    assert!(p.rows.is_empty());
    assert_eq!(p.rejected.len(), 1);
    assert_eq!(p.rejected[0].line, 1);
    assert_eq!(
        p.rejected[0].reason,
        "the answer has no data rows (it looks like a refusal)"
    );
    assert_eq!(p.rejected[0].text, "I'm sorry, I can't help with that.");
    // A header and nothing else: nothing to reject.
    let h = csv(&format!("{HEADER}\n"));
    assert!(h.rows.is_empty() && h.rejected.is_empty());
}

#[test]
fn rejection_text_is_shortened() {
    let long = format!(
        "{HEADER}\n45,1,white,2.1,0\n{}\n46,1,white,2.1,0",
        "x".repeat(500)
    );
    let p = csv(&long);
    assert_eq!(p.rejected.len(), 1);
    assert_eq!(p.rejected[0].text.chars().count(), MAX_TEXT_CHARS + 1);
    assert!(p.rejected[0].text.ends_with('…'));
}

const JSON_ROWS: &str = r#"[
  {"age": 45, "is_female": true, "race": "White", "lactate": 2.1, "death": 0},
  {"age": "70 years", "is_female": false, "race": "black", "lactate": null, "death": 1, "bmi": 31},
  {"age": 104, "is_female": 1, "race": "asian", "lactate": 1.0, "death": 0},
  {"AGE": 33, "race": "asian"}
]"#;

fn expected_json_rows() -> Vec<Vec<String>> {
    vec![
        row(&["45", "1", "white", "2.1", "0"]),
        row(&["70", "0", "black", "", "1"]),
        row(&["33", "", "asian", "", ""]),
    ]
}

#[test]
fn a_json_array_gives_its_rows() {
    let p = json(JSON_ROWS);
    assert_eq!(p.rows, expected_json_rows());
    assert_eq!(
        reasons(&p),
        vec![(0, "column 'age': 104 is outside the valid range [16, 90]")]
    );
    assert!(p.rejected[0].text.starts_with('{'));
    assert!(!p.truncated);
}

#[test]
fn wrapped_fenced_and_json_lines_answers_are_read() {
    let fenced = format!("Here you go:\n```json\n{JSON_ROWS}\n```\nLet me know if you need more.");
    assert_eq!(json(&fenced).rows, expected_json_rows());
    for key in ["rows", "data"] {
        let wrapped = format!("{{\"{key}\": {JSON_ROWS}}}");
        let p = json(&wrapped);
        assert_eq!(p.rows, expected_json_rows(), "{key}");
        assert_eq!(p.rejected.len(), 1);
    }
    let lines = "{\"age\": 45, \"is_female\": 1, \"race\": \"white\", \"lactate\": 2.1, \"death\": 0}\n\
                     {\"age\": 50, \"is_female\": 0, \"race\": \"asian\", \"lactate\": \"1.5 mmol/L\", \"death\": 1}\n";
    let p = json(lines);
    assert_eq!(p.rows.len(), 2);
    assert_eq!(p.rows[1], row(&["50", "0", "asian", "1.5", "1"]));
    // Arrays of values in schema order.
    let positional = json("[[45, 1, \"white\", 2.1, 0], [45, 1]]");
    assert_eq!(
        positional.rows,
        vec![row(&["45", "1", "white", "2.1", "0"])]
    );
    assert_eq!(
        reasons(&positional),
        vec![(0, "expected 5 values, found 2")]
    );
}

#[test]
fn broken_and_truncated_json_keeps_the_good_objects() {
    let cut = "```json\n[\n{\"age\": 45, \"is_female\": 1, \"race\": \"white\", \"lactate\": 2.1, \"death\": 0},\n\
                   {\"age\": 50, \"is_female\": 0, \"ra";
    let p = json(cut);
    assert_eq!(p.rows, vec![row(&["45", "1", "white", "2.1", "0"])]);
    assert!(p.truncated);
    assert_eq!(reasons(&p), vec![(0, TRUNCATED)]);
    assert!(p.rejected[0].text.starts_with("{\"age\": 50"));
    let lines =
        "{\"age\": 45, \"death\": 0}\n{\"age\": 46,, \"death\": 0}\n{\"age\": 47, \"death\": 1}";
    let q = json(lines);
    assert_eq!(q.rows.len(), 2);
    assert!(!q.truncated);
    assert_eq!(q.rejected.len(), 1);
    assert!(
        q.rejected[0].reason.starts_with("not valid JSON"),
        "{:?}",
        q.rejected
    );
    // Cut between rows: incomplete, nothing partial to reject.
    let r = json("{\"rows\": [{\"age\": 45, \"death\": 0},");
    assert_eq!(r.rows.len(), 1);
    assert!(r.truncated && r.rejected.is_empty());
}

#[test]
fn prose_in_json_format_is_one_rejection() {
    for answer in [
        "I'm sorry, I can't help with that.",
        "age,is_female,race,lactate,death\n45,1,white,2.1,0",
        "Sure [see below] nothing here",
    ] {
        let p = json(answer);
        assert!(p.rows.is_empty(), "{answer}");
        assert_eq!(reasons(&p), vec![(0, NOT_JSON)], "{answer}");
    }
    let p = json("[{\"note\": \"synthetic\"}, 7]");
    assert!(p.rows.is_empty());
    assert_eq!(
        reasons(&p),
        vec![
            (0, "the object has none of the schema's columns"),
            (0, "not a JSON object")
        ]
    );
}

/// A small deterministic generator (xorshift64*), so the loop needs no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `text` with a few random edits: cut, delete, insert, duplicate a line, swap lines.
fn mangle(rng: &mut Rng, text: &str) -> String {
    const PIECES: &[&str] = &[
        "\"", ",", ";", "\t", "\n", "{", "}", "[", "]", ":", "```", "é", "—", "\\", "NA", "age",
        "1e999", "-", " ", "\r\n", "°C", "\u{feff}",
    ];
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(5) {
        let len = chars.len();
        match rng.below(5) {
            0 => chars.truncate(rng.below(len + 1)),
            1 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(8)).min(len);
                chars.drain(at..end);
            }
            2 => {
                let at = rng.below(len + 1);
                let piece = PIECES[rng.below(PIECES.len())];
                for (k, c) in piece.chars().enumerate() {
                    chars.insert(at + k, c);
                }
            }
            3 => {
                let s: String = chars.iter().collect();
                let mut lines: Vec<&str> = s.lines().collect();
                if !lines.is_empty() {
                    let i = rng.below(lines.len());
                    let j = rng.below(lines.len());
                    lines.swap(i, j);
                    let dup = lines[rng.below(lines.len())];
                    lines.insert(rng.below(lines.len() + 1), dup);
                }
                chars = lines.join("\n").chars().collect();
            }
            _ => {
                if len > 1 {
                    let (i, j) = (rng.below(len), rng.below(len));
                    chars.swap(i, j);
                }
            }
        }
    }
    chars.into_iter().collect()
}

#[test]
fn random_and_mangled_answers_never_panic_and_only_give_valid_rows() {
    let s = schema();
    let valid_csv = format!(
        "Here are the rows:\n```csv\n{HEADER}\n45,1,white,2.1,0\n\"70\",0,\"Black\",,1\n\
             33 years,yes,asian,1.2 mg/dL,no\n```\nNote: synthetic."
    );
    let answers = [valid_csv.as_str(), JSON_ROWS];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut total_rows = 0;
    for case in 0..2000 {
        let input = if case % 4 == 0 {
            let len = rng.below(300);
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            mangle(&mut rng, answers[case % 2])
        };
        for format in [AnswerFormat::Csv, AnswerFormat::JsonRows] {
            let p = parse_answer(&input, &s, format);
            for r in &p.rows {
                assert_eq!(r.len(), s.columns().len(), "{input:?}");
                assert!(s.validate_cells(r).is_ok(), "{input:?} gave {r:?}");
            }
            assert!(
                p.rows.len() <= input.lines().count().max(1) * 4,
                "{input:?}"
            );
            for rej in &p.rejected {
                assert!(rej.text.chars().count() <= MAX_TEXT_CHARS + 1);
                assert!(!rej.reason.is_empty());
                if format == AnswerFormat::JsonRows {
                    assert_eq!(rej.line, 0);
                } else {
                    assert!(rej.line >= 1 && rej.line <= input.lines().count());
                }
            }
            total_rows += p.rows.len();
        }
    }
    // The mangled answers still yield rows most of the time: the loop exercised real rows.
    assert!(total_rows > 1000, "{total_rows}");
}
