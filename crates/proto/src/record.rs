//! The state record (PROTOCOL.md "Surviving restarts"): what a conductor persists before each
//! wave so that a conductor started later with the same state file resumes the run, the
//! record's fixed-size encoding with its checksum, and the state file's two alternating slots,
//! torn writes included. Pure: the core outputs a [`Record`], the driver reads and writes the
//! file.
//!
//! # The state file
//! [`FILE_LEN`] bytes: slot 0 at offset 0, slot 1 at [`SLOT_STRIDE`], each [`SLOT_LEN`] bytes,
//! the rest zeros. A record is written in place into the slot that does not hold the newest
//! one, so a write cut short by a crash (a torn write) can only damage that slot: the other
//! still holds the record before. The slots sit in different 4 KiB blocks, so a device that
//! writes whole blocks cannot tear both at once.
//!
//! A slot, all integers little-endian:
//!
//! | bytes | what |
//! |---|---|
//! | 0..8 | `LKSTATE1`: what the file is, and the format's version |
//! | 8..16 | the write's sequence number: the newer of two valid slots has the higher |
//! | 16..24 | waves sent, including the wave recorded |
//! | 24..32 | `rounds` of the run |
//! | 32..40 | `step_wrap` of the run |
//! | 40..44 | the step of the wave recorded |
//! | 44..48 | flags: bit 0 = the run has finished (its planned end came) |
//! | 48..60 | zeros |
//! | 60..64 | CRC-32 (IEEE) of bytes 0..60 |
//!
//! A slot of zeros is empty. The checksum is CRC-32, computed here from its table: a record is
//! 60 bytes written once a wave, so speed does not matter, and the protocol crate keeps its
//! dependencies to a minimum.

use std::fmt;

use crate::round::RoundConfig;

/// Bytes of one slot.
pub const SLOT_LEN: usize = 64;
/// Where slot 1 starts; slot 0 starts at 0.
pub const SLOT_STRIDE: usize = 4096;
/// Bytes of a state file.
pub const FILE_LEN: usize = SLOT_STRIDE + SLOT_LEN;
/// The first bytes of every slot in use.
pub const MAGIC: [u8; 8] = *b"LKSTATE1";

const FINISHED: u32 = 1;

/// What a conductor records before a wave's Go leaves: that wave, and the run it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    /// The step of the wave recorded.
    pub step: u32,
    /// Waves sent, including the one recorded; 0 for a run that has sent none.
    pub waves_sent: u64,
    /// `rounds` of the run: 0 = until stopped.
    pub rounds: u64,
    /// `step_wrap` of the run.
    pub step_wrap: u64,
    /// The run reached its planned end: a conductor started later begins at step 0.
    pub finished: bool,
}

impl Record {
    /// The record of a run that has sent no wave yet.
    pub fn start(config: &RoundConfig) -> Record {
        Record {
            step: 0,
            waves_sent: 0,
            rounds: config.rounds,
            step_wrap: config.step_wrap,
            finished: false,
        }
    }

    /// The slot holding this record as write number `seq`.
    pub fn encode(&self, seq: u64) -> [u8; SLOT_LEN] {
        let mut slot = [0u8; SLOT_LEN];
        slot[0..8].copy_from_slice(&MAGIC);
        slot[8..16].copy_from_slice(&seq.to_le_bytes());
        slot[16..24].copy_from_slice(&self.waves_sent.to_le_bytes());
        slot[24..32].copy_from_slice(&self.rounds.to_le_bytes());
        slot[32..40].copy_from_slice(&self.step_wrap.to_le_bytes());
        slot[40..44].copy_from_slice(&self.step.to_le_bytes());
        let flags = if self.finished { FINISHED } else { 0 };
        slot[44..48].copy_from_slice(&flags.to_le_bytes());
        let crc = crc32(&slot[..SLOT_LEN - 4]);
        slot[SLOT_LEN - 4..].copy_from_slice(&crc.to_le_bytes());
        slot
    }

    /// A whole state file holding only this record, as write number 0 (slot 0): what a new
    /// state file starts as.
    pub fn new_file(&self) -> Vec<u8> {
        let mut file = vec![0u8; FILE_LEN];
        file[..SLOT_LEN].copy_from_slice(&self.encode(0));
        file
    }

    /// Where in the file write number `seq` goes: the slots alternate.
    pub fn offset(seq: u64) -> usize {
        if seq.is_multiple_of(2) {
            0
        } else {
            SLOT_STRIDE
        }
    }

    /// Where a conductor with `config` resumes after this record: nowhere (step 0) after a
    /// finished run or one that sent no wave, otherwise the wave recorded, sent again. A record
    /// of another `step_wrap` or `rounds` is refused: its steps would not continue the run.
    pub fn resume_point(&self, config: &RoundConfig) -> Result<Option<u64>, StateError> {
        if self.step_wrap != config.step_wrap {
            return Err(StateError::OtherRun {
                key: "step_wrap",
                recorded: self.step_wrap,
                configured: config.step_wrap,
            });
        }
        if self.rounds != config.rounds {
            return Err(StateError::OtherRun {
                key: "rounds",
                recorded: self.rounds,
                configured: config.rounds,
            });
        }
        Ok((!self.finished && self.waves_sent > 0).then_some(self.waves_sent))
    }

    /// The step the `waves_sent`-th wave of a run with `step_wrap` carries (`waves_sent` ≥ 1).
    pub fn step_of_wave(waves_sent: u64, step_wrap: u64) -> u32 {
        // The remainder is below step_wrap ≤ 2^32.
        (waves_sent.saturating_sub(1) % step_wrap.max(1)) as u32
    }
}

/// What one slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// A whole record, written as number `seq`.
    Valid(Record, u64),
    /// Zeros: never written.
    Empty,
    /// Not a slot of a state file.
    Foreign,
    /// A slot whose checksum or contents do not hold: a torn write, or damage.
    Damaged,
}

fn decode_slot(bytes: &[u8]) -> Slot {
    if bytes.iter().all(|&b| b == 0) {
        return Slot::Empty;
    }
    if bytes.len() != SLOT_LEN || bytes[0..8] != MAGIC {
        return Slot::Foreign;
    }
    let crc = u32::from_le_bytes([bytes[60], bytes[61], bytes[62], bytes[63]]);
    if crc != crc32(&bytes[..SLOT_LEN - 4]) || bytes[48..60].iter().any(|&b| b != 0) {
        return Slot::Damaged;
    }
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[i..i + 8]);
        u64::from_le_bytes(b)
    };
    let u32_at =
        |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let flags = u32_at(44);
    let record = Record {
        step: u32_at(40),
        waves_sent: u64_at(16),
        rounds: u64_at(24),
        step_wrap: u64_at(32),
        finished: flags & FINISHED != 0,
    };
    let consistent = (1..=1 << 32).contains(&record.step_wrap)
        && flags & !FINISHED == 0
        && (record.waves_sent > 0 || record.step == 0)
        && (record.waves_sent == 0
            || record.step == Record::step_of_wave(record.waves_sent, record.step_wrap))
        && (record.rounds == 0 || record.waves_sent <= record.rounds);
    if consistent {
        Slot::Valid(record, u64_at(8))
    } else {
        Slot::Damaged
    }
}

/// The newest whole record in a state file's bytes, with its sequence number; `None` for an
/// empty file (created, never written). See the module docs.
pub fn read(file: &[u8]) -> Result<Option<(Record, u64)>, StateError> {
    if file.is_empty() {
        return Ok(None);
    }
    if file.len() != FILE_LEN {
        let ours = file.starts_with(&MAGIC) || MAGIC.starts_with(file);
        return Err(if ours {
            StateError::Length { len: file.len() }
        } else {
            StateError::NotAStateFile
        });
    }
    let slots = [
        decode_slot(&file[..SLOT_LEN]),
        decode_slot(&file[SLOT_STRIDE..]),
    ];
    let newest = slots
        .iter()
        .filter_map(|s| match s {
            Slot::Valid(record, seq) => Some((*record, *seq)),
            _ => None,
        })
        .max_by_key(|(_, seq)| *seq);
    match newest {
        Some(found) => Ok(Some(found)),
        None if slots.contains(&Slot::Damaged) => Err(StateError::Corrupt),
        None => Err(StateError::NotAStateFile),
    }
}

/// Why a state file cannot be resumed from. Its text follows the file's name in messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateError {
    /// It starts as a state file does but is shorter (truncated) or longer.
    Length {
        /// Its length.
        len: usize,
    },
    /// Neither slot holds a record: it is some other file.
    NotAStateFile,
    /// Both slots are damaged: no whole record is left.
    Corrupt,
    /// The record belongs to a run with another setting.
    OtherRun {
        /// The setting.
        key: &'static str,
        /// Its value in the record.
        recorded: u64,
        /// Its value now.
        configured: u64,
    },
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Length { len } if *len < FILE_LEN => {
                write!(f, "truncated: {len} bytes, a state file has {FILE_LEN}")
            }
            StateError::Length { len } => write!(
                f,
                "{len} bytes long, a state file has {FILE_LEN}: something was written into it"
            ),
            StateError::NotAStateFile => f.write_str("not a Lockstep state file"),
            StateError::Corrupt => {
                f.write_str("corrupt: neither of its two slots holds a whole record")
            }
            StateError::OtherRun {
                key,
                recorded,
                configured,
            } => write!(
                f,
                "written for {key} {recorded}, but {key} is {configured}: its steps would not \
                 continue this run"
            ),
        }
    }
}

impl std::error::Error for StateError {}

/// CRC-32 with the IEEE polynomial (reflected, as zlib and Ethernet compute it).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc = CRC_TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    fn config(rounds: u64, step_wrap: u64) -> RoundConfig {
        RoundConfig {
            rounds,
            step_wrap,
            slow_round: Duration::ZERO,
            ..RoundConfig::default()
        }
    }

    fn record(waves_sent: u64) -> Record {
        Record {
            step: Record::step_of_wave(waves_sent, 7),
            waves_sent,
            rounds: 60,
            step_wrap: 7,
            finished: false,
        }
    }

    /// The file after writes number 0 ..= last, write `n` recording `n` waves.
    fn written(last: u64) -> Vec<u8> {
        let mut file = Record::start(&config(60, 7)).new_file();
        for seq in 1..=last {
            let at = Record::offset(seq);
            file[at..at + SLOT_LEN].copy_from_slice(&record(seq).encode(seq));
        }
        file
    }

    #[test]
    fn the_checksum_is_crc32_ieee() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn a_record_reads_back_from_its_slot() {
        let r = Record {
            finished: true,
            ..record(60)
        };
        let mut file = vec![0u8; FILE_LEN];
        file[SLOT_STRIDE..].copy_from_slice(&r.encode(9));
        assert_eq!(read(&file), Ok(Some((r, 9))));
        assert_eq!(read(&[]), Ok(None));
    }

    #[test]
    fn the_newer_slot_wins_and_slots_alternate() {
        assert_eq!(
            read(&written(0)),
            Ok(Some((Record::start(&config(60, 7)), 0)))
        );
        for last in 1..6 {
            assert_eq!(read(&written(last)), Ok(Some((record(last), last))));
        }
        assert_ne!(Record::offset(4), Record::offset(5));
    }

    #[test]
    fn a_torn_write_leaves_the_record_before() {
        for last in 1..5u64 {
            let good = written(last - 1);
            let new = record(last).encode(last);
            let at = Record::offset(last);
            // Any prefix of the new slot over the old one, and any suffix (a write may land
            // in any order of its bytes' sectors).
            for cut in 1..SLOT_LEN {
                for range in [0..cut, cut..SLOT_LEN] {
                    let mut file = good.clone();
                    file[at + range.start..at + range.end].copy_from_slice(&new[range]);
                    let read = read(&file)
                        .expect("the older slot is whole")
                        .expect("a record");
                    if read.1 == last {
                        // The torn part was equal to what was there: the new record is whole.
                        assert_eq!(file[at..at + SLOT_LEN], new[..]);
                    } else {
                        assert_eq!(read, (record_or_start(last - 1), last - 1));
                    }
                }
            }
        }
    }

    fn record_or_start(waves: u64) -> Record {
        if waves == 0 {
            Record::start(&config(60, 7))
        } else {
            record(waves)
        }
    }

    #[test]
    fn damage_in_both_slots_truncation_and_strangers_are_told_apart() {
        let mut both = written(2);
        both[20] ^= 1;
        both[SLOT_STRIDE + 20] ^= 1;
        assert_eq!(read(&both), Err(StateError::Corrupt));
        let file = written(3);
        assert_eq!(read(&file[..100]), Err(StateError::Length { len: 100 }));
        assert_eq!(read(&file[..30]), Err(StateError::Length { len: 30 }));
        assert_eq!(read(&file[..3]), Err(StateError::Length { len: 3 }));
        let mut longer = file.clone();
        longer.extend_from_slice(b"more");
        assert!(read(&longer)
            .unwrap_err()
            .to_string()
            .starts_with("4164 bytes long"));
        assert_eq!(
            read(b"{\"not\": \"a state file\"}"),
            Err(StateError::NotAStateFile)
        );
        assert_eq!(read(&vec![b'x'; FILE_LEN]), Err(StateError::NotAStateFile));
        assert_eq!(read(&vec![0; FILE_LEN]), Err(StateError::NotAStateFile));
        // A whole checksum over contents no conductor writes is damage too.
        let mut odd = record(5);
        odd.step = 6;
        let mut file = vec![0u8; FILE_LEN];
        file[..SLOT_LEN].copy_from_slice(&odd.encode(1));
        assert_eq!(read(&file), Err(StateError::Corrupt));
        let text = StateError::Length { len: 100 }.to_string();
        assert_eq!(text, "truncated: 100 bytes, a state file has 4160");
    }

    #[test]
    fn the_resume_point_is_the_wave_recorded_unless_the_run_finished() {
        let c = config(60, 7);
        assert_eq!(record(12).resume_point(&c), Ok(Some(12)));
        assert_eq!(Record::start(&c).resume_point(&c), Ok(None));
        let done = Record {
            finished: true,
            ..record(60)
        };
        assert_eq!(done.resume_point(&c), Ok(None));
        let other = record(12).resume_point(&config(60, 8)).unwrap_err();
        assert_eq!(
            other.to_string(),
            "written for step_wrap 7, but step_wrap is 8: its steps would not continue this run"
        );
        assert!(matches!(
            record(12).resume_point(&config(61, 7)),
            Err(StateError::OtherRun { key: "rounds", .. })
        ));
    }
}
