//! The README stays true: its two set-up commands, its configuration table against the shipped
//! `config.json` and the configuration's definition, and its walk-through, run as written (the
//! conductor's arguments and the participant script pasted into `sh`, on a free port instead of
//! 7878), its participant refusing an id the protocol cannot carry, what it says of installing
//! and of the license, the monitoring examples, and "Across machines": its `openssl` commands
//! pasted into `sh`, its configuration and its `join` with certificates (on the loopback
//! address, checking the conductor's certificate by name), and the C, C++ and Fortran
//! participants of "Joining" built by its compile lines (with the checkout's paths) and run,
//! and the example tree of "Bigger than one conductor": root, two relays and their sixteen
//! participants in one directory (on free ports).

// Tests and examples use sockets, clocks, files and threads freely (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::process::{Command, Stdio};

use common::native::{include_dir, library_dir, top, Compiler};
use common::readme::{block, block_with, README};
use common::{run_to_exit, wait_for, Conductor, Launch, TempDir, DEADLINE};

const CONFIG: &str = include_str!("../config.json");

#[test]
fn the_two_set_up_commands_are_there_as_written() {
    assert!(README.contains("```sh\ncargo run --release -- --config config.json\n```"));
    assert!(README.contains("```sh\ncargo test\n```"));
}

#[test]
fn the_configuration_table_gives_every_shipped_default_and_meaning() {
    let shipped: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(CONFIG).expect("config.json");
    for (key, value) in &shipped {
        let row = format!("| `{key}` | `{value}` |");
        assert!(README.contains(&row), "README lacks the row {row}");
    }
    // The meanings are those of `conductor --help`, from the configuration's definition.
    for s in lockstep_conductor::config::Config::settings() {
        let row = format!("| `{}` | `{}` | {} |", s.key, s.default, s.meaning);
        assert!(README.contains(&row), "README lacks the row {row}");
    }
    let rows = README
        .lines()
        .filter(|l| l.starts_with("| `") && l.matches('|').count() == 4)
        .count();
    assert_eq!(rows, shipped.len(), "one row per key");
}

#[test]
fn the_walk_through_works_as_written() {
    // The conductor, with the walk-through's arguments and the shipped config.json.
    let command = block("cargo run --release -- --config config.json --min-clients");
    let args: Vec<&str> = command
        .trim()
        .strip_prefix("cargo run --release -- ")
        .expect("a cargo run command")
        .split_whitespace()
        .collect();
    let dir = TempDir::new("walk-through");
    std::fs::write(dir.path("config.json"), CONFIG).unwrap();
    let mut conductor = Conductor::launch(
        &args,
        Launch {
            dir: Some(dir),
            ..Launch::default()
        },
    );

    // The participants, pasted into a shell.
    let script = block("python3 - alice <<'EOF'");
    assert!(script.contains("7878"), "{script}");
    let script = script.replace("7878", &conductor.addr.port().to_string());
    let participants: Vec<_> = ["alice", "bob"]
        .iter()
        .map(|name| {
            Command::new("sh")
                .args(["-c", &script.replace("alice", name)])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("sh and python3 are needed for the walk-through")
        })
        .collect();
    for (name, mut child) in ["alice", "bob"].into_iter().zip(participants) {
        let status = wait_for(&format!("{name} to finish"), DEADLINE, || {
            child.try_wait().expect("try_wait")
        });
        let output = child.wait_with_output().expect("output");
        let out = String::from_utf8_lossy(&output.stdout);
        assert!(
            status.success(),
            "{name}: {status}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut expected = vec![format!("{name} <- hello from conductor")];
        for step in 0..10 {
            if step >= 7 {
                expected.push(format!("{name} <- shutting down in {} step(s)", 10 - step));
            }
            expected.push(format!("{name} <- Go, step {step}"));
        }
        expected.push(format!("{name} <- C"));
        expected.push(format!("{name} <- X"));
        expected.push(format!("{name} connection closed"));
        let got: Vec<&str> = out.lines().collect();
        assert_eq!(got, expected);
    }
    conductor.expect_exit(0);
    conductor.wait_log("joined: alice");
    conductor.wait_log("round end: step 9");

    // `cargo run --release -- status` in the same directory.
    let (code, out, err) = run_to_exit(&conductor.dir.0, &["status"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("phase        stopped"), "{out}");
    assert!(out.contains("waves sent   10"), "{out}");
}

#[test]
fn the_walk_through_participant_refuses_an_id_longer_than_12_characters() {
    let script = block("python3 - alice <<'EOF'");
    let long = "a-twenty-char-id-xyz";
    let output = Command::new("sh")
        .args(["-c", &script.replace("alice", long)])
        .output()
        .expect("sh and python3 are needed for the walk-through");
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("'{long}': an id is 1 to 12 characters\n")
    );
}

#[test]
fn install_and_license_are_as_the_readme_says() {
    assert!(README.contains("## Install\n\n```sh\ncargo install --path .\n```\n"));
    let manifest = include_str!("../Cargo.toml");
    assert!(manifest.contains("\nlicense = \"MIT OR Apache-2.0\"\n"));
    let mit = include_str!("../LICENSE-MIT");
    assert!(
        mit.starts_with("Copyright (c) the Lockstep developers\n\nPermission is hereby granted")
    );
    let apache = include_str!("../LICENSE-APACHE");
    assert!(apache.contains("Apache License\n                           Version 2.0, January 2004"));
    assert!(apache.contains("END OF TERMS AND CONDITIONS"));
    for file in ["LICENSE-MIT", "LICENSE-APACHE"] {
        assert!(
            README.contains(&format!("]({file})")),
            "README links {file}"
        );
    }
}

#[test]
fn the_monitoring_examples_are_the_files_and_prometheus_accepts_them() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/monitoring");
    let file = |name: &str| std::fs::read_to_string(dir.join(name)).expect(name);
    assert_eq!(block("# Scrapes a conductor"), file("prometheus.yml"));
    assert_eq!(block("groups:"), file("alerts.yml"));
    assert!(README.contains("(docs/monitoring/status-page.png)"));
    assert!(dir.join("status-page.png").is_file());

    let Some(promtool) = common::http::tool("promtool") else {
        return;
    };
    for args in [
        ["check", "config", "prometheus.yml"],
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts_test.yml"],
    ] {
        let out = Command::new(&promtool)
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("run promtool");
        assert!(
            out.status.success(),
            "promtool {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_across_machines_certificates_config_and_join_work_as_written() {
    let dir = TempDir::new("across-machines");
    // The openssl commands, pasted into a shell in an empty directory.
    let script = block("# A CA: ca.key signs every certificate");
    let made = Command::new("sh")
        .args(["-c", &script])
        .current_dir(&dir.0)
        .output()
        .expect("sh and openssl are needed for the README's certificates");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // The configuration, on the loopback address instead of every address.
    let config = block_with("\"tls_client_ca\": \"ca.pem\"");
    assert!(config.contains("\"host\": \"0.0.0.0\""), "{config}");
    std::fs::write(
        dir.path("config.json"),
        config.replace("0.0.0.0", "127.0.0.1"),
    )
    .unwrap();
    let mut conductor = Conductor::launch(
        &[
            "--config",
            "config.json",
            "--min-clients",
            "2",
            "--rounds",
            "3",
        ],
        Launch {
            dir: Some(dir),
            ..Launch::default()
        },
    );
    // The join, on this machine: the conductor's name is checked, the address is loopback.
    let join = block_with("join --id worker-1 --host conductor.example");
    let port = conductor.addr.port().to_string();
    let line = join
        .trim()
        .strip_prefix("cargo run --release -- ")
        .expect("a cargo run command")
        .replace(
            "--host conductor.example",
            &format!("--host 127.0.0.1 --port {port} --tls-name conductor.example"),
        )
        .replace("./step.sh", "true");
    let participants: Vec<_> = ["worker-1", "worker-2"]
        .iter()
        .map(|id| {
            let args: Vec<String> = line
                .replace("worker-1", id)
                .split_whitespace()
                .map(str::to_string)
                .collect();
            Command::new(env!("CARGO_BIN_EXE_conductor"))
                .args(&args)
                .current_dir(&conductor.dir.0)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("join")
        })
        .collect();
    for mut child in participants {
        let status = wait_for("a participant to finish", DEADLINE, || {
            child.try_wait().expect("try_wait")
        });
        let output = child.wait_with_output().expect("output");
        assert!(
            status.success(),
            "{status}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let log = conductor.expect_exit(0);
    assert!(log.contains("(TLS, client certificates required)"), "{log}");
    assert!(log.contains("joined: worker-1 "), "{log}");
    assert!(log.contains("joined: worker-2 "), "{log}");
}

/// The README's participant in the block starting with `first_line`, written to `file` (aimed
/// at a test conductor instead of port 7878), built by each line of the block starting with
/// `compile` (run by `sh` with the checkout's paths for `include` and `target/release`), takes
/// part in two steps.
fn readme_participant(compiler: Compiler, first_line: &str, file: &str, compile: &str) {
    if compiler.command().is_none() {
        return;
    }
    let lib = library_dir().display().to_string();
    let dir = TempDir::new("readme-native");
    let source = block(first_line);
    assert!(source.contains("\"127.0.0.1:7878\""), "{source}");
    for line in block(compile).lines() {
        let line = line
            .replace("$PWD/target/release", "target/release")
            .replace("target/release", &lib)
            .replace("-Iinclude", &format!("-I{}", include_dir().display()))
            .replace(
                "include/lockstep.f90",
                &top().join("include/lockstep.f90").display().to_string(),
            );
        let mut conductor = Conductor::start(&["--rounds", "2"]);
        let address = conductor.addr.to_string();
        std::fs::write(dir.path(file), source.replace("127.0.0.1:7878", &address)).unwrap();
        let built = Command::new("sh")
            .args(["-c", &line])
            .current_dir(&dir.0)
            .output()
            .expect("sh");
        assert!(
            built.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&built.stderr)
        );
        let ran = Command::new(dir.path("app")).output().expect("run app");
        let out = String::from_utf8_lossy(&ran.stdout);
        assert!(
            ran.status.success(),
            "{line}: {out}{}",
            String::from_utf8_lossy(&ran.stderr)
        );
        assert_eq!(out, "working on step 0\nworking on step 1\n", "{line}");
        assert_eq!(conductor.wait_exit(DEADLINE).code(), Some(0));
    }
}

#[test]
fn the_c_participant_builds_shared_and_static_and_runs_as_written() {
    readme_participant(Compiler::C, "#include <stdio.h>", "app.c", "cc app.c");
}

#[test]
fn the_cpp_participant_builds_and_runs_as_written() {
    readme_participant(
        Compiler::Cxx,
        "#include <cstdint>",
        "app.cpp",
        "c++ -std=c++17 app.cpp",
    );
}

#[test]
fn the_fortran_participant_builds_and_runs_as_written() {
    readme_participant(
        Compiler::Fortran,
        "program app",
        "app.f90",
        "gfortran include/lockstep.f90 app.f90",
    );
}

/// The command of the line of `block` that holds `marker`, without `cargo run --release -- `.
fn command_with(block: &str, marker: &str) -> String {
    block
        .lines()
        .find(|l| l.contains(marker))
        .and_then(|l| l.strip_prefix("cargo run --release -- "))
        .unwrap_or_else(|| panic!("no cargo run line with {marker:?} in {block}"))
        .to_string()
}

#[test]
fn the_example_tree_runs_as_written_in_one_directory() {
    let tree = block("# The root: 100 rounds");
    let root_line = command_with(&tree, "--rounds 100");
    let relay_line = command_with(&tree, "relay --upstream 127.0.0.1:7878 --id rack-1");
    let join_line = command_with(&tree, "join --port 7901 --id worker-1");
    assert!(tree.contains("--id rack-2 --port 7902"), "{tree}");
    let dir = TempDir::new("readme-tree");
    let here = dir.0.clone();
    std::fs::write(
        dir.path("step.sh"),
        "#!/bin/sh\necho \"$LOCKSTEP_STEP\" >> \"$LOCKSTEP_ID.steps\"\n",
    )
    .unwrap();
    std::fs::set_permissions(
        dir.path("step.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    // Every process in the same directory; the root on a free port instead of 7878.
    let in_dir = |dir: TempDir| Launch {
        dir: Some(dir),
        ..Launch::default()
    };
    let root_args: Vec<&str> = root_line.split_whitespace().collect();
    let mut root = Conductor::launch(&root_args, in_dir(dir));
    let upstream = root.addr.to_string();
    let mut relays = Vec::new();
    for rack in ["rack-1", "rack-2"] {
        // Free ports instead of 7901 and 7902.
        let line = relay_line
            .replace("127.0.0.1:7878", &upstream)
            .replace("rack-1", rack)
            .replace(" --port 7901", "");
        let launch = Launch {
            before: line.split_whitespace().map(str::to_string).collect(),
            ..in_dir(TempDir(here.clone()))
        };
        relays.push(Conductor::launch(&[], launch));
    }
    for name in [
        "conductor.sock",
        "conductor-rack-1.sock",
        "conductor-rack-2.sock",
    ] {
        wait_for(name, DEADLINE, || here.join(name).exists().then_some(()));
    }
    let mut workers = Vec::new();
    for (r, relay) in relays.iter().enumerate() {
        for w in 0..8 {
            let id = format!("w{r}-{w}");
            let line = join_line
                .replace("7901", &relay.addr.port().to_string())
                .replace("worker-1", &id);
            let args: Vec<&str> = line.split_whitespace().collect();
            let child = Command::new(env!("CARGO_BIN_EXE_conductor"))
                .args(&args)
                .current_dir(&here)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("conductor join");
            workers.push((id, child));
        }
    }
    for (id, mut child) in workers {
        let status = wait_for(&format!("{id} to finish"), DEADLINE * 6, || {
            child.try_wait().expect("try_wait")
        });
        assert!(status.success(), "{id}: {status}");
        let steps = std::fs::read_to_string(here.join(format!("{id}.steps"))).unwrap();
        let expected: String = (0..100).map(|n| format!("{n}\n")).collect();
        assert_eq!(steps, expected, "{id}");
    }
    root.expect_exit(0);
    for relay in &mut relays {
        relay.expect_exit(0);
    }
    for name in ["status.json", "status-rack-1.json", "status-rack-2.json"] {
        assert!(here.join(name).exists(), "{name}");
    }
}
