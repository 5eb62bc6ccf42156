//! Seam's webhook deliveries as a test receives them: the endpoint a test registers, and the
//! queued events signed as Svix signs them, handed to the test or posted to the endpoint.

use crate::{StandIn, sign_webhook, state};

/// One signed webhook delivery: its Svix headers and body.
pub struct WebhookDelivery {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Vec<u8>,
}

impl StandIn {
    /// Registers Seam's webhook endpoint with its signing secret (`new_webhook_secret`): from
    /// now on, events are queued for `url`.
    pub fn set_webhook(&self, url: &str, secret: &str) {
        self.state().webhook = Some(state::Webhook {
            url: url.to_owned(),
            secret: secret.to_owned(),
            pending: Vec::new(),
        });
    }

    /// The events queued since the last call, taken from the queue, each signed as Svix signs
    /// them (a fresh `svix-id`, the current `svix-timestamp`), for a test that delivers them
    /// itself.
    ///
    /// # Panics
    /// If no webhook is registered: a mistake in the test.
    pub fn take_deliveries(&self) -> Vec<WebhookDelivery> {
        let mut state = self.state();
        let webhook = state.webhook.as_mut().expect("set_webhook first");
        let events = std::mem::take(&mut webhook.pending);
        (events.into_iter())
            .map(|event| {
                let body = serde_json::to_vec(&event).expect("an event serializes");
                let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
                let timestamp = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
                let signature = sign_webhook(&webhook.secret, &id, &timestamp, &body);
                WebhookDelivery {
                    id,
                    timestamp,
                    signature,
                    body,
                }
            })
            .collect()
    }

    /// Delivers the events queued since the last call to the registered URL, in order
    /// (`take_deliveries`); returns each delivery's status.
    ///
    /// # Panics
    /// If no webhook is registered, or the endpoint cannot be reached: mistakes in the test.
    pub async fn deliver_events(&self) -> Vec<u16> {
        let deliveries = self.take_deliveries();
        let url = (self.state().webhook.as_ref()).map(|w| w.url.clone());
        let url = url.expect("set_webhook first");
        let client = awc::Client::default();
        let mut statuses = Vec::new();
        for delivery in deliveries {
            let response = client
                .post(&url)
                .insert_header(("svix-id", delivery.id))
                .insert_header(("svix-timestamp", delivery.timestamp))
                .insert_header(("svix-signature", delivery.signature))
                .content_type("application/json")
                .send_body(delivery.body)
                .await
                .expect("the webhook endpoint answers");
            statuses.push(response.status().as_u16());
        }
        statuses
    }
}
