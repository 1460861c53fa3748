//! Exit codes a script can rely on: 0 when everything asked for was written, 1 on an error
//! (nothing or not all of it was attempted), 2 for a usage error (clap), 3 for an incomplete run:
//! the outputs were written but hold less than asked (fewer rows, failed study cells).

use std::process::ExitCode;

/// Exit code of an incomplete run.
pub const INCOMPLETE: u8 = 3;

/// A run that wrote its outputs but not all it was asked for; the message says what and why.
#[derive(Debug)]
pub struct Incomplete(pub String);

impl std::fmt::Display for Incomplete {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "incomplete: {}", self.0)
    }
}

impl std::error::Error for Incomplete {}

/// The exit code for a command's error.
pub fn code_for(error: &anyhow::Error) -> ExitCode {
    if error.downcast_ref::<Incomplete>().is_some() {
        ExitCode::from(INCOMPLETE)
    } else {
        ExitCode::FAILURE
    }
}
