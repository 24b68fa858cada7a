//! What the machine can hold: allocations whose size comes from an input's header or from a flag
//! are compared with the machine's memory before they are made, so that a bad input or flag is a
//! clear error instead of an abort ("memory allocation of N bytes failed").
//!
//! The limit is the machine's total memory (`MemTotal` in `/proc/meminfo`), or
//! `STRADS_MEMORY_LIMIT` bytes when that variable is set (a plain number, or with a `K`, `M`, `G`
//! or `T` suffix for powers of 1024), e.g. to keep a run within a container's share. Where
//! neither is known no limit is applied.

/// The environment variable that overrides the machine's total memory as the limit.
pub const MEMORY_LIMIT_ENV: &str = "STRADS_MEMORY_LIMIT";

/// The memory a process may plan to use, and where that figure comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryLimit {
    /// Bytes (`u64::MAX` when unknown).
    pub bytes: u64,
    /// Where the figure comes from, for messages (`MemTotal in /proc/meminfo`).
    pub source: String,
}

/// The limit: `STRADS_MEMORY_LIMIT` if set and valid, else `MemTotal`, else unlimited.
pub fn memory_limit() -> MemoryLimit {
    if let Some(value) = std::env::var_os(MEMORY_LIMIT_ENV) {
        if let Some(bytes) = value.to_str().and_then(parse_size) {
            return MemoryLimit {
                bytes,
                source: MEMORY_LIMIT_ENV.to_owned(),
            };
        }
    }
    match std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| mem_total(&text))
    {
        Some(bytes) => MemoryLimit {
            bytes,
            source: "MemTotal in /proc/meminfo".to_owned(),
        },
        None => MemoryLimit {
            bytes: u64::MAX,
            source: "unknown".to_owned(),
        },
    }
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line["MemTotal:".len()..].split_whitespace();
    let number: u64 = words.next()?.parse().ok()?;
    let unit = match words.next() {
        Some("kB") => 1024,
        None => 1,
        Some(_) => return None,
    };
    number.checked_mul(unit)
}

/// A size such as `4096`, `512M` or `2G` (powers of 1024), in bytes.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, shift) = match text.char_indices().last()? {
        (i, 'K' | 'k') => (&text[..i], 10),
        (i, 'M' | 'm') => (&text[..i], 20),
        (i, 'G' | 'g') => (&text[..i], 30),
        (i, 'T' | 't') => (&text[..i], 40),
        _ => (text, 0),
    };
    let number: u64 = digits.trim().parse().ok()?;
    number.checked_mul(1u64 << shift)
}

/// `bytes` for a message: `512 B`, `3.2 MiB`, `41.0 GiB`.
pub fn format_bytes(bytes: u128) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `Err(message)` when `needed` bytes exceed the [`memory_limit`]; the message says what would
/// need them (`what`, e.g. "solving 4000000000 columns"), how much, and the limit.
pub fn check_memory(what: &str, needed: u128) -> Result<(), String> {
    check_memory_against(what, needed, &memory_limit())
}

/// [`check_memory`] against a given limit.
pub fn check_memory_against(what: &str, needed: u128, limit: &MemoryLimit) -> Result<(), String> {
    if needed <= u128::from(limit.bytes) {
        return Ok(());
    }
    Err(format!(
        "{what} would need about {} of memory, more than this machine's {} ({})",
        format_bytes(needed),
        format_bytes(u128::from(limit.bytes)),
        limit.source
    ))
}

/// Reads the whole file `path`, after checking that its size fits in the [`memory_limit`] (a
/// file larger than the machine's memory is an error naming it, not an abort).
pub fn read_whole_file(path: &std::path::Path) -> Result<Vec<u8>, crate::DataError> {
    let size = std::fs::metadata(path)
        .map_err(|e| crate::DataError::io(path, e))?
        .len();
    check_file_size(path, size)?;
    std::fs::read(path).map_err(|e| crate::DataError::io(path, e))
}

/// Fails when `bytes` of the file `path` would not fit in the [`memory_limit`].
pub fn check_file_size(path: &std::path::Path, bytes: u64) -> Result<(), crate::DataError> {
    check_memory(
        &format!("reading {bytes} bytes of this file into memory"),
        u128::from(bytes),
    )
    .map_err(|message| crate::DataError::invalid(path, message))
}

/// This process's peak resident memory so far (`VmHWM` of `/proc/self/status`), in bytes;
/// `None` where the kernel does not report it.
pub fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    vm_hwm(&status)
}

fn vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_peak_from_proc_status() {
        let status = "Name:\tstrads\nVmPeak:\t  900 kB\nVmHWM:\t  2048 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(vm_hwm(status), Some(2048 * 1024));
        assert_eq!(vm_hwm("Name:\tstrads\n"), None);
        // This process has touched memory, so Linux reports a nonzero peak.
        if cfg!(target_os = "linux") {
            assert!(peak_resident_bytes().is_some_and(|b| b > 0));
        }
    }

    #[test]
    fn reads_meminfo_and_sizes() {
        let text = "MemTotal:       24567892 kB\nMemFree:        1 kB\n";
        assert_eq!(mem_total(text), Some(24567892 * 1024));
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size(" 2G "), Some(2 << 30));
        assert_eq!(parse_size("2X"), None);
        assert_eq!(parse_size("99999999999T"), None);
        assert_eq!(format_bytes(10), "10 B");
        assert_eq!(format_bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn the_check_names_what_how_much_and_the_limit() {
        let limit = MemoryLimit {
            bytes: 1 << 30,
            source: "test".into(),
        };
        assert!(check_memory_against("x", 1 << 30, &limit).is_ok());
        let message = check_memory_against("solving 9 columns", 3 << 30, &limit).unwrap_err();
        assert_eq!(
            message,
            "solving 9 columns would need about 3.0 GiB of memory, more than this machine's \
             1.0 GiB (test)"
        );
        assert!(memory_limit().bytes > 0);
    }
}
