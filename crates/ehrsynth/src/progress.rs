//! Progress bars on stderr for the library's [`Progress`] reports (hidden when stderr is not a
//! terminal, so logs and CI output stay clean).

use std::sync::Mutex;
use std::time::Duration;

use ehrsynth_table::Progress;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// One bar per phase; a new phase finishes the previous bar.
#[derive(Default)]
pub struct Bars {
    current: Mutex<Option<ProgressBar>>,
    /// Drawn below other bars (the study's bar over cells) when set.
    group: Option<MultiProgress>,
}

impl Bars {
    /// Bars drawn in `group`, below the bars already in it.
    pub fn in_group(group: MultiProgress) -> Self {
        Self {
            current: Mutex::new(None),
            group: Some(group),
        }
    }
}

impl Progress for Bars {
    fn start(&self, label: &str, total: Option<u64>, unit: &str) {
        let bar = match total {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        let template = match (total.is_some(), unit) {
            (true, "bytes") => {
                "{prefix:>28} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
            }
            (true, _) => "{prefix:>28} [{bar:30}] {pos}/{len} {unit} eta {eta} {msg}",
            (false, _) => "{prefix:>28} {spinner} {pos} {msg}",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(label.to_string());
        let template_unit = unit.to_string();
        bar.set_style(bar.style().with_key(
            "unit",
            move |_: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&template_unit);
            },
        ));
        let bar = match &self.group {
            Some(group) => group.add(bar),
            None => bar,
        };
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Ok(mut current) = self.current.lock()
            && let Some(old) = current.replace(bar)
        {
            old.finish_and_clear();
        }
    }

    fn advance(&self, delta: u64) {
        if let Ok(current) = self.current.lock()
            && let Some(bar) = current.as_ref()
        {
            bar.inc(delta);
        }
    }

    fn note(&self, message: &str) {
        if let Ok(current) = self.current.lock()
            && let Some(bar) = current.as_ref()
        {
            bar.set_message(message.to_string());
        }
    }

    fn finish(&self, message: &str) {
        if let Ok(mut current) = self.current.lock()
            && let Some(bar) = current.take()
        {
            if self.group.is_some() {
                // Inside the study the bar over cells stays; finished phases make room.
                bar.finish_and_clear();
            } else {
                bar.finish_with_message(message.to_string());
            }
        }
    }
}
