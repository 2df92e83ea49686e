//! Why a configuration was refused: every problem found, each naming the
//! flag and variable, or the file, line and key, it blames.

use std::fmt;
use std::path::PathBuf;

/// Why a config was refused: one or more problems, each on its own line.
#[derive(Debug)]
pub struct ConfigErrors(pub(super) Vec<ConfigError>);

/// One problem with the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file named by `--config`.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key or a value of the
    /// wrong type.
    #[error("{}:{line}: {message}", path.display())]
    Syntax {
        /// The config file.
        path: PathBuf,
        /// The 1-based line of the problem.
        line: usize,
        /// What the TOML parser said.
        message: String,
    },
    /// A value that breaks a rule.
    #[error("{at}: {reason}")]
    Invalid {
        /// The setting at fault and where its value came from.
        at: Location,
        /// What is wrong with it.
        reason: String,
    },
}

/// Where a faulty value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A flag or its environment variable (clap does not say which);
    /// `key` is the file key, such as `health.interval`.
    Arg {
        /// The setting's file key.
        key: String,
    },
    /// A key of the config file, such as `backend[1].weight`.
    File {
        /// The config file.
        path: PathBuf,
        /// The 1-based line of the value.
        line: usize,
        /// The key.
        key: String,
    },
    /// The built-in default, at odds with another value.
    Default {
        /// The setting's file key.
        key: String,
    },
}

// === impl ConfigErrors ===

impl ConfigErrors {
    /// Every problem found, in the order of the settings.
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        Self(vec![error])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { "\n" };
            write!(f, "{sep}{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

// === impl Location ===

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Arg { key } => write!(f, "{} ({})", flag_of(key), env_of(key)),
            Self::File { path, line, key } => write!(f, "{}:{line}: {key}", path.display()),
            Self::Default { key } => write!(f, "{key} (default)"),
        }
    }
}

/// The flag that sets file key `key`: `health.max_latency` is
/// `--health-max-latency`.
pub(super) fn flag_of(key: &str) -> String {
    match key {
        "agents" => "--agent".to_owned(),
        _ => format!("--{}", key.replace(['_', '.'], "-")),
    }
}

/// The variable that sets file key `key`: `health.max_latency` is
/// `SIGNPOST_HEALTH_MAX_LATENCY`.
pub(super) fn env_of(key: &str) -> String {
    format!("SIGNPOST_{}", key.replace('.', "_").to_ascii_uppercase())
}
