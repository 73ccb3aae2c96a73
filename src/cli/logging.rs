//! Logging set-up for the conductor: `--log-level` and `--log-file`, one line per event with
//! a timestamp, to stderr unless a file is named. Lines are written in batches that the
//! driver flushes (see [`crate::driver::BatchedWriter`]). Only the conductor's own records are kept:
//! the libraries' tracing (mio's registrations, say) would drown the per-message detail.

use std::fs::OpenOptions;
use std::path::Path;

use log::LevelFilter;
use simplelog::{ConfigBuilder, WriteLogger};

use crate::driver::{BatchedWriter, LogBatch};

/// The prefix of every log target in this crate.
const OWN_TARGET: &str = "lockstep";

/// Parses a level name.
pub fn parse_level(text: &str) -> Result<LevelFilter, String> {
    text.parse::<LevelFilter>().map_err(|_| {
        format!("--log-level: {text:?} is not one of off, error, warn, info, debug, trace")
    })
}

/// Installs the logger; the returned handle tells the driver when lines wait to be flushed.
pub fn init(level: LevelFilter, file: Option<&Path>) -> Result<LogBatch, String> {
    let config = ConfigBuilder::new()
        .set_time_format_rfc3339()
        .set_target_level(LevelFilter::Off)
        .set_thread_level(LevelFilter::Off)
        .set_location_level(LevelFilter::Off)
        .add_filter_allow_str(OWN_TARGET)
        .build();
    let batch = LogBatch::default();
    let installed = match file {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("--log-file: cannot open {}: {e}", path.display()))?;
            WriteLogger::init(level, config, BatchedWriter::new(file, batch.clone()))
        }
        None => WriteLogger::init(
            level,
            config,
            BatchedWriter::new(std::io::stderr(), batch.clone()),
        ),
    };
    installed.map_err(|e| format!("cannot install the logger: {e}"))?;
    Ok(batch)
}
