//! `conductor bench`: parses the flags, runs the load generator and prints its report, as
//! text or as one JSON object.

use std::path::PathBuf;

use pico_args::Arguments;

use crate::bench::{self, Options, Target};

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
        scrape_http: args.contains("--scrape-http"),
    };
    options.check()?;
    Ok((options, args.contains("--json")))
}
