//! Checks of a run's files before any work: inputs are regular files (a FIFO would block the
//! reader forever), no output is an input or another output (compared by device and inode when
//! the file exists, by canonical path after following symlinks when it does not), and every
//! output's directory is writable (a file is created and removed in it). Each failure is a usage
//! error (exit status 2) naming the flags and paths. Also the one rule for `--cache` files
//! ([`prepare_cache`]): read when current, else made by a one-process run.

use std::path::{Path, PathBuf};

use strads_io::resolve_symlinks;

use crate::failure::{bad_input, Failure};

/// The input and output files of a run, by flag.
#[derive(Default)]
pub struct Files {
    inputs: Vec<(String, PathBuf)>,
    outputs: Vec<(String, PathBuf)>,
}

/// What identifies a file: its device and inode when it exists, else the path it would be
/// created at (symlinks followed, the directory canonical).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Identity {
    Inode(u64, u64),
    Path(PathBuf),
}

impl Files {
    /// No files yet.
    pub fn new() -> Self {
        Files::default()
    }

    /// An input file, if given.
    pub fn input(&mut self, flag: &str, path: Option<&Path>) -> &mut Self {
        if let Some(path) = path {
            self.inputs.push((flag.to_owned(), path.to_owned()));
        }
        self
    }

    /// An output file, if given.
    pub fn output(&mut self, flag: &str, path: Option<&Path>) -> &mut Self {
        if let Some(path) = path {
            self.outputs.push((flag.to_owned(), path.to_owned()));
        }
        self
    }

    /// Checks the inputs, and the outputs when `outputs` (only the process that writes them
    /// checks them: in a cluster the others may not even see the same directories).
    pub fn check(&self, outputs: bool) -> Result<(), Failure> {
        let usage = |message: String| Err(bad_input(anyhow::anyhow!(message)));
        let mut inputs = Vec::new();
        for (flag, path) in &self.inputs {
            // A missing or unreadable input is reported by its reader, with its cause.
            let Ok(metadata) = std::fs::metadata(path) else {
                continue;
            };
            if !metadata.is_file() {
                return usage(format!(
                    "{}: {flag} is not a regular file ({}): give a file",
                    path.display(),
                    kind_of(&metadata)
                ));
            }
            inputs.push((flag, path, identity(path)));
        }
        if !outputs {
            return Ok(());
        }
        let mut seen: Vec<(&String, &PathBuf, Identity)> = Vec::new();
        for (flag, path) in &self.outputs {
            let target = resolve_symlinks(path);
            if target.is_dir() {
                return usage(format!(
                    "{}: {flag} is a directory; give a file name",
                    path.display()
                ));
            }
            let id = identity(&target);
            for (input_flag, input, input_id) in &inputs {
                if *input_id == id {
                    return usage(format!(
                        "{flag} {} is the same file as {input_flag} {}: it would overwrite the \
                         input",
                        path.display(),
                        input.display()
                    ));
                }
            }
            for (other_flag, other, other_id) in &seen {
                if *other_id == id {
                    return usage(format!(
                        "{flag} {} is the same file as {other_flag} {}: one output would \
                         overwrite the other",
                        path.display(),
                        other.display()
                    ));
                }
            }
            check_writable(flag, path, &target)?;
            seen.push((flag, path, id));
        }
        Ok(())
    }
}

fn identity(path: &Path) -> Identity {
    #[cfg(unix)]
    if let Ok(metadata) = std::fs::metadata(path) {
        use std::os::unix::fs::MetadataExt;
        return Identity::Inode(metadata.dev(), metadata.ino());
    }
    Identity::Path(resolve_symlinks(path))
}

fn kind_of(metadata: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = metadata.file_type();
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
    }
    if metadata.is_dir() {
        "a directory"
    } else {
        "not a plain file"
    }
}

/// Creates and removes a file in the directory of `target` (the resolved `path`).
fn check_writable(flag: &str, path: &Path, target: &Path) -> Result<(), Failure> {
    let directory = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    match tempfile::Builder::new()
        .prefix(".strads-write-check.")
        .tempfile_in(directory)
    {
        Ok(file) => {
            let _ = file.close();
            Ok(())
        }
        Err(e) => Err(bad_input(anyhow::anyhow!(
            "{flag} {}: cannot write to the directory {}: {}",
            path.display(),
            directory.display(),
            io_cause(&e)
        ))),
    }
}

/// An I/O error's cause without tempfile's "... at path" decoration.
fn io_cause(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "it does not exist".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => error.to_string(),
    }
}

/// Before writing an output of about `bytes` to `path` (given by `flag`): fails with exit
/// status 1 naming the directory when its filesystem clearly cannot hold it (the file is then
/// not started; the atomic write would fail anyway, but later and less clearly).
pub fn check_output_space(flag: &str, path: &Path, bytes: u64) -> Result<(), Failure> {
    strads_io::check_free_space(
        &format!("writing {flag}"),
        strads_io::disk::directory_of(path),
        bytes,
    )?;
    Ok(())
}

/// Makes the binary cache `cache` usable (`--cache`): `"read"` when `open` and `check` (made
/// from the source as it is now, read the same way) pass, `"written"` when it was missing or
/// stale and this one-process run parsed the source and wrote it with `write`. A corrupt cache,
/// or a missing or stale one in a cluster of `processes` (whose processes would each write it),
/// is bad input; `make_first` says how to make it with one process.
pub fn prepare_cache<C>(
    cache: &Path,
    processes: usize,
    open: impl FnOnce(&Path) -> Result<C, strads_io::DataError>,
    check: impl FnOnce(&C) -> Result<(), strads_io::DataError>,
    make_first: &str,
    write: impl FnOnce() -> Result<(), strads_io::DataError>,
) -> Result<&'static str, Failure> {
    let problem = match open(cache) {
        Ok(reader) => match check(&reader) {
            Ok(()) => return Ok("read"),
            Err(stale) => stale.to_string(),
        },
        Err(strads_io::DataError::Io { cause, .. })
            if cause.kind() == std::io::ErrorKind::NotFound =>
        {
            format!("{}: no such cache", cache.display())
        }
        Err(corrupt) => return Err(bad_input(corrupt)),
    };
    if processes > 1 {
        return Err(bad_input(anyhow::anyhow!("{problem}; {make_first}")));
    }
    write().map_err(bad_input)?;
    Ok("written")
}
