//! `conductor status` for a person: the file's age, a header that fits an 80×24 screen, and
//! `--watch`, which follows a conductor from before it starts until it stops and then ends.
//! Run with stdout piped: each frame follows the last, without terminal escapes.

// Tests and examples use sockets, clocks, files and threads freely (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::process::Command;
use std::time::{Duration, SystemTime};

use common::participants::Participant;
use common::{run_to_exit, wait_for, Conductor, TempDir, DEADLINE};

/// `conductor status ARGS` in `dir`, its output collected.
fn status_in(dir: &std::path::Path, args: &[&str]) -> Participant {
    let mut command = Command::new(env!("CARGO_BIN_EXE_conductor"));
    command.arg("status").args(args).current_dir(dir);
    Participant::spawn(command)
}

#[test]
fn watch_follows_a_conductor_from_before_its_start_to_its_stop_then_ends() {
    let dir = TempDir::new("status-watch");
    let mut watch = status_in(&dir.0, &["--watch"]);
    wait_for("a frame saying there is no file yet", DEADLINE, || {
        watch
            .stdout()
            .contains("cannot read status.json")
            .then_some(())
    });
    assert!(
        watch.child.try_wait().unwrap().is_none(),
        "it waits for the file"
    );

    let mut conductor = Conductor::start_in(dir, &[]);
    wait_for("a frame of the running conductor", DEADLINE, || {
        watch
            .stdout()
            .contains("phase        waiting")
            .then_some(())
    });
    conductor.signal(libc::SIGINT);
    conductor.expect_exit(0);
    let status = watch.wait_exit(DEADLINE);
    assert_eq!(status.code(), Some(0), "{}", watch.stderr());

    let out = watch.stdout();
    assert!(
        !out.contains('\x1b'),
        "no terminal escapes into a pipe: {out:?}"
    );
    // Frames are separated by a blank line; the last one is the stopped conductor's.
    let last = out.rsplit("\n\n").next().unwrap_or_default();
    assert!(
        last.starts_with(&format!("conductor on {}\nwritten ", conductor.addr)),
        "{last}"
    );
    assert!(last.contains("\nphase        stopped\n"), "{last}");
}

/// A status file with `waiting` ids waiting, as a conductor with the default id writes it.
fn status_json(waiting: usize) -> String {
    let ids: Vec<String> = (0..waiting).map(|n| format!("\"worker-{n:04}\"")).collect();
    format!(
        r#"{{"server_id":"conductor","address":"127.0.0.1:7878","phase":"running","step":3,
            "waves_sent":4,"round_started_ms_ago":5,"clients":[],"waiting_on":[{}],
            "last_round_ms":null,"last_round_slowest":null,"uptime_ms":60000}}"#,
        ids.join(",")
    )
}

#[test]
fn status_shows_the_files_age_and_a_header_that_fits_the_screen() {
    let dir = TempDir::new("status-age");
    let path = dir.path("status.json");
    std::fs::write(&path, status_json(30)).unwrap();
    // Written two hours ago, by a conductor that has stopped rewriting it.
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    let two_hours_ago = SystemTime::now() - Duration::from_secs(2 * 3600 + 5);
    file.set_modified(two_hours_ago).unwrap();
    drop(file);

    let (code, out, err) = run_to_exit(&dir.0, &["status"]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "conductor on 127.0.0.1:7878", "no stutter: {out}");
    assert_eq!(lines[1], "written      2 h 0 min ago", "{out}");
    let header: Vec<&str> = lines
        .iter()
        .copied()
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(header.len() <= 24, "{out}");
    assert!(header.iter().all(|l| l.chars().count() <= 80), "{out}");
    let waiting = header
        .iter()
        .find(|l| l.starts_with("waiting on"))
        .expect("a waiting line");
    assert!(
        waiting.starts_with("waiting on   worker-0000, worker-0001, "),
        "{waiting}"
    );
    assert!(waiting.ends_with(" more"), "{waiting}");

    // A file that is not there is an error, exit 1.
    let (code, _, err) = run_to_exit(&dir.0, &["status", "--file", "missing.json"]);
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with("conductor status: cannot read missing.json: "),
        "{err}"
    );
}
