//! Client tests against a scripted fake conductor on loopback: the hello and its failures,
//! every event, split messages, probe answers, misuse, and the runner's `K`, heartbeat, Done,
//! refusal and endings.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::*;
use lockstep_proto::wire::{ClientMsg, ConductorMsg, Id, RawHello, Reason, VERSION};

const DEADLINE: Duration = Duration::from_secs(10);

/// The conductor's side of one connection, scripted by a test.
struct Peer {
    stream: TcpStream,
    inbox: Vec<u8>,
}

impl Peer {
    fn send(&mut self, msg: &ConductorMsg) {
        let mut bytes = Vec::new();
        msg.encode_into(&mut bytes);
        self.stream.write_all(&bytes).expect("fake: send");
    }

    /// Sends the messages one byte per write.
    fn send_bytewise(&mut self, msgs: &[ConductorMsg]) {
        let mut bytes = Vec::new();
        for msg in msgs {
            msg.encode_into(&mut bytes);
        }
        for byte in bytes {
            self.stream.write_all(&[byte]).expect("fake: send");
        }
    }

    fn hello_with(&mut self, version: u8) {
        self.send(&ConductorMsg::Hello(RawHello {
            version,
            id: *Id::new("fake").unwrap().as_wire(),
        }));
    }

    /// Sends the conductor's hello and checks the client's.
    fn greet(&mut self, name: &str) {
        self.hello_with(VERSION);
        match self.recv() {
            Some(ClientMsg::Hello(h)) => {
                assert_eq!(h.version, VERSION);
                assert_eq!(&h.id, Id::new(name).unwrap().as_wire());
            }
            other => panic!("fake: expected the client's hello, got {other:?}"),
        }
    }

    /// The next message from the client, `None` once it closed.
    fn recv(&mut self) -> Option<ClientMsg> {
        let mut chunk = [0u8; 1024];
        loop {
            if let Some((msg, n)) = ClientMsg::decode(&self.inbox).expect("fake: decodable") {
                self.inbox.drain(..n);
                return Some(msg);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.inbox.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("fake: nothing from the client within {DEADLINE:?}: {e}"),
            }
        }
    }

    /// The next message that is not a heartbeat `W`.
    fn recv_skipping_beats(&mut self) -> Option<ClientMsg> {
        loop {
            match self.recv() {
                Some(ClientMsg::Working) => continue,
                other => return other,
            }
        }
    }

    /// Expects Done, skipping heartbeats.
    fn expect_done(&mut self) {
        assert_eq!(self.recv_skipping_beats(), Some(ClientMsg::Done));
    }

    fn expect(&mut self, msg: ClientMsg) {
        assert_eq!(self.recv(), Some(msg));
    }
}

/// Runs `script` as the conductor of the first connection to the returned address.
fn fake_conductor<T: Send + 'static>(
    script: impl FnOnce(Peer) -> T + Send + 'static,
) -> (SocketAddr, JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        stream.set_nodelay(true).expect("nodelay");
        stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
        script(Peer {
            stream,
            inbox: Vec::new(),
        })
    });
    (addr, handle)
}

fn reason(text: &str) -> Reason {
    Reason::new(text).unwrap()
}

fn next(client: &mut Client) -> Event {
    client
        .next_event_within(DEADLINE)
        .expect("an event")
        .expect("an event within the deadline")
}

#[test]
fn connect_exchanges_hellos() {
    let (addr, fake) = fake_conductor(|mut peer| peer.greet("worker-1"));
    let client = Client::connect(addr, "worker-1").expect("connect");
    assert_eq!(client.id().as_str(), "worker-1");
    assert_eq!(client.conductor_id().as_str(), "fake");
    assert_eq!(client.peer_addr(), addr);
    assert_eq!(client.step(), None);
    fake.join().expect("fake conductor");
}

#[test]
fn a_conductor_of_another_version_is_a_clear_error() {
    let (addr, fake) = fake_conductor(|mut peer| peer.hello_with(b'2'));
    let error = Client::connect(addr, "w").expect_err("version 2 must fail");
    assert!(
        matches!(error, ClientError::VersionMismatch { theirs: b'2' }),
        "{error:?}"
    );
    assert!(error.to_string().contains("version '2'"), "{error}");
    fake.join().expect("fake conductor");
}

#[test]
fn a_refusal_instead_of_the_hello_carries_the_reason() {
    let (addr, fake) = fake_conductor(|mut peer| {
        peer.send(&ConductorMsg::Refusal(reason(
            "address 127.0.0.1 is not allowed",
        )));
    });
    let error = Client::connect(addr, "w").expect_err("refused");
    assert_eq!(
        error.refusal_reason().map(Reason::as_str),
        Some("address 127.0.0.1 is not allowed")
    );
    assert!(error.to_string().contains("not allowed"), "{error}");
    fake.join().expect("fake conductor");
}

#[test]
fn a_silent_conductor_is_a_hello_timeout() {
    let (tx, rx) = mpsc::channel::<()>();
    let (addr, fake) = fake_conductor(move |_peer| {
        // Keep the connection open and silent until the client gave up.
        let _ = rx.recv_timeout(DEADLINE);
    });
    let error = Client::connect_within(addr, "w", Duration::from_millis(50)).expect_err("timeout");
    assert!(
        matches!(error, ClientError::HelloTimeout { .. }),
        "{error:?}"
    );
    tx.send(()).unwrap();
    fake.join().expect("fake conductor");
}

#[test]
fn an_invalid_id_fails_before_connecting() {
    let error = Client::connect("127.0.0.1:9", "much-too-long-id").expect_err("invalid");
    assert!(matches!(error, ClientError::InvalidId { .. }), "{error:?}");
    assert!(error.to_string().contains("much-too-long-id"), "{error}");
    let error = Client::connect("127.0.0.1:9", "   ").expect_err("blank");
    assert!(matches!(error, ClientError::InvalidId { .. }), "{error:?}");
}

#[test]
fn nobody_listening_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let error = Client::connect(addr, "w").expect_err("nobody listens");
    assert!(matches!(error, ClientError::Connect { .. }), "{error:?}");
    assert!(error.to_string().contains(&addr.to_string()), "{error}");
}

#[test]
fn events_arrive_whole_from_any_split() {
    use ConductorMsg::*;
    let (addr, fake) = fake_conductor(|mut peer| {
        peer.greet("w");
        peer.send_bytewise(&[Ping, Here, Go(0x0102_0304)]);
        peer.expect(ClientMsg::Here);
        peer.expect(ClientMsg::Received);
        peer.expect(ClientMsg::Done);
        peer.send_bytewise(&[Slow, ShuttingDown(2), Error, Cease, Exit]);
    });
    let mut client = Client::connect(addr, "w").expect("connect");
    assert_eq!(next(&mut client), Event::Go(0x0102_0304));
    assert_eq!(client.step(), Some(0x0102_0304));
    client.ack().unwrap();
    client.done().unwrap();
    assert_eq!(client.step(), None);
    for expected in [
        Event::Slow,
        Event::ShuttingDown(2),
        Event::ErrorShutdown,
        Event::Cease,
        Event::Exit,
    ] {
        assert_eq!(next(&mut client), expected);
    }
    fake.join().expect("fake conductor");
}

#[test]
fn a_refusal_is_the_last_event_and_whatever_follows_is_an_error() {
    let (addr, fake) = fake_conductor(|mut peer| {
        peer.greet("w");
        peer.send_bytewise(&[
            ConductorMsg::Refusal(reason("liveness timeout")),
            ConductorMsg::Slow,
        ]);
    });
    let mut client = Client::connect(addr, "w").expect("connect");
    assert_eq!(
        next(&mut client),
        Event::Refused(reason("liveness timeout"))
    );
    let error = client.next_event_within(DEADLINE).expect_err("T after R");
    assert!(
        error
            .to_string()
            .contains("expected nothing after its goodbye"),
        "{error}"
    );
    fake.join().expect("fake conductor");
}

#[test]
fn probes_are_answered_working_during_a_step_and_here_otherwise() {
    let (addr, fake) = fake_conductor(|mut peer| {
        peer.greet("w");
        peer.send(&ConductorMsg::Ping);
        peer.expect(ClientMsg::Here);
        peer.send(&ConductorMsg::Go(5));
        peer.expect(ClientMsg::Received);
        peer.send(&ConductorMsg::Ping);
        peer.send(&ConductorMsg::Slow);
        peer.expect(ClientMsg::Working);
        peer.expect(ClientMsg::Working);
        peer.expect(ClientMsg::Done);
        peer.send(&ConductorMsg::Ping);
        peer.send(&ConductorMsg::Exit);
        peer.expect(ClientMsg::Here);
    });
    let mut client = Client::connect(addr, "w").expect("connect");
    assert_eq!(next(&mut client), Event::Go(5));
    client.ack().unwrap();
    // The probe that comes with T is answered while the step runs.
    assert_eq!(next(&mut client), Event::Slow);
    client.working().unwrap();
    client.done().unwrap();
    assert_eq!(next(&mut client), Event::Exit);
    fake.join().expect("fake conductor");
}

#[test]
fn answers_out_of_turn_are_refused_locally() {
    let (addr, fake) = fake_conductor(|mut peer| {
        peer.greet("w");
        // Nothing but the leave reaches the conductor.
        peer.expect(ClientMsg::Exit);
        assert_eq!(peer.recv(), None);
    });
    let mut client = Client::connect(addr, "w").expect("connect");
    for (result, call) in [
        (client.ack(), "ack"),
        (client.done(), "done"),
        (client.working(), "working"),
    ] {
        match result {
            Err(ClientError::OutOfTurn {
                call: c,
                at: Moment::BeforeFirstStep,
            }) => assert!(c.starts_with(call)),
            other => panic!("{call}: {other:?}"),
        }
    }
    client.leave().expect("leave");
    fake.join().expect("fake conductor");
}

#[test]
fn garbage_and_a_second_go_are_protocol_errors() {
    let (addr, fake) = fake_conductor(|mut peer| {
        peer.greet("w");
        peer.stream.write_all(b"Z").unwrap();
    });
    let mut client = Client::connect(addr, "w").expect("connect");
    let error = client.next_event_within(DEADLINE).expect_err("garbage");
    assert!(matches!(error, ClientError::Protocol(_)), "{error:?}");
    assert!(error.to_string().contains("'Z'"), "{error}");
    fake.join().expect("fake conductor");

    let (addr, fake) = fake_conductor(|mut peer| {
        peer.greet("w");
        peer.send(&ConductorMsg::Go(1));
        peer.send(&ConductorMsg::Go(2));
    });
    let mut client = Client::connect(addr, "w").expect("connect");
    assert_eq!(next(&mut client), Event::Go(1));
    let error = client.next_event_within(DEADLINE).expect_err("second Go");
    assert!(
        error.to_string().contains("Go for step 2 during step 1"),
        "{error}"
    );
    fake.join().expect("fake conductor");
}

#[test]
fn a_close_during_a_step_names_the_step() {
    let (addr, fake) = fake_conductor(|mut peer| {
        peer.greet("w");
        peer.send(&ConductorMsg::Go(3));
        peer.expect(ClientMsg::Received);
    });
    let mut client = Client::connect(addr, "w").expect("connect");
    assert_eq!(next(&mut client), Event::Go(3));
    client.ack().unwrap();
    fake.join().expect("fake conductor");
    let error = client.next_event_within(DEADLINE).expect_err("closed");
    assert!(
        matches!(
            error,
            ClientError::ConnectionLost {
                at: Moment::During(3),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("lost during step 3"), "{error}");
}

#[test]
fn the_runner_acks_beats_and_finishes_each_step() {
    let (beats_seen, wait_beats) = mpsc::channel::<()>();
    let (addr, fake) = fake_conductor(move |mut peer| {
        peer.greet("w");
        peer.send(&ConductorMsg::Go(0));
        peer.expect(ClientMsg::Received);
        peer.expect(ClientMsg::Working);
        peer.expect(ClientMsg::Working);
        beats_seen.send(()).unwrap();
        peer.expect_done();
        peer.send(&ConductorMsg::ShuttingDown(1));
        peer.send(&ConductorMsg::Go(1));
        peer.expect(ClientMsg::Received);
        peer.expect_done();
        peer.send(&ConductorMsg::Cease);
        peer.send(&ConductorMsg::Exit);
        // The runner closes after X.
        assert_eq!(peer.recv(), None);
    });
    let client = Client::connect(addr, "w").expect("connect");
    let mut steps = Vec::new();
    let mut events = Vec::new();
    let summary = Runner::new(client)
        .heartbeat(Some(Duration::from_millis(5)))
        .on_event(|e| events.push(e.clone()))
        .run(|step| {
            if step == 0 {
                wait_beats
                    .recv_timeout(DEADLINE)
                    .map_err(|_| StepError::new("no heartbeat seen"))?;
            }
            steps.push(step);
            Ok(())
        })
        .expect("a clean end");
    fake.join().expect("fake conductor");
    assert_eq!(steps, [0, 1]);
    assert_eq!(events, [Event::ShuttingDown(1), Event::Cease, Event::Exit]);
    assert_eq!(
        summary,
        Summary {
            steps: 2,
            last_step: Some(1),
            ceased: true
        }
    );
}

#[test]
fn a_failing_step_is_refused_with_its_reason() {
    let (addr, fake) = fake_conductor(|mut peer| {
        peer.greet("w");
        peer.send(&ConductorMsg::Go(4));
        peer.expect(ClientMsg::Received);
        let got = peer.recv_skipping_beats();
        assert_eq!(peer.recv(), None);
        got
    });
    let client = Client::connect(addr, "w").expect("connect");
    let error = Runner::new(client)
        .run(|_| Err(StepError::new("disk full")))
        .expect_err("the step fails");
    assert_eq!(
        fake.join().expect("fake conductor"),
        Some(ClientMsg::Refusal(reason("step 4: disk full")))
    );
    assert!(
        matches!(&error, ClientError::StepFailed { step: 4, reason } if reason.as_str() == "step 4: disk full"),
        "{error:?}"
    );
}

#[test]
fn the_runner_reports_refusal_error_shutdown_and_loss() {
    // R: the conductor's words.
    let (addr, fake) = fake_conductor(|mut peer| {
        peer.greet("w");
        peer.send(&ConductorMsg::Refusal(reason("duplicate id w")));
    });
    let client = Client::connect(addr, "w").expect("connect");
    let error = Runner::new(client).run(|_| Ok(())).expect_err("refused");
    assert_eq!(
        error.refusal_reason().map(Reason::as_str),
        Some("duplicate id w")
    );
    fake.join().expect("fake conductor");

    // E then X: an error once X arrives.
    let (addr, fake) = fake_conductor(|mut peer| {
        peer.greet("w");
        peer.send(&ConductorMsg::Go(0));
        peer.expect(ClientMsg::Received);
        peer.expect_done();
        peer.send(&ConductorMsg::Error);
        peer.send(&ConductorMsg::Exit);
    });
    let client = Client::connect(addr, "w").expect("connect");
    let error = Runner::new(client).run(|_| Ok(())).expect_err("E");
    assert!(
        matches!(
            error,
            ClientError::ConductorFailed {
                at: Moment::After(0)
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("because of an error"), "{error}");
    fake.join().expect("fake conductor");

    // A close without a word, with reconnecting switched off.
    let (addr, fake) = fake_conductor(|mut peer| {
        peer.greet("w");
        peer.send(&ConductorMsg::Go(9));
        peer.expect(ClientMsg::Received);
        peer.expect_done();
    });
    let client = Client::connect(addr, "w")
        .expect("connect")
        .reconnect_within(Duration::ZERO);
    let error = Runner::new(client).run(|_| Ok(())).expect_err("lost");
    assert!(
        matches!(
            error,
            ClientError::ConnectionLost {
                at: Moment::After(9),
                ..
            }
        ),
        "{error:?}"
    );
    fake.join().expect("fake conductor");
}

/// Runs `script` as the conductor of every connection to the returned address, accepting
/// them one at a time.
fn fake_conductors<T: Send + 'static>(
    script: impl FnOnce(&dyn Fn() -> Peer) -> T + Send + 'static,
) -> (SocketAddr, JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let handle = std::thread::spawn(move || {
        let accept = || {
            let (stream, _) = listener.accept().expect("accept");
            stream.set_nodelay(true).expect("nodelay");
            stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
            Peer {
                stream,
                inbox: Vec::new(),
            }
        };
        script(&accept)
    });
    (addr, handle)
}

#[test]
fn an_outage_is_ridden_out_and_the_repeated_step_is_not_run_again() {
    let (addr, fake) = fake_conductors(|accept| {
        let mut first = accept();
        first.greet("w");
        first.send(&ConductorMsg::Go(4));
        first.expect(ClientMsg::Received);
        first.expect_done();
        drop(first);
        // The restarted conductor sends the recorded step again, then the next.
        let mut second = accept();
        second.greet("w");
        second.send(&ConductorMsg::Go(4));
        assert_eq!(second.recv(), Some(ClientMsg::Done), "at once, no K");
        second.send(&ConductorMsg::Go(5));
        second.expect(ClientMsg::Received);
        second.expect_done();
        second.send(&ConductorMsg::Cease);
        second.send(&ConductorMsg::Exit);
    });
    let (tx, outages) = mpsc::channel();
    let client = Client::connect(addr, "w")
        .expect("connect")
        .on_outage(move |outage| tx.send(outage.to_string()).unwrap());
    let mut ran = Vec::new();
    let mut seen = Vec::new();
    let summary = Runner::new(client)
        .heartbeat(None)
        .on_event(|event| seen.push(event.clone()))
        .run(|step| {
            ran.push(step);
            Ok(())
        })
        .expect("a clean end");
    assert_eq!(ran, [4, 5], "each step once");
    assert_eq!(seen, [Event::Repeated(4), Event::Cease, Event::Exit]);
    assert_eq!(summary.steps, 2);
    let lines: Vec<String> = outages.try_iter().collect();
    assert_eq!(
        lines,
        [
            "connection to the conductor lost after step 4 (closed without a goodbye); \
          reconnecting for up to 30 s"
        ]
    );
    fake.join().expect("fake conductors");
}

#[test]
fn a_duplicate_id_during_the_window_is_tried_again() {
    let (addr, fake) = fake_conductors(|accept| {
        let mut first = accept();
        first.greet("w");
        drop(first);
        // The old connection is not noticed yet.
        let mut second = accept();
        second.greet("w");
        second.send(&ConductorMsg::Refusal(reason("duplicate id w")));
        drop(second);
        let mut third = accept();
        third.greet("w");
        third.send(&ConductorMsg::Go(0));
        third.expect(ClientMsg::Received);
        third.expect_done();
        third.send(&ConductorMsg::Exit);
    });
    let outages = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&outages);
    let client = Client::connect(addr, "w")
        .expect("connect")
        .on_outage(move |_| _ = counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
    let summary = Runner::new(client)
        .heartbeat(None)
        .run(|_| Ok(()))
        .expect("a clean end");
    assert_eq!(summary.steps, 1);
    assert_eq!(
        outages.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one outage"
    );
    fake.join().expect("fake conductors");
}

#[test]
fn a_conductor_that_never_comes_back_fails_after_the_window() {
    let (addr, fake) = fake_conductor(|mut peer| {
        peer.greet("w");
        peer.send(&ConductorMsg::Go(2));
        peer.expect(ClientMsg::Received);
        peer.expect_done();
    });
    let client = Client::connect(addr, "w")
        .expect("connect")
        .reconnect_within(Duration::from_millis(300))
        .on_outage(|_| {});
    // The listener is gone with the fake: every try is refused.
    let error = Runner::new(client).run(|_| Ok(())).expect_err("gone");
    fake.join().expect("fake conductor");
    assert!(
        matches!(
            error,
            ClientError::ConductorGone {
                at: Moment::After(2),
                ..
            }
        ),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.starts_with(
            "the conductor did not come back within 300 ms (connection lost after step 2; \
             last try: cannot connect to the conductor at"
        ),
        "{text}"
    );
}

#[test]
fn a_loss_found_during_a_step_is_ridden_out_once_the_step_is_done() {
    let (addr, fake) = fake_conductors(|accept| {
        let mut first = accept();
        first.greet("w");
        first.send(&ConductorMsg::Go(3));
        first.expect(ClientMsg::Received);
        drop(first);
        let mut second = accept();
        second.greet("w");
        second.send(&ConductorMsg::Go(3));
        assert_eq!(second.recv(), Some(ClientMsg::Done));
    });
    let mut client = Client::connect(addr, "w")
        .expect("connect")
        .on_outage(|_| {});
    assert_eq!(next(&mut client), Event::Go(3));
    client.ack().unwrap();
    let error = client.next_event_within(DEADLINE).expect_err("lost");
    assert!(error.to_string().contains("lost during step 3"), "{error}");
    // The step's work finishes: nothing is sent, the step counts as done.
    client.done().expect("recorded");
    assert_eq!(next(&mut client), Event::Repeated(3));
    fake.join().expect("fake conductors");
}

#[test]
fn a_close_after_cease_is_a_clean_end() {
    let (addr, fake) = fake_conductor(|mut peer| {
        peer.greet("w");
        peer.send(&ConductorMsg::Cease);
    });
    let client = Client::connect(addr, "w").expect("connect");
    let summary = Runner::new(client)
        .heartbeat(None)
        .run(|_| Ok(()))
        .expect("clean");
    assert!(summary.ceased);
    assert_eq!(summary.steps, 0);
    fake.join().expect("fake conductor");
}

#[test]
fn leave_and_refuse_say_goodbye_and_wait_for_the_close() {
    let (addr, fake) = fake_conductor(|mut peer| {
        peer.greet("w");
        peer.expect(ClientMsg::Exit);
        assert_eq!(peer.recv(), None);
    });
    Client::connect(addr, "w").unwrap().leave().expect("leave");
    fake.join().expect("fake conductor");

    let (addr, fake) = fake_conductor(|mut peer| {
        peer.greet("w");
        peer.recv()
    });
    let sent = Client::connect(addr, "w")
        .unwrap()
        .refuse("tab\there")
        .expect("refuse");
    assert_eq!(sent.as_str(), "tab?here");
    assert_eq!(
        fake.join().expect("fake conductor"),
        Some(ClientMsg::Refusal(reason("tab?here")))
    );
}

#[test]
fn a_step_closure_takes_any_error_that_boxes_as_send_and_sync() {
    #[derive(Debug)]
    struct Mine;
    impl std::fmt::Display for Mine {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("mine")
        }
    }
    impl std::error::Error for Mine {}

    fn text() -> Result<(), String> {
        Err("a string".to_string())
    }
    fn io() -> Result<(), std::io::Error> {
        Err(std::io::Error::other("an io error"))
    }
    fn boxed() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Err("a box".into())
    }
    fn own() -> Result<(), Mine> {
        Err(Mine)
    }
    // What `?` inside a step closure does with each.
    let steps: [&dyn Fn() -> Result<(), StepError>; 5] = [
        &|| Ok(text()?),
        &|| Ok(io()?),
        &|| Ok(boxed()?),
        &|| Ok(own()?),
        &|| Err("a literal".into()),
    ];
    let texts: Vec<String> = steps
        .iter()
        .map(|step| step().expect_err("fails").to_string())
        .collect();
    assert_eq!(
        texts,
        ["a string", "an io error", "a box", "mine", "a literal"]
    );
}
