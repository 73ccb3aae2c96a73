//! `conductor join`'s watcher: runs each step's command in a process group of its own, and a
//! helper thread that watches for signals and for the end of the conductor's connection while
//! the main thread is busy (waiting for the command, or reading the connection between steps).
//!
//! - SIGTERM, SIGINT or SIGHUP: the helper passes the signal on to the running command's
//!   process group, sends `X` to the conductor, waits up to [`GRACE`] for the command to end,
//!   kills with SIGKILL whatever is left of its group then (a command that outlived the grace,
//!   or processes it started that ignore the signal), and ends the process with 128 + the
//!   signal's number.
//!   From then on the main thread starts no command and sends nothing more: it parks until
//!   the helper has ended the process.
//! - Without reconnecting (`--reconnect-ms 0`), the connection ends while a command runs: the
//!   helper says so on stderr at once; the command goes on, and join ends as before once it
//!   exits. (With reconnecting, the client announces the outage itself once the command has
//!   exited, and rides it out.)
//!
//! The helper alone signals the command's group, and only while the main thread has not
//! reaped the command (it waits with `WNOWAIT` first), so a signal never reaches a process
//! group whose id was given to someone else.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGHUP, SIGINT, SIGKILL, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use lockstep::Sender;

/// How long a command may take to end after the signal is passed on, before SIGKILL.
pub const GRACE: Duration = Duration::from_secs(5);

const SIGNALS: Token = Token(0);
const CONNECTION: Token = Token(1);

#[derive(Default)]
struct State {
    /// The command running now: its pid (also its process group) and the step.
    running: Option<(i32, u32)>,
    /// The signal ending join, once one came.
    stopping: Option<i32>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Notified when the running command has ended.
    ended: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; take the state either way.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The watcher: the state shared with the helper thread.
pub struct Watch {
    shared: Arc<Shared>,
}

impl Watch {
    /// Starts the helper, watching `connection` (a second descriptor of the connection), if
    /// given, for its end and leaving through `sender`; `tag` opens its lines on stderr.
    pub fn start(connection: Option<OwnedFd>, sender: Sender, tag: String) -> io::Result<Watch> {
        let poll = Poll::new()?;
        let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        if let Some(connection) = &connection {
            poll.registry().register(
                &mut SourceFd(&connection.as_raw_fd()),
                CONNECTION,
                Interest::READABLE,
            )?;
        }
        let shared = Arc::new(Shared::default());
        let helper = Helper {
            shared: Arc::clone(&shared),
            connection,
            sender,
            tag,
        };
        std::thread::Builder::new()
            .name("join-watch".to_string())
            .spawn(move || helper.run(poll, signals))?;
        Ok(Watch { shared })
    }

    /// Runs `command` for `step` in a process group of its own and waits for it to exit. If
    /// a signal is ending join, parks instead (the helper ends the process).
    pub fn run_step(&self, command: &mut Command, step: u32) -> io::Result<ExitStatus> {
        let mut child = {
            let mut state = self.shared.lock();
            if state.stopping.is_some() {
                drop(state);
                park_forever();
            }
            let child = command.process_group(0).spawn()?;
            let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
            state.running = Some((pid, step));
            child
        };
        let pid = child.id();
        // Waits for the exit but leaves the command unreaped, so that its process group id
        // stays its own until the helper can no longer signal it.
        let _ = wait_without_reaping(pid);
        {
            let mut state = self.shared.lock();
            state.running = None;
            self.shared.ended.notify_all();
            if state.stopping.is_some() {
                drop(state);
                let _ = child.wait();
                park_forever();
            }
        }
        child.wait()
    }

    /// Called once the run has ended: if a signal is ending join, parks (the helper ends the
    /// process with its own code), so that the run's outcome is not reported instead.
    pub fn settle(&self) {
        if self.shared.lock().stopping.is_some() {
            park_forever();
        }
    }
}

fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}

/// Waits until the process `pid` has exited, without reaping it.
fn wait_without_reaping(pid: u32) -> io::Result<()> {
    loop {
        // SAFETY: an all-zero siginfo_t is a valid value for waitid to fill in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid writes only into `info`, which lives for the call.
        let result =
            unsafe { libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOWAIT) };
        if result == 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// Sends `signal` to the process group `group`.
fn signal_group(group: i32, signal: i32) {
    // SAFETY: kill has no memory effects; a negative pid names a process group.
    unsafe {
        libc::kill(-group, signal);
    }
}

/// Whether any process is left in the process group `group`.
fn group_exists(group: i32) -> bool {
    // SAFETY: kill with signal 0 only checks; it has no memory effects.
    unsafe { libc::kill(-group, 0) == 0 }
}

/// The helper thread's side.
struct Helper {
    shared: Arc<Shared>,
    /// Kept open while the helper watches it.
    #[allow(dead_code)]
    connection: Option<OwnedFd>,
    sender: Sender,
    tag: String,
}

impl Helper {
    fn run(self, mut poll: Poll, mut signals: Signals) {
        let mut events = Events::with_capacity(8);
        let mut connected = true;
        loop {
            if let Err(e) = poll.poll(&mut events, None) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                eprintln!("{}: cannot watch for signals any more: {e}", self.tag);
                return;
            }
            for event in events.iter() {
                match event.token() {
                    SIGNALS => {
                        if let Some(signal) = signals.pending().next() {
                            self.stop(signal);
                        }
                    }
                    CONNECTION if connected && (event.is_read_closed() || event.is_error()) => {
                        connected = false;
                        self.connection_ended();
                    }
                    _ => {}
                }
            }
        }
    }

    /// The conductor's connection ended: says so at once if a command is running (otherwise
    /// the main thread is reading and reports it itself).
    fn connection_ended(&self) {
        if let Some((pid, step)) = self.shared.lock().running {
            eprintln!(
                "{}: the connection to the conductor ended during step {step}; its command \
                 (pid {pid}) goes on, and join ends when it exits",
                self.tag
            );
        }
    }

    /// Passes `signal` on to the command, leaves the conductor with `X`, waits for the command
    /// to end and exits with 128 + `signal`.
    fn stop(&self, signal: i32) -> ! {
        let name = signal_hook::low_level::signal_name(signal).unwrap_or("a signal");
        let running = {
            let mut state = self.shared.lock();
            state.stopping = Some(signal);
            state.running
        };
        match running {
            Some((pid, step)) => {
                signal_group(pid, signal);
                eprintln!(
                    "{}: {name}: passed on to step {step}'s command (pid {pid}); leaving",
                    self.tag
                );
            }
            None => eprintln!("{}: {name}: leaving", self.tag),
        }
        // Through the client's own machine, so it cannot interleave with the main thread's
        // messages; the main thread sends nothing more afterwards.
        let _ = self.sender.leave();
        if let Some((pid, _)) = running {
            let state = self.shared.lock();
            let (state, _) = self
                .shared
                .ended
                .wait_timeout_while(state, GRACE, |s| s.running.is_some())
                .unwrap_or_else(PoisonError::into_inner);
            // Whatever is left of the group (the command itself if it outlived the grace, or
            // processes it started that ignore the signal, as a shell's background jobs ignore
            // SIGINT) would outlive join: end it. The group id cannot have been reused while
            // any of it is left.
            if group_exists(pid) {
                signal_group(pid, SIGKILL);
                let what = if state.running.is_some() {
                    format!("the command did not end within {} s", GRACE.as_secs())
                } else {
                    "processes of the command were left".to_string()
                };
                eprintln!("{}: {what}: killed its process group", self.tag);
            }
            let _ = self
                .shared
                .ended
                .wait_timeout_while(state, GRACE, |s| s.running.is_some());
        }
        std::process::exit(128 + signal);
    }
}
