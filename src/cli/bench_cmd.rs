//! `conductor bench`: parses the flags, runs the load generator and prints its report, as
//! text or as one JSON object.

use std::path::PathBuf;

use pico_args::Arguments;

use crate::bench::tls::TlsFiles;
use crate::bench::{self, BenchTls, Options, Target};

/// Runs the subcommand.
pub fn run(mut args: Arguments) -> i32 {
    let (options, json) = match parse(&mut args) {
        Ok(v) => v,
        Err(message) => return super::usage_error(&message),
    };
    if let Err(code) = super::finish(args) {
        return code;
    }
    match bench::run(&options) {
        Ok(report) if json => {
            println!("{}", report.to_json());
            0
        }
        Ok(report) => {
            print!("{}", report.to_text());
            0
        }
        Err(message) => {
            eprintln!("conductor bench: {message}");
            1
        }
    }
}

/// `--tls`, or `--tls-ca FILE [--tls-cert FILE --tls-key FILE] [--tls-name NAME]`.
fn tls_flags(args: &mut Arguments) -> Result<Option<BenchTls>, String> {
    let text = |e: pico_args::Error| e.to_string();
    let generated = args.contains("--tls");
    let ca: Option<PathBuf> = args.opt_value_from_str("--tls-ca").map_err(text)?;
    let cert: Option<PathBuf> = args.opt_value_from_str("--tls-cert").map_err(text)?;
    let key: Option<PathBuf> = args.opt_value_from_str("--tls-key").map_err(text)?;
    let name: Option<String> = args.opt_value_from_str("--tls-name").map_err(text)?;
    let identity = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".to_string()),
    };
    match (generated, ca) {
        (true, None) if identity.is_none() && name.is_none() => Ok(Some(BenchTls::Generated)),
        (true, _) => Err("--tls makes its own certificates: drop --tls-ca and the rest".into()),
        (false, Some(ca)) => Ok(Some(BenchTls::Files(TlsFiles { ca, identity, name }))),
        (false, None) if identity.is_some() || name.is_some() => {
            Err("--tls-cert, --tls-key and --tls-name need --tls-ca".to_string())
        }
        (false, None) => Ok(None),
    }
}

fn parse(args: &mut Arguments) -> Result<(Options, bool), String> {
    let text = |e: pico_args::Error| e.to_string();
    let addr: Option<String> = args.opt_value_from_str("--addr").map_err(text)?;
    let spawn = args.contains("--spawn");
    let baseline: Option<PathBuf> = args.opt_value_from_str("--baseline").map_err(text)?;
    let clients: Option<u32> = args.opt_value_from_str("--clients").map_err(text)?;
    let procs: Option<u32> = args.opt_value_from_str("--procs").map_err(text)?;
    let target = match (addr, spawn, baseline) {
        (Some(a), false, None) => Target::Addr(a),
        (None, true, None) => Target::Spawn,
        (None, false, Some(path)) => Target::Baseline(path),
        _ => return Err("give exactly one of --addr H:P, --spawn, --baseline PATH".to_string()),
    };
    let clients = match (clients, procs) {
        (Some(_), Some(_)) => {
            return Err("--procs N runs N clients, one per process: drop --clients".to_string())
        }
        (Some(c), None) => c,
        (None, Some(p)) => p,
        (None, None) => 1,
    };
    let options = Options {
        target,
        clients,
        procs,
        rounds: args
            .opt_value_from_str("--rounds")
            .map_err(text)?
            .unwrap_or(1000),
        warmup: args.opt_value_from_str("--warmup").map_err(text)?,
        work_us: args
            .opt_value_from_str("--work-us")
            .map_err(text)?
            .unwrap_or(0),
        server_pid: args.opt_value_from_str("--server-pid").map_err(text)?,
        first_id: args
            .opt_value_from_str("--first-id")
            .map_err(text)?
            .unwrap_or(0),
        samples: args.contains("--samples"),
        tls: tls_flags(args)?,
    };
    options.check()?;
    Ok((options, args.contains("--json")))
}
