//! What this replica does with what the others in the fleet tell it (`cluster`'s listener
//! calls it): each event goes to the owner of what it changes, the login admission, the user
//! cache, Seam's events or the fleet's fetches. Only `startup` uses this, and only in fleet mode.

use std::sync::Arc;

use crate::cluster::{Event, Remote};
use crate::events::SeamEvents;
use crate::fleet::Fleet;
use crate::handshake::Users;
use crate::login::Admission;

pub(crate) struct Replicas {
    pub(crate) admission: Arc<Admission>,
    pub(crate) users: Arc<Users>,
    /// With Seam's webhooks on.
    pub(crate) events: Option<Arc<SeamEvents>>,
    pub(crate) fleet: Option<Arc<Fleet>>,
}

impl Remote for Replicas {
    async fn apply(&self, event: Event) {
        match event {
            Event::UserRevoked { user_key, at } => {
                self.admission.user_revoked_elsewhere(&user_key, at).await;
            }
            Event::SessionEnded { issuer, sid } => {
                // Full: said loudly; Redis holds the ended `sid` for the fleet, and every login
                // this replica has not remembered asks it.
                let _ = self.admission.end_identity_session(issuer, &sid);
            }
            Event::SessionDropped {
                user_identifier_key,
            } => self.users.drop_session(&user_identifier_key).await,
            Event::AccountGone {
                connected_account_id,
            } => {
                if let Some(events) = &self.events {
                    events.account_changed(&connected_account_id).await;
                }
            }
            Event::AccountsAdded {
                user_identifier_keys,
            } => {
                if let Some(events) = &self.events {
                    events.accounts_added(&user_identifier_keys).await;
                }
            }
            Event::ClientSessionDeleted { client_session_id } => {
                if let Some(events) = &self.events {
                    events.client_session_deleted(&client_session_id).await;
                }
            }
            Event::FetchEnded {
                user_identifier_key,
            } => {
                if let Some(fleet) = &self.fleet {
                    fleet.fetch_ended_elsewhere(&user_identifier_key);
                }
            }
        }
    }

    async fn missed_events(&self) {
        // Users come back at the cost of one signature check and one Redis read each.
        self.users.clear();
    }
}
