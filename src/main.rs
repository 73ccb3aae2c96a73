//! The `conductor` binary: parse the command line, run, exit with the code the run gives.

fn main() {
    let code = lockstep::cli::main(pico_args::Arguments::from_env());
    std::process::exit(code);
}
