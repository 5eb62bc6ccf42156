//! Seam's webhook events: queued as the things they announce happen (an account connected,
//! disconnected or deleted, a session deleted), once a test has registered an endpoint, and
//! delivered signed as Svix signs them when the test asks (`StandIn::deliver_events`), so
//! that a test knows when they have arrived.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{State, now};

/// The registered endpoint and what is waiting for it.
pub(crate) struct Webhook {
    pub(crate) url: String,
    pub(crate) secret: String,
    pub(crate) pending: Vec<Value>,
}

/// A fresh signing secret as Seam's console shows one: `whsec_` and 32 random bytes in base64.
/// Made before the endpoint is registered, as the service must be started with it before its
/// address (port 0) is known.
pub fn new_webhook_secret() -> String {
    let key: Vec<u8> = (Uuid::new_v4().into_bytes().into_iter())
        .chain(Uuid::new_v4().into_bytes())
        .collect();
    format!("whsec_{}", STANDARD.encode(&key))
}

/// The `svix-signature` value for a delivery: `v1,` and the base64 HMAC-SHA256 over
/// `id.timestamp.body`, keyed by the secret's base64 part.
///
/// # Panics
/// If `secret` is not `whsec_` and base64: a mistake in the test.
pub fn sign_webhook(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .expect("a whsec_ secret");
    let key = hmac::Key::new(hmac::HMAC_SHA256, &key);
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    format!("v1,{}", STANDARD.encode(hmac::sign(&key, &signed).as_ref()))
}

impl State {
    /// Queues an event of `event_type` with its own fields, as Seam's event objects carry
    /// them beside the common ones.
    pub(crate) fn emit(&mut self, event_type: &str, fields: Value) {
        let Some(webhook) = &mut self.webhook else {
            return;
        };
        let at = crate::wire::timestamp(now());
        let mut event = Map::new();
        event.insert("event_id".into(), Uuid::new_v4().to_string().into());
        event.insert("event_type".into(), event_type.into());
        event.insert("workspace_id".into(), self.workspace_id.clone().into());
        event.insert("created_at".into(), at.clone().into());
        event.insert("occurred_at".into(), at.into());
        if let Value::Object(fields) = fields {
            event.extend(fields);
        }
        webhook.pending.push(Value::Object(event));
    }

    /// `connected_account.connected` for the account, through the webview if one; the
    /// account's `customer_key` when it has one (the spec types both as strings, never null).
    pub(crate) fn emit_connected(&mut self, account_id: &str, webview: Option<&str>) {
        let account = self.account(account_id);
        let mut event = json!({
            "connected_account_id": account_id,
            "connected_account_custom_metadata":
                account.map(|a| a.custom_metadata.clone()).unwrap_or_default(),
        });
        if let Some(key) = account.and_then(|a| a.customer_key.clone()) {
            event["customer_key"] = Value::String(key);
        }
        if let Some(webview) = webview {
            event["connect_webview_id"] = Value::String(webview.to_owned());
        }
        self.emit("connected_account.connected", event);
    }
}
