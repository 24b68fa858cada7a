//! Free TCP ports on 127.0.0.1 for a cluster of local processes: what `strads launch` and the
//! tests (the engine's own, and those of the crates above it) give their processes to listen on.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// Where [`free_loopback_ports`] looks: below Linux's default ephemeral range (32768-60999),
/// from which every outgoing connection takes its source port. A port the kernel hands out for
/// `bind(0)` lies in that range, and any connection made between the pick and the child's bind
/// (a peer dialling, another cluster forming) can take it as its source port, so the child fails
/// to listen; below the range only another explicit bind can.
const PICK_RANGE: std::ops::Range<u16> = 20000..32768;

/// Successive picks of this process start at successive ports (so concurrent callers, such as
/// tests running in parallel, never try the same one first).
static NEXT_PICK: AtomicU32 = AtomicU32::new(0);

/// Picks `count` distinct free TCP ports on 127.0.0.1, below the ephemeral range (see
/// [`PICK_RANGE`]), starting from a point that depends on the process id; if that range has too
/// few free ports, the kernel picks the rest.
///
/// The listeners are dropped before the children bind, so another program could take a port in
/// between; the children then fail to listen and the launcher reports it.
pub fn free_loopback_ports(count: usize) -> std::io::Result<Vec<u16>> {
    let span = u32::from(PICK_RANGE.end - PICK_RANGE.start);
    let start = std::process::id().wrapping_mul(2_654_435_761) % span;
    let mut listeners = Vec::with_capacity(count);
    for _ in 0..span {
        if listeners.len() == count {
            break;
        }
        let offset = (start + NEXT_PICK.fetch_add(1, Ordering::Relaxed)) % span;
        let port = PICK_RANGE.start + offset as u16;
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
            listeners.push(listener);
        }
    }
    while listeners.len() < count {
        listeners.push(TcpListener::bind("127.0.0.1:0")?);
    }
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picked_ports_are_distinct_bindable_and_below_the_ephemeral_range() {
        let ports = free_loopback_ports(6).unwrap();
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 6, "{ports:?}");
        // This machine has free ports below 32768, so none comes from the kernel's fallback.
        assert!(ports.iter().all(|p| PICK_RANGE.contains(p)), "{ports:?}");
        // A later pick in the same process starts elsewhere, and the ports are free to listen on.
        let again = free_loopback_ports(2).unwrap();
        assert!(
            again.iter().all(|p| !ports.contains(p)),
            "{ports:?} then {again:?}"
        );
        for port in ports {
            TcpListener::bind(("127.0.0.1", port)).unwrap();
        }
    }
}
