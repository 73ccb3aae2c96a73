//! `conductor status [--file status.json] [--watch]`: shows a status file as a table for a
//! person, with how long ago the file was written (its modification time), so that a file no
//! conductor rewrites any more shows as old. With `--watch`, redraws it every second, and ends
//! with exit 0 after drawing a file whose phase is `stopped`. On a terminal each frame replaces
//! the last; otherwise frames follow one another, separated by a blank line.

use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use pico_args::Arguments;

use super::{flags, Cmd};
use crate::status::{Render, Status};

/// The file shown unless `--file` names another.
pub const DEFAULT_FILE: &str = "status.json";
/// How often `--watch` redraws.
pub const WATCH_PERIOD: Duration = Duration::from_secs(1);
/// The phase of a conductor's last write.
const STOPPED: &str = "stopped";

/// Runs the subcommand.
pub fn run(mut args: Arguments) -> i32 {
    let file = match flags::path(&mut args, "--file") {
        Ok(f) => f,
        Err(message) => return super::usage_error(Cmd::Status, message),
    };
    let watch = args.contains("--watch");
    if let Err(code) = super::finish(args, Cmd::Status) {
        return code;
    }
    let path = file.unwrap_or_else(|| PathBuf::from(DEFAULT_FILE));
    if !watch {
        return match read(&path) {
            Ok((status, age_ms)) => {
                print!("{}", status.to_text_written(age_ms));
                0
            }
            Err(message) => {
                super::error(Cmd::Status, message);
                1
            }
        };
    }
    let terminal = std::io::stdout().is_terminal();
    let mut first = true;
    loop {
        let (frame, stopped) = match read(&path) {
            Ok((status, age_ms)) => (status.to_text_written(age_ms), status.phase == STOPPED),
            Err(message) => (format!("{message}\n"), false),
        };
        let mut out = std::io::stdout().lock();
        let drawn = if terminal {
            // Clear the screen and move home, then draw.
            write!(out, "\x1b[2J\x1b[H{frame}")
        } else if first {
            write!(out, "{frame}")
        } else {
            write!(out, "\n{frame}")
        };
        if drawn.and_then(|()| out.flush()).is_err() {
            // Nobody reads the frames any more.
            return 1;
        }
        if stopped {
            return 0;
        }
        first = false;
        std::thread::sleep(WATCH_PERIOD);
    }
}

/// The status in `path` and how long ago the file was written, in milliseconds.
fn read(path: &Path) -> Result<(Status, u64), String> {
    let cannot_read = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let mut file = File::open(path).map_err(cannot_read)?;
    let written = file
        .metadata()
        .and_then(|m| m.modified())
        .map_err(cannot_read)?;
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(cannot_read)?;
    let status = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a status file: {e}", path.display()))?;
    // A file from the future (clocks set apart) counts as just written.
    let age = SystemTime::now()
        .duration_since(written)
        .unwrap_or(Duration::ZERO);
    Ok((status, u64::try_from(age.as_millis()).unwrap_or(u64::MAX)))
}
