//! Liveness: every pair of processes keeps a second TCP connection, opened and authenticated
//! during formation beside timely's, on which each side sends a byte every `interval` and
//! watches for the other's. Timely owns the data connections and notices a peer whose
//! connection breaks (it exited or was killed), but not one that is stopped (`kill -STOP`),
//! hung, or cut off by the network: its connection stays open and silent. The heartbeat notices
//! both: a closed heartbeat connection without a goodbye means the peer died, and no byte for
//! the peer timeout means it stopped answering. Either way the watching thread panics with a
//! message naming the peer, and the binary's panic hook (see [`crate::threads`]) prints it and
//! exits with status 1.
//!
//! The heartbeat runs from the moment a pair's heartbeat connection is authenticated until the
//! [`Heartbeat`] is dropped (after the cluster ran, or when formation fails), which sends a
//! goodbye: a process that ends normally is never mistaken for a dead one.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A heartbeat byte.
const BEAT: u8 = 1;
/// The last byte a process sends on a heartbeat connection when it ends normally.
const GOODBYE: u8 = 2;

/// The name prefix of the threads that watch a peer (followed by the peer's index); the panic
/// hook recognises it ([`crate::threads::role_of`]).
pub(crate) const THREAD_PREFIX: &str = "strads:heartbeat-";

/// The heartbeats of one process with its peers.
pub(crate) struct Heartbeat {
    process: usize,
    timeout: Duration,
    stop: Arc<AtomicBool>,
    peers: Vec<TcpStream>,
}

impl Heartbeat {
    /// Heartbeats of process `process`, which declares a peer lost after `timeout` of silence.
    pub(crate) fn new(process: usize, timeout: Duration) -> Heartbeat {
        Heartbeat {
            process,
            timeout,
            stop: Arc::new(AtomicBool::new(false)),
            peers: Vec::new(),
        }
    }

    /// The interval between two beats: a fifth of the timeout, between 10 ms and 1 s.
    fn interval(&self) -> Duration {
        (self.timeout / 5).clamp(Duration::from_millis(10), Duration::from_secs(1))
    }

    /// Starts beating to and watching `peer` on `stream` (an authenticated heartbeat
    /// connection).
    pub(crate) fn watch(&mut self, peer: usize, stream: TcpStream) -> std::io::Result<()> {
        let own = stream.try_clone()?;
        let watcher = Watcher {
            process: self.process,
            peer,
            timeout: self.timeout,
            interval: self.interval(),
            stop: self.stop.clone(),
            stream,
        };
        std::thread::Builder::new()
            .name(format!("{THREAD_PREFIX}{peer}"))
            .spawn(move || watcher.run())?;
        self.peers.push(own);
        Ok(())
    }
}

impl Drop for Heartbeat {
    /// Says goodbye to every peer: this process ends normally (or formation failed here, which
    /// every peer learns by itself), so none of them may take the closed connection for a crash.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for stream in &mut self.peers {
            let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
            let _ = stream.write_all(&[GOODBYE]);
            // Wakes the watcher, which sees the stop flag and returns.
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// The thread that beats to and watches one peer.
struct Watcher {
    process: usize,
    peer: usize,
    timeout: Duration,
    interval: Duration,
    stop: Arc<AtomicBool>,
    stream: TcpStream,
}

impl Watcher {
    fn run(mut self) {
        let _ = self.stream.set_nodelay(true);
        let _ = self.stream.set_write_timeout(Some(self.interval));
        let mut last_heard = Instant::now();
        let mut last_sent: Option<Instant> = None;
        let mut buffer = [0u8; 64];
        loop {
            if self.stopped() {
                return;
            }
            if last_sent.is_none_or(|t| t.elapsed() >= self.interval) {
                match self.stream.write_all(&[BEAT]) {
                    Ok(()) => {}
                    Err(e) if is_timeout(&e) => {}
                    Err(e) => self.lost(&e.to_string()),
                }
                last_sent = Some(Instant::now());
            }
            // Wake for the next beat, or when the peer's silence reaches the timeout.
            let until_next = self
                .interval
                .saturating_sub(last_sent.map_or(Duration::ZERO, |t| t.elapsed()));
            let until_lost = self.timeout.saturating_sub(last_heard.elapsed());
            let wait = until_next.min(until_lost).max(Duration::from_millis(1));
            let _ = self.stream.set_read_timeout(Some(wait));
            match self.stream.read(&mut buffer) {
                Ok(0) => self.lost("its heartbeat connection closed"),
                Ok(n) => {
                    if buffer[..n].contains(&GOODBYE) {
                        return; // the peer ended normally
                    }
                    last_heard = Instant::now();
                }
                Err(e) if is_timeout(&e) => {}
                Err(e) => self.lost(&e.to_string()),
            }
            let silence = last_heard.elapsed();
            if silence >= self.timeout && !self.stopped() {
                panic!(
                    "process {} heard no heartbeat from process {} for {:.1} s (the peer \
                     timeout): it is stopped, hung or cut off from the network",
                    self.process,
                    self.peer,
                    silence.as_secs_f64()
                );
            }
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// The connection broke: the peer died, unless this process is ending itself.
    fn lost(&self, how: &str) {
        if self.stopped() {
            return;
        }
        panic!(
            "process {} lost its connection to process {} (it exited or was killed): {how}",
            self.process, self.peer
        );
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::Interrupted
    )
}
