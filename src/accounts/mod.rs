//! Who owns which Seam connected accounts: looked up from Seam (by `user_identifier_key` or by
//! custom metadata), read from a login claim, or taken from the config file.
//!
//! Seam lookups are cached per user for `accounts.cache_ttl_secs`, so that a user who gains or
//! loses an account sees it within that window while repeat logins cost no upstream call.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;

use crate::auth::{AuthError, Login};
use crate::cache::{FreshCache, Outcome};
use crate::clock::Clock;
use crate::config::{AccountSourceKind, AccountsSettings, ConfigError};
use crate::error::ApiError;
use crate::seam::{AccountFilter, SeamClient};

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

#[derive(Clone)]
struct Lookup {
    accounts: AccountSet,
    fetched_at: OffsetDateTime,
}

pub(crate) struct AccountDirectory {
    source: Source,
    cache: FreshCache<Lookup>,
    ttl: time::Duration,
    clock: Arc<dyn Clock>,
}

impl AccountDirectory {
    pub(crate) fn from_settings(
        settings: &AccountsSettings,
        max_entries: u64,
        clock: Arc<dyn Clock>,
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
        let ttl = Duration::from_secs(settings.cache_ttl_secs);
        Ok(Self {
            source,
            // A zero TTL turns caching off; moka still needs a non-zero age.
            cache: FreshCache::new(max_entries, ttl.max(Duration::from_secs(1))),
            ttl: time::Duration::seconds(settings.cache_ttl_secs as i64),
            clock,
        })
    }

    /// The accounts `login` owns; `user_identifier_key` is its Seam key.
    pub(crate) async fn accounts_for(
        &self,
        login: &Login,
        user_identifier_key: &str,
        seam: &SeamClient,
    ) -> Result<(AccountSet, Option<Outcome>), ApiError> {
        let filter = match &self.source {
            Source::Static(map) => {
                let accounts = map.get(&login.user_id).cloned();
                return Ok((accounts.unwrap_or_else(|| account_set([])), None));
            }
            Source::Claim { claim } => return Ok((from_claim(login, claim)?, None)),
            Source::Seam => AccountFilter::UserIdentifierKey(user_identifier_key),
            Source::SeamMetadata { key } => AccountFilter::CustomMetadataHas(key, &login.user_id),
        };
        let now = self.clock.now();
        let (lookup, outcome) = self
            .cache
            .get_or_refresh(
                user_identifier_key,
                |lookup| now < lookup.fetched_at + self.ttl,
                || async {
                    let ids = seam.connected_account_ids(filter).await?;
                    Ok::<_, ApiError>(Lookup {
                        accounts: account_set(ids),
                        fetched_at: self.clock.now(),
                    })
                },
            )
            .await?;
        Ok((lookup.accounts, Some(outcome)))
    }

    /// Drops the cached lookup for a user, so that the next handshake asks Seam again.
    pub(crate) async fn forget(&self, user_identifier_key: &str) {
        self.cache.invalidate(user_identifier_key).await;
    }
}

/// The identity provider vouches for the list: an absent claim means no accounts yet, anything
/// but an array of strings is a bad token.
fn from_claim(login: &Login, claim: &str) -> Result<AccountSet, AuthError> {
    match login.claims.get(claim) {
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
