//! The cost estimate of the paper's grid (../shared/PAPER.md: T1, T3, T4) per hosted model,
//! derived with the engine's own [`estimate`] from the real prompts of each cell, built on the
//! simulated reference cohort. docs/providers.md quotes the table this prints:
//!
//! ```sh
//! cargo test -p ehrsynth-gen --test grid_estimate -- --nocapture
//! ```

use ehrsynth_cohort::features::eicu_schema;
use ehrsynth_cohort::reference::{ReferenceConfig, reference_cohort};
use ehrsynth_llm::context::{ContextOptions, PromptContext};
use ehrsynth_llm::engine::{Estimate, estimate};
use ehrsynth_llm::prices::PriceTable;
use ehrsynth_llm::prompt::{Strategy, Template};
use ehrsynth_table::{Schema, Table};

/// Rows asked per request (the CLI default) and the share assumed valid.
const ROWS_PER_REQUEST: usize = 20;
const ACCEPTANCE: f64 = 0.8;
const MODELS: [&str; 3] = ["o1", "claude-sonnet-4", "gemini-2.5-pro"];

/// One cell of the grid.
struct Cell {
    experiment: &'static str,
    strategy: Strategy,
    features: usize,
    rows: usize,
}

fn grid() -> Vec<Cell> {
    let mut cells = Vec::new();
    for strategy in [
        Strategy::Naive,
        Strategy::Schema,
        Strategy::Conditional,
        Strategy::Group,
    ] {
        cells.push(Cell {
            experiment: "T1",
            strategy,
            features: 83,
            rows: 1000,
        });
    }
    for features in [5, 10, 15, 20] {
        cells.push(Cell {
            experiment: "T3",
            strategy: Strategy::Group,
            features,
            rows: 1000,
        });
    }
    for rows in [1000, 5000, 10000] {
        cells.push(Cell {
            experiment: "T4",
            strategy: Strategy::Group,
            features: 10,
            rows,
        });
    }
    cells
}

/// The cell's schema: all 83 columns, or the top features plus the target and the group column
/// (the group strategy needs it), as `--features` keeps them.
fn cell_schema(full: &Schema, features: usize) -> Schema {
    if features >= 83 {
        return full.clone();
    }
    let keep: Vec<&str> = full
        .names()
        .into_iter()
        .filter(|n| {
            ehrsynth_cohort::features::PAPER_IMPORTANCE_TOP20[..features].contains(n)
                || *n == "death"
                || *n == "is_female"
        })
        .collect();
    full.subset(&keep).unwrap()
}

/// The estimate of one cell for one model: the group strategy asks each of the two sexes for
/// half of the rows, with that group's prompt.
fn cell_estimate(cell: &Cell, train: &Table, full: &Schema, model: &str) -> (usize, Estimate) {
    let schema = cell_schema(full, cell.features);
    let price = PriceTable::builtin().lookup(model).unwrap();
    let template = Template::builtin(cell.strategy);
    let prompt_chars = |subset: &Table, label: Option<&str>| {
        let context =
            PromptContext::build(subset, &schema, &ContextOptions::default(), "openai", 1).unwrap();
        template.render(&context, ROWS_PER_REQUEST, label).len()
    };
    let parts: Vec<(usize, usize)> = if cell.strategy == Strategy::Group {
        let female = train.require("is_female").unwrap();
        ["0", "1"]
            .iter()
            .map(|value| {
                let idx: Vec<usize> = (0..train.n_rows())
                    .filter(|&i| female.value(i).to_string() == *value)
                    .collect();
                let label = format!("is_female = {value}");
                (cell.rows / 2, prompt_chars(&train.take(&idx), Some(&label)))
            })
            .collect()
    } else {
        vec![(cell.rows, prompt_chars(train, None))]
    };
    let mut total = Estimate {
        requests: 0,
        tokens: 0,
        cost_usd: 0.0,
    };
    for &(rows, chars) in &parts {
        let e = estimate(
            rows,
            ROWS_PER_REQUEST,
            chars,
            schema.columns().len(),
            ACCEPTANCE,
            price,
        );
        total.requests += e.requests;
        total.tokens += e.tokens;
        total.cost_usd += e.cost_usd;
    }
    (parts[0].1, total)
}

#[test]
fn the_papers_grid_costs_are_derived_from_real_prompts() {
    let train = reference_cohort(&ReferenceConfig {
        rows: 4000,
        hospitals: 8,
        seed: 1,
    })
    .unwrap()
    .table;
    let full = eicu_schema();
    let mut table = format!(
        "| experiment | strategy | features | rows | prompt chars | requests | tokens | {} |\n|---|---|---|---|---|---|---|{}\n",
        MODELS.map(|m| format!("{m} USD")).join(" | "),
        "---|".repeat(MODELS.len())
    );
    let mut totals = [0.0; MODELS.len()];
    let (mut total_requests, mut total_tokens) = (0usize, 0u64);
    let mut by_cell = Vec::new();
    for cell in grid() {
        let estimates: Vec<(usize, Estimate)> = MODELS
            .iter()
            .map(|m| cell_estimate(&cell, &train, &full, m))
            .collect();
        let (chars, first) = estimates[0];
        // Prices change the money, never the requests or tokens.
        assert!(
            estimates
                .iter()
                .all(|(_, e)| e.requests == first.requests && e.tokens == first.tokens)
        );
        // T3's top-10 cell and T4's 1k cell are one configuration: a study runs it once.
        let repeat = by_cell.iter().any(|(c, _, _): &(Cell, usize, Estimate)| {
            (c.strategy, c.features, c.rows) == (cell.strategy, cell.features, cell.rows)
        });
        if !repeat {
            for (total, (_, e)) in totals.iter_mut().zip(&estimates) {
                *total += e.cost_usd;
            }
            (total_requests, total_tokens) =
                (total_requests + first.requests, total_tokens + first.tokens);
        }
        table.push_str(&format!(
            "| {} | {} | {} | {} | {chars} | {} | {} | {} |\n",
            cell.experiment,
            cell.strategy.name(),
            cell.features,
            cell.rows,
            first.requests,
            first.tokens,
            estimates
                .iter()
                .map(|(_, e)| format!("{:.2}", e.cost_usd))
                .collect::<Vec<_>>()
                .join(" | ")
        ));
        by_cell.push((cell, chars, first));
    }
    table.push_str(&format!(
        "| **grid** (10 distinct cells) | | | | | {total_requests} | {total_tokens} | {} |\n",
        totals.map(|t| format!("**{t:.2}**")).join(" | ")
    ));
    println!("{table}");

    // The group strategy asks each sex for 500 of 1000 rows, 16 valid rows per request.
    let t1_group = &by_cell[3];
    assert_eq!(t1_group.2.requests, 2 * 500usize.div_ceil(16));
    // More features make longer prompts; more rows make more requests, in proportion.
    let t3: Vec<usize> = by_cell[4..8].iter().map(|(_, chars, _)| *chars).collect();
    assert!(t3.windows(2).all(|w| w[0] < w[1]), "{t3:?}");
    assert!(by_cell[0].1 > t3[3], "83 columns say more than 20");
    let t4: Vec<usize> = by_cell[8..11].iter().map(|(_, _, e)| e.requests).collect();
    assert_eq!(t4, [2 * 32, 2 * 157, 2 * 313]);
    // o1 lists at 15/60 $ per million tokens, the most expensive of the three.
    assert!(totals[0] > totals[1] && totals[0] > totals[2], "{totals:?}");
}
