//! The two-worker examples run as the README shows them: a conductor that waits for two
//! participants and runs 15 steps, then the example; the Rust and the Python one draw the same
//! triangle.

mod common;

#[path = "../examples/two_workers.rs"]
#[allow(dead_code)] // its main() is for `cargo run --example two_workers`
mod two_workers;

use common::participants::{python3, python_dir, Participant};
use common::{Conductor, DEADLINE};

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
