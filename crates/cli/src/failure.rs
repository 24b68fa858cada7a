//! How a run fails: [`Failure`] (an error with the exit status it maps to: 1 runtime failure,
//! 2 bad input or usage) and the constructors every subcommand uses to map its errors, so that
//! in a cluster bad input is reported once (by process 0) and other failures by every process;
//! and the panic hook that turns a lost peer into such a failure ([`install_exit_on_failure`]).

use std::sync::atomic::{AtomicBool, Ordering};

use strads_engine::threads::{role_of, ThreadRole};

/// A failure with the exit status it maps to.
pub struct Failure {
    /// 1 runtime failure, 2 bad input or usage.
    pub code: u8,
    /// What went wrong (printed as `error: ...`); empty when already reported.
    pub error: anyhow::Error,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure {
            code: 1,
            error: error.into(),
        }
    }
}

/// The failure an app's error maps to. Bad input is reported only by the output process (0),
/// so a cluster prints it once; the others exit with status 2 quietly.
pub fn app_failure(error: strads_apps::AppError, is_output_process: bool) -> Failure {
    use strads_apps::AppError;
    match error {
        e @ (AppError::Data(_)
        | AppError::InvalidParameter { .. }
        | AppError::InvalidArgument(_)
        | AppError::RemoteData(_)) => {
            if is_output_process {
                app_bad_input(e)
            } else {
                Failure {
                    code: 2,
                    error: anyhow::anyhow!(""),
                }
            }
        }
        e => Failure {
            code: e.exit_code(),
            error: e.into(),
        },
    }
}

/// An app's bad-input error (exit status 2), a parameter out of range named by its flag.
pub fn app_bad_input(error: strads_apps::AppError) -> Failure {
    match error {
        strads_apps::AppError::InvalidParameter {
            parameter,
            requirement,
            value,
        } => bad_input(FlagError {
            flag: crate::flags::flag_of(parameter),
            requirement,
            value,
        }),
        error => bad_input(error),
    }
}

/// An app's parameter out of range, named by the flag that set it: an app's error still (every
/// process of a cluster meets it alike, so only process 0 reports it).
#[derive(Debug)]
pub struct FlagError {
    flag: &'static str,
    requirement: String,
    value: String,
}

impl std::fmt::Display for FlagError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} must be {}, got {}",
            self.flag, self.requirement, self.value
        )
    }
}

impl std::error::Error for FlagError {}

/// The failure a STRADS-AP app's error maps to (mlr, word2vec): bad input is reported by
/// process 0 alone; the others exit with status 2 quietly.
pub fn ap_app_failure(error: strads_ap_apps::ApAppError, is_output_process: bool) -> Failure {
    let is_bad_input = error.is_bad_input();
    cluster_failure(error, is_bad_input, is_output_process)
}

/// A bad-input failure (exit status 2).
pub fn bad_input(error: impl Into<anyhow::Error>) -> Failure {
    Failure {
        code: 2,
        error: error.into(),
    }
}

/// A failure of a cluster run, where every process meets the same bad input: process 0
/// (`is_output_process`) reports it, the others exit with status 2 quietly; any other failure
/// is reported by every process, exit status 1.
pub fn cluster_failure(
    error: impl Into<anyhow::Error>,
    is_bad_input: bool,
    is_output_process: bool,
) -> Failure {
    match (is_bad_input, is_output_process) {
        (true, true) => bad_input(error),
        (true, false) => Failure {
            code: 2,
            error: anyhow::anyhow!(""),
        },
        (false, _) => Failure {
            code: 1,
            error: error.into(),
        },
    }
}

/// The process's exit status for a subcommand's result, after printing its error (if it has
/// one to print) as `error: ...` on stderr.
pub fn exit_code(result: Result<(), Failure>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(failure) => {
            let message = message_of(&failure.error);
            if !message.is_empty() {
                eprintln!("error: {message}");
            }
            std::process::ExitCode::from(failure.code)
        }
    }
}

/// What `error` says, with the flag that may fix it ([`flag_hint`]) when it names none.
pub fn message_of(error: &anyhow::Error) -> String {
    let message = format!("{error:#}");
    match flag_hint(error) {
        Some(hint) if !message.is_empty() => format!("{message}; {hint}"),
        _ => message,
    }
}

/// The setting of this binary (a flag, or the secret's environment variable) that may fix
/// `error`, as a clause: the libraries say what is wrong in their own terms and carry, as typed
/// fields, what tells the mistake apart; only this edge knows the flags.
pub fn flag_hint(error: &anyhow::Error) -> Option<&'static str> {
    use strads_ap::ApError;
    use strads_ap_apps::ApAppError;
    use strads_apps::AppError;
    use strads_engine::EngineError;
    use strads_io::DataError;
    error.chain().find_map(|cause| {
        if let Some(error) = cause.downcast_ref::<EngineError>() {
            engine_hint(error)
        } else if let Some(error) = cause.downcast_ref::<DataError>() {
            data_hint(error)
        } else if let Some(error) = cause.downcast_ref::<AppError>() {
            match error {
                AppError::Engine(error) => engine_hint(error),
                AppError::Data(error) => data_hint(error),
                _ => None,
            }
        } else if let Some(error) = cause.downcast_ref::<ApAppError>() {
            match error {
                ApAppError::Ap(ApError::Engine(error)) => engine_hint(error),
                ApAppError::Ap(ApError::Data(error)) | ApAppError::Data(error) => data_hint(error),
                _ => None,
            }
        } else {
            None
        }
    })
}

fn engine_hint(error: &strads_engine::EngineError) -> Option<&'static str> {
    use strads_engine::agreement::{PROCESSES_ITEM, THREADS_ITEM};
    use strads_engine::{EngineError, Misconfiguration};
    match error {
        EngineError::Connect {
            likely_cause: Some(Misconfiguration::ProcessIndices),
            ..
        } => Some("is --process set right on every machine?"),
        EngineError::Connect {
            likely_cause: Some(Misconfiguration::Secrets),
            ..
        } => Some("does every process have the same secret, from STRADS_SECRET or --secret-file?"),
        EngineError::Disagreement { item, .. } if item == PROCESSES_ITEM => {
            Some("every process must be started with the same --processes")
        }
        EngineError::Disagreement { item, .. } if item == THREADS_ITEM => {
            Some("every process must be started with the same --threads")
        }
        _ => None,
    }
}

fn data_hint(error: &strads_io::DataError) -> Option<&'static str> {
    match error {
        strads_io::DataError::ZeroIndex { .. } => {
            Some("pass --zero-based if this file's indices start at 0")
        }
        _ => None,
    }
}

/// Set by the first failure the hook reports.
static FAILED: AtomicBool = AtomicBool::new(false);

/// Exit status used when a peer or worker fails.
pub const FAILURE_EXIT_CODE: i32 = 1;

/// Installs a process-wide panic hook that turns a failed peer or worker into a prompt, named
/// error instead of a hang: it prints one line naming the failed peer (from the engine's thread
/// names, [`strads_engine::threads`]) and exits the process with status 1, which in turn breaks
/// the connections of every other process, so the whole cluster stops within moments. Only the
/// first failure is reported: a second thread failing meanwhile waits for the exit. Installed by
/// every app subcommand of a cluster of processes.
pub fn install_exit_on_failure(process: usize) {
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("main");
        if FAILED.swap(true, Ordering::SeqCst) {
            // Another thread is already reporting a failure and exiting.
            loop {
                std::thread::park();
            }
        }
        let message = panic_message(info.payload());
        match role_of(name) {
            ThreadRole::Connection { peer } => eprintln!(
                "error: process {process} lost its connection to process {peer} (it exited or was killed): {message}"
            ),
            // The heartbeat's message names both processes and what happened.
            ThreadRole::Heartbeat => eprintln!("error: {message}"),
            ThreadRole::Other => {
                let location = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
                eprintln!("error: process {process}, thread {name} failed: {message}{location}");
            }
        }
        std::process::exit(FAILURE_EXIT_CODE);
    }));
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}
