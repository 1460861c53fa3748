//! The journal survives a killed run: requests recorded before sending, answers before parsing,
//! and a reopened journal knows exactly which slots are done.

use ehrsynth_llm::{Journal, RequestRecord, ResponseRecord};

fn request(run: &str, slot: u64, prompt: &str) -> RequestRecord {
    RequestRecord {
        run: run.into(),
        slot,
        provider: "openai".into(),
        endpoint: "https://api.openai.com/v1/chat/completions".into(),
        model: "o1".into(),
        parameters: r#"{"temperature":1.0}"#.into(),
        seed: 100 + slot,
        prompt: prompt.into(),
        contains_real_rows: false,
    }
}

#[test]
fn a_killed_run_resumes_with_exactly_the_unanswered_slots() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.sqlite");
    {
        let journal = Journal::open(&path).unwrap();
        for slot in 0..5 {
            let id = journal
                .begin(&request("cell-1", slot, "give me rows"))
                .unwrap();
            match slot {
                0 | 1 | 3 => journal
                    .answer(
                        id,
                        &ResponseRecord {
                            raw: format!("answer {slot}"),
                            status: 200,
                            input_tokens: 10,
                            output_tokens: 20,
                            cost_usd: 0.01,
                        },
                    )
                    .unwrap(),
                2 => journal.fail_request(id, "HTTP 500").unwrap(),
                _ => {} // slot 4: sent, then the process died before the answer arrived
            }
        }
    } // "killed": the connection is dropped without any cleanup
    let journal = Journal::open(&path).unwrap();
    let done: Vec<u64> = journal
        .answered("cell-1")
        .unwrap()
        .into_iter()
        .map(|(slot, _)| slot)
        .collect();
    assert_eq!(done, vec![0, 1, 3]);
    let totals = journal.totals("cell-1").unwrap();
    assert_eq!(
        (
            totals.requests,
            totals.answered,
            totals.failed,
            totals.output_tokens
        ),
        (5, 3, 1, 60)
    );
    assert!((totals.cost_usd - 0.03).abs() < 1e-12);
    // Every request sent is in the egress log, none with real rows.
    let egress = journal.egress("cell-1").unwrap();
    assert_eq!(egress.len(), 5);
    assert!(
        egress
            .iter()
            .all(|e| !e.contains_real_rows && e.bytes == 12 && e.provider == "openai")
    );
    assert!(journal.answered("another-run").unwrap().is_empty());
}

#[test]
fn identical_requests_are_answered_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.sqlite")).unwrap();
    let first = request("a", 0, "rows please");
    assert!(journal.cached(&first).unwrap().is_none());
    let id = journal.begin(&first).unwrap();
    assert!(
        journal.cached(&first).unwrap().is_none(),
        "an unanswered request is not a cache hit"
    );
    journal
        .answer(
            id,
            &ResponseRecord {
                raw: "age\n40".into(),
                status: 200,
                ..ResponseRecord::default()
            },
        )
        .unwrap();
    let same_in_other_run = RequestRecord {
        run: "b".into(),
        ..first.clone()
    };
    assert_eq!(
        journal.cached(&same_in_other_run).unwrap().unwrap().raw,
        "age\n40"
    );
    let other_seed = RequestRecord {
        seed: 7,
        ..first.clone()
    };
    assert!(journal.cached(&other_seed).unwrap().is_none());
    let other_prompt = request("a", 0, "rows please!");
    assert!(journal.cached(&other_prompt).unwrap().is_none());
}

#[test]
fn an_unwritable_journal_is_a_clear_error() {
    let err = Journal::open(std::path::Path::new("/nonexistent/dir/j.sqlite"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("request journal /nonexistent/dir/j.sqlite"),
        "{err}"
    );
}
