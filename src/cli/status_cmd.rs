//! `conductor status [--file status.json] [--watch]`: shows a status file as a table for a
//! person; with `--watch`, redraws it every second until interrupted.

use std::path::PathBuf;
use std::time::Duration;

use pico_args::Arguments;

use super::{flags, Cmd};
use crate::status::Status;

/// The file shown unless `--file` names another.
pub const DEFAULT_FILE: &str = "status.json";
/// How often `--watch` redraws.
pub const WATCH_PERIOD: Duration = Duration::from_secs(1);

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
    loop {
        let shown = match read(&path) {
            Ok(status) => status.to_text(),
            Err(message) => {
                if !watch {
                    super::error(Cmd::Status, message);
                    return 1;
                }
                format!("{message}\n")
            }
        };
        if !watch {
            print!("{shown}");
            return 0;
        }
        // Clear the screen and move home, then draw.
        print!("\x1b[2J\x1b[H{shown}");
        let _ = std::io::Write::flush(&mut std::io::stdout());
        std::thread::sleep(WATCH_PERIOD);
    }
}

fn read(path: &std::path::Path) -> Result<Status, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not a status file: {e}", path.display()))
}
