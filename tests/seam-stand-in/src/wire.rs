//! The JSON shapes of Seam's resources, with every field the OpenAPI description marks required.

use serde_json::{Value, json};
use time::{OffsetDateTime, UtcOffset};

use crate::state::{Account, Device, Session, State, Webview, disconnected_error};

/// RFC 3339 in UTC with six fractional digits, as Seam's docs show the API's timestamps
/// (`2026-11-27T10:00:00.123456Z`; its own fake writes three).
pub(crate) fn timestamp(t: OffsetDateTime) -> String {
    let t = t.checked_to_offset(UtcOffset::UTC).unwrap_or(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// A padlock, as an SVG data URL.
const LOCK_IMAGE: &str = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 24 24'%3E%3Crect x='5' y='10' width='14' height='11' rx='2'/%3E%3Cpath d='M8 10V7a4 4 0 0 1 8 0v3' fill='none' stroke='black' stroke-width='2'/%3E%3C/svg%3E";

/// Sets `name` when there is a value: the spec's optional strings are absent, never null.
fn optional(body: &mut Value, name: &str, value: Option<&String>) {
    if let Some(value) = value {
        body[name] = Value::String(value.clone());
    }
}

/// The workspace; `publishable_key` only when publishable keys are on (the spec's is an
/// optional string, never null), and no organization (`organization_id` is required, nullable).
pub(crate) fn workspace(state: &State) -> Value {
    let spec = state.workspace;
    let publishable_key = spec
        .is_publishable_key_auth_enabled
        .then(|| format!("seam_pk1_{}", &state.workspace_id[..8]));
    let mut body = json!({
        "workspace_id": state.workspace_id,
        "name": "Stand-in Workspace",
        "created_at": timestamp(state.started_at),
        "company_name": "Stand-in Co",
        "is_sandbox": spec.is_sandbox,
        "is_suspended": spec.is_suspended,
        "is_publishable_key_auth_enabled": spec.is_publishable_key_auth_enabled,
        "connect_partner_name": null,
        "connect_webview_customization": {},
        "organization_id": null,
    });
    optional(&mut body, "publishable_key", publishable_key.as_ref());
    body
}

/// A Connect Webview; `customer_key` only when it has one (the spec's is an optional string).
pub(crate) fn webview(w: &Webview, workspace_id: &str, url: &str) -> Value {
    let r = &w.request;
    let mut body = json!({
        "connect_webview_id": w.id,
        "url": url,
        "workspace_id": workspace_id,
        "status": w.status(),
        "accepted_providers": r.accepted_providers,
        "created_at": timestamp(w.created_at),
        "custom_redirect_url": r.custom_redirect_url,
        "custom_redirect_failure_url": r.custom_redirect_failure_url,
        "device_selection_mode": r.device_selection_mode.as_deref().unwrap_or("none"),
        "accepted_devices": [],
        "any_device_allowed": true,
        "any_provider_allowed": r.accepted_providers.is_empty()
            && r.excluded_providers.is_empty()
            && r.provider_category.is_none(),
        "login_successful": w.connected_account_id.is_some(),
        "connected_account_id": w.connected_account_id,
        "custom_metadata": r.custom_metadata,
        "automatically_manage_new_devices": r.automatically_manage_new_devices.unwrap_or(true),
        "wait_for_device_creation": r.wait_for_device_creation.unwrap_or(false),
        "accepted_capabilities": r.accepted_capabilities,
        "authorized_at": w.authorized_at.map(timestamp),
        "selected_provider": w.connected_account_id.as_ref().map(|_| "august"),
    });
    optional(&mut body, "customer_key", r.customer_key.as_ref());
    body
}

/// A connected account; `customer_key` only when it has one.
pub(crate) fn account(a: &Account, workspace_id: &str) -> Value {
    let mut body = json!({
        "connected_account_id": a.id,
        "workspace_id": workspace_id,
        "provider": "august",
        "bridge_id": null,
        "account_type": "august",
        "account_type_display_name": "August",
        "display_name": a.display_name,
        "created_at": timestamp(a.created_at),
        "custom_metadata": a.custom_metadata,
        "errors": a.disconnected_at.map(|at| disconnected_error(at, true)).into_iter().collect::<Vec<_>>(),
        "warnings": [],
        "automatically_manage_new_devices": true,
        "accepted_capabilities": ["lock"],
        "user_identifier": { "email": format!("{}@stand-in.example", a.id) },
    });
    optional(&mut body, "customer_key", a.customer_key.as_ref());
    body
}

pub(crate) fn device(d: &Device, workspace_id: &str) -> Value {
    json!({
        "device_id": d.id,
        "device_type": "august_lock",
        "display_name": d.name,
        "connected_account_id": d.account_id,
        "workspace_id": workspace_id,
        "created_at": timestamp(d.created_at),
        "properties": {
            "name": d.name,
            "appearance": { "name": d.name },
            "online": true,
            "locked": true,
            "model": { "display_name": "Smart Lock", "manufacturer_display_name": "August" },
            // Inline, so that a page showing it (Seam Components' device table) fetches nothing
            // from the internet.
            "image_url": LOCK_IMAGE,
            "battery": { "level": 1, "status": "full" },
            "currently_triggering_noise_threshold_ids": [],
        },
        "capabilities_supported": ["lock"],
        "can_remotely_lock": true,
        "can_remotely_unlock": true,
        "errors": [],
        "warnings": [],
        "custom_metadata": {},
        "space_ids": [],
        "is_managed": true,
    })
}

/// A client session; `customer_key` and `user_identity_id` only when it has them (the spec's
/// are optional strings, never null).
pub(crate) fn session(s: &Session, state: &State) -> Value {
    let mut body = json!({
        "client_session_id": s.id,
        "workspace_id": state.workspace_id,
        "created_at": timestamp(s.created_at),
        "expires_at": timestamp(s.expires_at),
        "token": s.token,
        "user_identifier_key": s.user_identifier_key,
        "device_count": state.device_count(s),
        "connected_account_ids": s.connected_account_ids,
        "connect_webview_ids": s.connect_webview_ids,
        "user_identity_ids": s.user_identity_id.iter().collect::<Vec<_>>(),
    });
    optional(&mut body, "customer_key", s.customer_key.as_ref());
    optional(&mut body, "user_identity_id", s.user_identity_id.as_ref());
    body
}

pub(crate) fn pagination(next_page_cursor: Option<&str>, next_page_url: Option<String>) -> Value {
    json!({
        "has_next_page": next_page_cursor.is_some(),
        "next_page_cursor": next_page_cursor,
        "next_page_url": next_page_url,
    })
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::timestamp;

    #[test]
    fn timestamps_have_microsecond_precision_in_utc() {
        assert_eq!(
            timestamp(datetime!(2026-11-27 11:00:00.123456789 +01:00)),
            "2026-11-27T10:00:00.123456Z"
        );
        assert_eq!(
            timestamp(datetime!(2026-01-02 03:04:05 UTC)),
            "2026-01-02T03:04:05.000000Z"
        );
    }
}
