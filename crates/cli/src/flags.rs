//! Flags that do not apply to the variant a run chose (an algorithm, a layout, a solver, an input
//! format, a mode) are rejected the same way by every subcommand: a usage error (exit status 2)
//! naming each such flag and what it applies to, never silently ignored.
//!
//! Whether a flag was given is read from the command line itself ([`Given`]: clap's
//! `ArgMatches::value_source`), so that a flag with a default is told apart from a flag given
//! with its default's value.

use clap::parser::ValueSource;
use clap::{ArgMatches, Command};
use strads_apps::Parameter;

use crate::failure::{bad_input, Failure};

/// The flags a subcommand's command line gave (the `--long` names), and every flag it has.
#[derive(Debug, Default)]
pub struct Given {
    given: Vec<String>,
    known: Vec<String>,
}

impl Given {
    /// The flags of `command` (a subcommand) that its `matches` took from the command line.
    pub fn new(command: &Command, matches: &ArgMatches) -> Given {
        let mut given = Given::default();
        for arg in command.get_arguments() {
            let Some(long) = arg.get_long() else {
                continue;
            };
            let flag = format!("--{long}");
            if matches.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine) {
                given.given.push(flag.clone());
            }
            given.known.push(flag);
        }
        given
    }

    /// Whether `flag` (e.g. `--lr`) was given on the command line.
    ///
    /// # Panics
    /// When the subcommand has no flag `flag`: a misspelt name in the code, which would make
    /// its check never fire.
    pub fn contains(&self, flag: &str) -> bool {
        assert!(
            self.known.iter().any(|known| known == flag),
            "{flag} is not a flag of this subcommand"
        );
        self.given.iter().any(|given| given == flag)
    }

    /// Fails when any of `flags` was given: they only apply `context` (e.g. "to --algo sgd").
    pub fn reject(&self, flags: &[&str], context: &str) -> Result<(), Failure> {
        let given: Vec<(&str, bool)> = flags
            .iter()
            .map(|&flag| (flag, self.contains(flag)))
            .collect();
        reject_inapplicable(&given, context)
    }
}

/// Fails when any of `given` (flag, whether given) was given: they only apply `context`. The
/// message names every such flag: `--lr, --lr-decay only apply to --algo sgd`.
pub fn reject_inapplicable(given: &[(&str, bool)], context: &str) -> Result<(), Failure> {
    let given: Vec<&str> = given
        .iter()
        .filter(|(_, given)| *given)
        .map(|(flag, _)| *flag)
        .collect();
    if given.is_empty() {
        return Ok(());
    }
    Err(bad_input(anyhow::anyhow!(
        "{} only appl{} {context}",
        given.join(", "),
        if given.len() == 1 { "ies" } else { "y" },
    )))
}

/// The flag that sets `parameter`: library errors name parameters as the parameter structs do,
/// and only this edge knows the flags (an exhaustive match: a new parameter needs its flag).
pub fn flag_of(parameter: Parameter) -> &'static str {
    match parameter {
        Parameter::Lambda => "--lambda",
        Parameter::LambdaRatio => "--lambda-ratio",
        Parameter::Tol => "--tol",
        Parameter::MaxPasses => "--max-iters",
        Parameter::MaxSeconds => "--max-seconds",
        Parameter::ScheduleSize => "--schedule-size",
        Parameter::Eta => "--eta",
        Parameter::Staleness => "--staleness",
        Parameter::Rho => "--rho",
        Parameter::GapEvery => "--gap-every",
        Parameter::SweepShare => "--sweep-share",
        Parameter::Rank => "--rank",
        Parameter::InnerIterations => "--inner",
        Parameter::Extrapolation => "--als-extrapolation",
        Parameter::LearningRate => "--lr",
        Parameter::LearningRateDecay => "--lr-decay",
        Parameter::Topics => "--topics",
        Parameter::Alpha => "--alpha",
        Parameter::Beta => "--beta",
        Parameter::MhCycles => "--mh-steps",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction};

    fn command() -> Command {
        Command::new("app")
            .arg(Arg::new("lr").long("lr"))
            .arg(Arg::new("lr_decay").long("lr-decay"))
            .arg(Arg::new("iters").long("iters").default_value("10"))
            .arg(Arg::new("fast").long("fast").action(ArgAction::SetTrue))
    }

    fn given(args: &[&str]) -> Given {
        let mut command = command();
        let matches = command.try_get_matches_from_mut(args).unwrap();
        Given::new(&command, &matches)
    }

    #[test]
    fn a_default_is_not_given_but_the_same_value_on_the_command_line_is() {
        let none = given(&["app"]);
        assert!(!none.contains("--iters") && !none.contains("--fast") && !none.contains("--lr"));
        let some = given(&["app", "--iters", "10", "--fast", "--lr-decay", "1"]);
        assert!(some.contains("--iters") && some.contains("--fast") && some.contains("--lr-decay"));
        assert!(!some.contains("--lr"));
    }

    #[test]
    fn rejection_names_every_given_flag_and_the_context() {
        let both = given(&["app", "--lr", "1", "--lr-decay", "1"]);
        let error = both
            .reject(&["--lr", "--lr-decay"], "to sgd")
            .err()
            .unwrap();
        assert_eq!(error.code, 2);
        assert_eq!(
            error.error.to_string(),
            "--lr, --lr-decay only apply to sgd"
        );
        let one = given(&["app", "--lr", "1"]);
        let error = one.reject(&["--lr", "--lr-decay"], "to sgd").err().unwrap();
        assert_eq!(error.error.to_string(), "--lr only applies to sgd");
        assert!(given(&["app"]).reject(&["--lr"], "to sgd").is_ok());
    }

    #[test]
    #[should_panic(expected = "--rate is not a flag")]
    fn a_misspelt_flag_is_a_bug() {
        given(&["app"]).contains("--rate");
    }
}
