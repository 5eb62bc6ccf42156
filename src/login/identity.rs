//! Who a user is: an issuer's user id, in that issuer's namespace (OIDC Core §5.7: only `iss`
//! and `sub` together name a user), and the Seam `user_identifier_key` derived from it.
//!
//! Each trusted issuer has a key prefix: its own `key_prefix`, else `identity.key_prefix`
//! (so a single issuer sees no change). A user's *key* is that prefix followed by the user id,
//! and everything kept per user (the users cache, revocations, rate limits) is keyed by it.
//! Two issuers with the same prefix would make one user of two, so start-up refuses them unless
//! `identity.issuers_share_users` says they issue the same users on purpose; then they share a
//! namespace. Prefixes where one begins with the other ("" and "b:") could still spell one key
//! from two users ("b:alice" of the first, "alice" of the second), so a user id whose key
//! begins with another issuer's longer prefix is refused: every key names one user.
//!
//! The Seam key is the user key; with `identity.key_hmac_secret` it is the prefix +
//! hex(HMAC-SHA256(secret, user id)): a workspace that also hands out publishable keys lets a
//! browser name any `user_identifier_key`, and a guessable one would let it reach another
//! user's session.

use std::borrow::Cow;
use std::sync::Arc;

use aws_lc_rs::hmac;
use secrecy::ExposeSecret;

use crate::auth::MIN_SECRET_BYTES;
use crate::config::{ConfigError, IssuerEntry, Settings, secret_from};
use crate::handshake::{AccountSource, User, Users};

/// The users of one issuer, or of several that share them.
struct Namespace {
    prefix: String,
    /// The other namespaces' prefixes that begin with this one's.
    shadowed_by: Vec<String>,
}

pub(crate) struct Identity {
    namespaces: Vec<Namespace>,
    /// Each trusted issuer's `iss` (none for a single issuer without one) and namespace, in
    /// `AuthSettings::issuer_entries` order, which is how `auth::Claims::issuer` counts.
    issuers: Vec<(Option<String>, usize)>,
    hmac: Option<hmac::Key>,
}

/// Why a user id names no user here.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum NoSuchUser {
    #[error("several issuers are trusted: say whose user this is")]
    IssuerRequired,
    #[error("no trusted issuer has that `iss`")]
    UnknownIssuer,
    /// The key would be another issuer's user's.
    #[error("user id begins with the key prefix of another issuer")]
    Shadowed,
}

impl Identity {
    /// The identities of the trusted issuers' users, and where each namespace's users have
    /// their accounts (checked here: two namespaces must not match the same accounts).
    pub(crate) fn from_settings(
        settings: &Settings,
    ) -> Result<(Self, Vec<AccountSource>), ConfigError> {
        let identity = &settings.identity;
        let secret = secret_from(
            "identity.key_hmac_secret",
            identity.key_hmac_secret.as_ref(),
            identity.key_hmac_secret_file.as_deref(),
        )?;
        let hmac = match secret {
            Some(secret) if secret.expose_secret().len() < MIN_SECRET_BYTES => {
                return Err(ConfigError::new(
                    "identity.key_hmac_secret",
                    format!("is shorter than {MIN_SECRET_BYTES} bytes: use a longer random secret"),
                ));
            }
            Some(secret) => Some(hmac::Key::new(
                hmac::HMAC_SHA256,
                secret.expose_secret().as_bytes(),
            )),
            None => None,
        };
        let entries = settings.auth.issuer_entries()?;
        let mut namespaces: Vec<Namespace> = Vec::new();
        // Per namespace: the entry that made it, and what its accounts are matched by when
        // that could be shared with another namespace (see `AccountSource::shared_match`).
        let mut made_by: Vec<(&IssuerEntry, Option<String>)> = Vec::new();

        let mut sources = Vec::new();
        let mut issuers = Vec::with_capacity(entries.len());
        for entry in &entries {
            let prefix = entry.key_prefix.unwrap_or(&identity.key_prefix);
            let accounts = AccountSource::for_issuer(&settings.accounts, entry)?;
            let namespace = match namespaces.iter().position(|n| n.prefix == prefix) {
                Some(same) if identity.issuers_share_users => {
                    if entry.accounts_metadata_key.is_some() || entry.accounts_static.is_some() {
                        return Err(ConfigError::new(
                            entry.key("key_prefix"),
                            format!(
                                "shares users with {}'s issuer (identity.issuers_share_users): \
                                 their accounts come from there, so remove this issuer's \
                                 accounts_metadata_key and accounts_static",
                                made_by[same].0.key_path
                            ),
                        ));
                    }
                    same
                }
                Some(same) => {
                    return Err(ConfigError::new(
                        entry.key("key_prefix"),
                        format!(
                            "is the same as {}'s issuer's (both use one key prefix), so the same \
                             user id at both would be one user with one Seam session: give this \
                             issuer its own key_prefix, or set identity.issuers_share_users = \
                             true if both issue the same users on purpose",
                            made_by[same].0.key_path
                        ),
                    ));
                }
                None => {
                    let (shared_match, own_key) = accounts.shared_match(entry).unzip();
                    if let Some(other) = made_by
                        .iter()
                        .find(|(_, m)| m.is_some() && *m == shared_match)
                    {
                        return Err(ConfigError::new(
                            entry.key(own_key.unwrap_or_default()),
                            format!(
                                "is needed: this issuer's users would match the same accounts as \
                                 {}'s issuer's users with the same id (accounts.source = {:?})",
                                other.0.key_path, settings.accounts.source
                            ),
                        ));
                    }
                    namespaces.push(Namespace {
                        prefix: prefix.to_owned(),
                        shadowed_by: Vec::new(),
                    });
                    sources.push(accounts);
                    made_by.push((entry, shared_match));
                    namespaces.len() - 1
                }
            };
            issuers.push((entry.issuer.map(str::to_owned), namespace));
        }
        let prefixes: Vec<String> = namespaces.iter().map(|n| n.prefix.clone()).collect();
        for namespace in &mut namespaces {
            namespace.shadowed_by = prefixes
                .iter()
                .filter(|p| p.len() > namespace.prefix.len() && p.starts_with(&namespace.prefix))
                .cloned()
                .collect();
        }
        let identity = Self {
            namespaces,
            issuers,
            hmac,
        };
        Ok((identity, sources))
    }

    /// The namespace of the issuer at this place in the trusted list (`auth::Claims::issuer`).
    pub(crate) fn of_issuer(&self, issuer: usize) -> usize {
        self.issuers[issuer].1
    }

    /// The `iss` of the issuer at this place, for logs.
    pub(crate) fn issuer_name(&self, issuer: usize) -> &str {
        self.issuers[issuer].0.as_deref().unwrap_or("-")
    }

    /// The namespace of the issuer named `iss` (the admin API's `?issuer=`); without one, the
    /// only namespace there is.
    pub(crate) fn named(&self, iss: Option<&str>) -> Result<usize, NoSuchUser> {
        match iss {
            None if self.namespaces.len() == 1 => Ok(0),
            None => Err(NoSuchUser::IssuerRequired),
            Some(iss) => self
                .issuers
                .iter()
                .find(|(name, _)| name.as_deref() == Some(iss))
                .map(|&(_, namespace)| namespace)
                .ok_or(NoSuchUser::UnknownIssuer),
        }
    }

    /// The key of `user_id` in `namespace`: borrowed when the prefix is empty (the common
    /// case, and the hot path).
    pub(crate) fn user_key<'a>(
        &self,
        namespace: usize,
        user_id: &'a str,
    ) -> Result<Cow<'a, str>, NoSuchUser> {
        let ns = &self.namespaces[namespace];
        let key = if ns.prefix.is_empty() {
            Cow::Borrowed(user_id)
        } else {
            Cow::Owned(format!("{}{user_id}", ns.prefix))
        };
        self.refuse_shadowed(namespace, &key)?;
        Ok(key)
    }

    /// The cached entry of the user `user_id` of the issuer at this place in the trusted list
    /// (`auth::Claims::issuer`), found by a key written on the stack (`with_user_key`).
    pub(crate) fn cached_user(
        &self,
        issuer: usize,
        user_id: &str,
        users: &Users,
    ) -> Result<Option<Arc<User>>, NoSuchUser> {
        self.with_user_key(self.of_issuer(issuer), user_id, |key| users.get(key))
    }

    /// `f` of the key of `user_id` in `namespace`, written on the stack: a repeat handshake
    /// looks its user up by this key, and a prefix would otherwise cost it an allocation.
    fn with_user_key<R>(
        &self,
        namespace: usize,
        user_id: &str,
        f: impl FnOnce(&str) -> R,
    ) -> Result<R, NoSuchUser> {
        let prefix = self.namespaces[namespace].prefix.as_bytes();
        if prefix.is_empty() {
            self.refuse_shadowed(namespace, user_id)?;
            return Ok(f(user_id));
        }
        let mut buffer = [0u8; 512];
        let len = prefix.len() + user_id.len();
        let Some(room) = buffer.get_mut(..len) else {
            return Ok(f(&self.user_key(namespace, user_id)?));
        };
        room[..prefix.len()].copy_from_slice(prefix);
        room[prefix.len()..].copy_from_slice(user_id.as_bytes());
        // Two strings end to end are a string: the fallback is never taken.
        let Ok(key) = std::str::from_utf8(room) else {
            return Ok(f(&self.user_key(namespace, user_id)?));
        };
        self.refuse_shadowed(namespace, key)?;
        Ok(f(key))
    }

    fn refuse_shadowed(&self, namespace: usize, key: &str) -> Result<(), NoSuchUser> {
        let shadowed_by = &self.namespaces[namespace].shadowed_by;
        match shadowed_by.iter().any(|longer| key.starts_with(longer)) {
            true => Err(NoSuchUser::Shadowed),
            false => Ok(()),
        }
    }

    /// Where the user id starts in a key of `namespace`.
    pub(crate) fn user_id_at(&self, namespace: usize) -> usize {
        self.namespaces[namespace].prefix.len()
    }

    /// The Seam key of the user with this key; `None` when it is the user key itself.
    pub(crate) fn derived_key(&self, namespace: usize, user_key: &str) -> Option<String> {
        let key = self.hmac.as_ref()?;
        let prefix = &self.namespaces[namespace].prefix;
        let user_id = &user_key[self.user_id_at(namespace)..];
        let tag = hmac::sign(key, user_id.as_bytes());
        let mut derived = prefix.clone();
        crate::hex::push(&mut derived, tag.as_ref());
        Some(derived)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml: &str) -> Settings {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("seam-bff.toml");
        std::fs::write(&file, toml).expect("writes");
        Settings::load(Some(&file), &Default::default()).expect("loads")
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn two_issuers(second: &str, identity: &str) -> String {
        format!(
            "[auth]\nissuer = \"https://a\"\nalgorithms = [\"HS256\"]\nhs256_secret = \"{SECRET}\"\n\
             [identity]\n{identity}\n\
             [[auth.issuers]]\nissuer = \"https://b\"\nalgorithms = [\"HS256\"]\nhs256_secret = \"{SECRET}\"\n{second}\n"
        )
    }

    fn identity(toml: &str) -> Result<Identity, String> {
        (Identity::from_settings(&settings(toml)))
            .map(|(identity, _)| identity)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn keys_are_prefixed_or_derived() {
        let plain = identity("[identity]\nkey_prefix = \"\"").expect("valid");
        assert_eq!(plain.user_key(0, "u1").expect("a key"), "u1");
        assert!(plain.derived_key(0, "u1").is_none());
        let prefixed = identity("[identity]\nkey_prefix = \"app:\"").expect("valid");
        assert_eq!(prefixed.user_key(0, "u1").expect("a key"), "app:u1");
        assert_eq!(prefixed.user_id_at(0), "app:".len());
        let looked_up = prefixed.with_user_key(0, "u1", str::to_owned);
        assert_eq!(looked_up.as_deref(), Ok("app:u1"));
        let long = "u".repeat(600);
        let looked_up = prefixed.with_user_key(0, &long, str::len);
        assert_eq!(looked_up, Ok(4 + 600), "longer than the stack buffer");
        let derived = identity(&format!(
            "[identity]\nkey_prefix = \"app:\"\nkey_hmac_secret = \"{}\"",
            "k".repeat(32)
        ))
        .expect("valid");
        let key = derived.derived_key(0, "app:u1").expect("derived");
        assert!(key.starts_with("app:") && key.len() == 4 + 64, "{key}");
        assert_ne!(Some(&key), derived.derived_key(0, "app:u2").as_ref());
        // The same HMAC computed independently (Python's hmac module), over the bare user id:
        // single-issuer deployments keep their Seam keys.
        assert_eq!(
            key,
            "app:4b3cc1583c6d0617acde108c31b20bc71caaeaa0cf3cfb4cc12caef43dd35b69"
        );
    }

    #[test]
    fn each_issuer_has_its_own_users() {
        let two = identity(&two_issuers("key_prefix = \"b:\"", "")).expect("valid");
        let (a, b) = (two.of_issuer(0), two.of_issuer(1));
        assert_ne!(a, b);
        assert_eq!(two.user_key(a, "alice").expect("a key"), "alice");
        assert_eq!(two.user_key(b, "alice").expect("a key"), "b:alice");
        // The first issuer's "b:alice" would be the second's "alice".
        assert_eq!(two.user_key(a, "b:alice"), Err(NoSuchUser::Shadowed));
        assert_eq!(
            two.with_user_key(a, "b:alice", |_| ()),
            Err(NoSuchUser::Shadowed)
        );
        assert_eq!(two.named(Some("https://b")), Ok(b));
        assert_eq!(two.named(None), Err(NoSuchUser::IssuerRequired));
        assert_eq!(two.named(Some("https://c")), Err(NoSuchUser::UnknownIssuer));
    }

    #[test]
    fn the_same_prefix_is_refused_unless_users_are_shared_on_purpose() {
        let error = identity(&two_issuers("", "")).err().expect("refused");
        assert!(
            error.contains("`auth.issuers[0].key_prefix`") && error.contains("issuers_share_users"),
            "{error}"
        );
        let shared = identity(&two_issuers("", "issuers_share_users = true")).expect("valid");
        assert_eq!(shared.of_issuer(0), shared.of_issuer(1));
    }

    #[test]
    fn two_issuers_never_match_the_same_accounts_by_user_id() {
        let metadata = "[accounts]\nsource = \"seam_metadata\"\nmetadata_key = \"uid\"\n";
        let error = identity(&format!(
            "{metadata}{}",
            two_issuers("key_prefix = \"b:\"", "")
        ))
        .err()
        .expect("refused");
        assert!(
            error.contains("`auth.issuers[0].accounts_metadata_key`"),
            "{error}"
        );
        identity(&format!(
            "{metadata}{}",
            two_issuers("key_prefix = \"b:\"\naccounts_metadata_key = \"b_uid\"", "")
        ))
        .expect("each issuer its own metadata key");
        let table = "[accounts]\nsource = \"static\"\n[accounts.static]\nalice = [\"ca_1\"]\n";
        let error = identity(&format!(
            "{}{table}",
            two_issuers("key_prefix = \"b:\"", "")
        ))
        .err()
        .expect("refused");
        assert!(
            error.contains("`auth.issuers[0].accounts_static`"),
            "{error}"
        );
    }
}
