//! Log lines in batches: the logger writes into memory, and the lines reach the log file or
//! stderr when the driver flushes them — at most [`FLUSH_AFTER`] after the first line of a
//! batch, at once when [`BATCH_LIMIT`] bytes have gathered, and on the way out. At thousands
//! of rounds a second the debug lines for each wave and round end would otherwise cost a write
//! call each, more than the round's own reads and writes.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use lockstep_proto::time::Duration;

/// How long a logged line may wait in memory before the driver writes it out.
pub const FLUSH_AFTER: Duration = Duration::from_millis(100);

/// Bytes gathered beyond which a batch is written at once.
pub const BATCH_LIMIT: usize = 64 * 1024;

/// Shared between a [`BatchedWriter`] and the driver: whether some line is in memory only.
#[derive(Clone, Debug, Default)]
pub struct LogBatch(Arc<AtomicBool>);

impl LogBatch {
    /// True while some logged line has not reached its destination yet.
    pub fn has_unwritten(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, unwritten: bool) {
        self.0.store(unwritten, Ordering::Relaxed);
    }
}

/// A writer that gathers what is written and passes it on in one call on `flush`.
pub struct BatchedWriter<W: Write> {
    inner: W,
    batch: Vec<u8>,
    state: LogBatch,
}

impl<W: Write> BatchedWriter<W> {
    /// Batches writes to `inner`; `state` tells whoever holds a clone when to flush.
    pub fn new(inner: W, state: LogBatch) -> Self {
        BatchedWriter {
            inner,
            batch: Vec::with_capacity(4096),
            state,
        }
    }

    /// Passes the batch on. It is dropped even when writing fails, so that a broken log
    /// destination never makes memory grow.
    fn write_batch(&mut self) -> io::Result<()> {
        let result = self.inner.write_all(&self.batch);
        self.batch.clear();
        self.state.set(false);
        result
    }
}

impl<W: Write> Write for BatchedWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.batch.extend_from_slice(bytes);
        self.state.set(true);
        if self.batch.len() >= BATCH_LIMIT {
            self.write_batch()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.batch.is_empty() {
            self.write_batch()?;
        }
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_held_until_flush_or_the_limit() {
        let state = LogBatch::default();
        let mut out = BatchedWriter::new(Vec::new(), state.clone());
        assert!(!state.has_unwritten());
        out.write_all(b"one\n").unwrap();
        out.write_all(b"two\n").unwrap();
        assert!(out.inner.is_empty());
        assert!(state.has_unwritten());
        out.flush().unwrap();
        assert_eq!(out.inner, b"one\ntwo\n");
        assert!(!state.has_unwritten());

        out.write_all(&vec![b'x'; BATCH_LIMIT]).unwrap();
        assert_eq!(out.inner.len(), 8 + BATCH_LIMIT);
        assert!(out.batch.is_empty());
    }

    #[test]
    fn a_failing_destination_drops_the_batch() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("gone"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut out = BatchedWriter::new(Broken, LogBatch::default());
        out.write_all(b"line\n").unwrap();
        assert!(out.flush().is_err());
        assert!(out.batch.is_empty());
    }
}
