//! Compares `stats` against scipy / scikit-learn / sdmetrics values stored in
//! `fixtures/reference_metrics.json` (written by `scripts/reference_metrics.py`).
//!
//! Tolerance: 1e-9 absolute everywhere (p-values from `kstwobign` also
//! 1e-9 relative). scipy's own `ks_2samp` p-values (exact / `kstwo`) use a
//! different distribution than ours (see `stats::ks_2samp`), so they are
//! only checked loosely: same verdict at the 5 % level and within a factor
//! of 2 while above 1e-12.

use std::path::Path;

use ehrsynth_eval::stats;
use serde::Deserialize;

const TOL: f64 = 1e-9;

#[derive(Deserialize)]
struct Fixture {
    versions: serde_json::Value,
    kl_n_bins: usize,
    kl_alpha: f64,
    two_sample: Vec<TwoSample>,
    kolmogorov_sf: Vec<KolmogorovPoint>,
    classification: Vec<Classification>,
    categorical: Vec<Categorical>,
    association: Vec<Association>,
    cramers_v: Vec<Cramers>,
    correlation_ratio: Vec<Eta>,
}

#[derive(Deserialize)]
struct TwoSample {
    name: String,
    a: Vec<f64>,
    b: Vec<f64>,
    ks_statistic: f64,
    ks_pvalue_kstwobign: f64,
    ks_pvalue_scipy_asymp: f64,
    ks_pvalue_scipy_auto: f64,
    wasserstein: f64,
    ks_complement_sdmetrics: f64,
    kl_binned: f64,
    kl_binned_n_bins_used: usize,
}

#[derive(Deserialize)]
struct KolmogorovPoint {
    x: f64,
    sf: f64,
}

#[derive(Deserialize)]
struct Classification {
    name: String,
    scores: Vec<f64>,
    labels: Vec<bool>,
    auroc: f64,
    average_precision: f64,
    roc_fpr: Vec<f64>,
    roc_tpr: Vec<f64>,
    max_advantage: f64,
    tpr_at_fpr_max_fpr: f64,
    tpr_at_fpr: f64,
}

#[derive(Deserialize)]
struct Categorical {
    name: String,
    p_counts: Vec<f64>,
    q_counts: Vec<f64>,
    tvd: f64,
    tv_complement_sdmetrics: f64,
    synth_subset_of_real: bool,
    js_base2: f64,
    /// `None` = +inf.
    kl: Option<f64>,
    kl_smoothed_alpha: f64,
    kl_smoothed: f64,
}

#[derive(Deserialize)]
struct Association {
    name: String,
    /// `None` = missing.
    x: Vec<Option<f64>>,
    y: Vec<Option<f64>>,
    pearson: f64,
    spearman: f64,
    ranks_x_complete: Vec<f64>,
}

#[derive(Deserialize)]
struct Cramers {
    name: String,
    a: Vec<u32>,
    b: Vec<u32>,
    cramers_v: f64,
}

#[derive(Deserialize)]
struct Eta {
    name: String,
    categories: Vec<u32>,
    values: Vec<f64>,
    eta: f64,
}

fn fixture() -> Fixture {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/reference_metrics.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid reference JSON")
}

#[track_caller]
fn close(what: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= TOL,
        "{what}: got {got:e}, scipy/sklearn {want:e}, diff {:e}",
        (got - want).abs()
    );
}

#[test]
fn versions_recorded() {
    let f = fixture();
    for k in ["numpy", "scipy", "scikit-learn", "sdmetrics", "pandas"] {
        assert!(
            f.versions.get(k).and_then(|v| v.as_str()).is_some(),
            "missing version {k}"
        );
    }
}

#[test]
fn two_sample_against_scipy() {
    let f = fixture();
    assert_eq!(f.kl_n_bins, stats::DEFAULT_KL_BINS);
    assert_eq!(f.kl_alpha, stats::DEFAULT_KL_ALPHA);
    for c in &f.two_sample {
        let name = &c.name;
        let ks = stats::ks_2samp(&c.a, &c.b).unwrap();
        close(
            &format!("{name} ks statistic"),
            ks.statistic,
            c.ks_statistic,
        );
        close(
            &format!("{name} KSComplement"),
            1.0 - ks.statistic,
            c.ks_complement_sdmetrics,
        );
        close(
            &format!("{name} kstwobign p"),
            ks.pvalue,
            c.ks_pvalue_kstwobign,
        );
        assert!(
            (ks.pvalue - c.ks_pvalue_kstwobign).abs() <= TOL * c.ks_pvalue_kstwobign,
            "{name} kstwobign p relative"
        );
        // Loose comparison with scipy's ks_2samp p-values (other distribution).
        for (label, theirs) in [
            ("asymp", c.ks_pvalue_scipy_asymp),
            ("auto", c.ks_pvalue_scipy_auto),
        ] {
            println!(
                "{name}: p ours {:.6e}, scipy {label} {theirs:.6e}, ratio {:.3}",
                ks.pvalue,
                ks.pvalue / theirs
            );
            assert_eq!(
                ks.pvalue < 0.05,
                theirs < 0.05,
                "{name}: verdict vs {label}"
            );
            if theirs > 1e-12 {
                let ratio = ks.pvalue / theirs;
                assert!(
                    (0.5..=2.0).contains(&ratio),
                    "{name}: ratio {ratio} vs {label}"
                );
            }
        }
        let w = stats::wasserstein_1d(&c.a, &c.b).unwrap();
        close(&format!("{name} wasserstein"), w, c.wasserstein);
        let (r, s) = stats::binned_counts(&c.a, &c.b, f.kl_n_bins).unwrap();
        assert_eq!(r.len(), c.kl_binned_n_bins_used, "{name} number of bins");
        assert_eq!(s.len(), c.kl_binned_n_bins_used);
        let kl = stats::kl_continuous(&c.a, &c.b, f.kl_n_bins, f.kl_alpha).unwrap();
        close(&format!("{name} binned KL"), kl, c.kl_binned);
    }
}

#[test]
fn kolmogorov_sf_against_scipy() {
    for p in &fixture().kolmogorov_sf {
        let got = stats::kolmogorov_sf(p.x);
        close(&format!("kstwobign.sf({})", p.x), got, p.sf);
        assert!(
            (got - p.sf).abs() <= TOL * p.sf,
            "kstwobign.sf({}) relative: {got:e} vs {:e}",
            p.x,
            p.sf
        );
    }
}

#[test]
fn classification_against_sklearn() {
    for c in &fixture().classification {
        let name = &c.name;
        let (s, l) = (&c.scores, &c.labels);
        close(
            &format!("{name} auroc"),
            stats::auroc(s, l).unwrap(),
            c.auroc,
        );
        close(
            &format!("{name} AP"),
            stats::average_precision(s, l).unwrap(),
            c.average_precision,
        );
        let pts = stats::roc_points(s, l);
        assert_eq!(pts.len(), c.roc_fpr.len(), "{name} roc length");
        for (k, (&(f, t), (&ef, &et))) in
            pts.iter().zip(c.roc_fpr.iter().zip(&c.roc_tpr)).enumerate()
        {
            close(&format!("{name} fpr[{k}]"), f, ef);
            close(&format!("{name} tpr[{k}]"), t, et);
        }
        close(
            &format!("{name} max advantage"),
            stats::max_advantage(s, l).unwrap(),
            c.max_advantage,
        );
        close(
            &format!("{name} tpr@fpr"),
            stats::tpr_at_fpr(s, l, c.tpr_at_fpr_max_fpr).unwrap(),
            c.tpr_at_fpr,
        );
    }
}

#[test]
fn categorical_against_scipy_and_sdmetrics() {
    for c in &fixture().categorical {
        let name = &c.name;
        let (p, q) = (&c.p_counts, &c.q_counts);
        let tvd = stats::tvd(p, q).unwrap();
        close(&format!("{name} tvd"), tvd, c.tvd);
        if c.synth_subset_of_real {
            close(
                &format!("{name} TVComplement"),
                1.0 - tvd,
                c.tv_complement_sdmetrics,
            );
        }
        close(
            &format!("{name} js"),
            stats::js_divergence(p, q).unwrap(),
            c.js_base2,
        );
        let kl = stats::kl_divergence(p, q).unwrap();
        match c.kl {
            Some(want) => close(&format!("{name} kl"), kl, want),
            None => assert_eq!(kl, f64::INFINITY, "{name} kl should be inf"),
        }
        let ks = stats::kl_categorical(p, q, c.kl_smoothed_alpha).unwrap();
        close(&format!("{name} smoothed kl"), ks, c.kl_smoothed);
        assert!(ks.is_finite());
    }
}

#[test]
fn association_against_scipy() {
    let f = fixture();
    for c in &f.association {
        let name = &c.name;
        let x: Vec<f64> = c.x.iter().map(|v| v.unwrap_or(f64::NAN)).collect();
        let y: Vec<f64> = c.y.iter().map(|v| v.unwrap_or(f64::NAN)).collect();
        close(
            &format!("{name} pearson"),
            stats::pearson(&x, &y).unwrap(),
            c.pearson,
        );
        close(
            &format!("{name} spearman"),
            stats::spearman(&x, &y).unwrap(),
            c.spearman,
        );
        let xc: Vec<f64> = x
            .iter()
            .zip(&y)
            .filter(|(a, b)| !a.is_nan() && !b.is_nan())
            .map(|(a, _)| *a)
            .collect();
        let ranks = stats::ranks_average(&xc);
        assert_eq!(ranks, c.ranks_x_complete, "{name} ranks");
    }
    for c in &f.cramers_v {
        close(
            &format!("{} cramer", c.name),
            stats::cramers_v(&c.a, &c.b).unwrap(),
            c.cramers_v,
        );
    }
    for c in &f.correlation_ratio {
        let eta = stats::correlation_ratio(&c.categories, &c.values).unwrap();
        close(&format!("{} eta", c.name), eta, c.eta);
    }
}
