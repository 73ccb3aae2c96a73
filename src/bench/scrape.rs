//! `conductor bench --scrape-http`: scrapes the spawned conductor's `/metrics` before the
//! clients start and then once a second on a thread of its own while they run, as a Prometheus server would, so that a run
//! with the endpoint on and scraped can be set against one with it off. Counts the scrapes
//! that got a complete answer and those that did not.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How often `/metrics` is scraped.
pub const EVERY: Duration = Duration::from_secs(1);
/// How long one scrape may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Scrapes done during a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scrapes {
    /// Answered 200 with the conductor's metrics.
    pub ok: u64,
    /// Failed, or answered otherwise.
    pub failed: u64,
}

impl Scrapes {
    fn count(&mut self, ok: bool) {
        if ok {
            self.ok += 1;
        } else {
            self.failed += 1;
        }
    }
}

/// The scraping thread.
pub struct Scraper {
    stop: Sender<()>,
    thread: JoinHandle<Scrapes>,
}

impl Scraper {
    /// Scrapes `addr` once before returning (before the clients start), then every [`EVERY`]
    /// on a thread until stopped.
    pub fn start(addr: SocketAddr) -> Scraper {
        let (stop, stopped) = mpsc::channel();
        let mut scrapes = Scrapes::default();
        scrapes.count(scrape(addr));
        let thread = std::thread::spawn(move || loop {
            match stopped.recv_timeout(EVERY) {
                Err(RecvTimeoutError::Timeout) => scrapes.count(scrape(addr)),
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return scrapes,
            }
        });
        Scraper { stop, thread }
    }

    /// Stops scraping and returns the count.
    pub fn stop(self) -> Scrapes {
        let _ = self.stop.send(());
        self.thread.join().unwrap_or_default()
    }
}

/// One `GET /metrics`: true when the answer is a 200 with the rounds counter in it.
fn scrape(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, TIMEOUT) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(TIMEOUT));
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    if stream.read_to_end(&mut answer).is_err() {
        return false;
    }
    let answer = String::from_utf8_lossy(&answer);
    answer.starts_with("HTTP/1.1 200 ") && answer.contains("\nlockstep_rounds_completed_total ")
}
