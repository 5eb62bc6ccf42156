//! Who owns which Seam connected accounts: looked up from Seam (by `user_identifier_key` or by
//! custom metadata), read from a login claim, or taken from the config file.
//!
//! Seam lookups are cached per user for `accounts.cache_ttl_secs`, so that a user who gains or
//! loses an account sees it within that window while repeat logins cost no upstream call. A
//! lookup used in the last quarter of its window is refreshed in the background, so a user
//! who keeps coming back never waits; while Seam cannot answer, a lookup up to
//! `accounts.serve_stale_secs` old is used rather than failing the handshake.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::web::Data;

use serde_json::Value;
use time::OffsetDateTime;

use crate::auth::{AuthError, Login};
use crate::cache::{Found, Lookups, Outcome};
use crate::clock::Clock;
use crate::config::{AccountSourceKind, AccountsSettings, ConfigError};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::seam::{AccountFilter, SeamClient, SeamError};
use crate::users::User;

/// A user's connected account ids, sorted and without duplicates, so that two sets compare
/// equal exactly when they grant the same accounts.
pub(crate) type AccountSet = Arc<[String]>;

pub(crate) fn account_set(ids: impl IntoIterator<Item = String>) -> AccountSet {
    let mut ids: Vec<String> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into()
}

enum Source {
    Seam,
    SeamMetadata { key: String },
    Claim { claim: String },
    Static(HashMap<String, AccountSet>),
}

/// A user's accounts as Seam listed them, kept in the user's cache entry.
#[derive(Clone)]
pub(crate) struct Lookup {
    accounts: AccountSet,
    fetched_at: OffsetDateTime,
}

pub(crate) struct AccountDirectory {
    source: Source,
    lookups: Lookups,
    ttl: time::Duration,
    /// Lookups older than this are refreshed in the background when used.
    refresh_ahead_after: time::Duration,
    serve_stale: time::Duration,
    clock: Arc<dyn Clock>,
}

/// The accounts a login owns, and what the handshake needs to know about the answer.
pub(crate) struct Owned {
    pub(crate) accounts: AccountSet,
    /// How the cache answered, for Seam-backed sources.
    pub(crate) outcome: Option<Outcome>,
    /// A background refresh that is now due.
    pub(crate) refresh: Option<AccountsRefresh>,
}

/// A background refresh of one user's lookup, due because it was used late in its window.
pub(crate) struct AccountsRefresh {
    user: Arc<User>,
}

impl AccountDirectory {
    pub(crate) fn from_settings(
        settings: &AccountsSettings,
        clock: Arc<dyn Clock>,
        metrics: &Metrics,
    ) -> Result<Self, ConfigError> {
        let required = |key: &str, value: &Option<String>| {
            value.clone().filter(|v| !v.is_empty()).ok_or_else(|| {
                ConfigError::new(
                    format!("accounts.{key}"),
                    format!("is required when accounts.source = {:?}", settings.source),
                )
            })
        };
        let source = match settings.source {
            AccountSourceKind::Seam => Source::Seam,
            AccountSourceKind::SeamMetadata => Source::SeamMetadata {
                key: required("metadata_key", &settings.metadata_key)?,
            },
            AccountSourceKind::Claim => Source::Claim {
                claim: required("claim", &settings.claim)?,
            },
            AccountSourceKind::Static => Source::Static(
                settings
                    .static_accounts
                    .iter()
                    .map(|(user, ids)| (user.clone(), account_set(ids.iter().cloned())))
                    .collect(),
            ),
        };
        let ttl = time::Duration::seconds(settings.cache_ttl_secs as i64);
        let serve_stale = time::Duration::seconds(settings.serve_stale_secs as i64);
        Ok(Self {
            source,
            lookups: Lookups::new("accounts", metrics),
            ttl,
            refresh_ahead_after: ttl * 3 / 4,
            serve_stale,
            clock,
        })
    }

    /// The accounts `login` owns, and whether a background refresh is due.
    pub(crate) async fn accounts_for(
        &self,
        login: &Login,
        seam: &SeamClient,
    ) -> Result<Owned, ApiError> {
        let settled = |accounts| Owned {
            accounts,
            outcome: None,
            refresh: None,
        };
        let user = &login.user;
        let filter = match &self.source {
            Source::Static(map) => {
                let accounts = map.get(login.user_id()).cloned();
                return Ok(settled(accounts.unwrap_or_else(|| account_set([]))));
            }
            Source::Claim { claim } => return Ok(settled(from_claim(login, claim)?)),
            Source::Seam => AccountFilter::UserIdentifierKey(&user.user_identifier_key),
            Source::SeamMetadata { key } => AccountFilter::CustomMetadataHas(key, login.user_id()),
        };
        let now = self.clock.now();
        let found = self
            .lookup(user, filter, seam, |l| now < l.fetched_at + self.ttl)
            .await?;
        let lookup = found.value;
        let due = found.outcome == Outcome::Hit
            && now >= lookup.fetched_at + self.refresh_ahead_after
            && user.accounts.claim_background_refresh();
        let refresh = due.then(|| AccountsRefresh { user: user.clone() });
        Ok(Owned {
            accounts: lookup.accounts,
            outcome: Some(found.outcome),
            refresh,
        })
    }

    async fn lookup(
        &self,
        user: &User,
        filter: AccountFilter<'_>,
        seam: &SeamClient,
        is_fresh: impl Fn(&Lookup) -> bool,
    ) -> Result<Found<Lookup>, SeamError> {
        user.accounts
            .get_or_refresh(
                &user.flight,
                &self.lookups,
                is_fresh,
                // Judged when the refresh has failed, which may be long after it started.
                |lookup| self.clock.now() < lookup.fetched_at + self.serve_stale,
                || async {
                    let ids = seam.connected_account_ids(filter).await?;
                    Ok(Lookup {
                        accounts: account_set(ids),
                        fetched_at: self.clock.now(),
                    })
                },
            )
            .await
    }
}

impl AccountsRefresh {
    /// Refreshes the lookup on this worker without holding up the request that found it due.
    pub(crate) fn spawn(self, directory: Data<AccountDirectory>, seam: Data<SeamClient>) {
        actix_web::rt::spawn(async move {
            let filter = match &directory.source {
                Source::SeamMetadata { key } => {
                    AccountFilter::CustomMetadataHas(key, &self.user.user_id)
                }
                _ => AccountFilter::UserIdentifierKey(&self.user.user_identifier_key),
            };
            let now = directory.clock.now();
            let ahead = directory.refresh_ahead_after;
            // Anything past the refresh point counts as due; a concurrent refresh wins.
            let _ = directory
                .lookup(&self.user, filter, &seam, |l| now < l.fetched_at + ahead)
                .await;
        });
    }
}

/// The identity provider vouches for the list: an absent claim means no accounts yet, anything
/// but an array of strings is a bad token.
fn from_claim(login: &Login, claim: &str) -> Result<AccountSet, AuthError> {
    match &login.accounts_claim {
        None | Some(Value::Null) => Ok(account_set([])),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(id) if !id.is_empty() => Ok(id.clone()),
                _ => Err(AuthError::BadClaim(claim.to_owned())),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(account_set),
        Some(_) => Err(AuthError::BadClaim(claim.to_owned())),
    }
}
