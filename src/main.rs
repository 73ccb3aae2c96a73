//! The `conductor` binary: parse the command line, run, exit with the code the run gives.

fn main() {
    let code = lockstep_conductor::cli::main(std::env::args_os().skip(1).collect());
    std::process::exit(code);
}
