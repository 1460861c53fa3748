//! Report tests: every table and figure is present with content, our numbers and the paper's
//! appear, text is escaped, missing pieces are said plainly, and (with Chromium) the page renders.

mod browser;
mod fixtures;

use super::select::{self, closest_to_paper};
use super::tables::NOT_RUN;
use super::{render_html, render_markdown, write_report};

/// Every `data-check` section of the HTML report, in order.
pub const SECTIONS: [&str; 16] = [
    "summary",
    "table1",
    "table2",
    "table3",
    "table4",
    "table5",
    "figure2",
    "roc",
    "figure4",
    "figure5",
    "cross-hospital",
    "fairness",
    "utility",
    "constraints",
    "privacy",
    "cost",
];

/// The text of the section with `data-check="id"`, up to its closing tag.
pub fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let marker = format!("data-check=\"{id}\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no section {id}"));
    let end = html[start..]
        .find("</section>")
        .map_or(html.len(), |e| start + e);
    &html[start..end]
}

/// Table data cells with text, and SVG shapes, in a piece of HTML.
pub fn content_counts(html: &str) -> (usize, usize) {
    let cells = html
        .split("<td")
        .skip(1)
        .filter(|c| {
            let inner = c.split_once('>').map_or("", |x| x.1);
            let text = inner.split("</td>").next().unwrap_or("");
            !text.trim().is_empty()
        })
        .count();
    let shapes = ["<rect", "<path", "<circle", "<polyline"]
        .iter()
        .map(|s| html.matches(s).count())
        .sum();
    (cells, shapes)
}

/// Whether a section shows something: summary sentences, or table cells with text / SVG shapes,
/// and no "not run" note.
pub fn filled(html: &str, id: &str) -> bool {
    let s = section(html, id);
    let (cells, shapes) = content_counts(s);
    let content = if id == "summary" {
        s.matches("<li>").count()
    } else {
        cells + shapes
    };
    content > 0 && !s.contains("data-empty")
}

#[test]
fn every_table_and_figure_of_the_realistic_study_has_content() {
    let html = render_html(fixtures::realistic());
    for id in SECTIONS {
        assert!(
            filled(&html, id),
            "section {id} is empty or says it was not run"
        );
    }
    // Figures carry SVG shapes: bars, curves, a heatmap, histograms, the forest plot.
    for id in [
        "figure2",
        "roc",
        "figure4",
        "figure5",
        "cross-hospital",
        "utility",
    ] {
        assert!(
            content_counts(section(&html, id)).1 > 0,
            "figure {id} has no shapes"
        );
    }
    // Figure 4 shows every feature of the all-feature cell of each method.
    let f4 = section(&html, "figure4");
    let all_features: usize = fixtures::realistic()
        .cells
        .iter()
        .filter(|c| c.spec.feature_set == "all")
        .map(|c| c.distributions.len())
        .sum();
    assert!(all_features > 2 * 80);
    assert_eq!(f4.matches("<figure class=\"dist\"").count(), all_features);
    assert!(f4.contains("lactate_last_early") && f4.contains("Gaussian copula"));
    // ROC panels: 2 methods x 2 feature sets.
    assert_eq!(section(&html, "roc").matches("class=\"panel\"").count(), 4);
    // Self-contained: no script, no external resource.
    for forbidden in ["<script", "src=", "<link", "http://", "https://"] {
        assert!(!html.contains(forbidden), "report contains {forbidden}");
    }
}

#[test]
fn our_numbers_appear_in_both_renderings() {
    let study = fixtures::realistic();
    let (html, md) = (render_html(study), render_markdown(study));
    let copula_all = study
        .cells
        .iter()
        .find(|c| c.spec.generator == "copula" && c.spec.feature_set == "all")
        .and_then(|c| c.audit.as_ref())
        .unwrap();
    let kl = format!("{:.3}", copula_all.fidelity.kl_mean.unwrap());
    let tstr = format!("{:.3}", select::tstr(copula_all).unwrap());
    let table1 = section(&html, "table1");
    assert!(
        table1.contains(&kl) && table1.contains(&tstr),
        "{table1:.2000}"
    );
    assert!(md.contains(&kl) && md.contains(&tstr));
    let matrix = study.cross_hospital.as_ref().unwrap();
    let first = format!("{:.2}", matrix.auroc[0][1].unwrap());
    assert!(section(&html, "cross-hospital").contains(&first));
    let lactate_kl = format!(
        "{:.3}",
        copula_all
            .fidelity
            .features
            .iter()
            .find(|f| f.name == "lactate_last_early")
            .and_then(|f| f.kl)
            .unwrap()
    );
    assert!(section(&html, "table5").contains(&lactate_kl));
    // The summary names a best generator and compares with real-data training.
    let summary = section(&html, "summary");
    assert!(summary.contains("kept the real data&#39;s distributions best"));
    assert!(summary.contains("trained on real patients"));
}

#[test]
fn the_papers_numbers_appear_beside_ours() {
    let study = fixtures::realistic();
    let (html, md) = (render_html(study), render_markdown(study));
    for (table, numbers) in [
        (
            "table1",
            &["0.538", "0.621", "0.477", "0.505", "0.580", "0.296"][..],
        ),
        ("table2", &["0.330", "0.547", "0.393", "0.411"][..]),
        (
            "table3",
            &["0.822", "0.813", "0.689", "0.534", "0.169", "0.247"][..],
        ),
        ("table4", &["0.902", "0.916", "0.095", "0.082"][..]),
        ("figure2", &["0.450", "0.850", "0.900", "1.000"][..]),
    ] {
        for n in numbers {
            assert!(
                section(&html, table).contains(n),
                "{table} lacks the paper's {n}"
            );
            assert!(md.contains(n), "the Markdown lacks the paper's {n}");
        }
    }
    // The paper reports the group of value 1 only: its number stands on that row alone.
    let row = |group: &str| {
        md.lines()
            .find(|l| l.starts_with(&format!("| {group} |")))
            .unwrap()
    };
    assert!(row("race_black = 1").contains("0.330"));
    assert!(
        !row("race_black = 0").contains("0.330"),
        "{}",
        row("race_black = 0")
    );
    // Paper columns are marked as such, and the paper's importance rank sits beside ours.
    assert!(section(&html, "table1").contains("<th class=\"paper\">paper TSTR AUROC"));
    assert!(md.contains("| paper rank |"));
}

#[test]
fn text_from_the_data_is_escaped() {
    let study = fixtures::handmade();
    let (html, md) = (render_html(&study), render_markdown(&study));
    assert!(!html.contains("<script") && !html.contains("<img") && !html.contains("<b>study"));
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;lab|value"));
    assert!(html.contains("Hand-made &lt;b&gt;study&lt;/b&gt;"));
    assert!(!md.contains("<script") && !md.contains("<before>"));
    assert!(md.contains("&lt;before&gt;"));
    // A pipe in a name does not break a Markdown table row.
    assert!(md.contains("&amp;lab\\|value"));
}

#[test]
fn missing_pieces_are_said_plainly() {
    let study = fixtures::handmade();
    let html = render_html(&study);
    let cross = section(&html, "cross-hospital");
    assert!(cross.contains("data-empty") && cross.contains("the data have no site column"));
    let summary = section(&html, "summary");
    assert!(summary.contains("failed: budget of $5 spent") || summary.contains("failed"));
    assert!(summary.contains("llm-naive-openai-o1-all-n400-s7-random failed"));
    let cost = section(&html, "cost");
    assert!(cost.contains("123,456") && cost.contains("3.21") && cost.contains("failed: budget"));
    assert!(cost.contains("have not run yet (1): llm-conditional"));
    // The LLM group-based cell gets the paper's Table 1 numbers on its own row.
    let table1 = section(&html, "table1");
    let llm_row = table1
        .split("<tr>")
        .find(|r| r.contains("LLM group-based (openai o1)"))
        .expect("the LLM cell has a row");
    assert!(llm_row.contains("0.505") && llm_row.contains("0.296"));

    let empty = fixtures::empty();
    let (html, md) = (render_html(&empty), render_markdown(&empty));
    for id in SECTIONS.iter().filter(|id| **id != "summary") {
        let s = section(&html, id);
        let has_rows = content_counts(s).0 > 0;
        assert!(
            s.contains("data-empty") || has_rows,
            "section {id} is silently empty"
        );
    }
    for id in ["table1", "table5", "figure4", "roc", "utility", "privacy"] {
        let s = section(&html, id);
        assert!(s.contains("data-empty"), "{id} should say it was not run");
    }
    let not_run = ehrsynth_eval::html::esc(NOT_RUN);
    assert!(section(&html, "table1").contains(&not_run));
    assert!(section(&html, "summary").contains("no cell has been audited yet"));
    assert!(md.contains(NOT_RUN) && md.contains("0.538"));
}

#[test]
fn write_report_writes_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nested/report");
    write_report(&fixtures::handmade(), &out).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(html.starts_with("<!doctype html>") && html.trim_end().ends_with("</html>"));
    assert!(md.starts_with("# Hand-made"));
}

#[test]
fn counts_get_thousands_separators() {
    use super::tables::thousands;
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(88_857), "88,857");
    assert_eq!(thousands(1_234_567), "1,234,567");
}

#[test]
fn slices_prefer_the_papers_sample_size() {
    assert_eq!(closest_to_paper([400, 5000, 1000]), Some(1000));
    assert_eq!(closest_to_paper([500, 1500]), Some(1500));
    assert_eq!(closest_to_paper([10000, 5000]), Some(5000));
    assert_eq!(closest_to_paper(Vec::<usize>::new()), None);
}

#[test]
fn the_rules_table_names_the_worst_broken_rule_with_its_share() {
    use ehrsynth_table::constraint::ConstraintCount;
    let mut study = fixtures::realistic().clone();
    let cell = study
        .cells
        .iter_mut()
        .find(|c| c.audit.is_some())
        .expect("an audited cell");
    let words = select::cell_words(&cell.spec);
    let audit = cell.audit.as_mut().unwrap();
    let count = |constraint: &str, broken| ConstraintCount {
        constraint: constraint.into(),
        rows: 2_000,
        broken,
    };
    audit.fidelity.constraints = vec![
        count("one_hot(race_black, race_asian)", 30),
        count("order(hr_min <= hr_max)", 0),
        count("combinations(unittype, hospitalid)", 150),
    ];
    let html = render_html(&study);
    let table = section(&html, "constraints");
    let row = table
        .split("<tr")
        .find(|r| r.contains(&words))
        .unwrap_or_else(|| panic!("no row for {words}: {table}"));
    for expected in [
        "<td class=\"n\">3</td><td class=\"n\">2</td>",
        "150 of 2,000 (7.5%)",
        "combinations(unittype, hospitalid)",
    ] {
        assert!(row.contains(expected), "{expected} not in {row}");
    }
    assert!(
        !row.contains("one_hot"),
        "only the worst rule is named: {row}"
    );
}

/// The Markdown summary with every number written as `#`: its headings, sentences, tables and
/// their columns are pinned (a change of wording or layout shows in review as a snapshot diff),
/// not the figures of one machine's run.
#[test]
fn the_markdown_summary_layout() {
    let markdown = render_markdown(fixtures::realistic());
    let chars: Vec<char> = markdown.chars().collect();
    let mut masked = String::with_capacity(markdown.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            masked.push(chars[i]);
            i += 1;
            continue;
        }
        masked.push('#');
        // The number's digits, with decimal points and thousands separators between digits.
        while i < chars.len()
            && (chars[i].is_ascii_digit()
                || (matches!(chars[i], '.' | ',')
                    && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
        {
            i += 1;
        }
    }
    insta::assert_snapshot!("markdown-summary-layout", masked);
}
