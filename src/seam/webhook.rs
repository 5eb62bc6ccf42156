//! Seam's webhooks: that a delivery is Seam's, and what its event says. Seam delivers events
//! through Svix, so a delivery is checked as Svix defines it: an HMAC-SHA256 over
//! `svix-id.svix-timestamp.body`, keyed by the base64 part of the endpoint's `whsec_…`
//! secret, in `svix-signature` as one or more space-separated `v1,<base64>` entries (several
//! while a secret is rotated). A delivery more than five minutes from now either way is
//! refused (Svix's tolerance), and so is a delivery id seen before.

use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use moka::sync::Cache;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config::{ConfigError, SeamSettings, secret_from};

/// How far a delivery's timestamp may be from now, either way (Svix's own tolerance).
const TOLERANCE_SECS: u64 = 5 * 60;

/// Delivery ids are remembered as long as their deliveries could pass the timestamp check,
/// and at most this many (far more than Seam sends in ten minutes).
const SEEN_FOR: Duration = Duration::from_secs(2 * TOLERANCE_SECS);
const SEEN_MAX: u64 = 100_000;

/// Checks deliveries with the endpoint's secret. Deliberately not `Debug`: it holds the key.
pub(crate) struct WebhookVerifier {
    key: hmac::Key,
    seen: Cache<Box<str>, ()>,
}

/// The three Svix headers of a delivery, as received.
pub(crate) struct Delivery<'a> {
    pub(crate) id: Option<&'a str>,
    pub(crate) timestamp: Option<&'a str>,
    pub(crate) signature: Option<&'a str>,
}

/// Why a delivery was refused. Nothing is applied for any of these.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum WebhookRefused {
    #[error("svix-id, svix-timestamp and svix-signature are required")]
    Missing,
    #[error("svix-timestamp is not within five minutes of now")]
    Stale,
    #[error("no svix-signature entry matches the body")]
    BadSignature,
    #[error("svix-id received before")]
    Replayed,
    #[error("the event is not JSON with an `event_type`, or lacks the id its type needs")]
    BadEvent,
    #[error("the event is for workspace {event}, not this service's {ours}")]
    WrongWorkspace { event: String, ours: String },
}

impl WebhookVerifier {
    /// From `seam.webhook_secret` / `seam.webhook_secret_file`; `None` when neither is set
    /// (the webhook route is then not served).
    pub(crate) fn from_settings(settings: &SeamSettings) -> Result<Option<Self>, ConfigError> {
        let Some(secret) = secret_from(
            "seam.webhook_secret",
            settings.webhook_secret.as_ref(),
            settings.webhook_secret_file.as_deref(),
        )?
        else {
            return Ok(None);
        };
        let text = secret.expose_secret().trim();
        // Svix's own libraries take the secret with or without its prefix.
        let encoded = text.strip_prefix("whsec_").unwrap_or(text);
        let key = STANDARD
            .decode(encoded)
            .ok()
            .filter(|key| !key.is_empty())
            .ok_or_else(|| {
                ConfigError::new(
                    "seam.webhook_secret",
                    "must be the endpoint's signing secret as Seam's console shows it: \
                     whsec_ followed by base64",
                )
            })?;
        Ok(Some(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
            seen: Cache::builder()
                .max_capacity(SEEN_MAX)
                .time_to_live(SEEN_FOR)
                .build(),
        }))
    }

    /// How long a delivery id is remembered: as long as the delivery could pass the timestamp
    /// check (the fleet's claim on it lasts as long).
    pub(crate) const REMEMBERED_FOR: Duration = SEEN_FOR;

    /// Checks a delivery received at `now` (Unix seconds): a timestamp within the tolerance,
    /// Seam's signature over it (compared in constant time), and an id not seen before; its
    /// id when it passes. An id is remembered only once its signature matched, so no one else
    /// can spend Seam's ids.
    pub(crate) fn verify<'a>(
        &self,
        delivery: &Delivery<'a>,
        body: &[u8],
        now: u64,
    ) -> Result<&'a str, WebhookRefused> {
        let (Some(id), Some(timestamp), Some(signatures)) =
            (delivery.id, delivery.timestamp, delivery.signature)
        else {
            return Err(WebhookRefused::Missing);
        };
        let sent_at: u64 = timestamp.parse().map_err(|_| WebhookRefused::Stale)?;
        if sent_at.abs_diff(now) > TOLERANCE_SECS {
            return Err(WebhookRefused::Stale);
        }
        let mut signed = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
        signed.extend_from_slice(id.as_bytes());
        signed.push(b'.');
        signed.extend_from_slice(timestamp.as_bytes());
        signed.push(b'.');
        signed.extend_from_slice(body);
        let matches = signatures
            .split(' ')
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|encoded| STANDARD.decode(encoded).ok())
            .any(|tag| hmac::verify(&self.key, &signed, &tag).is_ok());
        if !matches {
            return Err(WebhookRefused::BadSignature);
        }
        if !self.seen.entry(id.into()).or_insert(()).is_fresh() {
            return Err(WebhookRefused::Replayed);
        }
        Ok(id)
    }

    /// Forgets a delivery id, so that Seam's retry of a delivery that could not be applied
    /// (or was claimed by another replica, which may give it back) is taken.
    pub(crate) fn forget(&self, id: &str) {
        self.seen.invalidate(id);
    }
}

/// A Seam event, as far as the service acts on it.
#[derive(Debug, PartialEq)]
pub(crate) enum SeamEvent {
    /// `connected_account.disconnected` (Seam keeps the account, with an
    /// `account_disconnected` error, and reconnects it in place under the same id) or
    /// `connected_account.deleted` (gone): what is cached about it is out of date either way.
    AccountChanged { connected_account_id: String },
    /// `connected_account.connected`: its custom metadata, and the Connect Webview it came
    /// through (which says whose it is for the `seam` accounts source).
    AccountConnected {
        connected_account_id: String,
        custom_metadata: Map<String, Value>,
        connect_webview_id: Option<String>,
    },
    /// `client_session.deleted`.
    SessionDeleted { client_session_id: String },
    /// Any other event type: answered, not acted on.
    Ignored,
}

/// A verified delivery's event, its type, and the workspace it says it is from.
pub(crate) struct Parsed {
    pub(crate) event: SeamEvent,
    pub(crate) event_type: String,
    /// Seam's events carry it; `None` when one does not.
    pub(crate) workspace_id: Option<String>,
}

/// The fields of Seam's event object that the service reads.
#[derive(Deserialize)]
struct Wire {
    event_type: String,
    workspace_id: Option<String>,
    connected_account_id: Option<String>,
    client_session_id: Option<String>,
    connect_webview_id: Option<String>,
    connected_account_custom_metadata: Option<Map<String, Value>>,
}

impl SeamEvent {
    /// The event a verified delivery's body holds, its type and workspace.
    pub(crate) fn parse(body: &[u8]) -> Result<Parsed, WebhookRefused> {
        let wire: Wire = serde_json::from_slice(body).map_err(|_| WebhookRefused::BadEvent)?;
        let required = |id: Option<String>| id.ok_or(WebhookRefused::BadEvent);
        let event = match wire.event_type.as_str() {
            "connected_account.disconnected" | "connected_account.deleted" => {
                Self::AccountChanged {
                    connected_account_id: required(wire.connected_account_id)?,
                }
            }
            "connected_account.connected" => Self::AccountConnected {
                connected_account_id: required(wire.connected_account_id)?,
                custom_metadata: wire.connected_account_custom_metadata.unwrap_or_default(),
                connect_webview_id: wire.connect_webview_id,
            },
            "client_session.deleted" => Self::SessionDeleted {
                client_session_id: required(wire.client_session_id)?,
            },
            _ => Self::Ignored,
        };
        Ok(Parsed {
            event,
            event_type: wire.event_type,
            workspace_id: wire.workspace_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn settings(secret: &str) -> SeamSettings {
        let env = [(
            "SEAM_BFF__SEAM__WEBHOOK_SECRET".to_owned(),
            secret.to_owned(),
        )];
        crate::config::Settings::load(None, &env.into_iter().collect())
            .expect("loads")
            .seam
    }

    fn verifier() -> WebhookVerifier {
        WebhookVerifier::from_settings(&settings(SECRET))
            .expect("a valid secret")
            .expect("configured")
    }

    /// Svix's published test vector (its libraries' tests): this secret, id, timestamp and
    /// body give this signature.
    #[test]
    fn svix_test_vector_verifies() {
        let verifier = verifier();
        let body = br#"{"test": 2432232314}"#;
        let delivery = Delivery {
            id: Some("msg_p5jXN8AQM9LWM0D4loKWxJek"),
            timestamp: Some("1614265330"),
            signature: Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
        };
        assert_eq!(
            verifier.verify(&delivery, body, 1_614_265_330),
            Ok("msg_p5jXN8AQM9LWM0D4loKWxJek")
        );
        // The same delivery again is a replay; a changed body, a wrong key's signature.
        assert_eq!(
            verifier.verify(&delivery, body, 1_614_265_330),
            Err(WebhookRefused::Replayed)
        );
        let tampered = Delivery {
            id: Some("msg_other"),
            ..delivery
        };
        assert_eq!(
            verifier.verify(&tampered, body, 1_614_265_330),
            Err(WebhookRefused::BadSignature)
        );
    }

    #[test]
    fn any_matching_entry_of_several_passes() {
        let verifier = verifier();
        let delivery = Delivery {
            id: Some("msg_p5jXN8AQM9LWM0D4loKWxJek"),
            timestamp: Some("1614265330"),
            signature: Some(
                "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,abc \
                 v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
        };
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            verifier.verify(&delivery, body, 1_614_265_330),
            Ok("msg_p5jXN8AQM9LWM0D4loKWxJek")
        );
    }

    #[test]
    fn a_timestamp_outside_five_minutes_is_refused_either_way() {
        let verifier = verifier();
        let delivery = Delivery {
            id: Some("msg_p5jXN8AQM9LWM0D4loKWxJek"),
            timestamp: Some("1614265330"),
            signature: Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
        };
        let body = br#"{"test": 2432232314}"#;
        for now in [1_614_265_330 + 301, 1_614_265_330 - 301] {
            assert_eq!(
                verifier.verify(&delivery, body, now),
                Err(WebhookRefused::Stale)
            );
        }
        // Refused ids are not remembered: inside the window the delivery still passes.
        assert_eq!(
            verifier.verify(&delivery, body, 1_614_265_330 + 300),
            Ok("msg_p5jXN8AQM9LWM0D4loKWxJek")
        );
    }

    #[test]
    fn a_secret_that_is_not_base64_is_refused_without_quoting_it() {
        let error = WebhookVerifier::from_settings(&settings("whsec_not base64!!"))
            .err()
            .expect("refused")
            .to_string();
        assert!(error.contains("seam.webhook_secret"), "{error}");
        assert!(!error.contains("not base64"), "{error}");
    }

    #[test]
    fn events_are_read_by_type() {
        let parse = |body: &str| SeamEvent::parse(body.as_bytes()).map(|parsed| parsed.event);
        assert_eq!(
            parse(r#"{"event_type":"connected_account.deleted","connected_account_id":"a"}"#),
            Ok(SeamEvent::AccountChanged {
                connected_account_id: "a".into()
            })
        );
        assert_eq!(
            parse(r#"{"event_type":"client_session.deleted","client_session_id":"s"}"#),
            Ok(SeamEvent::SessionDeleted {
                client_session_id: "s".into()
            })
        );
        assert_eq!(
            parse(r#"{"event_type":"device.unlocked","device_id":"d"}"#),
            Ok(SeamEvent::Ignored)
        );
        assert_eq!(
            parse(r#"{"event_type":"connected_account.deleted"}"#),
            Err(WebhookRefused::BadEvent)
        );
        assert_eq!(parse("not json"), Err(WebhookRefused::BadEvent));
        let parsed = SeamEvent::parse(br#"{"event_type":"device.unlocked","workspace_id":"w"}"#)
            .map(|parsed| parsed.workspace_id);
        assert_eq!(parsed, Ok(Some("w".into())));
    }
}
