//! Logins ended by a logout, an admin revoke or a back-channel logout. Per user key, the second
//! of the last revocation: a login issued before it, or one without `iat` (whose age cannot be
//! told), is refused from then on, and a later sign-in works. A login issued in that very
//! second is refused when it was seen before the revocation (`seen`), and otherwise as the
//! revocation's `SameSecond` rule says. Per
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

use super::seen::Short;

/// An issuer (its place among the trusted ones) and one of its ids (a `sid` or a `jti`).
type IssuedId = (usize, Arc<str>);

/// Which logins issued in a revocation's own second, never seen before it, are accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SameSecond {
    /// Any (the app's own logout): the app signs its user in again on purpose.
    Unseen,
    /// Those carrying an identity-provider session (`sid`) not ended (a back-channel logout:
    /// a new sign-in at the provider starts a new session).
    NewSession,
    /// None (the admin API's revoke, whose target may be a copy never seen here), or the
    /// logins seen in that second are not all known (`seen::Complete::No`).
    Refused,
}

impl SameSecond {
    /// As the fleet records it (`fleet::Fleet::share_user_revoked`).
    pub(crate) fn record(self) -> &'static str {
        match self {
            Self::Unseen => "unseen",
            Self::NewSession => "sid",
            Self::Refused => "refused",
        }
    }

    /// From the fleet's record; a record without the rule (written before it existed) meant
    /// that the whole second is refused.
    pub(crate) fn from_record(record: &str) -> Self {
        match record {
            "unseen" => Self::Unseen,
            "sid" => Self::NewSession,
            _ => Self::Refused,
        }
    }
}

/// A user's last revocation.
#[derive(Clone)]
struct UserMark {
    at: u64,
    same_second: SameSecond,
    /// The logins issued in second `at` seen before the revocation.
    seen: Arc<[Short]>,
}

impl UserMark {
    /// Two revocations: the later second wins; in one second, the stricter rule and every
    /// login seen.
    fn merge(self, other: Self) -> Self {
        match self.at.cmp(&other.at) {
            std::cmp::Ordering::Less => other,
            std::cmp::Ordering::Greater => self,
            std::cmp::Ordering::Equal => {
                let mut seen = self.seen.to_vec();
                seen.extend(other.seen.iter().filter(|s| !self.seen.contains(s)));
                Self {
                    at: self.at,
                    same_second: self.same_second.max(other.same_second),
                    seen: seen.into(),
                }
            }
        }
    }

    fn refuses(&self, issued_at: Option<u64>, login: &Short, session: bool) -> bool {
        let Some(iat) = issued_at else { return true };
        match iat.cmp(&self.at) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal => {
                self.seen.contains(login)
                    || match self.same_second {
                        SameSecond::Unseen => false,
                        SameSecond::NewSession => !session,
                        SameSecond::Refused => true,
                    }
            }
        }
    }
}

pub(crate) struct Revocations {
    users: Cache<Arc<str>, UserMark>,
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

    /// Ends every login of the user with this key issued before `at` (Unix seconds), those
    /// issued in second `at` that were `seen` before, and the others of that second as
    /// `same_second` says. A later revocation never moves the mark back.
    pub(crate) fn revoke(&self, user_key: &str, at: u64, same_second: SameSecond, seen: &[Short]) {
        let mark = UserMark {
            at,
            same_second,
            seen: seen.into(),
        };
        self.users
            .entry(user_key.into())
            .and_upsert_with(|kept| match kept {
                Some(entry) => entry.into_value().merge(mark),
                None => mark,
            });
    }

    /// Whether a login (`login`, its short digest) of the user with this key issued at
    /// `issued_at` carrying the identity provider's session `sid` (of `issuer`) was ended by a
    /// revocation.
    pub(crate) fn refuses(
        &self,
        user_key: &str,
        issued_at: Option<u64>,
        login: &Short,
        session: Option<(usize, &str)>,
    ) -> bool {
        let by_user = (self.users.get(user_key))
            .is_some_and(|mark| mark.refuses(issued_at, login, session.is_some()));
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
