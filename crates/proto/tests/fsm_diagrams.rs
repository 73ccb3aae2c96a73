//! The committed `fsm-diagrams/` (at the top of the repository) must be exactly what the code
//! generates from the transition table and the round controller. After changing either,
//! regenerate them with `LOCKSTEP_BLESS=1 cargo test -p lockstep-proto --test fsm_diagrams`
//! and commit the result.

// Compares and rewrites the committed files (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::collections::BTreeSet;
use std::path::Path;

#[test]
fn committed_diagrams_match_the_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fsm-diagrams");
    let generated = lockstep_proto::diagram::files();
    if std::env::var_os("LOCKSTEP_BLESS").is_some() {
        std::fs::create_dir_all(&dir).expect("create fsm-diagrams/");
        for (name, text) in &generated {
            std::fs::write(dir.join(name), text).expect("write a diagram");
        }
    }
    let mut stale = Vec::new();
    for (name, text) in &generated {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(committed) if committed == *text => {}
            _ => stale.push(name.to_string()),
        }
    }
    let expected: BTreeSet<&str> = generated.iter().map(|(name, _)| *name).collect();
    let extra: Vec<String> = std::fs::read_dir(&dir)
        .expect("fsm-diagrams/ exists")
        .map(|entry| entry.expect("list fsm-diagrams/").file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| !expected.contains(name.as_str()))
        .collect();
    assert!(
        stale.is_empty() && extra.is_empty(),
        "fsm-diagrams/ differs from the code (stale: {stale:?}, not generated: {extra:?}); \
         run LOCKSTEP_BLESS=1 cargo test -p lockstep-proto --test fsm_diagrams"
    );
}
