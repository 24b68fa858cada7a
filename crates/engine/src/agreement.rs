//! What every process of a cluster must agree on before it computes anything: an ordered list
//! of `(name, value)` items (the binary's version, the subcommand, every flag that changes the
//! computation, the inputs' sizes), exchanged with every peer during formation. Any difference
//! is an error on every process naming the first item that differs.

use std::io::{Read, Seek, SeekFrom};
use std::sync::OnceLock;

use crate::error::EngineError;

/// One item: a name (a flag, e.g. `--lambda-ratio`) and its value as text.
pub type Item = (String, String);

/// The engine's item for the number of processes, which every process compares in its
/// handshake before any list.
pub const PROCESSES_ITEM: &str = "processes in the cluster";

/// The engine's item for the worker threads of each process, after the caller's items.
pub const THREADS_ITEM: &str = "worker threads per process";

/// The most bytes an encoded list may have (a bound on what a peer can make us read).
pub(crate) const MAX_ENCODED: usize = 1 << 20;

/// The name of the one item of a process that failed before it could run (bad input): its
/// value is the error. No flag has this name, so no normal list can be taken for it.
pub(crate) const FAILED_ITEM: &str = "\u{0}failed before forming the cluster";

/// The list a process that failed before forming the cluster sends instead of its own.
pub(crate) fn failure_list(message: &str) -> Vec<Item> {
    vec![(FAILED_ITEM.to_owned(), message.to_owned())]
}

/// The error a peer's list reports, if it is a [`failure_list`].
pub(crate) fn failure_of(list: &[Item]) -> Option<&str> {
    match list {
        [(name, message)] if name == FAILED_ITEM => Some(message),
        _ => None,
    }
}

/// The list as bytes: a `u32` count, then each name and value as a `u32` length and UTF-8.
pub(crate) fn encode(items: &[Item]) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&(items.len() as u32).to_le_bytes());
    for (name, value) in items {
        for text in [name, value] {
            bytes.extend_from_slice(&(text.len() as u32).to_le_bytes());
            bytes.extend_from_slice(text.as_bytes());
        }
    }
    bytes
}

/// The inverse of [`encode`]; `None` for anything malformed.
pub(crate) fn decode(bytes: &[u8]) -> Option<Vec<Item>> {
    let mut rest = bytes;
    let mut take = |n: usize| -> Option<&[u8]> {
        if rest.len() < n {
            return None;
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Some(head)
    };
    let count = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
    if count > bytes.len() / 8 {
        return None;
    }
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        let mut text = || -> Option<String> {
            let len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
            String::from_utf8(take(len)?.to_vec()).ok()
        };
        let name = text()?;
        let value = text()?;
        items.push((name, value));
    }
    rest.is_empty().then_some(items)
}

/// The first item in which `theirs` differs from `ours`, as `(item, value here, value there)`.
pub(crate) fn first_difference(ours: &[Item], theirs: &[Item]) -> Option<(String, String, String)> {
    const ABSENT: &str = "(absent)";
    for index in 0..ours.len().max(theirs.len()) {
        match (ours.get(index), theirs.get(index)) {
            (Some((a, x)), Some((b, y))) if a == b => {
                if x != y {
                    return Some((a.clone(), x.clone(), y.clone()));
                }
            }
            (Some((a, x)), Some((b, y))) => {
                return Some((a.clone(), x.clone(), format!("{ABSENT}, {b} = {y}")));
            }
            (Some((a, x)), None) => return Some((a.clone(), x.clone(), ABSENT.to_owned())),
            (None, Some((b, y))) => return Some((b.clone(), ABSENT.to_owned(), y.clone())),
            (None, None) => unreachable!("index below the longer length"),
        }
    }
    None
}

/// This binary's identity: the engine's version and, when the executable is an ELF file with a
/// GNU build id (Linux builds have one), that id. Two processes of a cluster must run the same
/// build: the wire formats are not versioned.
pub fn binary_identity() -> String {
    static IDENTITY: OnceLock<String> = OnceLock::new();
    IDENTITY
        .get_or_init(|| {
            let version = env!("CARGO_PKG_VERSION");
            match std::env::current_exe().ok().and_then(|exe| build_id(&exe)) {
                Some(id) => format!("{version} (build {id})"),
                None => version.to_owned(),
            }
        })
        .clone()
}

/// The GNU build id of an ELF executable (64-bit little-endian), from its note segments.
fn build_id(path: &std::path::Path) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut header = [0u8; 64];
    file.read_exact(&mut header).ok()?;
    // ELF magic, 64-bit, little-endian.
    if &header[..4] != b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return None;
    }
    let u16_at = |b: &[u8], at: usize| u16::from_le_bytes([b[at], b[at + 1]]) as u64;
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as u64;
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let (phoff, phentsize, phnum) = (
        u64_at(&header, 0x20),
        u16_at(&header, 0x36),
        u16_at(&header, 0x38),
    );
    if phentsize < 56 || phnum > 256 {
        return None;
    }
    let mut table = vec![0u8; (phentsize * phnum) as usize];
    file.seek(SeekFrom::Start(phoff)).ok()?;
    file.read_exact(&mut table).ok()?;
    for entry in table.chunks_exact(phentsize as usize) {
        const PT_NOTE: u64 = 4;
        if u32_at(entry, 0) != PT_NOTE {
            continue;
        }
        let (offset, size) = (u64_at(entry, 8), u64_at(entry, 32));
        if size > 1 << 16 {
            continue;
        }
        let mut notes = vec![0u8; size as usize];
        file.seek(SeekFrom::Start(offset)).ok()?;
        file.read_exact(&mut notes).ok()?;
        let mut at = 0usize;
        while at + 12 <= notes.len() {
            let (name_size, desc_size, kind) = (
                u32_at(&notes, at) as usize,
                u32_at(&notes, at + 4) as usize,
                u32_at(&notes, at + 8),
            );
            let name_start = at + 12;
            let desc_start = name_start + name_size.div_ceil(4) * 4;
            let next = desc_start + desc_size.div_ceil(4) * 4;
            if next > notes.len() {
                break;
            }
            const NT_GNU_BUILD_ID: u64 = 3;
            if kind == NT_GNU_BUILD_ID && &notes[name_start..name_start + name_size] == b"GNU\0" {
                return Some(crate::secret::hex(
                    &notes[desc_start..desc_start + desc_size],
                ));
            }
            at = next;
        }
    }
    None
}

/// Turns a difference found with process `process` into the error every process reports.
pub(crate) fn disagreement(process: usize, difference: (String, String, String)) -> EngineError {
    let (item, here, there) = difference;
    EngineError::Disagreement {
        process,
        item,
        here,
        there,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(list: &[(&str, &str)]) -> Vec<Item> {
        list.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn lists_survive_encoding_and_garbage_is_refused() {
        let list = items(&[
            ("--lambda-ratio", "0.1"),
            ("--data size", "1234 bytes"),
            ("", ""),
        ]);
        assert_eq!(decode(&encode(&list)), Some(list.clone()));
        let bytes = encode(&list);
        assert_eq!(decode(&bytes[..bytes.len() - 1]), None);
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer), None);
        assert_eq!(decode(&[0xff, 0xff, 0xff, 0xff]), None);
    }

    #[test]
    fn the_first_differing_item_is_named() {
        let ours = items(&[
            ("subcommand", "lasso"),
            ("--threads", "2"),
            ("--tol", "1e-6"),
        ]);
        assert_eq!(first_difference(&ours, &ours), None);
        let theirs = items(&[
            ("subcommand", "lasso"),
            ("--threads", "1"),
            ("--tol", "1e-3"),
        ]);
        assert_eq!(
            first_difference(&ours, &theirs),
            Some(("--threads".into(), "2".into(), "1".into()))
        );
        let shorter = items(&[("subcommand", "lasso"), ("--threads", "2")]);
        assert_eq!(
            first_difference(&ours, &shorter),
            Some(("--tol".into(), "1e-6".into(), "(absent)".into()))
        );
        assert_eq!(
            first_difference(&shorter, &ours),
            Some(("--tol".into(), "(absent)".into(), "1e-6".into()))
        );
    }

    #[test]
    fn this_test_binary_has_an_identity() {
        let identity = binary_identity();
        assert!(
            identity.starts_with(env!("CARGO_PKG_VERSION")),
            "{identity}"
        );
    }
}
