//! The logins this replica admitted recently, so that a logout can tell the logins it ends
//! within its own second (already seen: refused) from a sign-in right after it (never seen:
//! accepted). Logins carry whole-second `iat`, so "issued at or before the logout" cannot be
//! told apart from "issued just after it" by the clock alone.
//!
//! Kept apart from the memo (`memo`), which forgets with its user's cache entry, keeps only
//! `auth.verified_tokens_per_user` tokens and nothing with that set to 0. A login is kept here
//! for `WINDOW` after its `iat`, by a 16-byte prefix of its SHA-256; at most `max_entries` are
//! kept. When full, the logins not kept are noted by their `iat` seconds, and a logout in one
//! of those seconds falls back to refusing its whole second (`Complete::No`): never accepts a
//! login it may have seen.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use super::memo::Digest;

/// A login's short digest: enough to tell the logins of one user in one second apart.
pub(crate) type Short = [u8; 16];

pub(crate) fn short(digest: &Digest) -> Short {
    let mut short = [0; 16];
    short.copy_from_slice(&digest[..16]);
    short
}

/// A short digest in hex, as the fleet asks about it.
pub(crate) fn hex(login: &Short) -> String {
    let mut hex = String::with_capacity(32);
    crate::hex::push(&mut hex, login);
    hex
}

/// How long after its `iat` a login is remembered here. A logout whose second is older than
/// this when it arrives (a late back-channel logout token) cannot know every login of its
/// second, and refuses them all. Larger than any sane `auth.leeway_secs`.
pub(crate) const WINDOW: u64 = 120;

pub(crate) struct Seen {
    max_entries: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Per user key: the logins' short digests and `iat`.
    users: HashMap<Box<str>, Vec<(Short, u64)>>,
    entries: usize,
    /// The `iat` seconds of logins not kept for want of room, as a range.
    missed: Option<(u64, u64)>,
}

/// What a logout in second `at` knows of the logins of that second it ends.
pub(crate) enum Complete {
    /// Every login of the user issued in that second that was seen here.
    Yes(Vec<Short>),
    /// Not all of them: the whole second must be refused.
    No,
}

impl Seen {
    pub(crate) fn new(max_entries: u64) -> Self {
        Self {
            max_entries: usize::try_from(max_entries).unwrap_or(usize::MAX),
            inner: Mutex::default(),
        }
    }

    /// Notes that a login of this user issued at `iat` was seen now.
    pub(crate) fn note(&self, user_key: &str, login: Short, iat: u64, now: u64) {
        if iat.saturating_add(WINDOW) < now {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.entries >= self.max_entries {
            inner.prune(now);
        }
        if inner.entries >= self.max_entries {
            inner.missed = Some(
                inner
                    .missed
                    .map_or((iat, iat), |(lo, hi)| (lo.min(iat), hi.max(iat))),
            );
            return;
        }
        let logins = inner.users.entry(user_key.into()).or_default();
        if !logins.contains(&(login, iat)) {
            logins.push((login, iat));
            inner.entries += 1;
        }
    }

    /// The logins of this user issued in second `at` seen so far, if all of them are known.
    pub(crate) fn of_second(&self, user_key: &str, at: u64, now: u64) -> Complete {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let missed = inner.missed.is_some_and(|(lo, hi)| (lo..=hi).contains(&at));
        if missed || at.saturating_add(WINDOW) < now {
            return Complete::No;
        }
        let logins = inner.users.get(user_key).map_or_else(Vec::new, |logins| {
            logins.iter().filter(|l| l.1 == at).map(|l| l.0).collect()
        });
        Complete::Yes(logins)
    }
}

impl Inner {
    /// Drops the logins whose window has passed.
    fn prune(&mut self, now: u64) {
        let live = |iat: u64| iat.saturating_add(WINDOW) >= now;
        self.users.retain(|_, logins| {
            logins.retain(|l| live(l.1));
            !logins.is_empty()
        });
        self.entries = self.users.values().map(Vec::len).sum();
        if self.missed.is_some_and(|(_, hi)| !live(hi)) {
            self.missed = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logins(complete: Complete) -> Option<Vec<Short>> {
        match complete {
            Complete::Yes(logins) => Some(logins),
            Complete::No => None,
        }
    }

    #[test]
    fn a_second_with_a_login_not_kept_is_incomplete_until_its_window_passes() {
        let seen = Seen::new(2);
        seen.note("u", [1; 16], 1_000, 1_000);
        seen.note("v", [2; 16], 1_000, 1_000);
        seen.note("w", [3; 16], 1_001, 1_001);
        assert_eq!(
            logins(seen.of_second("u", 1_000, 1_001)),
            Some(vec![[1; 16]])
        );
        assert!(logins(seen.of_second("w", 1_001, 1_001)).is_none());
        // Room again once the window passed: the missed second is forgotten with it.
        let later = 1_002 + WINDOW;
        seen.note("x", [4; 16], later, later);
        assert_eq!(
            logins(seen.of_second("x", later, later)),
            Some(vec![[4; 16]])
        );
        assert!(
            logins(seen.of_second("w", 1_001, later)).is_none(),
            "too old to know"
        );
    }
}
