//! `include/lockstep.h` is what cbindgen makes of this crate: the test generates the header
//! from the code and fails when the committed one differs, so a change to the API cannot leave
//! the header behind. `LOCKSTEP_BLESS=1 cargo test -p lockstep-capi --test header` writes
//! the generated header instead.
//!
//! Why a test and not a build script: the header is committed, so programs compile against it
//! without building anything, and a build script writing into the source tree would change a
//! committed file behind a plain `cargo build` (and make every build of the library pay for
//! cbindgen and its parser).

// Tests read and write files freely (see clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The header as cbindgen generates it from the crate's code and `cbindgen.toml`.
fn generated() -> String {
    let dir = crate_dir();
    let config =
        cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("read cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("the header is UTF-8")
}

fn committed_path() -> PathBuf {
    crate_dir().join("../../include/lockstep.h")
}

#[test]
fn the_committed_header_is_what_the_code_generates() {
    let generated = generated();
    let path = committed_path();
    if std::env::var_os("LOCKSTEP_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write include/lockstep.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let line = first_difference(&committed, &generated);
        panic!(
            "{} differs from what the code generates (first at line {line}); run \
             `LOCKSTEP_BLESS=1 cargo test -p lockstep-capi --test header` and commit the \
             result",
            shown(&path)
        );
    }
}

#[test]
fn the_header_declares_the_whole_api() {
    let header = generated();
    for name in [
        "lockstep_connect(",
        "lockstep_options_init(",
        "lockstep_run(",
        "lockstep_run_with_events(",
        "lockstep_step_error(",
        "lockstep_next_event(",
        "lockstep_ack(",
        "lockstep_working(",
        "lockstep_done(",
        "lockstep_leave(",
        "lockstep_refuse(",
        "lockstep_close(",
        "lockstep_last_error(",
        "lockstep_last_error_code(",
        "lockstep_version(",
        "typedef struct lockstep_client lockstep_client;",
        "LOCKSTEP_ERR_ARGUMENT = -1,",
        "LOCKSTEP_EVENT_GO = 1,",
    ] {
        assert!(header.contains(name), "the header lacks {name:?}");
    }
}

fn first_difference(a: &str, b: &str) -> usize {
    a.lines()
        .zip(b.lines())
        .position(|(x, y)| x != y)
        .unwrap_or_else(|| a.lines().count().min(b.lines().count()))
        + 1
}

fn shown(path: &Path) -> String {
    path.canonicalize()
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}
