//! A store of "never again" records (revocations, ended sessions, applied logout tokens) that
//! never drops one silently: every new record is admitted while there is room, each is kept
//! until `keep` after it was last written (as long as a login it refuses may live), and when
//! `max_entries` live records fill it, a new one is refused (`Full`) rather than an old one
//! forgotten. A cache would do the opposite: moka's admission policy may refuse a new,
//! rarely-read entry when full, and eviction forgets the oldest.
//!
//! Compact: a record is a 16-byte keyed hash of what it is about (HMAC-SHA-256 under a key drawn
//! at start, never the text) and when it expires; records expire in the order they were
//! written, so expiry is a walk from the front of a queue.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// What a record is about, hashed.
type Id = [u8; 16];

/// No room for a new record: every one held is still needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the revocation store is full of records still needed")]
pub(crate) struct Full;

pub(crate) struct Records<V> {
    names: hmac::Key,
    max_entries: usize,
    /// Seconds a record is kept after it was last written.
    keep: u64,
    inner: Mutex<Inner<V>>,
}

struct Inner<V> {
    records: HashMap<Id, (u64, V)>,
    /// Each record's id once, by expiry (written order; a rewritten one moves to the back
    /// when its old place comes up).
    order: VecDeque<(u64, Id)>,
}

impl<V: Clone> Records<V> {
    pub(crate) fn new(max_entries: u64, keep: u64) -> Self {
        let mut secret = [0; 32];
        // Without randomness the process cannot run safely at all.
        #[expect(
            clippy::expect_used,
            reason = "the system's randomness is a precondition"
        )]
        SystemRandom::new()
            .fill(&mut secret)
            .expect("system randomness");
        Self {
            names: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            max_entries: usize::try_from(max_entries).unwrap_or(usize::MAX),
            keep,
            inner: Mutex::new(Inner {
                records: HashMap::new(),
                order: VecDeque::new(),
            }),
        }
    }

    fn id(&self, about: &[&[u8]]) -> Id {
        let mut context = hmac::Context::with_key(&self.names);
        for part in about {
            // Length-prefixed: ("ab", "c") and ("a", "bc") are different records.
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part);
        }
        let mut id = [0; 16];
        id.copy_from_slice(&context.sign().as_ref()[..16]);
        id
    }

    fn inner(&self, now: u64) -> std::sync::MutexGuard<'_, Inner<V>> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.expire(now);
        inner
    }

    /// The live record about `about`.
    pub(crate) fn get(&self, about: &[&[u8]], now: u64) -> Option<V> {
        let id = self.id(about);
        let inner = self.inner(now);
        inner.records.get(&id).map(|(_, value)| value.clone())
    }

    /// Writes the record about `about` (`update` gets the one held, if any) and keeps it
    /// `keep` from `from` (at the earliest now). Answers whether it is new; `Full` when it is
    /// new and there is no room.
    pub(crate) fn write(
        &self,
        about: &[&[u8]],
        now: u64,
        from: u64,
        update: impl FnOnce(Option<V>) -> V,
    ) -> Result<bool, Full> {
        let id = self.id(about);
        let until = from.max(now).saturating_add(self.keep);
        let mut inner = self.inner(now);
        if let Some((kept_until, value)) = inner.records.get_mut(&id) {
            *value = update(Some(value.clone()));
            *kept_until = until.max(*kept_until);
            return Ok(false);
        }
        if inner.records.len() >= self.max_entries {
            return Err(Full);
        }
        inner.records.insert(id, (until, update(None)));
        inner.order.push_back((until, id));
        Ok(true)
    }

    /// Drops the record about `about`.
    pub(crate) fn remove(&self, about: &[&[u8]]) {
        let id = self.id(about);
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.records.remove(&id);
    }
}

impl<V> Inner<V> {
    fn expire(&mut self, now: u64) {
        while let Some(&(until, id)) = self.order.front()
            && until < now
        {
            self.order.pop_front();
            match self.records.get(&id) {
                Some((kept_until, _)) if *kept_until >= now => {
                    self.order.push_back((*kept_until, id));
                }
                Some(_) => {
                    self.records.remove(&id);
                }
                None => {}
            }
        }
        // Records removed by hand leave their place behind; bounded by the records.
        if self.order.len() > 2 * self.records.len() + 16 {
            let records = &self.records;
            self.order.retain(|(_, id)| records.contains_key(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_store_refuses_a_new_record_and_keeps_every_old_one_until_it_expires() {
        let records = Records::<u64>::new(3, 100);
        for n in 0..3u8 {
            assert_eq!(records.write(&[&[n]], 1_000, 1_000, |_| 1), Ok(true));
        }
        assert_eq!(records.write(&[b"new"], 1_050, 1_050, |_| 1), Err(Full));
        assert!((0..3u8).all(|n| records.get(&[&[n]], 1_050).is_some()));
        // An old record is rewritten, not refused, and lives on from then.
        assert_eq!(
            records.write(&[&[0]], 1_050, 1_050, |v| v.unwrap_or(0) + 1),
            Ok(false)
        );
        assert_eq!(records.get(&[&[0]], 1_050), Some(2));
        // Once the others expire, there is room again; the rewritten one is kept.
        assert_eq!(records.write(&[b"new"], 1_101, 1_101, |_| 1), Ok(true));
        assert_eq!(records.get(&[&[1]], 1_101), None);
        assert_eq!(records.get(&[&[0]], 1_101), Some(2));
        assert_eq!(records.get(&[&[0]], 1_151), None);
    }
}
