//! The workspace pin (`seam.workspace_id`, `seam.sandbox`): which Seam workspace the API key
//! must belong to. One per process (in `SeamConfig`, shared by every worker's client), holding
//! what `/workspaces/get` last said: unknown until first asked, then confirmed or mismatched
//! by the pin. With a pin, no other call reaches Seam until the workspace is confirmed (one
//! `/workspaces/get`, single flight, unless readiness has asked already), and none while it is
//! mismatched; readiness's re-checks (`key_check`) keep it current, so a workspace that comes
//! to match recovers without a restart. Without a pin nothing waits and nothing is asked here;
//! what readiness learns is still kept, as the service's workspace for Seam's webhook events.
//!
//! It imports no other file of `seam` but the error and wire types, and is handed the call
//! that asks Seam, so that it stays out of the client's own import loop.

use std::future::Future;

use super::error::SeamError;
use super::types::Workspace;
use crate::cache::{Flight, Lookups, Slot};
use crate::metrics::Metrics;

pub(crate) struct WorkspacePin {
    workspace_id: Option<String>,
    sandbox: Option<bool>,
    /// What `/workspaces/get` said last; `None` until it has been asked.
    seen: Slot<Workspace>,
    flight: Flight,
    lookups: Lookups,
}

impl WorkspacePin {
    pub(crate) fn new(
        workspace_id: Option<String>,
        sandbox: Option<bool>,
        metrics: &Metrics,
    ) -> Self {
        Self {
            workspace_id,
            sandbox,
            seen: Slot::new(),
            flight: Flight::new(()),
            lookups: Lookups::new("workspace", metrics),
        }
    }

    fn pinned(&self) -> bool {
        self.workspace_id.is_some() || self.sandbox.is_some()
    }

    fn accepts(&self, workspace: &Workspace) -> bool {
        (self.workspace_id.as_ref()).is_none_or(|id| *id == workspace.workspace_id)
            && self
                .sandbox
                .is_none_or(|sandbox| sandbox == workspace.is_sandbox)
    }

    /// `Ok` when a call may go to Seam: always without a pin; with one, once the workspace is
    /// confirmed, asking Seam with `fetch` first if nobody has yet (one caller at a time; the
    /// others wait for its answer). A failed `fetch` is that call's failure, and the next call
    /// asks again.
    pub(super) async fn admit<Fut>(&self, fetch: impl FnOnce() -> Fut) -> Result<(), SeamError>
    where
        Fut: Future<Output = Result<Workspace, SeamError>>,
    {
        if !self.pinned() {
            return Ok(());
        }
        let found = (self.seen)
            .get_or_refresh(
                &self.flight,
                &self.lookups,
                // Once known it stays so: readiness's re-checks replace it (`observe`).
                |_| true,
                |_, _| None,
                || async {
                    let workspace = fetch().await?;
                    self.describe(None, &workspace);
                    Ok(workspace)
                },
            )
            .await?;
        match self.accepts(&found.value) {
            true => Ok(()),
            false => Err(SeamError::WorkspaceMismatch {
                workspace_id: found.value.workspace_id,
                sandbox: found.value.is_sandbox,
            }),
        }
    }

    /// Keeps what `/workspaces/get` just said (readiness's check): whether the pin accepts it.
    pub(super) async fn observe(&self, workspace: &Workspace) -> bool {
        let before = self.seen.replace(&self.flight, workspace.clone()).await;
        self.describe(before.as_ref(), workspace);
        self.accepts(workspace)
    }

    /// The service's workspace, once known: the pinned id, else the key's as last seen.
    fn ours(&self) -> Option<String> {
        (self.workspace_id.clone()).or_else(|| self.seen.current().map(|w| w.workspace_id))
    }

    /// `Some(ours)` when `workspace_id` is known not to be the service's workspace; `None`
    /// when it is, or while the service's is not known.
    pub(crate) fn other_than_ours(&self, workspace_id: &str) -> Option<String> {
        self.ours().filter(|ours| ours != workspace_id)
    }

    /// Tells the operator when the key's workspace turns out not to be the pinned one (once
    /// per change, not per refused call), and when it comes to match again.
    fn describe(&self, before: Option<&Workspace>, now: &Workspace) {
        if !self.pinned() || before == Some(now) {
            return;
        }
        let pinned_workspace_id = self.workspace_id.as_deref().unwrap_or("any");
        let pinned_sandbox = self
            .sandbox
            .map_or("any", |s| if s { "true" } else { "false" });
        if !self.accepts(now) {
            tracing::error!(
                request_id = %crate::telemetry::CurrentRequest,
                workspace_id = %now.workspace_id,
                sandbox = now.is_sandbox,
                pinned_workspace_id,
                pinned_sandbox,
                "the Seam API key's workspace is not the one seam.workspace_id and seam.sandbox \
                 pin: no call goes to Seam and /readyz answers 503 seam_workspace_mismatch; use \
                 that workspace's API key, or correct the pin"
            );
        } else if before.is_some_and(|before| !self.accepts(before)) {
            tracing::info!(
                request_id = %crate::telemetry::CurrentRequest,
                workspace_id = %now.workspace_id,
                sandbox = now.is_sandbox,
                "the Seam API key's workspace is the pinned one again"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn workspace(id: &str, sandbox: bool) -> Workspace {
        Workspace {
            workspace_id: id.into(),
            is_sandbox: sandbox,
            is_suspended: false,
            is_publishable_key_auth_enabled: false,
        }
    }

    fn pin(id: Option<&str>, sandbox: Option<bool>) -> WorkspacePin {
        WorkspacePin::new(id.map(Into::into), sandbox, &Metrics::new("/"))
    }

    #[actix_web::test]
    async fn without_a_pin_nothing_is_asked_and_what_readiness_saw_is_ours() {
        let pin = pin(None, None);
        let asked = Cell::new(0);
        let fetch = || async {
            asked.set(asked.get() + 1);
            Ok(workspace("w1", true))
        };
        assert!(pin.admit(fetch).await.is_ok());
        assert_eq!(asked.get(), 0);
        assert_eq!(pin.other_than_ours("w2"), None, "not known yet");
        assert!(pin.observe(&workspace("w1", true)).await);
        assert_eq!(pin.other_than_ours("w2"), Some("w1".into()));
        assert_eq!(pin.other_than_ours("w1"), None);
    }

    #[actix_web::test]
    async fn a_pin_is_confirmed_once_and_refuses_while_it_does_not_match() {
        let pin = pin(Some("w1"), Some(false));
        let asked = Cell::new(0);
        let fetch = |answer: Workspace| {
            let asked = &asked;
            move || async move {
                asked.set(asked.get() + 1);
                Ok(answer)
            }
        };
        assert!(pin.admit(fetch(workspace("w1", false))).await.is_ok());
        assert!(pin.admit(fetch(workspace("w1", false))).await.is_ok());
        assert_eq!(asked.get(), 1, "confirmed once");
        assert_eq!(pin.other_than_ours("w2"), Some("w1".into()));

        assert!(!pin.observe(&workspace("w1", true)).await, "a sandbox now");
        let refused = pin.admit(fetch(workspace("w1", false))).await;
        assert!(
            matches!(refused, Err(SeamError::WorkspaceMismatch { ref workspace_id, sandbox: true }) if workspace_id == "w1"),
            "{refused:?}"
        );
        assert_eq!(asked.get(), 1, "a known mismatch asks nothing");
        assert!(pin.observe(&workspace("w1", false)).await, "fixed");
        assert!(pin.admit(fetch(workspace("w2", true))).await.is_ok());
    }

    #[actix_web::test]
    async fn a_failed_confirmation_is_that_calls_failure_and_the_next_asks_again() {
        let pin = pin(None, Some(true));
        let failed = pin
            .admit(|| async {
                Err(SeamError::Timeout {
                    endpoint: "/workspaces/get",
                })
            })
            .await;
        assert!(failed.is_err());
        let asked = pin.admit(|| async { Ok(workspace("w9", true)) }).await;
        assert!(asked.is_ok(), "{asked:?}");
        assert_eq!(pin.other_than_ours("w9"), None);
    }
}
