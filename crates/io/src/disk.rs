//! Free disk space: before a run writes a checkpoint or a large output, the bytes it is about to
//! write are compared with the space left on the directory's filesystem, so that a full disk is
//! a clear error naming the directory instead of a failed write halfway (and, for checkpoints,
//! the previous checkpoint is left as it was).
//!
//! The free space is what an unprivileged writer may use (`f_bavail` blocks of `statvfs`). A
//! directory whose filesystem cannot be asked is not checked.

use std::path::{Path, PathBuf};

use crate::memory::format_bytes;

/// A directory that cannot hold what is about to be written there.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiskSpaceError {
    /// `needed` bytes will not fit in the `free` bytes left on `dir`'s filesystem.
    #[error("{what} needs about {}, {} free on {}", format_bytes(u128::from(*needed)), format_bytes(u128::from(*free)), dir.display())]
    Insufficient {
        /// What would be written (`a checkpoint`, `the coefficients`).
        what: String,
        /// The directory written into.
        dir: PathBuf,
        /// Bytes about to be written.
        needed: u64,
        /// Bytes free there.
        free: u64,
    },
}

/// Bytes an unprivileged process may still write on the filesystem of `dir` (or of its
/// nearest existing ancestor, for a directory not created yet); `None` when unknown.
pub fn free_space(dir: &Path) -> Option<u64> {
    let mut at = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    loop {
        match rustix::fs::statvfs(at) {
            Ok(stat) => return Some(stat.f_bavail.saturating_mul(stat.f_frsize)),
            Err(rustix::io::Errno::NOENT) => {
                at = at.parent().filter(|p| !p.as_os_str().is_empty())?
            }
            Err(_) => return None,
        }
    }
}

/// Fails when `needed` bytes (of `what`) do not fit in `free` bytes on `dir`.
pub fn check_free_space_against(
    what: &str,
    dir: &Path,
    needed: u64,
    free: u64,
) -> Result<(), DiskSpaceError> {
    if needed <= free {
        return Ok(());
    }
    Err(DiskSpaceError::Insufficient {
        what: what.to_owned(),
        dir: dir.to_owned(),
        needed,
        free,
    })
}

/// Fails when `needed` bytes (of `what`) do not fit in the space left on `dir`'s filesystem
/// ([`free_space`]); passes when that is unknown.
pub fn check_free_space(what: &str, dir: &Path, needed: u64) -> Result<(), DiskSpaceError> {
    match free_space(dir) {
        Some(free) => check_free_space_against(what, dir, needed, free),
        None => Ok(()),
    }
}

/// The directory a file `path` is written into (`.` for a bare file name).
pub fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_compares_and_names_the_directory_and_both_sizes() {
        let dir = Path::new("/data/checkpoints");
        assert!(check_free_space_against("a checkpoint", dir, 1 << 20, 1 << 20).is_ok());
        let error = check_free_space_against("a checkpoint", dir, 3 << 20, 1 << 20).unwrap_err();
        assert_eq!(
            error.to_string(),
            "a checkpoint needs about 3.0 MiB, 1.0 MiB free on /data/checkpoints"
        );
    }

    #[test]
    fn free_space_is_known_for_a_directory_and_for_one_not_created_yet() {
        let dir = tempfile::tempdir().unwrap();
        let free = free_space(dir.path()).expect("statvfs of a temporary directory");
        assert!(free > 0);
        let missing = dir.path().join("not/yet/made");
        assert!(free_space(&missing).is_some());
        // No filesystem holds this much.
        assert!(check_free_space("x", dir.path(), u64::MAX).is_err());
        assert!(check_free_space("x", dir.path(), 1).is_ok());
        assert_eq!(directory_of(Path::new("out.txt")), Path::new("."));
        assert_eq!(directory_of(Path::new("a/out.txt")), Path::new("a"));
    }
}
