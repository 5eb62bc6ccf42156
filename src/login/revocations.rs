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
//! are held to the same cap). Each kind is a `records::Records` bounded by
//! `sessions.max_entries`: never forgets a record, and when full of records still needed,
//! refuses the new one (`Full`, an ERROR line and `revocations_full_total`), so that the
//! logout or login needing it is refused rather than a revocation lost.

use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus::IntCounterVec;

use super::records::{Full, Records};
use super::seen::Short;
use crate::clock::Clock;
use crate::metrics::Metrics;

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
    users: Records<UserMark>,
    sessions: Records<()>,
    /// The user whose login carried each `sid` seen, so that ending the `sid` can forget the
    /// logins remembered for that user (kept only with back-channel logout on).
    session_users: Records<Arc<str>>,
    logout_tokens: Records<()>,
    clock: Arc<dyn Clock>,
    full: FullAlarm,
}

/// Says loudly that the store refused a record: a metric each time, an ERROR line once per
/// burst (a minute).
struct FullAlarm {
    counter: IntCounterVec,
    logged_at: AtomicU64,
}

impl FullAlarm {
    fn raise(&self, kind: &'static str, now: u64) -> Full {
        self.counter.with_label_values(&[kind]).inc();
        let last = self.logged_at.load(Ordering::Relaxed);
        if now >= last.saturating_add(60)
            && (self.logged_at)
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::error!(
                kind,
                "revocation store full of records still needed (sessions.max_entries): logouts \
                 and logins that need a new record are refused (a session_note: the login is \
                 not remembered) until some expire"
            );
        }
        Full
    }
}

fn issued(issuer: usize, id: &str) -> [Vec<u8>; 2] {
    [
        (issuer as u64).to_be_bytes().to_vec(),
        id.as_bytes().to_vec(),
    ]
}

impl Revocations {
    pub(crate) fn new(
        max_entries: u64,
        longest_login: Duration,
        clock: Arc<dyn Clock>,
        metrics: &Metrics,
    ) -> Self {
        let keep = longest_login.as_secs();
        Self {
            users: Records::new(max_entries, keep),
            sessions: Records::new(max_entries, keep),
            session_users: Records::new(max_entries, keep),
            logout_tokens: Records::new(max_entries, keep),
            clock,
            full: FullAlarm {
                counter: metrics.revocations_full.clone(),
                logged_at: AtomicU64::new(0),
            },
        }
    }

    /// Writes a record, saying so loudly when there is no room: whether it is new.
    fn write<V: Clone>(
        &self,
        (records, kind): (&Records<V>, &'static str),
        about: &[&[u8]],
        from: u64,
        update: impl FnOnce(Option<V>) -> V,
    ) -> Result<bool, Full> {
        let now = self.clock.unix_now();
        (records.write(about, now, from, update)).map_err(|Full| self.full.raise(kind, now))
    }

    /// Ends every login of the user with this key issued before `at` (Unix seconds), those
    /// issued in second `at` that were `seen` before, and the others of that second as
    /// `same_second` says. A later revocation never moves the mark back.
    pub(crate) fn revoke(
        &self,
        user_key: &str,
        at: u64,
        same_second: SameSecond,
        seen: &[Short],
    ) -> Result<(), Full> {
        let mark = UserMark {
            at,
            same_second,
            seen: seen.into(),
        };
        let about: &[&[u8]] = &[user_key.as_bytes()];
        self.write((&self.users, "user"), about, at, |kept| match kept {
            Some(kept) => kept.merge(mark),
            None => mark,
        })
        .map(drop)
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
        let now = self.clock.unix_now();
        let by_user = (self.users.get(&[user_key.as_bytes()], now))
            .is_some_and(|mark| mark.refuses(issued_at, login, session.is_some()));
        by_user
            || session.is_some_and(|(issuer, sid)| {
                let [issuer, sid] = issued(issuer, sid);
                self.sessions.get(&[&issuer, &sid], now).is_some()
            })
    }

    /// Notes that a login of the user with this key carries `sid`. `Full`: not noted, so the
    /// login must not be remembered (ending the `sid` could not forget it).
    pub(crate) fn note_session(
        &self,
        issuer: usize,
        sid: &str,
        user_key: &Arc<str>,
    ) -> Result<(), Full> {
        let [issuer, sid] = issued(issuer, sid);
        let now = self.clock.unix_now();
        let users = (&self.session_users, "session_note");
        (self.write(users, &[&issuer, &sid], now, |_| user_key.clone())).map(drop)
    }

    /// Ends every login carrying `sid` (of `issuer`), unless `Full`: the key of the user whose
    /// login carried it, if one was seen (either way, so that their remembered logins can be
    /// forgotten).
    pub(crate) fn end_session(
        &self,
        issuer: usize,
        sid: &str,
    ) -> (Option<Arc<str>>, Result<(), Full>) {
        let [issuer, sid] = issued(issuer, sid);
        let now = self.clock.unix_now();
        let ended = self.write((&self.sessions, "session"), &[&issuer, &sid], now, |_| ());
        (
            self.session_users.get(&[&issuer, &sid], now),
            ended.map(drop),
        )
    }

    /// Whether this is the first time the logout token `jti` (of `issuer`) is applied; from
    /// now on it is a replay. `Full`: it cannot be recorded, and is not applied.
    pub(crate) fn first_logout(&self, issuer: usize, jti: &str) -> Result<bool, Full> {
        let [issuer, jti] = issued(issuer, jti);
        let now = self.clock.unix_now();
        self.write(
            (&self.logout_tokens, "logout_token"),
            &[&issuer, &jti],
            now,
            |_| (),
        )
    }

    /// Takes back `first_logout`: the logout could not be completed, and the identity
    /// provider may send it again.
    pub(crate) fn retry_logout(&self, issuer: usize, jti: &str) {
        let [issuer, jti] = issued(issuer, jti);
        self.logout_tokens.remove(&[&issuer, &jti]);
    }
}
