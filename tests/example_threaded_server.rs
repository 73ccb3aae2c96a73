//! The embedding example (`examples/threaded_server.rs`) really serves rounds: its `serve`
//! loop runs here on a free port and two members go through two rounds and the planned end.

// Tests drive the example over real sockets (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "../examples/threaded_server.rs"]
#[allow(dead_code)] // its `main` is for `cargo run --example`
mod threaded_server;

mod common;

use std::net::TcpListener;
use std::sync::mpsc;

use common::{Member, DEADLINE};
use lockstep_proto::core::CoreConfig;
use lockstep_proto::participant::Event;
use lockstep_proto::round::EndKind;
use lockstep_proto::wire::Id;

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

    let mut clients: Vec<Member> = ["a", "b"]
        .iter()
        .map(|name| Member::join(addr, name))
        .collect();
    for c in &mut clients {
        assert_eq!(c.recv_go(), 0);
        c.finish();
    }
    for c in &mut clients {
        c.expect(Event::ShuttingDown(1));
        assert_eq!(c.recv_go(), 1);
        c.done();
    }
    for c in &mut clients {
        c.expect(Event::Cease);
        c.expect(Event::Exit);
        c.expect_closed();
    }
    let end = ended
        .recv_timeout(DEADLINE)
        .expect("serve returns after the end");
    assert_eq!(end, EndKind::Planned);
}
