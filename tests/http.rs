//! The HTTP endpoint end to end: `/metrics` follows the rounds, joins, removals and refusals
//! and passes `promtool check metrics`; `/status.json` is the status document of the moment;
//! the answers to wrong requests; the status page rendered by headless Chromium shows the step
//! and the participants and refreshes itself; and hostile clients (slowloris, a 1 MiB request,
//! random bytes, a flood) never stop a member's rounds, and the endpoint serves again after
//! them.

// Tests drive the binary over real sockets, from threads, and wait with deadlines (see
// clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use common::http::{self, get, metric, raw, sample};
use common::{hello_bytes, quiet, run_round, wait_for, Conductor, Launch, DEADLINE};

fn start(args: &[&str]) -> (Conductor, SocketAddr) {
    let mut all = vec!["--http", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let conductor = Conductor::start_quiet(&all);
    let addr = conductor.http.expect("the http address");
    (conductor, addr)
}

/// Waits until `/metrics` shows `series` at `value`.
fn wait_metric(addr: SocketAddr, series: &str, value: f64) {
    wait_for(&format!("{series} = {value}"), DEADLINE, || {
        (metric(addr, series) == value).then_some(())
    });
}

#[test]
fn metrics_follow_the_rounds_joins_removals_and_refusals() {
    let (conductor, addr) = start(&["--min-clients", "2"]);
    let before = get(addr, "/metrics").body;
    assert_eq!(sample(&before, "lockstep_joins_total"), Some(0.0));
    assert_eq!(
        sample(&before, "lockstep_phase{phase=\"waiting\"}"),
        Some(1.0)
    );
    assert_eq!(sample(&before, "lockstep_step"), None, "no wave yet");

    let mut members = conductor.members(&["alice".into(), "bob".into()]);
    for _ in 0..10 {
        run_round(&mut members);
    }
    // Ten rounds ended; the eleventh wave (step 10) went out and waits for both.
    wait_metric(addr, "lockstep_rounds_completed_total", 10.0);
    let text = get(addr, "/metrics").body;
    let value = |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series}"));
    assert_eq!(value("lockstep_joins_total"), 2.0);
    assert_eq!(value("lockstep_waves_sent_total"), 11.0);
    assert_eq!(value("lockstep_step"), 10.0);
    assert_eq!(value("lockstep_phase{phase=\"running\"}"), 1.0);
    assert_eq!(value("lockstep_phase{phase=\"waiting\"}"), 0.0);
    assert_eq!(value("lockstep_participants{state=\"GoSent\"}"), 2.0);
    assert_eq!(value("lockstep_waiting_on"), 2.0);
    assert_eq!(value("lockstep_round_duration_seconds_count"), 10.0);
    assert_eq!(
        value("lockstep_round_duration_seconds_bucket{le=\"+Inf\"}"),
        10.0
    );
    assert!(value("process_resident_memory_bytes") > 0.0);
    assert!(value("process_open_fds") >= 5.0);

    // Bob leaves in the middle of the round; a stranger takes alice's id and is refused.
    members[1].leave();
    wait_metric(addr, "lockstep_removals_total{cause=\"left\"}", 1.0);
    let mut twin = conductor.connect();
    twin.expect_conductor_hello();
    twin.send(&hello_bytes("alice"));
    assert_eq!(twin.recv_refusal(), "duplicate id alice");
    wait_metric(
        addr,
        "lockstep_refusals_total{reason=\"duplicate_id\"}",
        1.0,
    );
    let text = get(addr, "/metrics").body;
    assert_eq!(
        sample(&text, "lockstep_removals_total{cause=\"duplicate_id\"}"),
        None,
        "a stranger's refusal removes no member"
    );
    assert_eq!(sample(&text, "lockstep_joins_total"), Some(2.0));
    assert_eq!(
        sample(&text, "lockstep_participants{state=\"GoSent\"}"),
        Some(1.0)
    );

    if let Some(promtool) = http::tool("promtool") {
        let (ok, out) = http::promtool_check(&promtool, &["check", "metrics"], &text);
        assert!(ok, "promtool check metrics:\n{out}\n{text}");
    }
}

#[test]
fn a_stalled_round_and_a_silent_participant_show_in_the_metrics() {
    let (conductor, addr) = start(&["--slow-round-ms", "100", "--drop-after-ms", "1500"]);
    let mut mute = conductor.join("mute");
    assert_eq!(mute.recv_go(), 0);
    // It never answers: T goes out, the round ages, and the round waits on it.
    wait_for("a T broadcast", DEADLINE, || {
        (metric(addr, "lockstep_slow_round_broadcasts_total") >= 1.0).then_some(())
    });
    let text = get(addr, "/metrics").body;
    assert!(sample(&text, "lockstep_round_age_seconds").unwrap() >= 0.1);
    assert_eq!(sample(&text, "lockstep_waiting_on"), Some(1.0));
    let status = http::status(addr);
    assert_eq!(status["waiting_on"], serde_json::json!(["mute"]));

    // Then it is dropped for its silence.
    wait_metric(
        addr,
        "lockstep_removals_total{cause=\"liveness_timeout\"}",
        1.0,
    );
    let text = get(addr, "/metrics").body;
    assert_eq!(
        sample(
            &text,
            "lockstep_refusals_total{reason=\"liveness_timeout\"}"
        ),
        Some(1.0)
    );
    assert_eq!(sample(&text, "lockstep_rounds_completed_total"), Some(1.0));
    let recent: serde_json::Value = serde_json::from_str(&get(addr, "/recent.json").body).unwrap();
    assert_eq!(recent["removals"][0]["id"], "mute");
    assert_eq!(recent["removals"][0]["cause"], "liveness_timeout");
    assert_eq!(recent["removals"][0]["reason"], "liveness timeout");
    assert_eq!(recent["removed"]["liveness_timeout"], 1);
    assert_eq!(recent["rounds"][0]["step"], 0);
    assert!(recent["rounds"][0]["us"].as_u64().unwrap() >= 1_000_000);
}

#[test]
fn status_json_is_the_status_document_of_the_moment() {
    // The file is rewritten once a minute here: the endpoint must not wait for it.
    let (conductor, addr) = start(&["--status-interval-ms", "60000"]);
    let mut members = conductor.members(&["solo".into()]);
    let file = conductor.wait_status("the first wave", |s| s["step"] == 0);
    for _ in 0..5 {
        run_round(&mut members);
    }
    let step = members[0].recv_go();
    assert_eq!(step, 5);
    let live = http::status(addr);
    assert_eq!(live["step"], 5);
    assert_eq!(live["waiting_on"], serde_json::json!(["solo"]));
    assert_eq!(live["clients"][0]["id"], "solo");
    assert_eq!(live["address"], conductor.addr.to_string());
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&live), keys(&file));
    assert_eq!(live["server_id"], file["server_id"]);
    assert_eq!(live["address"], file["address"]);
}

#[test]
fn wrong_requests_get_the_status_that_says_why() {
    let (_conductor, addr) = start(&[]);
    let answer = get(addr, "/nowhere");
    assert_eq!(answer.code, 404);
    assert!(answer.body.contains("/metrics"), "{answer:?}");

    let answer = raw(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(answer.code, 405);
    assert_eq!(answer.header("allow"), Some("GET, HEAD"));

    let answer = raw(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(answer.code, 200);
    assert!(answer.body.is_empty(), "{answer:?}");
    let length: usize = answer.header("content-length").unwrap().parse().unwrap();
    assert!(length > 1000, "{length}");

    let answer = raw(
        addr,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    );
    assert_eq!(answer.code, 400);

    let huge = format!("GET / HTTP/1.1\r\nCookie: {}\r\n\r\n", "c".repeat(9_000));
    assert_eq!(raw(addr, huge.as_bytes()).code, 431);

    let page = get(addr, "/");
    assert_eq!(page.code, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.body.contains("<svg"));
    assert!(page.header("content-security-policy").is_some());
    let recent = get(addr, "/recent.json?x=1");
    assert_eq!(recent.code, 200);
    let recent: serde_json::Value = serde_json::from_str(&recent.body).unwrap();
    assert!(recent["rounds"].is_array());

    let text = get(addr, "/metrics").body;
    for (code, n) in [("404", 1.0), ("405", 1.0), ("400", 1.0), ("431", 1.0)] {
        let series = format!("lockstep_http_responses_total{{code=\"{code}\"}}");
        assert_eq!(sample(&text, &series), Some(n), "{code}");
    }
}

/// Members that keep completing rounds on a thread of their own until stopped; the count of
/// rounds they completed.
struct Rounds {
    done: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Rounds {
    fn run(conductor: &Conductor, names: &[&str]) -> Rounds {
        let mut members: Vec<_> = names.iter().map(|n| conductor.member(n)).collect();
        let done = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (d, s) = (Arc::clone(&done), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                run_round(&mut members);
                d.fetch_add(1, Ordering::SeqCst);
            }
        });
        Rounds {
            done,
            stop,
            thread: Some(thread),
        }
    }

    fn count(&self) -> u64 {
        self.done.load(Ordering::SeqCst)
    }

    /// Waits until `more` rounds past the count now have been completed.
    fn wait_more(&self, more: u64, what: &str) {
        let target = self.count() + more;
        wait_for(&format!("{more} more rounds {what}"), DEADLINE, || {
            (self.count() >= target).then_some(())
        });
    }
}

impl Drop for Rounds {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let result = thread.join();
            if !std::thread::panicking() {
                result.expect("the members' thread");
            }
        }
    }
}

#[test]
fn the_page_in_a_browser_shows_the_step_and_the_participants_and_refreshes() {
    let Some(chromium) = http::tool("chromium") else {
        return;
    };
    let (conductor, addr) = start(&["--min-clients", "2"]);
    let rounds = Rounds::run(&conductor, &["alice", "bob"]);
    rounds.wait_more(10, "before the page loads");
    let url = format!("http://{addr}/");
    let step_of = |dom: &str| -> u64 {
        let start = dom.find("id=\"step\">").expect("the step figure") + "id=\"step\">".len();
        let text = &dom[start..start + dom[start..].find('<').unwrap()];
        text.replace(',', "")
            .parse()
            .unwrap_or_else(|_| panic!("step {text:?}"))
    };
    let first = http::rendered_dom(&chromium, &url, Duration::from_millis(2_500));
    let refreshes = first
        .split("data-refreshes=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("no refresh counted in\n{first}"));
    assert!(refreshes >= 2, "the page refreshed {refreshes} time(s)");
    for id in ["alice", "bob"] {
        assert!(
            first.contains(&format!("data-id=\"{id}\"")),
            "{id} missing in\n{first}"
        );
    }
    assert!(first.contains("class=\"phase running\""), "{first}");
    assert!(
        first.contains("<path class=\"bars\""),
        "no chart in\n{first}"
    );
    let step = step_of(&first);
    rounds.wait_more(10, "between the two loads");
    let second = http::rendered_dom(&chromium, &url, Duration::from_millis(1_500));
    assert!(step_of(&second) > step, "the step did not move on");
}

/// Opens `n` connections that send the start of a request head and never finish it.
fn slowloris(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut s = TcpStream::connect(addr).expect("connect");
            // A refused one may already be closed: the write may fail.
            let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ");
            s
        })
        .collect()
}

/// What the endpoint answered on `stream`, if anything, before it closed.
fn status_line(mut stream: TcpStream) -> Option<String> {
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    text.lines().next().map(str::to_string)
}

#[test]
fn hostile_clients_never_stop_the_rounds_and_the_endpoint_serves_again() {
    let (conductor, addr) = start(&[]);
    let rounds = Rounds::run(&conductor, &["steady"]);
    rounds.wait_more(10, "before the attack");

    // A flood of requests from four threads, a 1 MiB request head (the endpoint stops reading
    // it early) and connections sending random bytes, all at once.
    let flood: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                for path in ["/metrics", "/status.json", "/", "/recent.json"]
                    .iter()
                    .cycle()
                    .take(150)
                {
                    if let Ok(mut s) = TcpStream::connect(addr) {
                        let request = format!("GET {path} HTTP/1.1\r\n\r\n");
                        let _ = s.write_all(request.as_bytes());
                        let mut sink = Vec::new();
                        let _ = s.read_to_end(&mut sink);
                    }
                }
            })
        })
        .collect();
    let big = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).expect("connect");
        let mut request = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
        request.resize(1 << 20, b'a');
        let _ = s.write_all(&request);
        status_line(s)
    });
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let junk: Vec<u8> = (0..8 * 1024)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    let noise = std::thread::spawn(move || {
        for _ in 0..20 {
            if let Ok(mut s) = TcpStream::connect(addr) {
                let _ = s.write_all(&junk);
            }
        }
    });
    rounds.wait_more(200, "during the flood");
    for thread in flood {
        thread.join().expect("a flooding thread");
    }
    let big = big.join().expect("the big request");
    assert!(
        big.as_deref().is_none_or(|l| l.contains(" 431 ")),
        "{big:?}"
    );
    noise.join().expect("the random bytes");
    rounds.wait_more(100, "after the flood");

    // 200 slowloris connections: 32 hold the slots, the others are answered 503 at once.
    let slow = slowloris(addr, 200);
    rounds.wait_more(200, "with 200 slowloris connections open");
    // Those that held a slot are answered 408 after 5 s.
    let answers: Vec<Option<String>> = slow.into_iter().map(status_line).collect();
    let count = |code: &str| {
        answers
            .iter()
            .filter(|a| a.as_deref().is_some_and(|l| l.contains(code)))
            .count()
    };
    assert!(count(" 408 ") >= 1, "{answers:?}");
    assert!(count(" 503 ") >= 100, "{answers:?}");

    // The endpoint serves again, and counted what it refused.
    let text = wait_for("/metrics answered again", DEADLINE, || {
        let answer = get(addr, "/metrics");
        (answer.code == 200).then_some(answer.body)
    });
    let answered = |code: &str| {
        sample(
            &text,
            &format!("lockstep_http_responses_total{{code=\"{code}\"}}"),
        )
        .unwrap()
    };
    assert!(answered("503") >= 100.0, "{text}");
    assert!(answered("408") >= 1.0, "{text}");
    assert!(answered("431") >= 1.0, "{text}");
    assert!(answered("400") >= 1.0, "{text}");
    assert!(
        sample(&text, "lockstep_connections").unwrap() <= 2.0,
        "only the member is connected: {text}"
    );
    rounds.wait_more(100, "at the end");
}

#[test]
fn running_out_of_descriptors_pauses_the_endpoint_not_the_rounds() {
    // Room for the conductor's own descriptors, the member and a few HTTP connections only.
    let conductor = Conductor::launch(
        &quiet(&["--http", "127.0.0.1:0"]),
        Launch {
            max_fds: Some(24),
            ..Launch::default()
        },
    );
    let addr = conductor.http.expect("the http address");
    let rounds = Rounds::run(&conductor, &["steady"]);
    rounds.wait_more(10, "before the connections");
    let slow = slowloris(addr, 40);
    conductor.wait_log("http: cannot accept: Too many open files");
    rounds.wait_more(200, "while accepting fails for want of descriptors");
    drop(slow);
    wait_for("/metrics answered again", DEADLINE, || {
        let answer = get(addr, "/metrics");
        (answer.code == 200).then_some(())
    });
    rounds.wait_more(100, "at the end");
}
