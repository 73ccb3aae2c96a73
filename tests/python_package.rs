//! The Python client as a package, installed as the README says: in a fresh virtual
//! environment, the README's `pip install ./clients/python`, then `import lockstep` from
//! another directory runs a participant against the real conductor, and the client's tests
//! run once under pytest against the installed package. pip fetches the build backend and
//! pytest from the package index: under CI (`CI=true`) an index out of reach fails the test,
//! elsewhere the test says what it skipped.

// Tests and examples use sockets, clocks, files and threads freely (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::participants::{python3, python_dir, python_test_modules, Participant};
use common::readme::block;
use common::{Conductor, TempDir, DEADLINE};

const PYPROJECT: &str = include_str!("../clients/python/pyproject.toml");

/// A participant that says where `lockstep` came from and its version, then prints each step.
const PARTICIPANT: &str = "\
import importlib.metadata, os, sys
import lockstep
print(os.path.dirname(lockstep.__file__))
print(importlib.metadata.version('lockstep'))
with lockstep.connect('pip', port=int(sys.argv[1]), on_event=lambda event: None) as c:
    for step in c:
        print(step)
";

#[test]
fn the_python_package_carries_the_workspaces_version_and_license() {
    let field = |key: &str, value: &str| format!("\n{key} = \"{value}\"\n");
    for (key, value) in [
        ("name", "lockstep"),
        ("version", env!("CARGO_PKG_VERSION")),
        ("license", env!("CARGO_PKG_LICENSE")),
    ] {
        assert!(
            PYPROJECT.contains(&field(key, value)),
            "pyproject.toml lacks {key} = {value:?}"
        );
    }
}

#[test]
fn the_python_package_installs_with_pip_and_works_from_anywhere() {
    let dir = TempDir::new("python-package");
    let Some(python) = fresh_venv(&dir.path("venv")) else {
        return;
    };

    // The README's command, run where it says: at the top of the checkout.
    let command = block("pip install ");
    let args: Vec<&str> = command
        .trim()
        .strip_prefix("pip ")
        .expect("a pip command")
        .split_whitespace()
        .collect();
    let installed = pip(&python, &args);
    if index_unreachable(&installed, "installing the Python package") {
        return;
    }
    assert!(installed.status.success(), "{}", said(&installed));

    // From a directory with no lockstep in it, the installed package joins a conductor.
    let elsewhere = dir.path("elsewhere");
    std::fs::create_dir(&elsewhere).expect("a scratch directory");
    let mut conductor = Conductor::start(&["--rounds", "3"]);
    let mut command = Command::new(&python);
    command
        .current_dir(&elsewhere)
        .env_remove("PYTHONPATH")
        .args(["-c", PARTICIPANT])
        .arg(conductor.addr.port().to_string());
    let mut participant = Participant::spawn(command);
    let status = participant.wait_exit(DEADLINE);
    assert!(status.success(), "{status}: {}", participant.stderr());
    let printed = participant.stdout();
    let lines: Vec<&str> = printed.lines().collect();
    let [package, version, steps @ ..] = lines.as_slice() else {
        panic!("{printed}");
    };
    let package = Path::new(package);
    let venv = dir.path("venv").canonicalize().expect("the venv");
    assert!(
        package
            .canonicalize()
            .expect("the package")
            .starts_with(&venv),
        "lockstep imported from {package:?}, not from {venv:?}"
    );
    assert!(
        package.join("py.typed").is_file(),
        "no py.typed in {package:?}"
    );
    assert_eq!(*version, env!("CARGO_PKG_VERSION"));
    assert_eq!(steps, ["0", "1", "2"]);
    assert_eq!(conductor.wait_exit(DEADLINE).code(), Some(0));

    // The client's tests under pytest, copied away from the checkout so that they import
    // the installed package.
    let got_pytest = pip(&python, &["install", "pytest"]);
    if index_unreachable(&got_pytest, "the tests under pytest") {
        return;
    }
    assert!(got_pytest.status.success(), "{}", said(&got_pytest));
    let suite = dir.path("suite");
    copy_tests(&suite.join("tests"));
    let run = Command::new(&python)
        .current_dir(&suite)
        .env_remove("PYTHONPATH")
        .env("LOCKSTEP_CONDUCTOR", env!("CARGO_BIN_EXE_conductor"))
        .args(["-m", "pytest", "-v", "-p", "no:cacheprovider", "tests"])
        .output()
        .expect("run pytest");
    let report = said(&run);
    assert!(run.status.success(), "pytest failed:\n{report}");
    assert!(report.contains(" passed"), "{report}");
    assert!(!report.contains("skipped"), "{report}");
    for module in python_test_modules() {
        assert!(
            report.contains(&format!("tests/{module}.py::")),
            "{module}: {report}"
        );
    }
}

/// A fresh virtual environment at `dir`; its python, or None (having said why) when
/// `python3 -m venv` does not work here. Under CI that fails the test: `.ci/run` installs
/// what it needs.
fn fresh_venv(dir: &Path) -> Option<PathBuf> {
    let made = python3()
        .args(["-m", "venv"])
        .arg(dir)
        .output()
        .expect("run python3 -m venv");
    if made.status.success() {
        return Some(dir.join("bin/python"));
    }
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "python3 -m venv fails under CI (.ci/run installs python3-venv): {}",
        said(&made)
    );
    eprintln!(
        "skipped: python3 -m venv does not work here (on Debian: apt-get install python3-venv): {}",
        said(&made)
    );
    None
}

/// `python -m pip ARGS...`, quietly and without pip's cache, so that every run builds and
/// fetches afresh.
fn pip(python: &Path, args: &[&str]) -> Output {
    Command::new(python)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("PYTHONPATH")
        .args([
            "-m",
            "pip",
            "--disable-pip-version-check",
            "--no-input",
            "--no-cache-dir",
        ])
        .args(args)
        .output()
        .expect("run pip")
}

/// Whether pip failed because it could not get a package from the index. Under CI that fails
/// the test (the index is in reach there); elsewhere the test says that it skips `what`.
fn index_unreachable(output: &Output, what: &str) -> bool {
    let words = said(output);
    if output.status.success() || !words.contains("No matching distribution found") {
        return false;
    }
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "pip cannot reach the package index under CI:\n{words}"
    );
    eprintln!("skipped {what}: pip cannot reach the package index:\n{words}");
    true
}

/// Copies the Python client's tests (the `.py` files of `clients/python/tests`) into `to`.
fn copy_tests(to: &Path) {
    std::fs::create_dir_all(to).expect("the tests' directory");
    let from = python_dir().join("tests");
    for entry in std::fs::read_dir(&from).expect("list the Python tests") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "py") {
            let name = path.file_name().expect("a file name");
            std::fs::copy(&path, to.join(name))
                .unwrap_or_else(|e| panic!("copy {}: {e}", path.display()));
        }
    }
}

/// What a process printed, stdout then stderr.
fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
