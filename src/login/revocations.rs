//! Logins ended by a logout, an admin revoke or a back-channel logout. Per user key, the second
//! of the last revocation: a login issued at or before it, or one without `iat` (whose age
//! cannot be told), is refused from then on, while a later sign-in works at once. Per
//! identity-provider session (`sid`, per issuer) ended by a back-channel logout: every login
//! carrying it is refused. And the logout tokens already applied, so that a replay is refused.
//!
//! Kept apart from the users cache, so that evicting a user forgets nothing here, and for as
//! long as a login it refuses could still be valid: no login lives longer than
//! `auth.max_token_lifetime_secs` (plus the leeway), so neither does a record (logout tokens
//! are held to the same cap). Each kind is bounded like the users cache
//! (`sessions.max_entries`).

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

/// An issuer (its place among the trusted ones) and one of its ids (a `sid` or a `jti`).
type IssuedId = (usize, Arc<str>);

pub(crate) struct Revocations {
    users: Cache<Arc<str>, u64>,
    sessions: Cache<IssuedId, ()>,
    /// The user whose login carried each `sid` seen, so that ending the `sid` can forget the
    /// logins remembered for that user (kept only with back-channel logout on).
    session_users: Cache<IssuedId, Arc<str>>,
    logout_tokens: Cache<IssuedId, ()>,
}

fn cache<V: Clone + Send + Sync + 'static, K>(
    max_entries: u64,
    longest_login: Duration,
) -> Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(max_entries)
        .time_to_live(longest_login)
        .build()
}

impl Revocations {
    pub(crate) fn new(max_entries: u64, longest_login: Duration) -> Self {
        Self {
            users: cache(max_entries, longest_login),
            sessions: cache(max_entries, longest_login),
            session_users: cache(max_entries, longest_login),
            logout_tokens: cache(max_entries, longest_login),
        }
    }

    /// Ends every login of the user with this key issued at or before `at` (Unix seconds).
    /// A later revocation never moves the mark back.
    pub(crate) fn revoke(&self, user_key: &str, at: u64) {
        self.users
            .entry(user_key.into())
            .and_upsert_with(|kept| kept.map_or(at, |entry| at.max(*entry.value())));
    }

    /// Whether a login of the user with this key issued at `issued_at` carrying the identity
    /// provider's session `sid` (of `issuer`) was ended by a revocation.
    pub(crate) fn refuses(
        &self,
        user_key: &str,
        issued_at: Option<u64>,
        session: Option<(usize, &str)>,
    ) -> bool {
        let by_user = self
            .users
            .get(user_key)
            .is_some_and(|revoked| issued_at.is_none_or(|iat| iat <= revoked));
        by_user
            || session
                .is_some_and(|(issuer, sid)| self.sessions.contains_key(&(issuer, sid.into())))
    }

    /// Notes that a login of the user with this key carries `sid`.
    pub(crate) fn note_session(&self, issuer: usize, sid: &str, user_key: &Arc<str>) {
        self.session_users
            .insert((issuer, sid.into()), user_key.clone());
    }

    /// Ends every login carrying `sid` (of `issuer`): the key of the user whose login carried
    /// it, if one was seen.
    pub(crate) fn end_session(&self, issuer: usize, sid: &str) -> Option<Arc<str>> {
        let id: IssuedId = (issuer, sid.into());
        self.sessions.insert(id.clone(), ());
        self.session_users.get(&id)
    }

    /// Whether this is the first time the logout token `jti` (of `issuer`) is applied; from
    /// now on it is a replay.
    pub(crate) fn first_logout(&self, issuer: usize, jti: &str) -> bool {
        self.logout_tokens
            .entry((issuer, jti.into()))
            .or_insert(())
            .is_fresh()
    }

    /// Takes back `first_logout`: the logout could not be completed, and the identity
    /// provider may send it again.
    pub(crate) fn retry_logout(&self, issuer: usize, jti: &str) {
        self.logout_tokens.invalidate(&(issuer, jti.into()));
    }
}
