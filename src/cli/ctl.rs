//! `conductor ctl COMMAND [ARGS] [--control PATH]`: sends one command to a running conductor
//! over its control socket and prints the answer: what it did on stdout (the status document
//! as JSON for `status`), why it could not on stderr. The command is checked here first with
//! the conductor's own reader, so a typo never reaches the conductor.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pico_args::Arguments;

use super::{flags, Cmd};
use crate::driver::control::request;

/// The socket used unless `--control` names another: the conductor's default, in the working
/// directory.
pub const DEFAULT_SOCKET: &str = "conductor.sock";
/// How long the conductor may take to answer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the subcommand.
pub fn run(mut args: Arguments) -> i32 {
    let path = match flags::path(&mut args, "--control") {
        Ok(path) => path.unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET)),
        Err(message) => return super::usage_error(Cmd::Ctl, message),
    };
    let words: Vec<String> = args
        .finish()
        .iter()
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    if words.is_empty() {
        return super::usage_error(Cmd::Ctl, format!("give a command: {}", request::USAGE));
    }
    let request = match request::parse(&words.join(" ")) {
        Ok(request) => request,
        Err(message) => return super::usage_error(Cmd::Ctl, message),
    };
    match ask(&path, &request.to_string()) {
        Ok(answer) => match answer.strip_prefix("error: ") {
            Some(why) => {
                super::error(Cmd::Ctl, why);
                1
            }
            None => {
                println!("{}", answer.strip_prefix("ok: ").unwrap_or(&answer));
                0
            }
        },
        Err(message) => {
            super::error(Cmd::Ctl, message);
            1
        }
    }
}

/// Sends `line` to the socket at `path` and reads the one-line answer.
fn ask(path: &Path, line: &str) -> Result<String, String> {
    let shown = path.display();
    let mut stream = UnixStream::connect(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "no control socket at {shown}: is a conductor running there? (--control PATH names \
             another)"
        ),
        std::io::ErrorKind::ConnectionRefused => format!(
            "nothing answers at {shown}: the conductor that made it has ended (the next one \
             started there replaces it)"
        ),
        _ => format!("cannot connect to {shown}: {e}"),
    })?;
    let timeouts = stream
        .set_read_timeout(Some(ANSWER_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(ANSWER_TIMEOUT)));
    timeouts.map_err(|e| format!("{shown}: {e}"))?;
    stream
        .write_all(format!("{line}\n").as_bytes())
        .map_err(|e| format!("cannot send to {shown}: {e}"))?;
    let mut answer = String::new();
    BufReader::new(stream)
        .read_line(&mut answer)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => format!(
                "no answer from {shown} within {} s",
                ANSWER_TIMEOUT.as_secs()
            ),
            _ => format!("cannot read the answer from {shown}: {e}"),
        })?;
    if answer.is_empty() {
        return Err(format!("{shown} closed the connection without an answer"));
    }
    Ok(answer.trim_end().to_string())
}
