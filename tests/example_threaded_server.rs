//! The embedding example (`examples/threaded_server.rs`) really serves rounds: its `serve`
//! loop runs here on a free port and raw clients go through two rounds and the planned end.

// Tests drive the example over real sockets (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "../examples/threaded_server.rs"]
#[allow(dead_code)] // its `main` is for `cargo run --example`
mod threaded_server;

mod common;

use std::net::TcpListener;
use std::sync::mpsc;

use common::{hello, Raw, DEADLINE};
use lockstep::core::CoreConfig;
use lockstep::round::EndKind;
use lockstep::wire::{ConductorMsg, Id};

#[test]
fn the_threaded_example_runs_rounds_and_a_planned_end() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let addr = listener.local_addr().expect("local address");
    let mut config = CoreConfig::new(Id::new("threaded").expect("valid id"));
    config.rounds.min_clients = 2;
    config.rounds.rounds = 2;
    config.rounds.shutdown_countdown = 1;
    let (done, ended) = mpsc::channel();
    std::thread::spawn(move || done.send(threaded_server::serve(listener, config)));

    let mut clients: Vec<Raw> = ["a", "b"]
        .iter()
        .map(|name| {
            let mut c = Raw::connect(addr);
            assert!(matches!(c.recv(), ConductorMsg::Hello(_)));
            c.send_msg(&hello(name));
            c
        })
        .collect();
    for c in &mut clients {
        assert_eq!(c.recv_go(), 0);
        c.send(b"K!");
    }
    for c in &mut clients {
        assert_eq!(c.recv(), ConductorMsg::ShuttingDown(1));
        assert_eq!(c.recv_go(), 1);
        c.send(b"!");
    }
    for c in &mut clients {
        assert_eq!(c.recv(), ConductorMsg::Cease);
        assert_eq!(c.recv(), ConductorMsg::Exit);
        c.expect_closed();
    }
    let end = ended
        .recv_timeout(DEADLINE)
        .expect("serve returns after the end");
    assert_eq!(end, EndKind::Planned);
}
