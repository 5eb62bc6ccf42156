//! Which cached users hold an id Seam's events name: a connected account (in their account
//! lookup or their session), a client session, a Seam key. So that an event finds the users it
//! concerns without a scan of the users cache. Kept only while Seam's webhooks are on.
//!
//! Noted when a lookup or a session is fetched (never on a cached handshake). An entry may
//! outlive what it says (the user evicted, or their lookup changed): whoever reads one checks
//! the user's entry, and entries of users no longer cached are swept out as the index grows.
//!
//! Ids are kept as a keyed hash (the process's random `RandomState`), not as text: two ids that
//! collide only make a reader check one more user. Measured with the benchmark's memory row
//! (20,000 users, one account each): 234 bytes per cached user without the index, 595 with it,
//! 732 when it kept the ids' text.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::users::Users;

/// Entries below this are never swept.
const SWEEP_FROM: usize = 1024;

#[derive(Default)]
pub(crate) struct Holders {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// An id's hash to the keys of the users that held it when it was noted.
    by_id: HashMap<u64, Vec<Arc<str>>>,
    ids: RandomState,
    /// Entries left after the last sweep: the next one runs once there are twice as many.
    after_sweep: usize,
}

impl Holders {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes that the user with `user_key` holds each of `ids`.
    pub(super) fn note<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a str>,
        user_key: &Arc<str>,
        users: &Users,
    ) {
        let mut state = self.lock();
        for id in ids {
            let hash = state.ids.hash_one(id);
            let keys = state.by_id.entry(hash).or_default();
            if !keys.iter().any(|key| key == user_key) {
                keys.push(user_key.clone());
            }
        }
        if state.by_id.len() >= SWEEP_FROM.max(2 * state.after_sweep) {
            // Amortised: each sweep at least halves what the next one has to pass over.
            state.by_id.retain(|_, keys| {
                keys.retain(|key| users.get(key).is_some());
                !keys.is_empty()
            });
            state.after_sweep = state.by_id.len();
        }
    }

    /// The keys of the users noted as holding `id` (or an id of the same hash).
    pub(crate) fn of(&self, id: &str) -> Vec<Arc<str>> {
        let state = self.lock();
        let hash = state.ids.hash_one(id);
        state.by_id.get(&hash).cloned().unwrap_or_default()
    }
}
