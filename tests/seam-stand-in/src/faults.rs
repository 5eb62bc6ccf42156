//! Injected faults: the failures a real Seam (or the proxies in front of it) produces, queued by
//! tests and served in the order they were injected; and holds, which keep an answer back
//! until the test lets it go.

use std::{collections::VecDeque, sync::Arc, time::Duration};

use tokio::sync::Notify;

use actix_web::{
    HttpResponse,
    http::{
        StatusCode,
        header::{CONTENT_TYPE, RETRY_AFTER},
    },
};
use serde_json::json;

/// A failure to serve instead of the real answer.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Seam's JSON error envelope with this status (an invalid status code becomes 500).
    Status(u16),
    /// 429 with a `Retry-After` header in seconds.
    RateLimited { retry_after_secs: u64 },
    /// Never answers: the request sleeps for an hour, to exercise the caller's timeout.
    Hang,
    /// 200 with an HTML body, as a captive portal or a misrouted proxy would send.
    Garbage,
    /// This status with a plain-text body, like Seam's load balancers sometimes send.
    PlainText(u16),
}

/// Long enough that any sane client timeout fires first.
const HANG_FOR: Duration = Duration::from_secs(60 * 60);

#[derive(Debug)]
struct Pending {
    endpoint: String,
    fault: Fault,
    remaining: usize,
}

/// The answer to one request, done (Seam has acted on it) but kept from the caller until
/// `release`: for tests of what happens while a call is in flight, without timing.
#[derive(Clone, Debug, Default)]
pub struct Hold {
    answered: Arc<Notify>,
    released: Arc<Notify>,
}

impl Hold {
    /// Waits until the held request has been answered (and is being held).
    pub async fn answered(&self) {
        self.answered.notified().await;
    }

    /// Lets the held answer go to its caller.
    pub fn release(&self) {
        self.released.notify_one();
    }

    pub(crate) async fn keep(&self) {
        self.answered.notify_one();
        self.released.notified().await;
    }
}

/// Faults waiting for requests, oldest first.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    pending: VecDeque<Pending>,
    holds: Vec<(String, Hold)>,
}

impl FaultQueue {
    pub(crate) fn push(&mut self, endpoint: &str, fault: Fault, times: usize) {
        if times > 0 {
            self.pending.push_back(Pending {
                endpoint: endpoint.to_owned(),
                fault,
                remaining: times,
            });
        }
    }

    pub(crate) fn clear(&mut self) {
        self.pending.clear();
    }

    pub(crate) fn hold(&mut self, endpoint: &str, hold: Hold) {
        self.holds.push((endpoint.to_owned(), hold));
    }

    /// The oldest hold on this path, used up.
    pub(crate) fn take_hold(&mut self, path: &str) -> Option<Hold> {
        let index = self
            .holds
            .iter()
            .position(|(endpoint, _)| endpoint == path)?;
        Some(self.holds.remove(index).1)
    }

    /// Consumes one use of the oldest fault aimed at this path (or at every path, `"*"`).
    pub(crate) fn take(&mut self, path: &str) -> Option<Fault> {
        let index = self
            .pending
            .iter()
            .position(|p| p.endpoint == path || p.endpoint == "*")?;
        let pending = &mut self.pending[index];
        pending.remaining -= 1;
        let fault = pending.fault.clone();
        if pending.remaining == 0 {
            self.pending.remove(index);
        }
        Some(fault)
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The error `type` for a status, in Seam's snake_case: 503 becomes `service_unavailable`.
fn error_type(status: StatusCode) -> String {
    status
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase()
        .replace([' ', '-'], "_")
        .replace('\'', "")
}

/// The response a fault produces. `Hang` only returns after `HANG_FOR`.
pub(crate) async fn respond(fault: &Fault) -> HttpResponse {
    match fault {
        Fault::Status(code) => {
            let status = status(*code);
            HttpResponse::build(status).json(json!({
                "error": { "type": error_type(status), "message": "Injected fault" },
                "ok": false,
            }))
        }
        Fault::RateLimited { retry_after_secs } => HttpResponse::TooManyRequests()
            .insert_header((RETRY_AFTER, retry_after_secs.to_string()))
            .json(json!({
                "error": { "type": "rate_limited", "message": "Too many requests" },
                "ok": false,
            })),
        Fault::Hang => {
            actix_web::rt::time::sleep(HANG_FOR).await;
            HttpResponse::GatewayTimeout().json(json!({
                "error": { "type": "gateway_timeout", "message": "Injected hang ended" },
                "ok": false,
            }))
        }
        Fault::Garbage => HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, "text/html"))
            .body("<html><body><h1>Welcome</h1>This is not the Seam API.</body></html>"),
        Fault::PlainText(code) => HttpResponse::build(status(*code))
            .insert_header((CONTENT_TYPE, "text/plain"))
            .body(
                "upstream connect error or disconnect/reset before headers. reset reason: overflow",
            ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_consumed_in_the_order_they_were_injected() {
        let mut queue = FaultQueue::default();
        queue.push("/a", Fault::Status(500), 2);
        queue.push("*", Fault::Garbage, 1);
        queue.push("/a", Fault::PlainText(502), 1);

        assert!(matches!(queue.take("/a"), Some(Fault::Status(500))));
        assert!(matches!(queue.take("/b"), Some(Fault::Garbage)));
        assert!(matches!(queue.take("/a"), Some(Fault::Status(500))));
        assert!(matches!(queue.take("/a"), Some(Fault::PlainText(502))));
        assert!(queue.take("/a").is_none());
        assert!(queue.take("/b").is_none());
    }

    #[test]
    fn a_fault_with_zero_uses_is_never_served() {
        let mut queue = FaultQueue::default();
        queue.push("/a", Fault::Hang, 0);
        assert!(queue.take("/a").is_none());
    }

    #[test]
    fn error_types_are_snake_case_reasons() {
        assert_eq!(
            error_type(StatusCode::SERVICE_UNAVAILABLE),
            "service_unavailable"
        );
        assert_eq!(error_type(StatusCode::IM_A_TEAPOT), "im_a_teapot");
    }
}
