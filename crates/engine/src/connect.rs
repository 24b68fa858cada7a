//! Opens the TCP connections between processes, with a deadline and a handshake.
//!
//! Process `i` connects to every process `j < i` and accepts from every `j > i`, as timely does;
//! each connection starts with a fixed magic number, the cluster size and the sender's index, so a
//! stray connection or a peer started with another cluster shape is refused with a clear error.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::error::EngineError;

const MAGIC: u64 = 0x5354_5241_4453_0001; // "STRADS" + protocol version 1

fn handshake_bytes(processes: usize, index: usize) -> [u8; 24] {
    let mut bytes = [0u8; 24];
    bytes[..8].copy_from_slice(&MAGIC.to_le_bytes());
    bytes[8..16].copy_from_slice(&(processes as u64).to_le_bytes());
    bytes[16..].copy_from_slice(&(index as u64).to_le_bytes());
    bytes
}

/// Returns one socket per peer (`None` at `my_index`), all connected and vetted.
pub(crate) fn connect_all(
    hosts: &[String],
    my_index: usize,
    timeout: Duration,
) -> Result<Vec<Option<TcpStream>>, EngineError> {
    let deadline = Instant::now() + timeout;
    let processes = hosts.len();
    let mut sockets: Vec<Option<TcpStream>> = (0..processes).map(|_| None).collect();

    // Bind first so that peers with a higher index can reach us while we dial lower ones.
    let listener = TcpListener::bind(&hosts[my_index]).map_err(|e| EngineError::Connect {
        process: my_index,
        address: hosts[my_index].clone(),
        message: format!("cannot listen: {e}"),
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| connect_error(my_index, hosts, e))?;

    for (peer, address) in hosts.iter().enumerate().take(my_index) {
        let stream = dial(peer, address, deadline)?;
        let mut stream = stream;
        stream
            .write_all(&handshake_bytes(processes, my_index))
            .map_err(|e| connect_error(peer, hosts, e))?;
        sockets[peer] = Some(stream);
    }

    let mut missing = processes - my_index - 1;
    while missing > 0 {
        match listener.accept() {
            Ok((mut stream, _)) => {
                stream
                    .set_nonblocking(false)
                    .map_err(|e| connect_error(my_index, hosts, e))?;
                stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
                let mut bytes = [0u8; 24];
                if stream.read_exact(&mut bytes).is_err() {
                    continue; // not a strads peer (e.g. a port scanner); keep waiting
                }
                let magic = u64::from_le_bytes(bytes[..8].try_into().unwrap());
                let their_processes = u64::from_le_bytes(bytes[8..16].try_into().unwrap()) as usize;
                let peer = u64::from_le_bytes(bytes[16..].try_into().unwrap()) as usize;
                if magic != MAGIC {
                    continue;
                }
                if their_processes != processes || peer <= my_index || peer >= processes {
                    return Err(EngineError::Connect {
                        process: peer,
                        address: hosts.get(peer).cloned().unwrap_or_default(),
                        message: format!(
                            "peer claims to be process {peer} of {their_processes}; this is process {my_index} of {processes}"
                        ),
                    });
                }
                stream.set_read_timeout(None).ok();
                stream.set_nodelay(true).ok();
                if sockets[peer].replace(stream).is_none() {
                    missing -= 1;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    let peer = (my_index + 1..processes)
                        .find(|&p| sockets[p].is_none())
                        .unwrap();
                    return Err(EngineError::Connect {
                        process: peer,
                        address: hosts[peer].clone(),
                        message: format!("did not connect within {} s", timeout.as_secs()),
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(connect_error(my_index, hosts, e)),
        }
    }
    Ok(sockets)
}

fn dial(peer: usize, address: &str, deadline: Instant) -> Result<TcpStream, EngineError> {
    loop {
        let attempt = address
            .to_socket_addrs()
            .and_then(|mut addrs| {
                addrs
                    .next()
                    .ok_or_else(|| std::io::Error::other("no address"))
            })
            .and_then(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(1)));
        match attempt {
            Ok(stream) => {
                stream.set_nodelay(true).ok();
                return Ok(stream);
            }
            Err(e) => {
                if Instant::now() > deadline {
                    return Err(EngineError::Connect {
                        process: peer,
                        address: address.to_owned(),
                        message: format!("could not connect: {e}"),
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn connect_error(process: usize, hosts: &[String], e: std::io::Error) -> EngineError {
    EngineError::Connect {
        process,
        address: hosts[process].clone(),
        message: e.to_string(),
    }
}
