//! How a run fails: [`Failure`] (an error with the exit status it maps to: 1 runtime failure,
//! 2 bad input or usage) and the constructors every subcommand uses to map its errors, so that
//! in a cluster bad input is reported once (by process 0) and other failures by every process.

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
        e @ (AppError::Data(_) | AppError::InvalidArgument(_) | AppError::RemoteData(_)) => {
            if is_output_process {
                bad_input(e)
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
            let message = format!("{:#}", failure.error);
            if !message.is_empty() {
                eprintln!("error: {message}");
            }
            std::process::ExitCode::from(failure.code)
        }
    }
}
