//! The `conductor` command line: picks the command (the conductor itself, `join`, `status`,
//! `ctl`, `bench`, `help`), answers `--help` and `--version`, and hands over to the command, which
//! returns the process exit code. Every message on stderr goes through [`error`], so each
//! command names itself one way (`conductor: …`, `conductor join: …`).

// The command line prints, logs, reads status files, runs commands and waits between them
// (see clippy.toml).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

mod bench_cmd;
mod ctl;
pub(crate) mod flags;
mod help;
mod join;
mod logging;
mod relay;
mod run;
mod status_cmd;

use std::ffi::OsString;
use std::fmt::Display;

use pico_args::Arguments;

/// The version printed by `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The commands of the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmd {
    /// No command: run the conductor.
    Run,
    /// `conductor join`.
    Join,
    /// `conductor status`.
    Status,
    /// `conductor ctl`.
    Ctl,
    /// `conductor bench`.
    Bench,
    /// `conductor relay`.
    Relay,
}

impl Cmd {
    /// The commands given by a word, in the order the help lists them.
    const NAMED: [(&'static str, Cmd); 5] = [
        ("join", Cmd::Join),
        ("relay", Cmd::Relay),
        ("status", Cmd::Status),
        ("ctl", Cmd::Ctl),
        ("bench", Cmd::Bench),
    ];

    /// The command called `word`.
    fn named(word: &str) -> Option<Cmd> {
        Cmd::NAMED
            .iter()
            .find(|(name, _)| *name == word)
            .map(|&(_, cmd)| cmd)
    }

    /// How the command names itself at the start of its messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Cmd::Run => "conductor",
            Cmd::Join => "conductor join",
            Cmd::Status => "conductor status",
            Cmd::Ctl => "conductor ctl",
            Cmd::Bench => "conductor bench",
            Cmd::Relay => "conductor relay",
        }
    }
}

/// Runs the command line given in `raw` (without the program name) and returns the exit code.
/// Everything after the first `--` is a command for `conductor join`.
pub fn main(mut raw: Vec<OsString>) -> i32 {
    let command = raw
        .iter()
        .position(|arg| arg == "--")
        .map(|at| raw.drain(at..).skip(1).collect::<Vec<_>>());
    let mut args = Arguments::from_vec(raw);
    let word = match args.subcommand() {
        Ok(word) => word,
        Err(e) => return usage_error(Cmd::Run, e),
    };
    let cmd = match word.as_deref() {
        None => Cmd::Run,
        Some("help") => return help_command(args),
        Some(word) => match Cmd::named(word) {
            Some(cmd) => cmd,
            None => {
                return usage_error(
                    Cmd::Run,
                    format!(
                        "unknown command {word:?} (the commands are join, relay, status, ctl, bench, help)"
                    ),
                )
            }
        },
    };
    if args.contains(["-h", "--help"]) {
        print!("{}", help::page(cmd));
        return 0;
    }
    if args.contains(["-V", "--version"]) {
        println!("conductor {VERSION}");
        return 0;
    }
    if command.is_some() && cmd != Cmd::Join {
        return usage_error(cmd, "'--' introduces the command of 'conductor join' only");
    }
    match cmd {
        Cmd::Run => run::run(args),
        Cmd::Join => join::run(args, command.unwrap_or_default()),
        Cmd::Status => status_cmd::run(args),
        Cmd::Ctl => ctl::run(args),
        Cmd::Bench => bench_cmd::run(args),
        Cmd::Relay => relay::run(args),
    }
}

/// `conductor help [COMMAND]`: the page of the conductor, or of COMMAND.
fn help_command(mut args: Arguments) -> i32 {
    let topic = match args.subcommand() {
        Ok(topic) => topic,
        Err(e) => return usage_error(Cmd::Run, e),
    };
    if let Err(code) = finish(args, Cmd::Run) {
        return code;
    }
    let cmd = match topic.as_deref() {
        None | Some("help") => Cmd::Run,
        Some(word) => match Cmd::named(word) {
            Some(cmd) => cmd,
            None => {
                return usage_error(
                    Cmd::Run,
                    format!(
                    "help: no command {word:?} (the commands are join, relay, status, ctl, bench)"
                ),
                )
            }
        },
    };
    print!("{}", help::page(cmd));
    0
}

/// Prints `message` on stderr as `cmd` says everything: `conductor join: <message>`.
pub(crate) fn error(cmd: Cmd, message: impl Display) {
    eprintln!("{}: {message}", cmd.name());
}

/// Prints a command-line error of `cmd` and where its help is; returns exit code 2.
pub(crate) fn usage_error(cmd: Cmd, message: impl Display) -> i32 {
    error(cmd, message);
    eprintln!("try '{} --help'", cmd.name());
    2
}

/// Fails with exit code 2 if arguments are left over.
pub(crate) fn finish(args: Arguments, cmd: Cmd) -> Result<(), i32> {
    let rest = args.finish();
    if rest.is_empty() {
        return Ok(());
    }
    Err(usage_error(
        cmd,
        format!("unexpected argument(s): {}", shown(&rest)),
    ))
}

/// Arguments as a message shows them, separated by spaces.
fn shown(args: &[OsString]) -> String {
    let words: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_command_names_itself_with_its_word() {
        for (word, cmd) in Cmd::NAMED {
            assert_eq!(Cmd::named(word), Some(cmd));
            assert_eq!(cmd.name(), format!("conductor {word}"));
        }
        assert_eq!(Cmd::named("run"), None);
        assert_eq!(Cmd::Run.name(), "conductor");
    }
}
