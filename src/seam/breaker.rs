//! A circuit breaker in front of Seam: after `threshold` consecutive failures it opens, and
//! calls fail at once (the handshake answers 503 with `Retry-After`) instead of piling up
//! connections to a Seam that is down. After `cooldown` one call goes through as a probe: its
//! success closes the breaker, its failure opens it again. Recovery needs no operator.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use time::OffsetDateTime;

use crate::clock::Clock;
use crate::metrics::Metrics;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: OffsetDateTime,
    },
    /// The cooldown has passed and one probe call is under way.
    HalfOpen,
}

pub(crate) struct Breaker {
    threshold: u32,
    cooldown: time::Duration,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    state: Mutex<State>,
}

/// While a probe is out, other callers are told to come back after this long.
const PROBE_WAIT: Duration = Duration::from_secs(1);

impl Breaker {
    pub(crate) fn new(
        threshold: u32,
        cooldown: Duration,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            threshold,
            cooldown: time::Duration::try_from(cooldown).unwrap_or(time::Duration::MAX),
            clock,
            metrics,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// May a call go to Seam now? `Err` carries how long until it may.
    pub(crate) fn admit(&self) -> Result<(), Duration> {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Ok(()),
            State::Open { until } => {
                let now = self.clock.now();
                if now < until {
                    Err(Duration::try_from(until - now).unwrap_or(PROBE_WAIT))
                } else {
                    *state = State::HalfOpen;
                    self.metrics.breaker_state.set(1);
                    Ok(())
                }
            }
            State::HalfOpen => Err(PROBE_WAIT),
        }
    }

    /// Reports how an admitted call went.
    pub(crate) fn record(&self, success: bool) {
        let mut state = self.lock();
        let next = match (*state, success) {
            (State::Closed { .. } | State::HalfOpen, true) => State::Closed { failures: 0 },
            (State::Closed { failures }, false) if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            (State::Closed { .. } | State::HalfOpen, false) => {
                self.metrics.breaker_opened.inc();
                State::Open {
                    until: self.clock.now() + self.cooldown,
                }
            }
            // A call admitted before the breaker opened; the open state stands.
            (open @ State::Open { .. }, _) => open,
        };
        self.metrics.breaker_state.set(match next {
            State::Closed { .. } => 0,
            State::HalfOpen => 1,
            State::Open { .. } => 2,
        });
        *state = next;
    }

    pub(crate) fn is_open(&self) -> bool {
        matches!(*self.lock(), State::Open { until } if self.clock.now() < until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;

    struct Fixed(Mutex<OffsetDateTime>);
    impl Clock for Fixed {
        fn now(&self) -> OffsetDateTime {
            *self.0.lock().expect("clock")
        }
    }

    #[test]
    fn opens_after_the_threshold_probes_after_the_cooldown_and_recovers() {
        let clock = Arc::new(Fixed(Mutex::new(OffsetDateTime::UNIX_EPOCH)));
        let metrics = Arc::new(Metrics::new("/"));
        let breaker = Breaker::new(3, Duration::from_secs(10), clock.clone(), metrics.clone());
        for _ in 0..2 {
            assert!(breaker.admit().is_ok());
            breaker.record(false);
        }
        breaker.record(true);
        for _ in 0..3 {
            assert!(breaker.admit().is_ok(), "a success reset the count");
            breaker.record(false);
        }
        assert_eq!(breaker.admit(), Err(Duration::from_secs(10)));
        assert_eq!(metrics.breaker_state.get(), 2);

        *clock.0.lock().expect("clock") += time::Duration::seconds(10);
        assert!(breaker.admit().is_ok(), "the probe");
        assert_eq!(breaker.admit(), Err(PROBE_WAIT), "only one probe");
        breaker.record(false);
        assert!(breaker.is_open(), "a failed probe opens it again");

        *clock.0.lock().expect("clock") += time::Duration::seconds(10);
        assert!(breaker.admit().is_ok());
        breaker.record(true);
        assert!(breaker.admit().is_ok());
        assert_eq!(metrics.breaker_state.get(), 0);
        assert_eq!(metrics.breaker_opened.get(), 2);
    }
}
