//! What the machine can hold: allocations whose size comes from an input's header or from a flag
//! are compared with the memory this process may use before they are made, so that a bad input
//! or flag is a clear error instead of an abort ("memory allocation of N bytes failed").
//!
//! The limit is the smallest of: the machine's total memory (`MemTotal` in `/proc/meminfo`);
//! the memory limit of the process's control group, cgroup v2 (`memory.max`, "max" meaning none)
//! or v1 (`memory.limit_in_bytes`), read for the process's own group (from `/proc/self/cgroup`)
//! and for the root of `/sys/fs/cgroup`, as a container sees it; and `STRADS_MEMORY_LIMIT`
//! bytes when that variable is set (a plain number, or with a `K`, `M`, `G` or `T` suffix for
//! powers of 1024). Where none is known no limit is applied.

use std::path::{Path, PathBuf};

/// The environment variable that sets a memory limit (the smallest limit applies).
pub const MEMORY_LIMIT_ENV: &str = "STRADS_MEMORY_LIMIT";

/// The memory a process may plan to use, and where that figure comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryLimit {
    /// Bytes (`u64::MAX` when unknown).
    pub bytes: u64,
    /// Where the figure comes from, for messages (`MemTotal in /proc/meminfo`).
    pub source: String,
}

/// The limit: the smallest of `STRADS_MEMORY_LIMIT` (if set and valid), the cgroup limits and
/// `MemTotal`; unlimited when none is known.
pub fn memory_limit() -> MemoryLimit {
    let mut candidates = Vec::new();
    if let Some(value) = std::env::var_os(MEMORY_LIMIT_ENV) {
        if let Some(bytes) = value.to_str().and_then(parse_size) {
            candidates.push(MemoryLimit {
                bytes,
                source: MEMORY_LIMIT_ENV.to_owned(),
            });
        }
    }
    if let Some(bytes) = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| mem_total(&text))
    {
        candidates.push(MemoryLimit {
            bytes,
            source: "MemTotal in /proc/meminfo".to_owned(),
        });
    }
    let own_groups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    for path in cgroup_limit_files(Path::new("/sys/fs/cgroup"), &own_groups) {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if let Some(bytes) = cgroup_limit(&text) {
            let version = if path.ends_with("memory.max") {
                "v2"
            } else {
                "v1"
            };
            candidates.push(MemoryLimit {
                bytes,
                source: format!("the cgroup {version} limit in {}", path.display()),
            });
        }
    }
    smallest_limit(candidates)
}

/// The smallest of `candidates` (the first of equal ones); unlimited when there are none.
pub fn smallest_limit(candidates: impl IntoIterator<Item = MemoryLimit>) -> MemoryLimit {
    candidates
        .into_iter()
        .reduce(|smallest, other| {
            if other.bytes < smallest.bytes {
                other
            } else {
                smallest
            }
        })
        .unwrap_or(MemoryLimit {
            bytes: u64::MAX,
            source: "unknown".to_owned(),
        })
}

/// The files that may hold a memory limit of this process under the cgroup mount `root`,
/// given the text of `/proc/self/cgroup`: for v2 (`0::/path`) `root/path/memory.max`, for the
/// v1 memory controller (`N:memory:/path`) `root/memory/path/memory.limit_in_bytes`, and both
/// files at the root (a container's own group is its namespace's root).
pub fn cgroup_limit_files(root: &Path, own_groups: &str) -> Vec<PathBuf> {
    let mut files = vec![
        root.join("memory.max"),
        root.join("memory").join("memory.limit_in_bytes"),
    ];
    for line in own_groups.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let relative = path.trim().trim_start_matches('/');
        if relative.is_empty() || relative.split('/').any(|part| part == "..") {
            continue;
        }
        if controllers.is_empty() {
            files.push(root.join(relative).join("memory.max"));
        } else if controllers.split(',').any(|c| c == "memory") {
            files.push(
                root.join("memory")
                    .join(relative)
                    .join("memory.limit_in_bytes"),
            );
        }
    }
    files
}

/// The limit in a cgroup memory file: v2's `memory.max` is a number or `max` (no limit); v1's
/// `memory.limit_in_bytes` says "no limit" with a number near 2^63 (the largest page multiple),
/// so anything from 2^62 on is taken as none.
pub fn cgroup_limit(text: &str) -> Option<u64> {
    let text = text.trim();
    if text == "max" {
        return None;
    }
    let bytes: u64 = text.parse().ok()?;
    (bytes < 1 << 62).then_some(bytes)
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
        "{what} would need about {} of memory, more than the {} this process may use ({})",
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
    fn reads_cgroup_limits_of_both_versions() {
        assert_eq!(cgroup_limit("max\n"), None);
        assert_eq!(cgroup_limit("536870912\n"), Some(512 << 20));
        // v1's "no limit".
        assert_eq!(cgroup_limit("9223372036854771712\n"), None);
        assert_eq!(cgroup_limit("garbage"), None);
        let root = Path::new("/sys/fs/cgroup");
        let files = cgroup_limit_files(root, "0::/user.slice/job\n");
        assert!(files.contains(&root.join("user.slice/job/memory.max")));
        assert!(files.contains(&root.join("memory.max")));
        let v1 = "4:memory:/process_api/abc\n3:cpuset:/\n0::/\n";
        let files = cgroup_limit_files(root, v1);
        assert!(files.contains(&root.join("memory/process_api/abc/memory.limit_in_bytes")));
        assert!(files.contains(&root.join("memory/memory.limit_in_bytes")));
        assert_eq!(files.len(), 3, "{files:?}");
        // No escaping the mount.
        assert_eq!(cgroup_limit_files(root, "0::/../../etc\n").len(), 2);
    }

    #[test]
    fn the_smallest_limit_applies_and_is_named() {
        let limit = |bytes: u64, source: &str| MemoryLimit {
            bytes,
            source: source.to_owned(),
        };
        let smallest = smallest_limit([
            limit(24 << 30, "MemTotal in /proc/meminfo"),
            limit(2 << 30, "the cgroup v2 limit in /sys/fs/cgroup/memory.max"),
            limit(4 << 30, MEMORY_LIMIT_ENV),
        ]);
        assert_eq!(smallest.bytes, 2 << 30);
        let message = check_memory_against("x", 3 << 30, &smallest).unwrap_err();
        assert!(
            message.ends_with("(the cgroup v2 limit in /sys/fs/cgroup/memory.max)"),
            "{message}"
        );
        assert_eq!(smallest_limit([]).bytes, u64::MAX);
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
            "solving 9 columns would need about 3.0 GiB of memory, more than the 1.0 GiB this \
             process may use (test)"
        );
        assert!(memory_limit().bytes > 0);
    }
}
