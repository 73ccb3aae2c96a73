//! The `conductor` command line: picks the subcommand and hands over to it. Each subcommand
//! returns the process exit code.

// The command line prints, reads status files and waits between them (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod logging;
mod run;
mod status_cmd;

use pico_args::Arguments;

/// Usage text for `conductor --help`.
pub const USAGE: &str = "\
conductor — makes many processes advance in lockstep over TCP

USAGE:
  conductor [--config FILE] [--KEY VALUE ...] [--log-level LEVEL] [--log-file FILE]
  conductor status [--file status.json] [--watch]

Runs the conductor. Settings come from config.json (or --config FILE) and are overridden by
flags: --host, --port, --min-clients, --rounds, and --KEY VALUE in kebab-case for any key of
config.json (--allow takes comma-separated CIDR blocks).
--log-level is one of off, error, warn, info (default), debug, trace.

Exit codes: 0 after a planned end, a graceful stop or an interrupt; 1 after a fatal error;
2 for a bad command line or configuration; 130 after a second SIGINT.
";

/// Runs the command line given in `args` (without the program name) and returns the exit code.
pub fn main(mut args: Arguments) -> i32 {
    if args.contains(["-h", "--help"]) {
        print!("{USAGE}");
        return 0;
    }
    let sub = match args.subcommand() {
        Ok(sub) => sub,
        Err(e) => return usage_error(&e.to_string()),
    };
    match sub.as_deref() {
        None => run::run(args),
        Some("status") => status_cmd::run(args),
        Some(other) => usage_error(&format!("unknown subcommand {other:?}")),
    }
}

/// Prints a command-line error and returns exit code 2.
pub(crate) fn usage_error(message: &str) -> i32 {
    eprintln!("conductor: {message}");
    eprintln!("try 'conductor --help'");
    2
}

/// Fails with exit code 2 if arguments are left over.
pub(crate) fn finish(args: Arguments) -> Result<(), i32> {
    let rest = args.finish();
    if rest.is_empty() {
        Ok(())
    } else {
        let rest: Vec<String> = rest
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        Err(usage_error(&format!(
            "unexpected argument(s): {}",
            rest.join(" ")
        )))
    }
}
