//! Sealed records: what replicas keep in Redis for each other (`put`, `get`), the
//! fleet-wide lock that lets one replica fetch what is missing while the others wait for its
//! record (`recall`, `lock_and_get`, `put_and_unlock`, `unlock`, `locked`, `put_and_drop`),
//! and claims that one replica alone may make (`claim`, `release`).
//! Every value is sealed for its key name, and every key name is a keyed hash (`sealed`).

use std::sync::LazyLock;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::{AsyncCommands, Value};

use super::{Cluster, Lock, LockToken};

/// The sets of logins seen lately, and before the last revocation, per user (`recall`).
const SEEN: &str = "seen";
const SEEN_BEFORE: &str = "seen-before";

/// A login `recall` asks about: its user, the login (a digest, hashed again before Redis sees
/// it) and, to note it as seen, for how long.
pub(crate) struct SeenLogin<'a> {
    pub(crate) user: &'a str,
    pub(crate) login: &'a str,
    pub(crate) keep: Option<Duration>,
}

/// Everything a login seen for the first time needs from the fleet, in one round trip: the
/// ARGV[4] records in the first KEYS, and, when the record at ARGV[1] (1-based; 0: none) is
/// absent, the lock in the next KEY taken with token ARGV[2] for ARGV[3] ms. With a login
/// ARGV[5] (not ''), whether the set in the next KEY (the logins seen before the user's last
/// revocation) holds it, and, when ARGV[6] is not 0, the login added to the set in the last
/// KEY (the user's logins seen lately) kept ARGV[6] ms. Answers the records ('' for an absent
/// one: sealed records are never empty), then 0 (lock not asked for), 1 (taken) or 2 (held by
/// someone else), then 1 when the login was seen before the revocation.
static RECALL: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local n = tonumber(ARGV[4])
local found = redis.call('MGET', unpack(KEYS, 1, n))
local lock, wanted = 0, tonumber(ARGV[1])
if wanted > 0 and not found[wanted] then
  lock = redis.call('SET', KEYS[n + 1], ARGV[2], 'NX', 'PX', ARGV[3]) and 1 or 2
end
for i = 1, n do found[i] = found[i] or '' end
found[n + 1] = lock
local seen = 0
if ARGV[5] ~= '' then
  seen = redis.call('SISMEMBER', KEYS[n + 2], ARGV[5])
  if ARGV[6] ~= '0' then
    redis.call('SADD', KEYS[n + 3], ARGV[5])
    redis.call('PEXPIRE', KEYS[n + 3], ARGV[6])
  end
end
found[n + 2] = seen
return found
",
    )
});

/// Releases the lock in KEYS[1] if it is still the one taken with token ARGV[1], first
/// storing ARGV[2] in KEYS[2] for ARGV[3] ms when they are given. A lock that is no longer
/// the taker's expired, or was dropped by a revocation: what was fetched under it is then not
/// stored, as it may be what the revocation ended.
static UNLOCK: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if KEYS[2] then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
return redis.call('DEL', KEYS[1])
",
    )
});

impl Cluster {
    /// A sealed record of `kind` about `what`, kept for `ttl`.
    pub(crate) async fn put(&self, kind: &str, what: &str, value: &[u8], ttl: Duration) {
        let key = self.key(kind, what);
        let sealed = self.sealer.seal(&key, value);
        let mut redis = self.redis.clone();
        self.run("put", async move {
            redis.pset_ex::<_, _, ()>(&key, sealed, millis(ttl)).await
        })
        .await;
    }

    /// The record of `kind` about `what`, opened; `None` when there is none, it does not open,
    /// or Redis did not answer in time.
    pub(crate) async fn get(&self, kind: &str, what: &str) -> Option<Vec<u8>> {
        let key = self.key(kind, what);
        let mut redis = self.redis.clone();
        let name = key.clone();
        let sealed = self
            .run("get", async move { redis.get(&name).await })
            .await
            .flatten();
        self.open(&key, sealed)
    }

    fn open(&self, key: &str, sealed: Option<Vec<u8>>) -> Option<Vec<u8>> {
        sealed.and_then(|sealed| self.sealer.open(key, &sealed))
    }

    fn lock_token(&self) -> LockToken {
        let n = self.next_lock.fetch_add(1, Ordering::Relaxed);
        LockToken(format!("{}.{n}", self.replica))
    }

    /// In one round trip, the records of `kind` about each of `whats`, and when `lock` names
    /// one of them that is absent, the fleet-wide lock on its `what` for `ttl`: what a replica
    /// needs to know about a user before the one fetch of what is missing. With `seen`, whether
    /// that login was seen before its user's last revocation (`snapshot_seen`), and, when
    /// asked, the login noted as seen. Records that do not open, and every record when Redis
    /// does not answer in time, are `None`.
    pub(crate) async fn recall(
        &self,
        kinds_and_whats: &[(&str, &str)],
        lock: Option<(usize, Duration)>,
        seen: Option<SeenLogin<'_>>,
    ) -> (Vec<Option<Vec<u8>>>, Lock, bool) {
        let keys: Vec<String> = kinds_and_whats
            .iter()
            .map(|(kind, what)| self.key(kind, what))
            .collect();
        let (wanted, ttl) = lock.map_or((0, Duration::ZERO), |(index, ttl)| (index + 1, ttl));
        let lock_what = kinds_and_whats.get(wanted.wrapping_sub(1)).map(|(_, w)| *w);
        let token = self.lock_token();
        let mut invocation = RECALL.prepare_invoke();
        for key in &keys {
            invocation.key(key);
        }
        let user = seen.as_ref().map_or("", |s| s.user);
        invocation
            .key(self.key("lock", lock_what.unwrap_or_default()))
            .key(self.key(SEEN_BEFORE, user))
            .key(self.key(SEEN, user))
            .arg(wanted)
            .arg(&token.0)
            .arg(millis(ttl))
            .arg(keys.len())
            .arg(
                seen.as_ref()
                    .map_or(String::new(), |s| self.sealer.name(s.login)),
            )
            .arg(seen.and_then(|s| s.keep).map_or(0, millis));
        let mut redis = self.redis.clone();
        let answer: Option<Vec<Value>> = self
            .run("recall", async move {
                invocation.invoke_async(&mut redis).await
            })
            .await;
        match answer {
            Some(mut values) if values.len() == keys.len() + 2 => {
                let seen_before = matches!(values.pop(), Some(Value::Int(1)));
                let lock = match values.pop() {
                    Some(Value::Int(1)) => Lock::Taken(token),
                    Some(Value::Int(2)) => Lock::HeldElsewhere,
                    _ => Lock::NotAsked,
                };
                let records = keys
                    .iter()
                    .zip(values)
                    .map(|(key, value)| match value {
                        Value::BulkString(sealed) if !sealed.is_empty() => {
                            self.open(key, Some(sealed))
                        }
                        _ => None,
                    })
                    .collect();
                (records, lock, seen_before)
            }
            _ => (vec![None; keys.len()], Lock::NotAsked, false),
        }
    }

    /// In one round trip: `put` (a record of kind, what, value, kept for ttl) if given, and the
    /// record of `kind` about `what` dropped with the lock on it, so that a fetch under way
    /// does not store what it fetched. With `put`, atomically, the logins of the user `put`
    /// is about seen lately are added to those seen before the revocation `put` records
    /// (`recall`'s `seen`), kept as long as it: a recall answers either before both or after.
    pub(crate) async fn put_and_drop(
        &self,
        put: Option<(&str, &str, &[u8], Duration)>,
        kind: &str,
        what: &str,
    ) {
        let mut pipe = redis::pipe();
        pipe.atomic();
        if let Some((put_kind, put_what, value, ttl)) = put {
            let before = self.key(SEEN_BEFORE, put_what);
            (pipe.sunionstore(&before, &[&before, &self.key(SEEN, put_what)])).ignore();
            pipe.pexpire(&before, millis(ttl).try_into().unwrap_or(i64::MAX))
                .ignore();
            let key = self.key(put_kind, put_what);
            let sealed = self.sealer.seal(&key, value);
            pipe.pset_ex(key, sealed, millis(ttl)).ignore();
        }
        pipe.del(&[self.key(kind, what), self.key("lock", what)])
            .ignore();
        let mut redis = self.redis.clone();
        self.run(
            "delete",
            async move { pipe.query_async::<()>(&mut redis).await },
        )
        .await;
    }

    /// In one round trip, the fleet-wide lock on `what` for `ttl` (its token if this replica
    /// got it) and the record of `kind` about it, opened; `None` when Redis is unavailable.
    pub(crate) async fn lock_and_get(
        &self,
        kind: &str,
        what: &str,
        ttl: Duration,
    ) -> Option<(Option<LockToken>, Option<Vec<u8>>)> {
        let (lock, key) = (self.key("lock", what), self.key(kind, what));
        let token = self.lock_token();
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(&lock)
            .arg(&token.0)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .cmd("GET")
            .arg(&key);
        let mut redis = self.redis.clone();
        let (set, sealed): (Value, Option<Vec<u8>>) = self
            .run("lock", async move { pipe.query_async(&mut redis).await })
            .await?;
        Some((
            (set != Value::Nil).then_some(token),
            self.open(&key, sealed),
        ))
    }

    /// In one round trip, a sealed record of `kind` about `what` kept for `ttl`, and the lock
    /// on `what` released: both only if the lock is still `token`'s (see `UNLOCK`).
    pub(crate) async fn put_and_unlock(
        &self,
        token: &LockToken,
        kind: &str,
        what: &str,
        value: &[u8],
        ttl: Duration,
    ) {
        let key = self.key(kind, what);
        let sealed = self.sealer.seal(&key, value);
        let mut invocation = UNLOCK.key(self.key("lock", what));
        invocation
            .key(key)
            .arg(&token.0)
            .arg(sealed)
            .arg(millis(ttl));
        let mut redis = self.redis.clone();
        self.run("put", async move {
            invocation.invoke_async::<()>(&mut redis).await
        })
        .await;
    }

    /// Releases the lock on `what` if it is still `token`'s.
    pub(crate) async fn unlock(&self, token: &LockToken, what: &str) {
        let mut invocation = UNLOCK.key(self.key("lock", what));
        invocation.arg(&token.0);
        let mut redis = self.redis.clone();
        self.run("lock", async move {
            invocation.invoke_async::<()>(&mut redis).await
        })
        .await;
    }

    /// Whether another replica holds the lock on `what` (`None`: Redis unavailable).
    pub(crate) async fn locked(&self, what: &str) -> Option<bool> {
        let key = self.key("lock", what);
        let mut redis = self.redis.clone();
        self.run("lock", async move { redis.exists(&key).await })
            .await
    }
}

/// Deletes KEYS[1] if it still holds the claim made with token ARGV[1]. Sent as EVAL, not
/// EVALSHA: one command, so it reaches Redis after the claim and before any later call of
/// this replica's, even the first time.
const RELEASE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

impl Cluster {
    /// A token to claim something with (`claim`): only the same token gives it back.
    pub(crate) fn claim_token(&self) -> LockToken {
        self.lock_token()
    }

    /// Claims `what` of `kind` for the whole fleet for `ttl` with `token` (`SET NX PX`):
    /// `Some(true)` when this call made the claim, `Some(false)` when it was made before (here
    /// or elsewhere), `None` when Redis did not answer in time.
    pub(crate) async fn claim(
        &self,
        kind: &str,
        what: &str,
        token: &LockToken,
        ttl: Duration,
    ) -> Option<bool> {
        let mut set = redis::cmd("SET");
        (set.arg(self.key(kind, what)).arg(&token.0))
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl));
        let mut redis = self.redis.clone();
        let answer: Value = self
            .run("claim", async move { set.query_async(&mut redis).await })
            .await?;
        Some(answer != Value::Nil)
    }

    /// Gives back the claim on `what` of `kind` if it is still `token`'s, so that it may be
    /// made again; also when it is not known whether the claim was made (a call cut off).
    pub(crate) async fn release(&self, kind: &str, what: &str, token: &LockToken) {
        let mut eval = redis::cmd("EVAL");
        (eval.arg(RELEASE).arg(1).arg(self.key(kind, what))).arg(&token.0);
        let mut redis = self.redis.clone();
        self.run(
            "claim",
            async move { eval.query_async::<()>(&mut redis).await },
        )
        .await;
    }
}

/// `ttl` as Redis's milliseconds, at least 1 (0 is an error to Redis).
fn millis(ttl: Duration) -> u64 {
    ttl.as_millis().clamp(1, u128::from(u64::MAX)) as u64
}
