//! `ConfigError`: settings that cannot be used, each named by its key with what to do about it.
//! Every component's errors at start-up are reported together (`ConfigError::all`).

use std::fmt;

/// Settings that cannot be used, each with the key it belongs to and what to do about it: one,
/// or every one start-up found (`ConfigError::all`).
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    problems: Vec<(String, String)>,
}

impl ConfigError {
    pub(crate) fn new(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            problems: vec![(key.into(), problem.into())],
        }
    }

    /// The problems of several errors as one, in order; `Ok` when there are none.
    pub(crate) fn all(errors: Vec<ConfigError>) -> Result<(), ConfigError> {
        let problems: Vec<_> = errors.into_iter().flat_map(|e| e.problems).collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Self { problems })
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let describe = |(key, problem): &(String, String)| {
            if key.is_empty() {
                problem.clone()
            } else {
                format!("`{key}`: {problem}")
            }
        };
        match self.problems.as_slice() {
            [one] if one.0.is_empty() => write!(f, "invalid configuration: {}", one.1),
            [(key, problem)] => write!(f, "invalid configuration `{key}`: {problem}"),
            many => {
                write!(f, "invalid configuration ({} problems):", many.len())?;
                for problem in many {
                    write!(f, "\n  - {}", describe(problem))?;
                }
                Ok(())
            }
        }
    }
}
