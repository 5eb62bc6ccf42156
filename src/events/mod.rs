//! Seam's events, applied to what is cached: an account disconnected or deleted has its users'
//! account lookups and sessions looked up again (a disconnected one stays theirs, a deleted one
//! leaves), one that was connected joins its owner's on their next handshake, and a session
//! Seam deleted is no longer handed out. Without them the caches
//! would only notice within `accounts.cache_ttl_secs` (or never, for a deleted session, until
//! its `refresh_after`).
//!
//! An event only clears entries: the next handshake of a user it concerns asks Seam again.
//! Users this replica has not cached need nothing (their first handshake asks Seam anyway); in
//! fleet mode each replica applies the event to its own caches. The users an event concerns
//! are found through the handshake's index of holders (`handshake::Holders`).

use std::sync::Arc;

use crate::cluster::Event;
use crate::config::MetadataValue;
use crate::fleet::Fleet;
use crate::handshake::{AccountSource, Holders, User, Users};
use crate::login::Identity;
use crate::seam::{SeamClient, SeamError, SeamEvent};

pub(crate) struct SeamEvents {
    users: Arc<Users>,
    identity: Arc<Identity>,
    /// Where each identity namespace's users have their accounts.
    sources: Arc<[AccountSource]>,
    holders: Arc<Holders>,
    /// `None`: a single instance.
    fleet: Option<Arc<Fleet>>,
}

impl SeamEvents {
    pub(crate) fn new(
        users: Arc<Users>,
        identity: Arc<Identity>,
        sources: Arc<[AccountSource]>,
        holders: Arc<Holders>,
        fleet: Option<Arc<Fleet>>,
    ) -> Self {
        Self {
            users,
            identity,
            sources,
            holders,
            fleet,
        }
    }

    /// Applies a verified Seam event here and on every other replica: the number of users
    /// here whose cached state it cleared.
    pub(crate) async fn seam_event(
        &self,
        event: SeamEvent,
        seam: &SeamClient,
    ) -> Result<usize, SeamError> {
        let (cleared, shared) = match event {
            SeamEvent::AccountChanged {
                connected_account_id,
            } => (
                self.account_changed(&connected_account_id).await,
                Event::AccountGone {
                    connected_account_id,
                },
            ),
            SeamEvent::AccountConnected {
                custom_metadata,
                connect_webview_id,
                ..
            } => {
                let owners = self
                    .owners(&custom_metadata, connect_webview_id.as_deref(), seam)
                    .await?;
                if owners.is_empty() {
                    return Ok(0);
                }
                (
                    self.accounts_added(&owners).await,
                    Event::AccountsAdded {
                        user_identifier_keys: owners,
                    },
                )
            }
            SeamEvent::SessionDeleted { client_session_id } => (
                self.client_session_deleted(&client_session_id).await,
                Event::ClientSessionDeleted { client_session_id },
            ),
            SeamEvent::Ignored => return Ok(0),
        };
        if let Some(fleet) = &self.fleet {
            fleet.share(&shared).await;
        }
        Ok(cleared)
    }

    /// The Seam keys of the users whose accounts source lists a newly connected account: by
    /// its custom metadata (`seam_metadata`; whether the account is theirs is for the
    /// handshake's next lookup to judge, `handshake::provenance`), or by the sessions its
    /// Connect Webview was made with (`seam`, one Seam call). Sources that do not ask Seam
    /// (`claim`, `static`) have no owner to tell.
    async fn owners(
        &self,
        custom_metadata: &serde_json::Map<String, serde_json::Value>,
        connect_webview_id: Option<&str>,
        seam: &SeamClient,
    ) -> Result<Vec<String>, SeamError> {
        let mut owners = Vec::new();
        let mut by_webview = false;
        for (namespace, source) in self.sources.iter().enumerate() {
            match source {
                AccountSource::SeamMetadata { key, value } => {
                    let Some(tagged) = custom_metadata.get(key).and_then(|v| v.as_str()) else {
                        continue;
                    };
                    match value {
                        // The tag is the owner's Seam key itself.
                        MetadataValue::UserKey => owners.push(tagged.to_owned()),
                        MetadataValue::UserId => {
                            if let Ok(user_key) = self.identity.user_key(namespace, tagged) {
                                owners.push(
                                    (self.identity.derived_key(namespace, &user_key))
                                        .unwrap_or_else(|| user_key.into_owned()),
                                );
                            }
                        }
                    }
                }
                AccountSource::Seam => by_webview = true,
                AccountSource::Claim { .. } | AccountSource::Static(_) => {}
            }
        }
        if let (true, Some(webview)) = (by_webview, connect_webview_id) {
            owners.extend(
                seam.webview_session_keys(webview)
                    .await?
                    .into_iter()
                    .flatten(),
            );
        }
        owners.sort_unstable();
        owners.dedup();
        Ok(owners)
    }

    /// The cached users noted as holding `id`.
    fn holding(&self, id: &str) -> Vec<Arc<User>> {
        (self.holders.of(id).into_iter())
            .filter_map(|key| self.users.get(&key))
            .collect()
    }

    /// Users whose account lookup or session holds the account look both up again: Seam's
    /// answer says whether it is still theirs (a disconnected account is, a deleted one not).
    pub(crate) async fn account_changed(&self, connected_account_id: &str) -> usize {
        let mut cleared = 0;
        for user in self.holding(connected_account_id) {
            let listed = (user.accounts.current())
                .is_some_and(|lookup| lookup.accounts.iter().any(|a| a == connected_account_id));
            let granted = (user.session.current())
                .is_some_and(|session| session.granted().any(|a| a == connected_account_id));
            if listed || granted {
                user.accounts.clear(&user.flight).await;
                user.session.clear(&user.flight).await;
                cleared += 1;
            }
        }
        cleared
    }

    /// The users with these Seam keys look their accounts up again; their session then no
    /// longer matches and is renewed with the new account.
    pub(crate) async fn accounts_added(&self, user_identifier_keys: &[String]) -> usize {
        let mut cleared = 0;
        for key in user_identifier_keys {
            for user in self.holding(key) {
                if *user.user_identifier_key == **key && user.accounts.current().is_some() {
                    user.accounts.clear(&user.flight).await;
                    cleared += 1;
                }
            }
        }
        cleared
    }

    /// A cached session with this id is dropped.
    pub(crate) async fn client_session_deleted(&self, client_session_id: &str) -> usize {
        let mut cleared = 0;
        for user in self.holding(client_session_id) {
            if (user.session.current())
                .is_some_and(|session| *session.client_session_id == *client_session_id)
            {
                user.session.clear(&user.flight).await;
                cleared += 1;
            }
        }
        cleared
    }
}
