//! Errors of an app run, split by who is at fault: the input (exit status 2) or the run (1).

use strads_engine::EngineError;
use strads_io::DataError;
use strads_runner::RunError;

/// Why an app run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The input data is malformed or unreadable.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A parameter is out of its range (named as the parameter structs name it; the command
    /// line names the flag that set it).
    #[error("{parameter} must be {requirement}, got {value}")]
    InvalidParameter {
        /// Which parameter.
        parameter: Parameter,
        /// What it must be ("> 0", "at least 1", ...).
        requirement: String,
        /// The value it had.
        value: String,
    },
    /// A parameter is inconsistent with the data or the cluster.
    #[error("{0}")]
    InvalidArgument(String),
    /// Another worker failed to load its part of the input; the message is its error.
    #[error("{0}")]
    RemoteData(String),
    /// A consistency check of the model state failed (a bug, not bad input).
    #[error("inconsistent state: {0}")]
    Inconsistent(String),
    /// The machine could not provide what the run needs (e.g. memory).
    #[error("{0}")]
    Resources(String),
    /// The cluster failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl AppError {
    /// The process exit status for this error: 2 for bad input or usage, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Data(_)
            | AppError::InvalidParameter { .. }
            | AppError::InvalidArgument(_)
            | AppError::RemoteData(_) => 2,
            // 2 for a disagreement between processes or a bad cluster configuration.
            AppError::Engine(e) => e.exit_code(),
            AppError::Inconsistent(_) | AppError::Resources(_) => 1,
        }
    }
}

impl From<RunError> for AppError {
    fn from(error: RunError) -> Self {
        match error {
            RunError::Engine(e) => AppError::Engine(e),
            RunError::InvalidArgument(m) => AppError::InvalidArgument(m),
            RunError::Resources(m) => AppError::Resources(m),
            // `RunError` may grow; what it is not known to be is the run's fault.
            other => AppError::Resources(other.to_string()),
        }
    }
}

impl AppError {
    /// `parameter` is not `requirement` (a phrase such as "> 0"): it was `value`.
    pub fn invalid(
        parameter: Parameter,
        requirement: impl Into<String>,
        value: impl std::fmt::Display,
    ) -> AppError {
        AppError::InvalidParameter {
            parameter,
            requirement: requirement.into(),
            value: value.to_string(),
        }
    }
}

/// The parameters whose range the apps check, each named by [`Parameter::name`] as the
/// parameter structs name it. Library errors never name a command-line flag: the CLI maps each
/// of these to its flag (an exhaustive match, so a new parameter cannot go without one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Parameter {
    /// `RegressionParams::penalty`, `Penalty::Absolute`; `MfParams::lambda`.
    Lambda,
    /// `RegressionParams::penalty`, `Penalty::Ratio`.
    LambdaRatio,
    /// `RegressionParams::tol`.
    Tol,
    /// `RegressionParams::max_passes`.
    MaxPasses,
    /// `RegressionParams::max_seconds`, `MfParams::max_seconds`.
    MaxSeconds,
    /// `SchedulerParams::schedule_size`.
    ScheduleSize,
    /// `SchedulerParams::eta`.
    Eta,
    /// `RegressionParams::staleness`.
    Staleness,
    /// `RegressionParams::rho`.
    Rho,
    /// `RegressionParams::gap_every`.
    GapEvery,
    /// `RegressionParams::sweep_share`.
    SweepShare,
    /// `MfParams::rank`.
    Rank,
    /// `CcdOptions::inner_iterations`.
    InnerIterations,
    /// `AlsOptions::extrapolation`.
    Extrapolation,
    /// `SgdOptions::learning_rate`.
    LearningRate,
    /// `SgdOptions::learning_rate_decay`.
    LearningRateDecay,
    /// `LdaParams::topics`.
    Topics,
    /// `LdaParams::alpha`.
    Alpha,
    /// `LdaParams::beta`.
    Beta,
    /// `SamplerKind::Mh`'s `cycles`.
    MhCycles,
}

impl Parameter {
    /// Every parameter, in declaration order.
    pub const ALL: [Parameter; 20] = [
        Parameter::Lambda,
        Parameter::LambdaRatio,
        Parameter::Tol,
        Parameter::MaxPasses,
        Parameter::MaxSeconds,
        Parameter::ScheduleSize,
        Parameter::Eta,
        Parameter::Staleness,
        Parameter::Rho,
        Parameter::GapEvery,
        Parameter::SweepShare,
        Parameter::Rank,
        Parameter::InnerIterations,
        Parameter::Extrapolation,
        Parameter::LearningRate,
        Parameter::LearningRateDecay,
        Parameter::Topics,
        Parameter::Alpha,
        Parameter::Beta,
        Parameter::MhCycles,
    ];

    /// The parameter's name in its params struct.
    pub fn name(self) -> &'static str {
        match self {
            Parameter::Lambda => "lambda",
            Parameter::LambdaRatio => "lambda_ratio",
            Parameter::Tol => "tol",
            Parameter::MaxPasses => "max_passes",
            Parameter::MaxSeconds => "max_seconds",
            Parameter::ScheduleSize => "schedule_size",
            Parameter::Eta => "eta",
            Parameter::Staleness => "staleness",
            Parameter::Rho => "rho",
            Parameter::GapEvery => "gap_every",
            Parameter::SweepShare => "sweep_share",
            Parameter::Rank => "rank",
            Parameter::InnerIterations => "inner_iterations",
            Parameter::Extrapolation => "extrapolation",
            Parameter::LearningRate => "learning_rate",
            Parameter::LearningRateDecay => "learning_rate_decay",
            Parameter::Topics => "topics",
            Parameter::Alpha => "alpha",
            Parameter::Beta => "beta",
            Parameter::MhCycles => "mh_cycles",
        }
    }
}

impl std::fmt::Display for Parameter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
