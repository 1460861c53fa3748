//! The report in a real browser: headless Chromium loads the realistic study's report.html from
//! disk, dumps the DOM it built and takes a screenshot; every table and figure must have rendered
//! rows or SVG shapes. Ignored by default (it needs Chromium: `cargo test -- --include-ignored`
//! runs it, as `.ci/run` does); run without Chromium it fails and says why.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{SECTIONS, filled, fixtures, section};

/// Chromium's binary: $EHRSYNTH_CHROMIUM, or the first of Debian's names found on PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("EHRSYNTH_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// Runs headless Chromium on `page` with extra arguments; returns stdout.
fn run_chromium(binary: &Path, profile: &Path, page: &Path, extra: &[String]) -> String {
    let output = Command::new("timeout")
        .arg("120")
        .arg(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium starts");
    assert!(
        output.status.success(),
        "chromium failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
#[ignore = "needs Chromium on PATH (Debian's chromium package) or EHRSYNTH_CHROMIUM"]
fn chromium_renders_every_table_and_figure() {
    let binary = chromium()
        .expect("no chromium on PATH and no EHRSYNTH_CHROMIUM (apt-get install chromium)");
    // A fixed folder so a person can open the report and the screenshot after the test.
    let dir = std::env::temp_dir().join("ehrsynth-report-check");
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("report.html");
    let html = super::render_html(fixtures::realistic());
    std::fs::write(&page, &html).unwrap();
    let profile = tempfile::tempdir().unwrap();

    let dom = run_chromium(&binary, profile.path(), &page, &["--dump-dom".into()]);
    assert!(
        dom.contains("</html>"),
        "chromium returned no DOM: {dom:.500}"
    );
    for id in SECTIONS {
        assert!(filled(&dom, id), "section {id} rendered without content");
    }
    // The browser kept the SVG figures as SVG (a malformed chart would be dropped or re-parented).
    assert_eq!(
        section(&dom, "figure4").matches("<svg").count(),
        section(&html, "figure4").matches("<svg").count()
    );

    let shot = dir.join("report.png");
    let _ = std::fs::remove_file(&shot);
    run_chromium(
        &binary,
        profile.path(),
        &page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1400,5000".into(),
        ],
    );
    let png = std::fs::read(&shot).expect("chromium wrote a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 50_000,
        "screenshot is blank or tiny"
    );
    eprintln!(
        "report {} ({} kB) and screenshot {} checked in Chromium",
        page.display(),
        html.len() / 1024,
        shot.display()
    );
}
