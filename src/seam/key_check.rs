//! Seam's half of readiness: did Seam accept the API key recently, and is its workspace one
//! that serves (the pinned one, when `seam.workspace_id` or `seam.sandbox` pins it, and not
//! suspended)? Each answer also keeps the workspace pin current (`workspace`), so that the
//! calls it holds back follow what readiness sees. The answer, good or bad, is reused for
//! `health.readiness_cache_secs`, so probes never cost one upstream call each. What the
//! workspace is (its id, sandbox or not) is logged when first learnt and whenever it changes,
//! with a warning when publishable keys are on and user keys are not derived.

use std::sync::Arc;

use time::OffsetDateTime;

use super::types::Workspace;
use super::{SeamClient, SeamError};
use crate::cache::{Flight, Lookups, Slot};
use crate::clock::Clock;
use crate::http_failure::NotReady;
use crate::metrics::Metrics;

#[derive(Clone)]
struct Check {
    checked_at: OffsetDateTime,
    /// `None` when ready, else why not (safe to show to anyone who can reach the probe).
    problem: Option<NotReady>,
    workspace: Option<Workspace>,
}

/// Said by `/readyz` while the workspace has publishable keys and user keys are guessable.
pub(crate) const PUBLISHABLE_KEYS_WARNING: &str = "publishable_keys_without_key_hmac";

pub(crate) struct ApiKeyCheck {
    /// `identity.key_hmac_secret` is set: a browser cannot guess another user's Seam key.
    derived_keys: bool,
    last: Slot<Check>,
    flight: Flight,
    lookups: Lookups,
    max_age: time::Duration,
    clock: Arc<dyn Clock>,
}

impl ApiKeyCheck {
    pub(crate) fn new(
        max_age_secs: u64,
        derived_keys: bool,
        clock: Arc<dyn Clock>,
        metrics: &Metrics,
    ) -> Self {
        Self {
            derived_keys,
            last: Slot::new(),
            flight: Flight::new(()),
            lookups: Lookups::new("readiness", metrics),
            max_age: time::Duration::seconds(max_age_secs as i64),
            clock,
        }
    }

    /// `Ok` when Seam accepts the key and the workspace serves, with a warning for `/readyz`
    /// when there is one; else the reason (a stable code) and the failed call's class.
    pub(crate) async fn check(&self, seam: &SeamClient) -> Result<Option<&'static str>, NotReady> {
        let now = self.clock.now();
        let before = self.last.current().and_then(|check| check.workspace);
        let checked = self
            .last
            .get_or_refresh(
                &self.flight,
                &self.lookups,
                |check| now < check.checked_at + self.max_age,
                |_, _| None,
                || async {
                    let (workspace, problem) = match seam.workspace().await {
                        Ok(workspace) => {
                            let pinned = seam.config.workspace.observe(&workspace).await;
                            let problem = if !pinned {
                                Some(NotReady::new("seam_workspace_mismatch", None))
                            } else {
                                (workspace.is_suspended)
                                    .then(|| NotReady::new("seam_workspace_suspended", None))
                            };
                            (Some(workspace), problem)
                        }
                        Err(error) => {
                            let reason = match error {
                                SeamError::Unauthorized { .. } => "seam_credentials_rejected",
                                SeamError::Timeout { .. } => "seam_timeout",
                                SeamError::CircuitOpen { .. } => "seam_circuit_open",
                                _ => "seam_unavailable",
                            };
                            (None, Some(NotReady::new(reason, error.cause())))
                        }
                    };
                    if workspace.is_some() && workspace != before {
                        self.describe(workspace.as_ref());
                    }
                    Ok::<_, std::convert::Infallible>(Check {
                        checked_at: self.clock.now(),
                        problem,
                        workspace,
                    })
                },
            )
            .await;
        let check = match checked {
            Ok(found) => found.value,
            Err(never) => match never {},
        };
        match check.problem {
            Some(problem) => Err(problem),
            None => Ok(check
                .workspace
                .filter(|w| w.is_publishable_key_auth_enabled && !self.derived_keys)
                .map(|_| PUBLISHABLE_KEYS_WARNING)),
        }
    }

    /// Says what the workspace is, once learnt or changed.
    fn describe(&self, workspace: Option<&Workspace>) {
        let Some(workspace) = workspace else { return };
        tracing::info!(
            request_id = %crate::telemetry::CurrentRequest, workspace_id = %workspace.workspace_id,
            sandbox = workspace.is_sandbox,
            suspended = workspace.is_suspended,
            "seam workspace"
        );
        if workspace.is_suspended {
            tracing::error!(
                request_id = %crate::telemetry::CurrentRequest, "the Seam workspace is suspended: Seam will refuse its sessions; /readyz answers 503"
            );
        }
        if workspace.is_publishable_key_auth_enabled && !self.derived_keys {
            tracing::warn!(
                request_id = %crate::telemetry::CurrentRequest, "the Seam workspace has publishable keys, so a browser holding one can ask Seam for a \
                 session under any user_identifier_key it can guess: set identity.key_hmac_secret"
            );
        }
    }
}
