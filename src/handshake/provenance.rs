//! Whose Connect Webview connected an account. Any client session token may make a Connect
//! Webview with custom metadata of its choosing (Seam Components' `ConnectAccountButton` writes
//! it from the browser), and Seam copies that metadata onto the account it connects: a user
//! could tag an account of theirs with another user's id and plant it in that user's list. So
//! metadata alone proves nothing. An account Seam lists for a user counts only when every
//! Connect Webview listed by the same filter that connected it was made with the API key (no
//! session holds it: the app's backend) or is held by a session of the user's own key.
//!
//! Which sessions hold a webview is asked of Seam once per webview (`/client_sessions/list`)
//! and kept: a webview's maker never changes. Seam forgets it when the session is deleted,
//! and an orphaned webview would pass for the backend's; so before the service deletes a
//! session (a logout, a replacement, the admin API) its webviews are noted as its user's,
//! here and, in fleet mode, in the fleet's store, which every replica asks before Seam.

use std::sync::Arc;

use crate::fleet::Fleet;
use crate::seam::{AccountFilter, ClientSession, SeamClient, SeamError};

/// The Seam keys of the sessions holding a webview when first asked (`None` for a session
/// without one); empty when the API key made it.
type Makers = Arc<[Option<Box<str>>]>;

pub(crate) struct Provenance {
    /// Connect Webview id → its makers.
    makers: moka::sync::Cache<Box<str>, Makers>,
    refused: prometheus::IntCounter,
    /// `None`: a single instance.
    fleet: Option<Arc<Fleet>>,
}

impl Provenance {
    /// Keeps up to `capacity` webviews' makers; one dropped costs one Seam call when needed
    /// again.
    pub(crate) fn new(
        capacity: u64,
        fleet: Option<Arc<Fleet>>,
        metrics: &crate::metrics::Metrics,
    ) -> Self {
        Self {
            makers: moka::sync::Cache::new(capacity),
            refused: metrics
                .refused_grants
                .with_label_values(&["planted_account"]),
            fleet,
        }
    }

    /// The accounts of `listed` (what Seam lists for `filter`) that the user with this Seam
    /// key may hold. Costs one `/connect_webviews/list` when `listed` is not empty, and one
    /// `/client_sessions/list` per webview not asked about before.
    pub(crate) async fn own(
        &self,
        filter: AccountFilter<'_>,
        user_identifier_key: &str,
        listed: Vec<String>,
        seam: &SeamClient,
    ) -> Result<Vec<String>, SeamError> {
        if listed.is_empty() {
            return Ok(listed);
        }
        let mut planted: Vec<String> = Vec::new();
        for (webview, account) in seam.webviews_connected(filter).await? {
            if !listed.contains(&account) || planted.contains(&account) {
                continue;
            }
            let makers = self.makers(&webview, seam).await?;
            let own = makers.is_empty()
                || (makers.iter()).any(|key| key.as_deref() == Some(user_identifier_key));
            if !own {
                planted.push(account);
            }
        }
        if planted.is_empty() {
            return Ok(listed);
        }
        self.refused.inc_by(planted.len() as u64);
        tracing::warn!(
            request_id = %crate::telemetry::CurrentRequest,
            accounts = planted.len(),
            "left out of a user's accounts: connected through a Connect Webview of another \
             user's session (custom metadata a browser wrote)"
        );
        Ok(listed
            .into_iter()
            .filter(|a| !planted.contains(a))
            .collect())
    }

    /// Whose sessions hold this webview: kept, else from the fleet (a deleted session's), else
    /// from Seam.
    async fn makers(&self, webview: &str, seam: &SeamClient) -> Result<Makers, SeamError> {
        if let Some(makers) = self.makers.get(webview) {
            return Ok(makers);
        }
        let noted = match &self.fleet {
            Some(fleet) => fleet.webview_maker(webview).await,
            None => None,
        };
        let makers: Makers = match noted {
            Some(maker) => Arc::from([maker.map(Into::into)]),
            None => (seam.webview_session_keys(webview).await?.into_iter())
                .map(|key| key.map(Into::into))
                .collect(),
        };
        self.makers.insert(webview.into(), makers.clone());
        Ok(makers)
    }

    /// Call before deleting `session` at Seam: its webviews stay known as made by its user,
    /// here and across the fleet, once Seam no longer says so.
    pub(crate) async fn before_deleting(&self, session: &ClientSession) {
        let maker = session.user_identifier_key.as_deref();
        for webview in &session.connect_webview_ids {
            // What was asked while the session lived stays: it is at least as complete.
            (self.makers.entry(webview.as_str().into()))
                .or_insert_with(|| Arc::from([maker.map(Into::into)]));
            if let Some(fleet) = &self.fleet {
                fleet.share_webview_maker(webview, maker).await;
            }
        }
    }
}
