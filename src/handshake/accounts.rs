//! Who owns which Seam connected accounts: looked up from Seam (by `user_identifier_key` or by
//! custom metadata), read from a login claim, or taken from the config file. Only what a source
//! is and how to fetch from it: how long a lookup is kept is the handshake's policy.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::config::{AccountSourceKind, AccountsSettings, ConfigError, IssuerEntry};
use crate::seam::{AccountFilter, SeamClient, SeamError};

/// A user's connected account ids, sorted and without duplicates, so that two sets compare
/// equal exactly when they grant the same accounts.
pub(crate) type AccountSet = Arc<[String]>;

pub(crate) fn account_set(ids: impl IntoIterator<Item = String>) -> AccountSet {
    let mut ids: Vec<String> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into()
}

/// The login's accounts claim is not a list of account ids.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("token has no usable `{0}` claim")]
pub(crate) struct BadAccountsClaim(pub(crate) String);

pub(crate) enum AccountSource {
    Seam,
    SeamMetadata { key: String },
    Claim { claim: String },
    Static(HashMap<String, AccountSet>),
}

/// Where a user's accounts are.
pub(crate) enum Owned<'a> {
    /// Known without asking Seam (a claim, the config file).
    Known(AccountSet),
    /// To be listed at Seam with this filter.
    AtSeam(AccountFilter<'a>),
}

impl AccountSource {
    /// The source of one issuer's users: the `accounts` section's, with the issuer's own
    /// `accounts_metadata_key` or `accounts_static` in place of the section's when it has one.
    pub(crate) fn for_issuer(
        settings: &AccountsSettings,
        entry: &IssuerEntry,
    ) -> Result<Self, ConfigError> {
        let only_with = |key: &str, source: AccountSourceKind| {
            if settings.source == source {
                return Ok(());
            }
            Err(ConfigError::new(
                entry.key(key),
                format!("applies only with accounts.source = {source:?}"),
            ))
        };
        if entry.accounts_metadata_key.is_some() {
            only_with("accounts_metadata_key", AccountSourceKind::SeamMetadata)?;
        }
        if entry.accounts_static.is_some() {
            only_with("accounts_static", AccountSourceKind::Static)?;
        }
        let required = |key: &str, value: &Option<String>| {
            value.clone().filter(|v| !v.is_empty()).ok_or_else(|| {
                ConfigError::new(
                    format!("accounts.{key}"),
                    format!("is required when accounts.source = {:?}", settings.source),
                )
            })
        };
        Ok(match settings.source {
            AccountSourceKind::Seam => Self::Seam,
            AccountSourceKind::SeamMetadata => Self::SeamMetadata {
                key: match entry.accounts_metadata_key {
                    Some(own) => own.to_owned(),
                    None => required("metadata_key", &settings.metadata_key)?,
                },
            },
            AccountSourceKind::Claim => Self::Claim {
                claim: required("claim", &settings.claim)?,
            },
            AccountSourceKind::Static => Self::Static(
                entry
                    .accounts_static
                    .unwrap_or(&settings.static_accounts)
                    .iter()
                    .map(|(user, ids)| (user.clone(), account_set(ids.iter().cloned())))
                    .collect(),
            ),
        })
    }

    /// What this source matches its users' ids against when another issuer's source could
    /// match the same (the same custom metadata key, the `accounts` section's static table),
    /// and the issuer's key that would give it its own.
    pub(crate) fn shared_match(&self, entry: &IssuerEntry) -> Option<(String, &'static str)> {
        match self {
            Self::SeamMetadata { key } => Some((key.clone(), "accounts_metadata_key")),
            Self::Static(table) if entry.accounts_static.is_none() && !table.is_empty() => {
                Some(("accounts.static".into(), "accounts_static"))
            }
            Self::Seam | Self::Claim { .. } | Self::Static(_) => None,
        }
    }

    /// Where the accounts of the user with this app id and Seam key are; `claim` is the
    /// login's accounts claim, for the `claim` source.
    pub(crate) fn owned<'a>(
        &'a self,
        user_id: &'a str,
        user_identifier_key: &'a str,
        claim: Option<&Value>,
    ) -> Result<Owned<'a>, BadAccountsClaim> {
        Ok(match self {
            Self::Static(map) => {
                Owned::Known(map.get(user_id).cloned().unwrap_or_else(|| account_set([])))
            }
            Self::Claim { claim: name } => Owned::Known(from_claim(claim, name)?),
            Self::Seam => Owned::AtSeam(AccountFilter::UserIdentifierKey(user_identifier_key)),
            Self::SeamMetadata { key } => {
                Owned::AtSeam(AccountFilter::CustomMetadataHas(key, user_id))
            }
        })
    }
}

/// Every account Seam lists for `filter`.
pub(crate) async fn fetch(
    filter: AccountFilter<'_>,
    seam: &SeamClient,
) -> Result<AccountSet, SeamError> {
    seam.connected_account_ids(filter).await.map(account_set)
}

/// The identity provider vouches for the list: an absent claim means no accounts yet, anything
/// but an array of strings is a bad token.
fn from_claim(value: Option<&Value>, claim: &str) -> Result<AccountSet, BadAccountsClaim> {
    let bad = || BadAccountsClaim(claim.to_owned());
    match value {
        None | Some(Value::Null) => Ok(account_set([])),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(id) if !id.is_empty() => Ok(id.clone()),
                _ => Err(bad()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(account_set),
        Some(_) => Err(bad()),
    }
}
