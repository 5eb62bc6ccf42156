//! Wall-clock time behind a trait, so that expiry windows can be tested by moving a clock
//! instead of waiting. Every judgement of time the service makes (login `exp`, `nbf` and
//! `iat`, revocation marks, webhook timestamps, session and account windows) reads the one
//! clock the application was built with.

use time::OffsetDateTime;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;

    /// Unix seconds, as login times count (none before 1970).
    fn unix_now(&self) -> u64 {
        u64::try_from(self.now().unix_timestamp()).unwrap_or(0)
    }
}

/// The real clock, in UTC.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}
