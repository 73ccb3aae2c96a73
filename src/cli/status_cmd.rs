//! `conductor status [--file status.json] [--watch]`: shows a status file as a table for a
//! person; with `--watch`, redraws it every second until interrupted.

use std::path::PathBuf;

use pico_args::Arguments;

use crate::status::{Render, Status};

/// Runs the subcommand.
pub fn run(mut args: Arguments) -> i32 {
    let file: Option<PathBuf> = match args.opt_value_from_str("--file") {
        Ok(f) => f,
        Err(e) => return super::usage_error(&e.to_string()),
    };
    let watch = args.contains("--watch");
    if let Err(code) = super::finish(args) {
        return code;
    }
    let path = file.unwrap_or_else(|| PathBuf::from("status.json"));
    loop {
        let shown = match read(&path) {
            Ok(status) => status.to_text(),
            Err(message) => {
                if !watch {
                    eprintln!("conductor status: {message}");
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
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

fn read(path: &std::path::Path) -> Result<Status, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not a status file: {e}", path.display()))
}
