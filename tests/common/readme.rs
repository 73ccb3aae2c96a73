//! The README as the tests read it: its text, and the fenced blocks the tests run as written.

/// The README, as built into the test binary.
pub const README: &str = include_str!("../../README.md");

/// The body of the first fenced block whose first line starts with `first_line`.
pub fn block(first_line: &str) -> String {
    let mut lines = README.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("```") {
            let body: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.starts_with("```"))
                .collect();
            if body.first().is_some_and(|l| l.starts_with(first_line)) {
                return body.join("\n") + "\n";
            }
        }
    }
    panic!("README has no block starting with {first_line:?}");
}

/// The body of the first fenced block that contains `text`.
pub fn block_with(text: &str) -> String {
    let mut lines = README.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("```") {
            let body: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.starts_with("```"))
                .collect();
            let body = body.join("\n") + "\n";
            if body.contains(text) {
                return body;
            }
        }
    }
    panic!("README has no block with {text:?}");
}
