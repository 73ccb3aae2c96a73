//! The two-worker examples run as the README shows them: a conductor that waits for two
//! participants and runs 15 steps, then the example; the Rust, Python, C, C++ and Fortran ones
//! draw the same triangle. The C, C++ and Fortran ones are compiled with the system's
//! compilers against liblockstep.so (see `common::native`).

mod common;

#[path = "../examples/two_workers.rs"]
#[allow(dead_code)] // its main() is for `cargo run --example two_workers`
mod two_workers;

use std::process::Command;

use common::native::{compile, Compiler, Link};
use common::participants::{python3, python_dir, Participant};
use common::{Conductor, TempDir, DEADLINE};

/// Rule 90 from one live cell, 15 steps: a Sierpinski triangle.
const TRIANGLE: &str = concat!(
    "               #\n",
    "              # #\n",
    "             #   #\n",
    "            # # # #\n",
    "           #       #\n",
    "          # #     # #\n",
    "         #   #   #   #\n",
    "        # # # # # # # #\n",
    "       #               #\n",
    "      # #             # #\n",
    "     #   #           #   #\n",
    "    # # # #         # # # #\n",
    "   #       #       #       #\n",
    "  # #     # #     # #     # #\n",
    " #   #   #   #   #   #   #   #\n",
    "# # # # # # # # # # # # # # # #\n",
);

/// The conductor the README starts for the examples.
fn conductor() -> Conductor {
    Conductor::start(&["--min-clients", "2", "--rounds", "15"])
}

#[test]
fn the_rust_example_draws_the_triangle() {
    let mut conductor = conductor();
    let picture = two_workers::simulate(conductor.addr.port()).expect("the simulation");
    assert_eq!(picture, TRIANGLE);
    assert_eq!(conductor.wait_exit(DEADLINE).code(), Some(0));
}

#[test]
fn the_python_example_draws_the_same_triangle() {
    let mut conductor = conductor();
    let mut command = python3();
    command
        .arg(python_dir().join("examples/two_workers.py"))
        .args(["--port", &conductor.addr.port().to_string()]);
    let mut example = Participant::spawn(command);
    let status = example.wait_exit(DEADLINE);
    assert!(status.success(), "{status}: {}", example.stderr());
    assert_eq!(example.stdout(), TRIANGLE);
    assert_eq!(conductor.wait_exit(DEADLINE).code(), Some(0));
}

/// Compiles the example made of `sources`, runs it against the README's conductor and checks
/// that it draws the triangle (nothing when the compiler is missing outside CI).
fn native_example(compiler: Compiler, sources: &[&str]) {
    let dir = TempDir::new("example");
    let Some(exe) = compile(compiler, sources, Link::Shared, &dir, "two_workers") else {
        return;
    };
    let mut conductor = conductor();
    let mut command = Command::new(exe);
    command.args(["--port", &conductor.addr.port().to_string()]);
    let mut example = Participant::spawn(command);
    let status = example.wait_exit(DEADLINE);
    assert!(status.success(), "{status}: {}", example.stderr());
    assert_eq!(example.stdout(), TRIANGLE, "{}", example.stderr());
    assert_eq!(conductor.wait_exit(DEADLINE).code(), Some(0));
}

#[test]
fn the_c_example_draws_the_same_triangle() {
    native_example(Compiler::C, &["examples/two_workers.c"]);
}

#[test]
fn the_cpp_example_draws_the_same_triangle() {
    native_example(Compiler::Cxx, &["examples/two_workers.cpp"]);
}

#[test]
fn the_fortran_example_draws_the_same_triangle() {
    native_example(
        Compiler::Fortran,
        &["include/lockstep.f90", "examples/two_workers.f90"],
    );
}
