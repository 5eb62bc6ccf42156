//! `POST /v1/client-session`: the login handshake. A verified app login in; the user's Seam
//! client session token, its expiry and when to ask again out. Never the API key.
//! `DELETE /v1/client-session`: logout, revoking the user's Seam session everywhere.
//!
//! Response: `{"token", "expires_at", "refresh_after", "client_session_id",
//! "connected_account_ids"}` with `Cache-Control: no-store` (`openapi.json`: `ClientSession`).

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::state::State;
use crate::error::ApiError;
use crate::handshake::IssuedSession;
use crate::limits::UserCost;
use crate::login::Login;
use crate::middleware::request_log::{CacheReport, report_cache};
use crate::seam::SeamError;

/// The cached handshake, else the user's limit and the handshake through Seam; then the
/// answer. A repeat handshake is the hot path: the extractor found the user with one cache
/// lookup, and their account list and session are read without waiting on anything or
/// counting against any limit. The state is borrowed (`State::of`), not extracted as `Data`.
pub(super) async fn create(login: Login, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let state = State::of(&request);
    let (handshake, seam) = (&state.handshake, &state.seam);
    let (user, claim) = (login.user(), login.accounts_claim());
    let handed = match handshake.cached(user, claim, seam)? {
        Some(handed) => handed,
        // Only what reaches Seam counts against the user's limit: a page reload costs nothing.
        None => {
            (state.limits)
                .check_user(login.user_key(), UserCost::Handshake)
                .await?;
            (handshake.through_seam(user, claim, login.fleet(), seam)).await?
        }
    };
    report_cache(CacheReport {
        accounts: handed.accounts_outcome,
        session: handed.session_outcome,
    });
    let body = body(&handed.session).ok_or(ApiError::Seam(SeamError::UnusableSession(
        "its times cannot be written in RFC 3339",
    )))?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((CONTENT_TYPE, "application/json"))
        .body(Bytes::from(body)))
}

/// Seam keeps one session per user, so this signs the user out of Seam on every device. Under
/// the same per-user limit as the handshake: each logout costs Seam calls.
pub(super) async fn delete(login: Login, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let state = State::of(&request);
    (state.limits)
        .check_user(login.user_key(), UserCost::Logout)
        .await?;
    state.admission.logout(&login, &state.seam).await?;
    Ok(HttpResponse::NoContent()
        .insert_header((CACHE_CONTROL, "no-store"))
        .finish())
}

/// The response body, written per request rather than kept (the few hundred bytes would be a
/// third of what a cached user costs), by hand into one buffer of exactly its size, so that it
/// becomes `Bytes` without another allocation: serializing it was a repeat handshake's largest
/// cost after the network. `None` only for a time RFC 3339 cannot write (a year past 9999).
fn body(session: &IssuedSession) -> Option<Vec<u8>> {
    const PIECES: [&[u8]; 6] = [
        br#"{"token":"#,
        br#","expires_at":""#,
        br#"","refresh_after":""#,
        br#"","client_session_id":"#,
        br#","connected_account_ids":["#,
        b"]}",
    ];
    let (token, id) = (session.token(), &*session.client_session_id);
    let ids = || session.granted();
    let expires_at = rfc3339(session.expires_at)?;
    let refresh_after = rfc3339(session.refresh_after)?;
    let size = PIECES.iter().map(|p| p.len()).sum::<usize>()
        + quoted_len(token)
        + expires_at.as_ref().len()
        + refresh_after.as_ref().len()
        + quoted_len(id)
        + ids().map(|id| quoted_len(id)).sum::<usize>()
        + ids().count().saturating_sub(1);
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(PIECES[0]);
    quote(&mut body, token);
    body.extend_from_slice(PIECES[1]);
    body.extend_from_slice(expires_at.as_ref());
    body.extend_from_slice(PIECES[2]);
    body.extend_from_slice(refresh_after.as_ref());
    body.extend_from_slice(PIECES[3]);
    quote(&mut body, id);
    body.extend_from_slice(PIECES[4]);
    for (i, id) in ids().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        quote(&mut body, id);
    }
    body.extend_from_slice(PIECES[5]);
    Some(body)
}

/// Writes `text` as a JSON string, escaped as serde_json escapes it.
fn quote(out: &mut Vec<u8>, text: &str) {
    if needs_escaping(text) {
        serde_json::to_writer(out, text).expect("a string serializes into memory");
    } else {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    }
}

/// The length of `text` as a JSON string, quotes included (serde_json's escapes: two bytes
/// for `"`, `\` and the five short control escapes, six for the other control characters).
fn quoted_len(text: &str) -> usize {
    2 + text
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\x08' | b'\x0c' | b'\n' | b'\r' | b'\t' => 2,
            0..0x20 => 6,
            _ => 1,
        })
        .sum::<usize>()
}

/// One rule for both: a string needs escaping exactly when its JSON form is longer than it
/// plus its quotes.
fn needs_escaping(text: &str) -> bool {
    quoted_len(text) != text.len() + 2
}

/// A time in RFC 3339, on the stack (at most 35 bytes with nanoseconds and an offset).
fn rfc3339(at: OffsetDateTime) -> Option<Rfc3339Text> {
    let mut buffer = [0; 35];
    let mut unwritten = &mut buffer[..];
    // The length is what the writes used up: `format_into`'s own count leaves out the
    // fraction's digits (time 0.3.55).
    at.format_into(&mut unwritten, &Rfc3339).ok()?;
    let len = 35 - unwritten.len();
    Some(Rfc3339Text(buffer, len))
}

struct Rfc3339Text([u8; 35], usize);

impl AsRef<[u8]> for Rfc3339Text {
    fn as_ref(&self) -> &[u8] {
        &self.0[..self.1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::account_set;
    use secrecy::SecretString;
    use serde_json::{Value, json};
    use time::macros::datetime;

    fn session(token: &str, id: &str, accounts: &[&str]) -> IssuedSession {
        IssuedSession::new(
            account_set(accounts.iter().map(|a| a.to_string())),
            datetime!(2026-11-28 10:00:00.25 UTC),
            datetime!(2026-11-28 09:55:00 UTC),
            SecretString::from(token),
            id.to_owned(),
        )
    }

    fn written(session: &IssuedSession) -> (Value, Vec<u8>) {
        let body = body(session).expect("writable");
        let parsed = serde_json::from_slice(&body).expect("valid JSON");
        (parsed, body)
    }

    #[test]
    fn the_body_is_the_session_as_json_and_escapes_what_it_must() {
        let (parsed, _) = written(&session(
            "seam_cst1abc",
            "cs-1",
            &["acct-b", r#"acct "a"\"#],
        ));
        assert_eq!(
            parsed,
            json!({
                "token": "seam_cst1abc",
                "expires_at": "2026-11-28T10:00:00.25Z",
                "refresh_after": "2026-11-28T09:55:00Z",
                "client_session_id": "cs-1",
                "connected_account_ids": [r#"acct "a"\"#, "acct-b"],
            })
        );
        let (parsed, _) = written(&session("seam_cst1abc", "cs-1", &[]));
        assert_eq!(parsed["connected_account_ids"], json!([]));
    }

    /// Seam's tokens and ids need no escaping, but one that did is written, not refused.
    #[test]
    fn a_token_or_id_that_needs_escaping_is_escaped() {
        for (token, id) in [
            ("seam_\"cst", "cs-1"),
            ("seam_cst", "cs\\1"),
            ("seam\ncst\u{1}", "cs\t"),
        ] {
            let (parsed, _) = written(&session(token, id, &["acct"]));
            assert_eq!(parsed["token"], token);
            assert_eq!(parsed["client_session_id"], id);
        }
    }

    #[test]
    fn the_body_is_sized_exactly() {
        for (token, accounts) in [
            ("seam_cst1abc", &[][..]),
            ("seam_cst1abc", &["acct-1"]),
            ("seam_cst1abc", &["acct-1", "acct-22", "acct-333"]),
            ("seam\"\u{1}\n", &["a\\c\u{1f}t", "b"]),
        ] {
            let session = session(token, "cs-1", accounts);
            let (parsed, body) = written(&session);
            assert_eq!(body.len(), body.capacity(), "{accounts:?}");
            assert_eq!(parsed["token"], token);
        }
    }
}
