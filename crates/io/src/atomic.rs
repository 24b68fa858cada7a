//! Writing output files atomically: readers see either the old file or the complete new one.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use crate::error::DataError;

/// Writes `path` by calling `write` on a buffered temporary file in the same directory, then
/// flushing, syncing it to disk and renaming it over `path`.
///
/// The temporary file lives in the target's directory because a rename is atomic only within one
/// file system. If `write` or any later step fails, the temporary file is removed and `path` is left
/// as it was. A new file gets mode 0644 on Unix (the temporary file starts as 0600); an existing
/// file keeps its permissions. When `path` is a symlink, the file it names is written (atomically,
/// in that file's directory) and the link is kept, as a plain write would do.
pub fn write_atomic<F>(path: &Path, write: F) -> Result<(), DataError>
where
    F: FnOnce(&mut BufWriter<File>) -> io::Result<()>,
{
    let error = |source: io::Error| DataError::io(path, source);
    let target = resolve_symlinks(path);
    let path = target.as_path();
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    // Name the temporary after the target so that one left by a crash is recognisable.
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(directory)
        .map_err(error)?;
    let (file, temporary_path) = temporary.into_parts();
    let permissions = match std::fs::metadata(path) {
        Ok(existing) => Some(existing.permissions()),
        Err(_) => default_permissions(),
    };
    if let Some(permissions) = permissions {
        file.set_permissions(permissions).map_err(error)?;
    }

    let mut writer = BufWriter::with_capacity(1 << 20, file);
    write(&mut writer).map_err(error)?;
    let file = writer.into_inner().map_err(|e| error(e.into_error()))?;
    file.sync_all().map_err(error)?;
    drop(file);
    temporary_path.persist(path).map_err(|e| error(e.error))?;
    sync_directory(directory);
    Ok(())
}

/// `path` with its symlinks followed to the file they finally name, which need not exist (a
/// dangling link names the file a write creates). At most 40 links are followed, as the kernel
/// does; the directory part is made canonical when it exists.
pub fn resolve_symlinks(path: &Path) -> PathBuf {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::read_link(&current) {
            Ok(target) => {
                current = match current.parent() {
                    Some(parent) if target.is_relative() => parent.join(target),
                    _ => target,
                };
            }
            Err(_) => break,
        }
    }
    if let Ok(canonical) = std::fs::canonicalize(&current) {
        return canonical;
    }
    match (current.parent(), current.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            match std::fs::canonicalize(parent) {
                Ok(parent) => parent.join(name),
                Err(_) => current,
            }
        }
        _ => current,
    }
}

#[cfg(unix)]
fn default_permissions() -> Option<std::fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn default_permissions() -> Option<std::fs::Permissions> {
    None
}

/// Makes the rename durable by syncing the directory entry, where the platform allows it. This is
/// best effort: the file itself is already complete, so a failure here is not reported.
fn sync_directory(directory: &Path) {
    #[cfg(unix)]
    if let Ok(handle) = File::open(directory) {
        let _ = handle.sync_all();
    }
    #[cfg(not(unix))]
    let _ = directory;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn replaces_the_target_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        std::fs::write(&path, "old").unwrap();
        write_atomic(&path, |w| w.write_all(b"new contents")).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new contents");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_write_leaves_the_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        std::fs::write(&path, "old").unwrap();
        let result = write_atomic(&path, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("disk on fire"))
        });
        let message = result.unwrap_err().to_string();
        assert_eq!(message, format!("{}: disk on fire", path.display()));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_missing_directory_is_an_io_error_naming_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/out.txt");
        let error = write_atomic(&path, |w| w.write_all(b"x")).unwrap_err();
        assert!(matches!(error, DataError::Io { .. }));
        assert!(
            error.to_string().starts_with(&path.display().to_string()),
            "{error}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_is_followed_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.txt");
        std::fs::write(&real, "old").unwrap();
        let link = dir.path().join("link.txt");
        std::os::unix::fs::symlink("real.txt", &link).unwrap();
        write_atomic(&link, |w| w.write_all(b"new")).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        // A dangling link: the write creates the file it names, in the link's target directory.
        let other = tempfile::tempdir().unwrap();
        let dangling = dir.path().join("dangling.txt");
        std::os::unix::fs::symlink(other.path().join("made.txt"), &dangling).unwrap();
        write_atomic(&dangling, |w| w.write_all(b"made")).unwrap();
        assert_eq!(
            std::fs::read_to_string(other.path().join("made.txt")).unwrap(),
            "made"
        );
        assert!(std::fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink());
        // A chain of links.
        let chain = dir.path().join("chain.txt");
        std::os::unix::fs::symlink("link.txt", &chain).unwrap();
        write_atomic(&chain, |w| w.write_all(b"chained")).unwrap();
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "chained");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4);
    }

    #[cfg(unix)]
    #[test]
    fn new_files_are_world_readable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_atomic(&path, |w| w.write_all(b"x")).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
    }
}
