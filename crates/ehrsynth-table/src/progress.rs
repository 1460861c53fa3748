//! Progress reporting for long work, without tying library crates to a terminal UI.
//!
//! The binary implements [`Progress`] with progress bars; tests and library users pass
//! [`NoProgress`].

/// Receives progress of one long task (reading a big table, fitting a generator, ...).
pub trait Progress: Sync {
    /// A new phase starts; `total` is its size in `unit`s when known (bytes, rows, requests).
    fn start(&self, label: &str, total: Option<u64>, unit: &str);
    /// `delta` more units of the current phase are done.
    fn advance(&self, delta: u64);
    /// The current phase is finished; `message` summarises it.
    fn finish(&self, message: &str);
    /// A short status shown beside the current phase (rejections, tokens, cost, ...).
    fn note(&self, _message: &str) {}
}

/// Ignores all progress.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _label: &str, _total: Option<u64>, _unit: &str) {}
    fn advance(&self, _delta: u64) {}
    fn finish(&self, _message: &str) {}
}
