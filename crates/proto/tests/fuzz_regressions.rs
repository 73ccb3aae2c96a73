//! Every input the fuzzers ever found a fault with, replayed on every `cargo test`:
//! `tests/fuzz-regressions/core/` through the whole-core script (`lockstep_proto::sim::script`,
//! every invariant checked after every step), `tests/fuzz-regressions/decode/` through both
//! decoders. A new finding goes into the matching folder once it is fixed; the README's
//! "Fuzzing" section says how.

// Reads the regression files.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::{Path, PathBuf};

fn inputs(kind: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-regressions")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let data = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            (path, data)
        })
        .collect()
}

#[test]
fn core_findings_keep_every_invariant() {
    let found = inputs("core");
    assert!(!found.is_empty(), "no core regression inputs");
    for (path, data) in found {
        if let Err(violation) = lockstep_proto::sim::script::run(&data) {
            panic!("{}: {violation}", path.display());
        }
    }
}
