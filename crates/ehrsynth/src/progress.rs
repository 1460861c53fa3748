//! Progress bars on stderr for the library's [`Progress`] reports (hidden when stderr is not a
//! terminal, so logs and CI output stay clean).

use std::sync::Mutex;
use std::time::Duration;

use ehrsynth_table::Progress;
use indicatif::{ProgressBar, ProgressStyle};

/// One bar per phase; a new phase finishes the previous bar.
#[derive(Default)]
pub struct Bars {
    current: Mutex<Option<ProgressBar>>,
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
            bar.finish_with_message(message.to_string());
        }
    }
}
