//! PROTOCOL.md "Status files" end to end: what `status.json` and `status.txt` hold through the
//! phases, when they are rewritten, that readers never see a partial file, and `conductor
//! status` (its `--watch` is in `tests/status_cmd.rs`).

// Tests and examples use sockets, clocks, files and threads freely (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::os::unix::fs::FileTypeExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use common::{names, run_round, run_to_exit, wait_for, Conductor, TempDir, DEADLINE};
use serde_json::{json, Value};

fn client<'a>(status: &'a Value, id: &str) -> &'a Value {
    status["clients"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("no client {id} in {status}"))
}

#[test]
fn status_json_follows_the_phases_and_names_who_the_round_waits_on() {
    let mut conductor =
        Conductor::start_quiet(&["--min-clients", "2", "--status-interval-ms", "20"]);
    let s = conductor.wait_status("the first write", |_| true);
    assert_eq!(s["phase"], "waiting");
    assert_eq!(s["server_id"], "conductor");
    assert_eq!(s["address"], conductor.addr.to_string());
    for key in [
        "step",
        "round_started_ms_ago",
        "last_round_ms",
        "last_round_slowest",
    ] {
        assert!(s[key].is_null(), "{key} in {s}");
    }
    assert_eq!(s["waves_sent"], 0);
    assert_eq!(s["clients"], json!([]));
    assert_eq!(s["waiting_on"], json!([]));
    assert!(s["uptime_ms"].is_u64(), "{s}");

    let mut a = conductor.join("alpha");
    let s = conductor.wait_status("alpha idle", |s| {
        s["clients"].as_array().unwrap().len() == 1
    });
    assert_eq!(s["phase"], "waiting");
    let alpha = client(&s, "alpha");
    assert_eq!(alpha["state"], "Idle");
    assert_eq!(alpha["peer"], a.stream.local_addr().unwrap().to_string());
    assert!(alpha["last_heard_ms_ago"].is_u64(), "{s}");

    let mut b = conductor.join("beta");
    assert_eq!(a.recv_go(), 0);
    assert_eq!(b.recv_go(), 0);
    a.send(b"K!");
    b.send(b"K");
    let s = conductor.wait_status("alpha done, beta working", |s| {
        let states: Vec<_> = s["clients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["id"].clone(), c["state"].clone()))
            .collect();
        states
            == [
                ("alpha".into(), "Done".into()),
                ("beta".into(), "Working".into()),
            ]
    });
    assert_eq!(s["waiting_on"], json!(["beta"]));
    assert_eq!(s["phase"], "running");
    assert_eq!(s["step"], 0);
    assert_eq!(s["waves_sent"], 1);
    assert!(s["round_started_ms_ago"].is_u64(), "{s}");
    // status.txt is written right after status.json.
    let txt = wait_for("status.txt to follow", DEADLINE, || {
        let txt = std::fs::read_to_string(conductor.dir.path("status.txt")).ok()?;
        txt.contains("waiting on   beta").then_some(txt)
    });
    assert!(txt.contains("phase        running"), "{txt}");
    assert!(txt.contains("alpha") && txt.contains("Done"), "{txt}");

    b.send(b"!");
    assert_eq!(a.recv_go(), 1);
    assert_eq!(b.recv_go(), 1);
    let s = conductor.wait_status("the first round's end", |s| !s["last_round_ms"].is_null());
    assert!(s["last_round_ms"].is_f64(), "{s}");
    assert_eq!(s["last_round_slowest"]["id"], "beta");
    assert!(s["last_round_slowest"]["ms"].is_f64(), "{s}");
    assert_eq!(s["waiting_on"], json!(["alpha", "beta"]));

    conductor.signal(libc::SIGTERM);
    conductor.wait_status("phase stopping", |s| s["phase"] == "stopping");
    a.send(b"X");
    b.send(b"X");
    conductor.expect_exit(0);
    let s = conductor.status("status.json").expect("final status");
    assert_eq!(s["phase"], "stopped");
    assert_eq!(s["clients"], json!([]));
    assert_eq!(s["waiting_on"], json!([]));
    // Both files are written before the process exits.
    let txt = std::fs::read_to_string(conductor.dir.path("status.txt")).unwrap();
    assert!(txt.contains("phase        stopped"), "{txt}");
}

#[test]
fn slowest_is_null_when_nobody_in_the_round_was_done() {
    let conductor = Conductor::start_quiet(&["--status-interval-ms", "20"]);
    let mut a = conductor.join("leaves");
    assert_eq!(a.recv_go(), 0);
    a.send(b"KX");
    a.expect_closed();
    let s = conductor.wait_status("the round's end", |s| !s["last_round_ms"].is_null());
    assert!(s["last_round_slowest"].is_null(), "{s}");
    assert!(s["round_started_ms_ago"].is_null(), "{s}");
}

#[test]
fn status_is_not_rewritten_at_every_wave_but_written_last_on_the_way_out() {
    let mut conductor = Conductor::start_quiet(&["--status-interval-ms", "600000"]);
    let mut a = conductor.member("busy");
    // Joining moved the phase to running: that write happens at once.
    let first = conductor.wait_status("phase running", |s| s["phase"] == "running");
    for _ in 0..50 {
        run_round(std::slice::from_mut(&mut a));
    }
    // Fifty waves later nothing else has been written: the interval has not passed.
    assert_eq!(conductor.status("status.json").unwrap(), first);
    conductor.signal(libc::SIGINT);
    conductor.expect_exit(0);
    let last = conductor.status("status.json").unwrap();
    assert_eq!(last["phase"], "stopped");
    assert_eq!(last["waves_sent"], 51);
}

#[test]
fn readers_never_see_a_partial_status_file() {
    let mut conductor =
        Conductor::start_quiet(&["--status-interval-ms", "0", "--min-clients", "2"]);
    conductor.wait_status("the first write", |_| true);
    let path = conductor.dir.path("status.json");
    let txt = conductor.dir.path("status.txt");
    let done = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicUsize::new(0));
    let reader = {
        let done = Arc::clone(&done);
        let seen = Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut waves = std::collections::BTreeSet::new();
            let mut reads = 0;
            while !done.load(Ordering::SeqCst) || waves.len() < 2 {
                // Once written, the files are always there, whole.
                let text = std::fs::read_to_string(&path).expect("status.json is always there");
                let value: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("partial status.json ({e}): {text:?}"));
                waves.insert(value["waves_sent"].as_u64().expect("waves_sent"));
                let text = std::fs::read_to_string(&txt).expect("status.txt is always there");
                assert!(
                    text.starts_with("conductor ") && text.ends_with('\n'),
                    "{text:?}"
                );
                reads += 1;
                seen.store(waves.len(), Ordering::SeqCst);
            }
            reads
        })
    };
    let mut clients = conductor.members(&names("rewrite", 2));
    for _ in 0..300 {
        run_round(&mut clients);
    }
    // However the reader was scheduled, it goes on until it has seen the file change.
    wait_for("the reader to see two different files", DEADLINE, || {
        if seen.load(Ordering::SeqCst) < 2 {
            run_round(&mut clients);
            return None;
        }
        Some(())
    });
    done.store(true, Ordering::SeqCst);
    let reads = reader.join().expect("reader");
    assert!(reads > 1, "{reads} reads");
    conductor.signal(libc::SIGINT);
    conductor.expect_exit(0);
    let mut left: Vec<String> = std::fs::read_dir(&conductor.dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["status.json", "status.txt"],
        "no temporary file is left"
    );
}

#[test]
fn a_stalled_round_keeps_its_status_current() {
    let conductor = Conductor::start_quiet(&["--status-interval-ms", "100"]);
    let mut a = conductor.join("stuck");
    assert_eq!(a.recv_go(), 0);
    a.send(b"K");
    // Nothing happens any more, yet the round's age and the client's silence grow in the file.
    let first = conductor.wait_status("a running round", |s| {
        s["round_started_ms_ago"].as_u64().is_some() && s["waiting_on"] == json!(["stuck"])
    });
    // The K may arrive a little after the first of these files was written: the client's
    // silence is counted from it, so it is waited for too.
    let later = conductor.wait_status("the round and the silence a little older", |s| {
        s["round_started_ms_ago"].as_u64()
            >= first["round_started_ms_ago"].as_u64().map(|t| t + 300)
            && client(s, "stuck")["last_heard_ms_ago"].as_u64() >= Some(300)
    });
    assert!(later["uptime_ms"].as_u64() > first["uptime_ms"].as_u64());
}

#[test]
fn an_idle_conductor_with_nobody_connected_still_rewrites_its_status() {
    let conductor = Conductor::start_quiet(&["--status-interval-ms", "100"]);
    let first = conductor.wait_status("the first write", |_| true);
    // Nothing happens and nobody is there, but the uptime moves on, and a health check that
    // watches it must not take the conductor for dead.
    let later = conductor.wait_status("a later uptime", |s| {
        s["uptime_ms"].as_u64() >= first["uptime_ms"].as_u64().map(|t| t + 300)
    });
    assert_eq!(later["phase"], "waiting");
    assert_eq!(later["clients"], json!([]));
}

#[test]
fn status_paths_are_configurable_and_can_be_switched_off() {
    let mut off = Conductor::start_quiet(&["--status-json", "", "--status-txt", ""]);
    let mut a = off.member("no-writes");
    run_round(std::slice::from_mut(&mut a));
    off.signal(libc::SIGINT);
    off.expect_exit(0);
    assert_eq!(std::fs::read_dir(&off.dir.0).unwrap().count(), 0);

    let dir = TempDir::new("status-paths");
    std::fs::create_dir(dir.path("out")).unwrap();
    let mut custom = Conductor::start_in(
        dir,
        &["--status-json", "out/s.json", "--status-txt", "out/s.txt"],
    );
    custom.signal(libc::SIGINT);
    custom.expect_exit(0);
    assert_eq!(
        custom.status("out/s.json").expect("out/s.json")["phase"],
        "stopped"
    );
    assert!(custom.dir.path("out/s.txt").exists());
    assert!(!custom.dir.path("status.json").exists());
}

#[test]
fn an_unwritable_status_file_is_logged_and_rounds_go_on() {
    let conductor = Conductor::start_quiet(&["--status-json", "no/such/dir/status.json"]);
    let mut a = conductor.member("unbothered");
    for step in 0..3 {
        assert_eq!(run_round(std::slice::from_mut(&mut a)), step);
    }
    conductor.wait_log("cannot write no/such/dir/status.json");
    assert_eq!(conductor.log_lines("cannot write").len(), 1, "logged once");
}

#[test]
fn conductor_status_shows_the_file_as_a_table() {
    let conductor = Conductor::start_quiet(&["--min-clients", "2"]);
    let _a = conductor.join("table-row");
    conductor.wait_status("the client", |s| s["clients"][0]["id"] == "table-row");
    let file = conductor.dir.path("status.json");
    let (code, out, err) = run_to_exit(
        &conductor.dir.0,
        &["status", "--file", file.to_str().unwrap()],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("phase        waiting"), "{out}");
    assert!(out.contains(&format!("on {}", conductor.addr)), "{out}");
    assert!(out.contains("table-row") && out.contains("Idle"), "{out}");
    // Without --file it reads ./status.json.
    let (code, default_out, _) = run_to_exit(&conductor.dir.0, &["status"]);
    assert_eq!(code, Some(0));
    assert!(default_out.contains("table-row"), "{default_out}");

    let elsewhere = TempDir::new("no-status");
    let (code, _, err) = run_to_exit(&elsewhere.0, &["status"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("cannot read status.json"), "{err}");
    let (code, _, err) = run_to_exit(&elsewhere.0, &["status", "--bogus"]);
    assert_eq!(code, Some(2), "{err}");
}

/// Runs the conductor with `--status-json PATH` in `dir`: it must refuse to start (exit 2),
/// naming the key and the path. Returns stderr.
fn refused_status_path(dir: &TempDir, path: &std::path::Path) -> String {
    let path = path.to_str().expect("a UTF-8 path");
    let (code, out, err) = run_to_exit(&dir.0, &["--port", "0", "--status-json", path]);
    assert_eq!(code, Some(2), "{path}: {err}");
    assert!(out.is_empty(), "nothing may start: {out}");
    assert!(
        err.contains(&format!("key \"status_json\": {path} is ")),
        "{err}"
    );
    assert!(err.contains("not a regular file"), "{err}");
    err
}

#[test]
fn a_status_path_that_is_not_a_regular_file_is_refused_at_start_up() {
    let dir = TempDir::new("status-not-file");
    let fifo = dir.path("fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let err = refused_status_path(&dir, &fifo);
    assert!(err.contains("is a FIFO"), "{err}");
    let link = dir.path("link-to-fifo");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    assert!(refused_status_path(&dir, &link).contains("is a FIFO"));
    std::fs::create_dir(dir.path("a-directory")).unwrap();
    assert!(refused_status_path(&dir, &dir.path("a-directory")).contains("is a directory"));
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
}

#[test]
fn a_status_path_that_is_a_device_is_refused_and_left_alone() {
    // A device node of our own, never the real /dev/null: the same numbers (1, 3) made with
    // mknod in a scratch directory. Making one needs privileges, which CI has (it runs as root).
    let dir = TempDir::new("status-device");
    let device = dir.path("null");
    let c_path = std::ffi::CString::new(device.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; mknod only creates a file.
    let made = unsafe { libc::mknod(c_path.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
    if made != 0 {
        let error = std::io::Error::last_os_error();
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must be able to make a device node: {error}"
        );
        eprintln!("skipped: cannot make a device node here ({error}); CI runs this test as root");
        return;
    }
    let err = refused_status_path(&dir, &device);
    assert!(err.contains("is a character device"), "{err}");
    let kind = std::fs::symlink_metadata(&device).unwrap().file_type();
    assert!(kind.is_char_device(), "the device is still there");
}

#[test]
fn links_planted_at_the_old_temporary_names_are_not_written_through() {
    let conductor = Conductor::start_quiet(&["--status-interval-ms", "20"]);
    conductor.wait_status("the first write", |_| true);
    let victim = conductor.dir.path("victim");
    std::fs::write(&victim, "precious").unwrap();
    // The writer used to create `<name>.<pid>.tmp`, following links.
    for name in ["status.json", "status.txt"] {
        let tmp = conductor
            .dir
            .path(&format!("{name}.{}.tmp", conductor.pid()));
        std::os::unix::fs::symlink(&victim, tmp).unwrap();
    }
    let mut a = conductor.member("linked");
    run_round(std::slice::from_mut(&mut a));
    conductor.wait_status("the client", |s| s["clients"][0]["id"] == "linked");
    let text = conductor.dir.path("status.txt");
    wait_for("status.txt to show the client", DEADLINE, || {
        std::fs::read_to_string(&text)
            .is_ok_and(|t| t.contains("linked"))
            .then_some(())
    });
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}

#[test]
fn a_second_conductor_on_the_same_status_files_is_refused_naming_the_first() {
    let mut first = Conductor::start(&[]);
    first.wait_status("the first write", |_| true);
    let dir = first.dir.0.clone();
    let lock = first.dir.path("status.json.lock");
    assert_eq!(
        std::fs::read_to_string(&lock).expect("the lock file"),
        format!("{}\n", first.pid())
    );

    // The same files, or only status.txt in common: refused before anything starts.
    for args in [&[][..], &["--status-json", "other.json"]] {
        let mut all = vec!["--port", "0"];
        all.extend_from_slice(args);
        let (code, out, err) = run_to_exit(&dir, &all);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(out.is_empty(), "nothing may start: {out}");
        let file = if args.is_empty() {
            "status.json"
        } else {
            "status.txt"
        };
        assert_eq!(
            err,
            format!(
                "conductor: {file} is in use: another conductor (pid {}) holds {file}.lock; \
                 stop it, or give this one other status files (--status-json, --status-txt)\n",
                first.pid()
            )
        );
    }
    assert!(!first.dir.path("other.json.lock").exists());

    // Files (and a control socket) of its own, or none at all: it runs beside the first.
    for args in [
        &[
            "--status-json",
            "b.json",
            "--status-txt",
            "b.txt",
            "--control",
            "b.sock",
        ][..],
        &["--status-json", "", "--status-txt", "", "--control", ""],
    ] {
        let mut all = vec!["--port", "0"];
        all.extend_from_slice(args);
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_conductor"));
        command.args(&all).current_dir(&dir);
        let mut second = common::participants::Participant::spawn(command);
        wait_for("the second conductor to start", DEADLINE, || {
            second.stdout().contains("listening on").then_some(())
        });
        // SAFETY: kill has no memory effects.
        unsafe { libc::kill(second.child.id() as i32, libc::SIGINT) };
        assert_eq!(
            second.wait_exit(DEADLINE).code(),
            Some(0),
            "{}",
            second.stderr()
        );
    }
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".lock"))
        .collect();
    assert_eq!(names.len(), 2, "only the first's locks are left: {names:?}");

    // A normal end removes the lock files; after SIGKILL they stay, but do not hold.
    first.signal(libc::SIGINT);
    first.expect_exit(0);
    assert!(!lock.exists());
    assert!(!first.dir.path("status.txt.lock").exists());
    let mut killed = Conductor::start_in(TempDir(dir.clone()), &[]);
    killed.wait_status("the first write", |_| true);
    killed.signal(libc::SIGKILL);
    killed.wait_exit(DEADLINE);
    assert!(lock.exists());
    let mut third = Conductor::start_in(TempDir(dir.clone()), &[]);
    third.wait_status("the first write", |_| true);
    third.signal(libc::SIGINT);
    third.expect_exit(0);
}
