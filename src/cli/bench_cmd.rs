//! `conductor bench`: parses the flags, runs the load generator and prints its report, as
//! text or as one JSON object.

use pico_args::Arguments;

use super::{flags, Cmd};
use crate::bench::{self, BenchTls, Options, StateFileMode, Target};
use crate::tls_files::TlsFiles;

/// Rounds measured unless `--rounds` says otherwise.
pub const DEFAULT_ROUNDS: u64 = 1000;

/// Runs the subcommand.
pub fn run(mut args: Arguments) -> i32 {
    let (options, json) = match parse(&mut args) {
        Ok(v) => v,
        Err(message) => return super::usage_error(Cmd::Bench, message),
    };
    if let Err(code) = super::finish(args, Cmd::Bench) {
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
            super::error(Cmd::Bench, message);
            1
        }
    }
}

/// `--tls`, or `--tls-ca FILE [--tls-cert FILE --tls-key FILE] [--tls-name NAME]`.
fn tls_flags(args: &mut Arguments) -> Result<Option<BenchTls>, String> {
    let generated = args.contains("--tls");
    match (generated, TlsFiles::from_flags(args)?) {
        (true, None) => Ok(Some(BenchTls::Generated)),
        (true, Some(_)) => {
            Err("--tls makes its own certificates: drop --tls-ca and the rest".into())
        }
        (false, files) => Ok(files.map(BenchTls::Files)),
    }
}

fn parse(args: &mut Arguments) -> Result<(Options, bool), String> {
    let addr: Option<String> = flags::value(args, "--addr")?;
    let spawn = args.contains("--spawn");
    let baseline = flags::path(args, "--baseline")?;
    let clients: Option<u32> = flags::value(args, "--clients")?;
    let procs: Option<u32> = flags::value(args, "--procs")?;
    let target = match (addr, spawn, baseline) {
        (Some(a), false, None) => Target::Addr(a),
        (None, true, None) => Target::Spawn,
        (None, false, Some(path)) => Target::Baseline(path),
        _ => return Err("give exactly one of --addr H:P, --spawn, --baseline PATH".to_string()),
    };
    // Without --clients, one client per process.
    let clients = clients.or(procs).unwrap_or(1);
    let options = Options {
        target,
        clients,
        procs,
        rounds: flags::value(args, "--rounds")?.unwrap_or(DEFAULT_ROUNDS),
        warmup: flags::value(args, "--warmup")?,
        work_us: flags::value(args, "--work-us")?.unwrap_or(0),
        server_pid: flags::value(args, "--server-pid")?,
        first_id: flags::value(args, "--first-id")?.unwrap_or(0),
        samples: args.contains("--samples"),
        scrape_http: args.contains("--scrape-http"),
        tls: tls_flags(args)?,
        relays: flags::value(args, "--relays")?.unwrap_or(0),
        pace_ms: flags::value(args, "--pace-ms")?,
        state_file: match (args.contains("--state-file"), args.contains("--state-sync")) {
            (_, true) => StateFileMode::Synced,
            (true, false) => StateFileMode::On,
            (false, false) => StateFileMode::Off,
        },
    };
    options.check()?;
    Ok((options, args.contains("--json")))
}
