//! `conductor relay --upstream HOST:PORT --id ID [--heartbeat-ms N] [--reconnect-ms N]
//! [--upstream-tls-ca FILE [--upstream-tls-cert FILE --upstream-tls-key FILE]
//! [--upstream-tls-name NAME]] [conductor flags]`: a conductor for its own participants that
//! is one participant of the conductor upstream (PROTOCOL.md "Relays"). Its own side takes the
//! conductor's configuration and flags; the rest is the relay's.

use std::time::Duration;

use pico_args::Arguments;

use lockstep_proto::relay::{RelayConfig, DEFAULT_HEARTBEAT, DEFAULT_WINDOW};
use lockstep_proto::wire::Id;

use super::run::{self, RelaySetup};
use super::{flags, Cmd};
use crate::bench::tls::ClientTls;
use crate::tls_files::{Flags, TlsFiles};

/// Runs the subcommand.
pub fn run(mut args: Arguments) -> i32 {
    let usage = |message: String| super::usage_error(Cmd::Relay, message);
    let setup = match parse(&mut args) {
        Ok(setup) => setup,
        Err(message) => return usage(message),
    };
    run::serve(Cmd::Relay, args, Some(setup))
}

/// Takes the relay's own flags out of `args`, leaving the conductor's.
fn parse(args: &mut Arguments) -> Result<RelaySetup, String> {
    let upstream: String =
        flags::value(args, "--upstream")?.ok_or("--upstream HOST:PORT is required")?;
    let (host, port) = upstream
        .rsplit_once(':')
        .ok_or_else(|| format!("--upstream {upstream:?}: expected HOST:PORT"))?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(format!("--upstream {upstream:?}: expected HOST:PORT"));
    }
    let id: String = flags::value(args, "--id")?.ok_or("--id ID is required")?;
    let id = Id::new(&id).map_err(|e| format!("--id {id:?}: {e}"))?;
    let millis = |flag, default: Duration, args: &mut Arguments| -> Result<_, String> {
        let ms: Option<u64> = flags::value(args, flag)?;
        Ok(ms.map_or(default, Duration::from_millis).into())
    };
    let heartbeat = millis("--heartbeat-ms", DEFAULT_HEARTBEAT.into(), args)?;
    let window = millis("--reconnect-ms", DEFAULT_WINDOW.into(), args)?;
    let tls = TlsFiles::from_named_flags(args, &Flags::UPSTREAM)?
        .map(|files| ClientTls::from_files(&files, host.trim_matches(['[', ']'])))
        .transpose()?;
    Ok(RelaySetup {
        config: RelayConfig {
            id,
            heartbeat,
            window,
        },
        upstream,
        tls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn parse_line(line: &[&str]) -> Result<(RelaySetup, Vec<OsString>), String> {
        let mut args = Arguments::from_vec(line.iter().map(OsString::from).collect());
        let setup = parse(&mut args)?;
        Ok((setup, args.finish()))
    }

    #[test]
    fn the_relay_flags_are_taken_and_the_conductor_flags_left() {
        let (setup, rest) =
            parse_line(&["--upstream", "root:7878", "--id", "r1", "--port", "0"]).unwrap();
        assert_eq!(setup.upstream, "root:7878");
        assert_eq!(setup.config.id.as_str(), "r1");
        assert_eq!(setup.config.heartbeat, DEFAULT_HEARTBEAT);
        assert_eq!(setup.config.window, DEFAULT_WINDOW);
        assert!(setup.tls.is_none());
        assert_eq!(rest, ["--port", "0"]);
        let (setup, _) = parse_line(&[
            "--upstream",
            "[::1]:9",
            "--id",
            "r1",
            "--heartbeat-ms",
            "0",
            "--reconnect-ms",
            "500",
        ])
        .unwrap();
        assert!(setup.config.heartbeat.is_zero());
        assert_eq!(setup.config.window.as_millis(), 500);
    }

    #[test]
    fn missing_or_bad_flags_say_which() {
        let err = |line: &[&str]| parse_line(line).err().unwrap_or_default();
        assert!(err(&["--id", "r1"]).contains("--upstream"));
        assert!(err(&["--upstream", "root:1"]).contains("--id"));
        assert!(err(&["--upstream", "root", "--id", "r1"]).contains("HOST:PORT"));
        assert!(err(&["--upstream", "root:x", "--id", "r1"]).contains("HOST:PORT"));
        assert!(err(&["--upstream", "root:1", "--id", "much-too-long-id"]).contains("--id"));
        assert!(
            err(&["--upstream", "r:1", "--id", "r", "--upstream-tls-cert", "c"])
                .contains("--upstream-tls-cert and --upstream-tls-key go together")
        );
    }
}
