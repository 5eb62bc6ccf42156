//! The hot path. Each verified login token remembers the session last handed out for it, and
//! until when that answer needs no look at the caches at all: before the session's renewal
//! point and before the user's account list needs checking again. A browser that repeats its
//! token is then answered with one lookup (the token's own) instead of three.
//!
//! A remembered session is dropped as soon as the cache lets go of it (logout, revocation, a
//! replacement after the user's accounts changed): `IssuedSession::retired`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use time::OffsetDateTime;

use super::IssuedSession;

#[derive(Default)]
pub(crate) struct Memo(Mutex<Option<Remembered>>);

struct Remembered {
    session: Arc<IssuedSession>,
    until: OffsetDateTime,
}

impl Memo {
    pub(super) fn get(&self, now: OffsetDateTime) -> Option<Arc<IssuedSession>> {
        let remembered = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        remembered
            .as_ref()
            .filter(|r| now < r.until && !r.session.retired.load(Ordering::Acquire))
            .map(|r| r.session.clone())
    }

    pub(super) fn set(&self, session: Arc<IssuedSession>, until: OffsetDateTime) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Remembered { session, until });
    }
}
