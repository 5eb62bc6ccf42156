//! Who owns which Seam connected accounts: looked up from Seam (by `user_identifier_key` or by
//! custom metadata), read from a login claim, or taken from the config file. Only what a source
//! is and how to fetch from it: how long a lookup is kept is the handshake's policy.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::config::{AccountSourceKind, AccountsSettings, ConfigError, IssuerEntry, MetadataValue};
use crate::seam::AccountFilter;

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
    SeamMetadata { key: String, value: MetadataValue },
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
                    Some(own) => metadata_key(entry.key("accounts_metadata_key"), own)?.to_owned(),
                    None => metadata_key(
                        "accounts.metadata_key".into(),
                        &required("metadata_key", &settings.metadata_key)?,
                    )?
                    .to_owned(),
                },
                value: settings.metadata_value,
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
            // Users' Seam keys differ between namespaces (each has its own key prefix).
            Self::SeamMetadata {
                key,
                value: MetadataValue::UserId,
            } => Some((key.clone(), "accounts_metadata_key")),
            Self::SeamMetadata { .. } => None,
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
        let filter = match self {
            Self::Static(map) => {
                return Ok(Owned::Known(
                    map.get(user_id).cloned().unwrap_or_else(|| account_set([])),
                ));
            }
            Self::Claim { claim: name } => return Ok(Owned::Known(from_claim(claim, name)?)),
            Self::Seam => AccountFilter::UserIdentifierKey(user_identifier_key),
            Self::SeamMetadata { key, value } => AccountFilter::CustomMetadataHas(
                key,
                match value {
                    MetadataValue::UserId => user_id,
                    MetadataValue::UserKey => user_identifier_key,
                },
            ),
        };
        // Seam reads an empty filter value as no filter at all: every account in the
        // workspace. An empty id owns nothing.
        Ok(if filter.value().is_empty() {
            Owned::Known(account_set([]))
        } else {
            Owned::AtSeam(filter)
        })
    }
}

/// Seam's rules for custom metadata key names (`custom_metadata_has` refuses others).
fn metadata_key(config_key: String, key: &str) -> Result<&str, ConfigError> {
    const MOST_CHARS: usize = 40;
    if key.is_empty() || key.chars().count() > MOST_CHARS || key.contains('.') {
        return Err(ConfigError::new(
            config_key,
            format!(
                "must be 1 to {MOST_CHARS} characters without \".\" (Seam's rule for custom \
                 metadata keys)"
            ),
        ));
    }
    Ok(key)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(value: MetadataValue) -> AccountSource {
        AccountSource::SeamMetadata {
            key: "app_user_id".into(),
            value,
        }
    }

    #[test]
    fn an_empty_filter_value_is_never_sent_to_seam() {
        // Seam reads `custom_metadata_has: {"app_user_id": ""}` as no filter: every account.
        for source in [
            metadata(MetadataValue::UserId),
            metadata(MetadataValue::UserKey),
            AccountSource::Seam,
        ] {
            match source.owned("", "", None) {
                Ok(Owned::Known(accounts)) => assert!(accounts.is_empty()),
                _ => panic!("an empty id must own nothing, without asking Seam"),
            }
        }
    }

    #[test]
    fn the_metadata_value_is_the_user_id_or_the_users_seam_key() {
        let value = |source: &AccountSource| match source.owned("alice", "k-alice", None) {
            Ok(Owned::AtSeam(AccountFilter::CustomMetadataHas("app_user_id", value))) => {
                value.to_owned()
            }
            _ => panic!("a metadata filter"),
        };
        assert_eq!(value(&metadata(MetadataValue::UserId)), "alice");
        assert_eq!(value(&metadata(MetadataValue::UserKey)), "k-alice");
    }
}
