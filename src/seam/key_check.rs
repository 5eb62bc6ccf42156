//! Seam's half of readiness: did Seam accept the API key recently? The answer, good or bad, is
//! reused for `health.readiness_cache_secs`, so probes never cost one upstream call each.

use std::sync::Arc;

use time::OffsetDateTime;

use super::{SeamClient, SeamError};
use crate::cache::{Flight, Lookups, Slot};
use crate::clock::Clock;
use crate::http_failure::NotReady;
use crate::metrics::Metrics;

#[derive(Clone)]
struct Check {
    checked_at: OffsetDateTime,
    /// `None` when ready, else why not (safe to show to anyone who can reach the probe).
    problem: Option<NotReady>,
}

pub(crate) struct ApiKeyCheck {
    last: Slot<Check>,
    flight: Flight,
    lookups: Lookups,
    max_age: time::Duration,
    clock: Arc<dyn Clock>,
}

impl ApiKeyCheck {
    pub(crate) fn new(max_age_secs: u64, clock: Arc<dyn Clock>, metrics: &Metrics) -> Self {
        Self {
            last: Slot::new(),
            flight: Flight::new(()),
            lookups: Lookups::new("readiness", metrics),
            max_age: time::Duration::seconds(max_age_secs as i64),
            clock,
        }
    }

    /// `Ok` when Seam accepts the key, else the reason (a stable code for `/readyz`) and the
    /// failed call's class.
    pub(crate) async fn check(&self, seam: &SeamClient) -> Result<(), NotReady> {
        let now = self.clock.now();
        let checked = self
            .last
            .get_or_refresh(
                &self.flight,
                &self.lookups,
                |check| now < check.checked_at + self.max_age,
                |_| false,
                || async {
                    let problem = seam.check_api_key().await.err().map(|error| {
                        let reason = match error {
                            SeamError::Unauthorized { .. } => "seam_credentials_rejected",
                            SeamError::Timeout { .. } => "seam_timeout",
                            SeamError::CircuitOpen { .. } => "seam_circuit_open",
                            _ => "seam_unavailable",
                        };
                        NotReady::new(reason, error.cause())
                    });
                    Ok::<_, std::convert::Infallible>(Check {
                        checked_at: self.clock.now(),
                        problem,
                    })
                },
            )
            .await;
        match checked {
            Ok(found) => found.value.problem.map_or(Ok(()), Err),
            Err(never) => match never {},
        }
    }
}
