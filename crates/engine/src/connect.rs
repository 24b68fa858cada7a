//! Cluster formation: opens, authenticates and vets the TCP connections between processes.
//!
//! Process `i` dials every process `j < i` and accepts from every `j > i`, as timely expects;
//! every pair has two connections, one for timely's data and one for the heartbeat
//! ([`crate::heartbeat`]). Each connection starts with a mutual HMAC-SHA256 challenge-response
//! over the cluster's secret:
//!
//! 1. the dialer sends `MAGIC, its process count, its index, the index it wants, the purpose,
//!    its nonce`;
//! 2. the acceptor answers `MAGIC, its process count, its index, its nonce` and the MAC (label
//!    `accept`) of everything both sides said;
//! 3. the dialer checks that MAC and sends its own (label `dial`) over the same transcript.
//!
//! Nonces are fresh random 32 bytes, so a recorded handshake cannot be replayed, and the two
//! labels keep one side's answer from serving as the other's. Only then are the claimed
//! indices and process count believed; on the data connection the two processes then exchange
//! their agreement lists ([`crate::agreement`]), compared once every connection is in.
//!
//! Accepting never waits on one connection: every accepted connection gets its own thread and a
//! deadline, and a connection that does not authenticate is dropped (counted for the error
//! message) without disturbing formation. The whole formation has one deadline, which always
//! holds.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::agreement::{self, Item};
use crate::error::{EngineError, Misconfiguration};
use crate::heartbeat::Heartbeat;
use crate::secret::{random_bytes, Secret};

/// "STRADS" + protocol version 2 (version 1 had no authentication).
const MAGIC: u64 = 0x5354_5241_4453_0002;
const NONCE: usize = 32;
const TAG: usize = 32;
/// The dialer's hello: magic, process count, index, wanted index, purpose, nonce.
const HELLO: usize = 5 * 8 + NONCE;
/// The acceptor's answer: magic, process count, index, nonce, MAC.
const ANSWER: usize = 3 * 8 + NONCE + TAG;
/// How long one connection may take to authenticate (bounded by formation's deadline too).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections being authenticated at once; more are closed at once (a flood is a denial of
/// service this design does not prevent, see README "Reliability").
const MAX_PENDING: usize = 64;
/// Pause between two attempts to reach a peer that is not listening yet.
const RETRY: Duration = Duration::from_millis(50);

/// What a connection is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    Data = 0,
    Heartbeat = 1,
}

impl Purpose {
    fn from_u64(value: u64) -> Option<Purpose> {
        match value {
            0 => Some(Purpose::Data),
            1 => Some(Purpose::Heartbeat),
            _ => None,
        }
    }
}

/// A formed cluster: timely's sockets (one per peer, `None` at this process) and the running
/// heartbeat.
pub(crate) struct Formed {
    pub(crate) sockets: Vec<Option<TcpStream>>,
    pub(crate) heartbeat: Heartbeat,
}

/// What every formation thread knows.
struct Context {
    secret: Secret,
    hosts: Vec<String>,
    me: usize,
    /// This process's agreement list, encoded.
    list: Vec<u8>,
    deadline: Instant,
}

impl Context {
    fn processes(&self) -> usize {
        self.hosts.len()
    }
}

/// What the formation threads report to the main one.
enum Event {
    /// An authenticated connection with `peer` (with the peer's list on a data connection).
    Admitted {
        peer: usize,
        purpose: Purpose,
        stream: TcpStream,
        list: Option<Vec<Item>>,
    },
    /// An accepted connection that did not authenticate, and why.
    Dropped { from: String, reason: String },
    /// A peer that proved the secret but is configured differently, or one that cannot be
    /// reached as it should: formation cannot succeed.
    Fatal(EngineError),
}

/// Forms the cluster: returns one data socket per peer (`None` at `me`) once every peer has
/// authenticated both connections and every agreement list equals `items`, with heartbeats
/// already running; or an error by `connect_timeout`.
pub(crate) fn form(
    hosts: &[String],
    me: usize,
    secret: &Secret,
    items: &[Item],
    connect_timeout: Duration,
    peer_timeout: Duration,
) -> Result<Formed, EngineError> {
    let deadline = Instant::now() + connect_timeout;
    let processes = hosts.len();
    let context = Arc::new(Context {
        secret: secret.clone(),
        hosts: hosts.to_vec(),
        me,
        list: agreement::encode(items),
        deadline,
    });
    if context.list.len() > agreement::MAX_ENCODED {
        return Err(EngineError::Config(format!(
            "the agreement list has {} bytes, more than the {} a peer accepts",
            context.list.len(),
            agreement::MAX_ENCODED
        )));
    }

    // Bind first so that peers with a higher index can reach us while we dial lower ones.
    let listener = TcpListener::bind(&hosts[me]).map_err(|e| EngineError::Connect {
        process: me,
        address: hosts[me].clone(),
        message: format!("cannot listen: {e}"),
        likely_cause: None,
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| connect_error(me, hosts, e))?;

    let (events, received) = mpsc::channel::<Event>();
    let stop = Arc::new(AtomicBool::new(false));
    let accepting = {
        let (context, events, stop) = (context.clone(), events.clone(), stop.clone());
        std::thread::Builder::new()
            .name("strads:accept".into())
            .spawn(move || accept_loop(listener, &context, &events, &stop))
            .map_err(|e| connect_error(me, hosts, e))?
    };
    // Stops the accepting thread (and so closes the listener) however formation ends.
    struct StopOnDrop(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
            if let Some(thread) = self.1.take() {
                let _ = thread.join();
            }
        }
    }
    let _accepting = StopOnDrop(stop, Some(accepting));

    let last_dial_error: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(vec![String::new(); me]));
    for peer in 0..me {
        let (context, events, errors) = (context.clone(), events.clone(), last_dial_error.clone());
        std::thread::Builder::new()
            .name(format!("strads:dial-{peer}"))
            .spawn(move || dial_peer(peer, &context, &events, &errors))
            .map_err(|e| connect_error(me, hosts, e))?;
    }
    drop(events);

    let mut heartbeat = Heartbeat::new(me, peer_timeout);
    let mut sockets: Vec<Option<TcpStream>> = (0..processes).map(|_| None).collect();
    let mut lists: Vec<Option<Vec<Item>>> = vec![None; processes];
    let mut beating = vec![false; processes];
    let mut missing = 2 * (processes - 1);
    let mut dropped = 0usize;
    let mut last_dropped = String::new();
    while missing > 0 {
        let now = Instant::now();
        let event = if now < deadline {
            received.recv_timeout(deadline - now)
        } else {
            Err(RecvTimeoutError::Timeout)
        };
        match event {
            Ok(Event::Admitted {
                peer,
                purpose,
                stream,
                list,
            }) => {
                let seen = match purpose {
                    Purpose::Data => sockets[peer].is_some(),
                    Purpose::Heartbeat => beating[peer],
                };
                if seen {
                    return Err(EngineError::Connect {
                        process: peer,
                        address: hosts[peer].clone(),
                        message: format!(
                            "two processes proved the cluster secret as process {peer}: every \
                             process needs its own index"
                        ),
                        likely_cause: Some(Misconfiguration::ProcessIndices),
                    });
                }
                match purpose {
                    Purpose::Data => {
                        sockets[peer] = Some(stream);
                        lists[peer] = list;
                    }
                    Purpose::Heartbeat => {
                        heartbeat
                            .watch(peer, stream)
                            .map_err(|e| connect_error(peer, hosts, e))?;
                        beating[peer] = true;
                    }
                }
                missing -= 1;
            }
            Ok(Event::Dropped { from, reason }) => {
                dropped += 1;
                last_dropped = format!("{from}: {reason}");
            }
            Ok(Event::Fatal(error)) => return Err(error),
            Err(timeout_or_disconnected) => {
                if Instant::now() < deadline {
                    if timeout_or_disconnected == RecvTimeoutError::Disconnected {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    continue;
                }
                // The first peer with a missing connection.
                let peer = (0..processes)
                    .find(|&p| p != me && (sockets[p].is_none() || !beating[p]))
                    .expect("a connection is missing");
                let mut message =
                    format!("did not connect within {} s", connect_timeout.as_secs_f64());
                if peer < me {
                    let reason = last_dial_error
                        .lock()
                        .map(|e| e[peer].clone())
                        .unwrap_or_default();
                    if !reason.is_empty() {
                        message.push_str(&format!(" (last attempt: {reason})"));
                    }
                }
                if dropped > 0 {
                    message.push_str(&format!(
                        "; {dropped} connection(s) that did not authenticate were dropped, the \
                         last from {last_dropped}"
                    ));
                }
                return Err(EngineError::Connect {
                    process: peer,
                    address: hosts[peer].clone(),
                    message,
                    // Connections that failed the handshake suggest a process with another
                    // secret (or a stranger): the one mistake a user can fix.
                    likely_cause: (dropped > 0).then_some(Misconfiguration::Secrets),
                });
            }
        }
    }
    if dropped > 0 {
        eprintln!(
            "warning: process {me} dropped {dropped} connection(s) that did not prove the \
             cluster secret (the last from {last_dropped})"
        );
    }
    // A peer that failed before it could run sent its error instead of its list: name it
    // before any difference (its list differs from every other).
    for (peer, list) in lists.iter().enumerate() {
        if let Some(message) = list.as_deref().and_then(agreement::failure_of) {
            return Err(EngineError::PeerFailed {
                process: peer,
                message: message.to_owned(),
            });
        }
    }
    for (peer, list) in lists.iter().enumerate() {
        if let Some(list) = list {
            if let Some(difference) = agreement::first_difference(items, list) {
                return Err(agreement::disagreement(peer, difference));
            }
        }
    }
    Ok(Formed { sockets, heartbeat })
}

/// Accepts connections until `stop`, each authenticated on its own thread.
fn accept_loop(
    listener: TcpListener,
    context: &Arc<Context>,
    events: &Sender<Event>,
    stop: &AtomicBool,
) {
    let pending = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, from)) => {
                if pending.load(Ordering::SeqCst) >= MAX_PENDING {
                    let _ = events.send(Event::Dropped {
                        from: from.to_string(),
                        reason: format!("more than {MAX_PENDING} connections were pending"),
                    });
                    continue; // closes it
                }
                pending.fetch_add(1, Ordering::SeqCst);
                let (context, events, done) = (context.clone(), events.clone(), pending.clone());
                let spawned = std::thread::Builder::new()
                    .name("strads:handshake".into())
                    .spawn(move || {
                        let event = match accept_handshake(stream, &context) {
                            Ok(event) => event,
                            Err(reason) => Event::Dropped {
                                from: from.to_string(),
                                reason,
                            },
                        };
                        done.fetch_sub(1, Ordering::SeqCst);
                        let _ = events.send(event);
                    });
                if spawned.is_err() {
                    pending.fetch_sub(1, Ordering::SeqCst);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            // E.g. out of file descriptors: keep going, formation's deadline still holds.
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// The bytes both MACs cover.
#[allow(clippy::too_many_arguments)]
fn transcript(
    dialer_processes: u64,
    dialer: u64,
    wanted: u64,
    purpose: u64,
    acceptor_processes: u64,
    acceptor: u64,
    dialer_nonce: &[u8],
    acceptor_nonce: &[u8],
) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(7 * 8 + 2 * NONCE);
    for value in [
        MAGIC,
        dialer_processes,
        dialer,
        wanted,
        purpose,
        acceptor_processes,
        acceptor,
    ] {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    bytes.extend_from_slice(dialer_nonce);
    bytes.extend_from_slice(acceptor_nonce);
    bytes
}

const ACCEPT_LABEL: &[u8] = b"strads accept\0";
const DIAL_LABEL: &[u8] = b"strads dial\0";

fn u64_at(bytes: &[u8], index: usize) -> u64 {
    u64::from_le_bytes(bytes[index * 8..index * 8 + 8].try_into().unwrap())
}

/// The acceptor's side of a handshake. `Err` is why the connection was dropped; a peer that
/// authenticated but is configured differently is a fatal event.
fn accept_handshake(mut stream: TcpStream, context: &Context) -> Result<Event, String> {
    let deadline = context.deadline.min(Instant::now() + HANDSHAKE_TIMEOUT);
    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    let mut hello = [0u8; HELLO];
    read_exact_by(&mut stream, &mut hello, deadline).map_err(|e| format!("no handshake: {e}"))?;
    if u64_at(&hello, 0) != MAGIC {
        return Err("not a strads handshake (or another version of strads)".into());
    }
    let (their_processes, dialer, wanted, purpose) = (
        u64_at(&hello, 1),
        u64_at(&hello, 2),
        u64_at(&hello, 3),
        u64_at(&hello, 4),
    );
    let dialer_nonce = &hello[5 * 8..];
    let acceptor_nonce: [u8; NONCE] = random_bytes().map_err(|e| e.to_string())?;
    let me = context.me as u64;
    let processes = context.processes() as u64;
    let transcript = transcript(
        their_processes,
        dialer,
        wanted,
        purpose,
        processes,
        me,
        dialer_nonce,
        &acceptor_nonce,
    );
    let mut answer = Vec::with_capacity(ANSWER);
    for value in [MAGIC, processes, me] {
        answer.extend_from_slice(&value.to_le_bytes());
    }
    answer.extend_from_slice(&acceptor_nonce);
    answer.extend_from_slice(&context.secret.mac(&[ACCEPT_LABEL, &transcript]));
    write_all_by(&mut stream, &answer, deadline).map_err(|e| e.to_string())?;
    let mut tag = [0u8; TAG];
    read_exact_by(&mut stream, &mut tag, deadline)
        .map_err(|e| format!("no proof of the secret: {e}"))?;
    if !context.secret.verify(&[DIAL_LABEL, &transcript], &tag) {
        return Err("wrong proof of the secret".into());
    }

    // From here on the peer knows the secret: what it says is what it was started with.
    let fatal_because = |message: String, likely_cause: Option<Misconfiguration>| {
        Ok(Event::Fatal(EngineError::Connect {
            process: dialer as usize,
            address: context
                .hosts
                .get(dialer as usize)
                .cloned()
                .unwrap_or_default(),
            message,
            likely_cause,
        }))
    };
    let fatal = |message: String| fatal_because(message, None);
    if their_processes != processes {
        return Ok(Event::Fatal(EngineError::Disagreement {
            process: dialer as usize,
            item: agreement::PROCESSES_ITEM.into(),
            here: processes.to_string(),
            there: their_processes.to_string(),
        }));
    }
    if wanted != me {
        return fatal(format!(
            "it reached this process ({me}, {}) as process {wanted}: do the hosts files agree?",
            context.hosts[context.me]
        ));
    }
    if dialer <= me || dialer >= processes {
        return fatal_because(
            format!(
                "process {dialer} connected to process {me}, which only lower-numbered \
                 processes do"
            ),
            Some(Misconfiguration::ProcessIndices),
        );
    }
    let Some(purpose) = Purpose::from_u64(purpose) else {
        return fatal(format!("unknown connection purpose {purpose}"));
    };
    let list = if purpose == Purpose::Data {
        let list = exchange_lists(&mut stream, context, deadline, false);
        match list {
            Ok(list) => Some(list),
            Err(e) => return fatal(agreement_failure(&e)),
        }
    } else {
        None
    };
    if let Err(e) = ready_for_use(&stream) {
        return fatal(e.to_string());
    }
    Ok(Event::Admitted {
        peer: dialer as usize,
        purpose,
        stream,
        list,
    })
}

/// Why a dial failed: worth another try (the peer is not up yet), or not.
enum DialError {
    Retry(String),
    Fatal(EngineError),
}

/// Opens and authenticates both connections to `peer` (a lower index), retrying until the
/// deadline while it is not reachable.
fn dial_peer(peer: usize, context: &Context, events: &Sender<Event>, errors: &Mutex<Vec<String>>) {
    // The heartbeat first: from the first connection of a pair on, each side watches the other.
    for purpose in [Purpose::Heartbeat, Purpose::Data] {
        loop {
            match dial_handshake(peer, purpose, context) {
                Ok((stream, list)) => {
                    let _ = events.send(Event::Admitted {
                        peer,
                        purpose,
                        stream,
                        list,
                    });
                    break;
                }
                Err(DialError::Fatal(error)) => {
                    let _ = events.send(Event::Fatal(error));
                    return;
                }
                Err(DialError::Retry(reason)) => {
                    if let Ok(mut errors) = errors.lock() {
                        errors[peer] = reason;
                    }
                    if Instant::now() + RETRY >= context.deadline {
                        return; // the main thread reports the missing peer
                    }
                    std::thread::sleep(RETRY);
                }
            }
        }
    }
}

fn dial_handshake(
    peer: usize,
    purpose: Purpose,
    context: &Context,
) -> Result<(TcpStream, Option<Vec<Item>>), DialError> {
    let address = &context.hosts[peer];
    let retry = |e: std::io::Error| DialError::Retry(e.to_string());
    let addr = address
        .to_socket_addrs()
        .map_err(retry)?
        .next()
        .ok_or_else(|| DialError::Retry(format!("{address} has no address")))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).map_err(retry)?;
    let deadline = context.deadline.min(Instant::now() + HANDSHAKE_TIMEOUT);
    let me = context.me as u64;
    let processes = context.processes() as u64;
    let dialer_nonce: [u8; NONCE] = random_bytes().map_err(DialError::Fatal)?;
    let mut hello = Vec::with_capacity(HELLO);
    for value in [MAGIC, processes, me, peer as u64, purpose as u64] {
        hello.extend_from_slice(&value.to_le_bytes());
    }
    hello.extend_from_slice(&dialer_nonce);
    write_all_by(&mut stream, &hello, deadline).map_err(retry)?;
    let mut answer = [0u8; ANSWER];
    // A peer that is not up yet, or is busy, closes the connection: try again.
    read_exact_by(&mut stream, &mut answer, deadline).map_err(retry)?;
    let fatal_because = |message: String, likely_cause: Option<Misconfiguration>| {
        DialError::Fatal(EngineError::Connect {
            process: peer,
            address: address.clone(),
            message,
            likely_cause,
        })
    };
    let fatal = |message: String| fatal_because(message, None);
    if u64_at(&answer, 0) != MAGIC {
        return Err(fatal(
            "the program listening there is not this version of strads".into(),
        ));
    }
    let (their_processes, acceptor) = (u64_at(&answer, 1), u64_at(&answer, 2));
    let acceptor_nonce = &answer[3 * 8..3 * 8 + NONCE];
    let tag = &answer[3 * 8 + NONCE..];
    let transcript = transcript(
        processes,
        me,
        peer as u64,
        purpose as u64,
        their_processes,
        acceptor,
        &dialer_nonce,
        acceptor_nonce,
    );
    if !context.secret.verify(&[ACCEPT_LABEL, &transcript], tag) {
        return Err(fatal_because(
            "it answered but did not prove the cluster secret: every process needs the same \
             secret"
                .into(),
            Some(Misconfiguration::Secrets),
        ));
    }
    let proof = context.secret.mac(&[DIAL_LABEL, &transcript]);
    write_all_by(&mut stream, &proof, deadline)
        .map_err(|e| fatal(format!("handshake failed: {e}")))?;
    if their_processes != processes {
        return Err(DialError::Fatal(EngineError::Disagreement {
            process: peer,
            item: agreement::PROCESSES_ITEM.into(),
            here: processes.to_string(),
            there: their_processes.to_string(),
        }));
    }
    if acceptor != peer as u64 {
        return Err(fatal(format!(
            "the process listening there is process {acceptor}, not {peer}: do the hosts files \
             agree?"
        )));
    }
    let list = match purpose {
        Purpose::Data => Some(
            exchange_lists(&mut stream, context, deadline, true)
                .map_err(|e| fatal(agreement_failure(&e)))?,
        ),
        Purpose::Heartbeat => None,
    };
    ready_for_use(&stream).map_err(|e| fatal(e.to_string()))?;
    Ok((stream, list))
}

/// Why the agreement exchange with a peer failed, in words: a connection the peer closed means
/// it exited or was killed (the message the heartbeats give once the cluster has formed).
fn agreement_failure(e: &std::io::Error) -> String {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    match e.kind() {
        BrokenPipe | ConnectionReset | ConnectionAborted | UnexpectedEof => format!(
            "it closed the connection during the agreement exchange (it exited or was killed): {e}"
        ),
        _ => format!("agreement exchange failed: {e}"),
    }
}

/// Sends this process's agreement list and reads the peer's (the dialer sends first, so
/// neither side ever waits on a full buffer).
fn exchange_lists(
    stream: &mut TcpStream,
    context: &Context,
    deadline: Instant,
    send_first: bool,
) -> std::io::Result<Vec<Item>> {
    let send = |stream: &mut TcpStream| -> std::io::Result<()> {
        write_all_by(stream, &(context.list.len() as u32).to_le_bytes(), deadline)?;
        write_all_by(stream, &context.list, deadline)
    };
    if send_first {
        send(stream)?;
    }
    let mut length = [0u8; 4];
    read_exact_by(stream, &mut length, deadline)?;
    let length = u32::from_le_bytes(length) as usize;
    if length > agreement::MAX_ENCODED {
        return Err(std::io::Error::other(format!(
            "an agreement list of {length} bytes"
        )));
    }
    let mut bytes = vec![0u8; length];
    read_exact_by(stream, &mut bytes, deadline)?;
    if !send_first {
        send(stream)?;
    }
    agreement::decode(&bytes).ok_or_else(|| std::io::Error::other("a malformed agreement list"))
}

/// Clears the handshake's timeouts: timely reads and writes its sockets blocking.
fn ready_for_use(stream: &TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(None)?;
    stream.set_write_timeout(None)?;
    stream.set_nodelay(true)
}

fn remaining(deadline: Instant) -> std::io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "timed out",
        ))
    } else {
        Ok(left)
    }
}

/// `read_exact` that gives up at `deadline` (a peer sending one byte at a time cannot hold it
/// longer).
fn read_exact_by(
    stream: &mut TcpStream,
    buffer: &mut [u8],
    deadline: Instant,
) -> std::io::Result<()> {
    let mut filled = 0;
    while filled < buffer.len() {
        stream.set_read_timeout(Some(remaining(deadline)?))?;
        match stream.read(&mut buffer[filled..]) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn write_all_by(stream: &mut TcpStream, bytes: &[u8], deadline: Instant) -> std::io::Result<()> {
    stream.set_write_timeout(Some(remaining(deadline)?))?;
    stream.write_all(bytes)
}

fn connect_error(process: usize, hosts: &[String], e: std::io::Error) -> EngineError {
    EngineError::Connect {
        process,
        address: hosts[process].clone(),
        message: e.to_string(),
        likely_cause: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer that vanished mid-exchange is reported as gone, in the heartbeats' words; any
    /// other failure keeps the plain description.
    #[test]
    fn a_connection_closed_during_the_agreement_exchange_names_the_peer_gone() {
        use std::io::{Error, ErrorKind};
        for kind in [
            ErrorKind::BrokenPipe,
            ErrorKind::ConnectionReset,
            ErrorKind::UnexpectedEof,
        ] {
            let message = agreement_failure(&Error::from(kind));
            assert!(message.contains("(it exited or was killed)"), "{message}");
        }
        let message = agreement_failure(&Error::from(ErrorKind::TimedOut));
        assert!(
            message.starts_with("agreement exchange failed: "),
            "{message}"
        );
    }

    impl EngineError {
        /// The likely cause of a connection failure.
        fn clone_cause(&self) -> Option<Misconfiguration> {
            match self {
                EngineError::Connect { likely_cause, .. } => *likely_cause,
                _ => None,
            }
        }
    }

    fn secret(text: &str) -> Secret {
        Secret::new(text).unwrap()
    }

    fn items(value: &str) -> Vec<Item> {
        vec![
            ("subcommand".to_owned(), "test".to_owned()),
            ("--x".to_owned(), value.to_owned()),
        ]
    }

    fn hosts(count: usize) -> Vec<String> {
        crate::loopback::free_loopback_ports(count)
            .unwrap()
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect()
    }

    /// Forms a cluster of `hosts.len()` "processes" on threads of this test, process `p` with
    /// `setup(p)` = (secret, items); returns each one's outcome.
    fn form_all(
        hosts: &[String],
        timeout: Duration,
        setup: impl Fn(usize) -> (Secret, Vec<Item>),
    ) -> Vec<Result<Formed, EngineError>> {
        let threads: Vec<_> = (0..hosts.len())
            .map(|p| {
                let (secret, items) = setup(p);
                let hosts = hosts.to_vec();
                std::thread::spawn(move || {
                    form(&hosts, p, &secret, &items, timeout, Duration::from_secs(30))
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    }

    #[test]
    fn three_processes_with_the_same_secret_and_items_form() {
        let hosts = hosts(3);
        let formed = form_all(&hosts, Duration::from_secs(30), |_| {
            (secret("the same secret, 16+"), items("1"))
        });
        for (p, result) in formed.iter().enumerate() {
            let formed = result
                .as_ref()
                .unwrap_or_else(|e| panic!("process {p}: {e}"));
            for (q, socket) in formed.sockets.iter().enumerate() {
                assert_eq!(socket.is_some(), p != q, "process {p}'s socket to {q}");
            }
        }
    }

    #[test]
    fn a_process_that_failed_before_running_is_named_by_every_peer() {
        let hosts = hosts(3);
        let started = std::time::Instant::now();
        let formed = form_all(&hosts, Duration::from_secs(60), |p| {
            let list = if p == 1 {
                agreement::failure_list("data.libsvm: no such file")
            } else {
                items("a")
            };
            (secret("the same secret, 16+"), list)
        });
        for (p, result) in formed.into_iter().enumerate().filter(|(p, _)| *p != 1) {
            match result {
                Err(EngineError::PeerFailed { process, message }) => {
                    assert_eq!(process, 1, "process {p}");
                    assert_eq!(message, "data.libsvm: no such file");
                }
                Err(e) => panic!("process {p}: {e}"),
                Ok(_) => panic!("process {p} formed a cluster with a failed process"),
            }
        }
        // Far below the deadline: nobody waited for it.
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    #[test]
    fn a_difference_is_reported_by_every_process_naming_the_item() {
        let hosts = hosts(3);
        let formed = form_all(&hosts, Duration::from_secs(30), |p| {
            (
                secret("the same secret, 16+"),
                items(if p == 2 { "b" } else { "a" }),
            )
        });
        for (p, result) in formed.into_iter().enumerate() {
            match result {
                Err(EngineError::Disagreement {
                    process,
                    item,
                    here,
                    there,
                }) => {
                    assert_eq!(item, "--x", "process {p}");
                    assert_eq!(process == 2, p != 2, "process {p} names {process}");
                    assert_ne!(here, there);
                }
                Err(e) => panic!("process {p}: {e}"),
                Ok(_) => panic!("process {p} formed a cluster that disagrees"),
            }
        }
    }

    #[test]
    fn a_wrong_secret_is_never_admitted() {
        let hosts = hosts(2);
        let formed = form_all(&hosts, Duration::from_secs(2), |p| {
            let text = if p == 0 {
                "secret number one"
            } else {
                "secret number two"
            };
            (secret(text), items("1"))
        });
        let error = |r: &Result<Formed, EngineError>| match r {
            Err(e) => (e.to_string(), e.clone_cause()),
            Ok(_) => panic!("formed with different secrets"),
        };
        let (one, one_cause) = error(&formed[1]);
        assert!(one.contains("did not prove the cluster secret"), "{one}");
        let (zero, zero_cause) = error(&formed[0]);
        assert!(zero.contains("did not connect within 2 s"), "{zero}");
        assert!(zero.contains("did not authenticate"), "{zero}");
        // The caller learns the likely mistake as a value and names its own setting for it;
        // the engine's message names none.
        for (message, cause) in [(one, one_cause), (zero, zero_cause)] {
            assert_eq!(cause, Some(Misconfiguration::Secrets), "{message}");
            assert!(!message.contains("--"), "names a flag: {message}");
        }
    }

    #[test]
    fn a_garbage_connection_does_not_disturb_formation() {
        let hosts = hosts(2);
        let address = hosts[0].clone();
        // Garbage that keeps connecting to process 0 while the cluster forms.
        let stop = Arc::new(AtomicBool::new(false));
        let garbage = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    if let Ok(mut stream) = TcpStream::connect(&address) {
                        let _ = stream.write_all(&[0xAB; HELLO]);
                        let _ = stream.write_all(&hello_of(2, 1, 0));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        let formed = form_all(&hosts, Duration::from_secs(30), |_| {
            (secret("the same secret, 16+"), items("1"))
        });
        stop.store(true, Ordering::SeqCst);
        garbage.join().unwrap();
        for (p, result) in formed.iter().enumerate() {
            assert!(result.is_ok(), "process {p}: {:?}", result.as_ref().err());
        }
    }

    /// A hello from `index` of `processes`, for data, with a fixed nonce.
    fn hello_of(processes: u64, index: u64, wanted: u64) -> Vec<u8> {
        let mut bytes = Vec::new();
        for value in [MAGIC, processes, index, wanted, 0] {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        bytes.extend_from_slice(&[1u8; NONCE]);
        bytes
    }
}
