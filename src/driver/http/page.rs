//! The status page served at `/`: one self-contained HTML file (`page.html`, its style and
//! script inline, nothing loaded from elsewhere, so it works offline) that fetches
//! `status.json` and `recent.json` every second and shows the phase, the step, rounds per
//! second, a chart of the last round durations, the participants (those the round waits on
//! first, highlighted), and the recent removals and refusals. Its layout flows from a phone's
//! width to a laptop's.

/// The page.
pub const PAGE: &str = include_str!("page.html");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for needle in [
            "src=", "href=", "@import", "url(", "//cdn", "<link", "<iframe",
        ] {
            assert!(!PAGE.contains(needle), "the page contains {needle:?}");
        }
        // The only address in it is the SVG namespace, which is a name, not a download.
        let addresses: Vec<&str> = PAGE
            .match_indices("http")
            .map(|(i, _)| &PAGE[i..])
            .collect();
        for rest in addresses {
            assert!(
                rest.starts_with("http://www.w3.org/2000/svg\""),
                "{}",
                &rest[..40]
            );
        }
        assert!(PAGE.contains("name=\"viewport\""));
    }

    #[test]
    fn text_from_the_conductor_goes_in_as_text() {
        assert!(!PAGE.contains("innerHTML") && !PAGE.contains("outerHTML"));
        assert!(!PAGE.contains("document.write") && !PAGE.contains("eval("));
    }
}
