use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use base64::Engine;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::json;
use time::OffsetDateTime;

use super::error::MAX_TOKEN_BYTES;
use super::*;
use crate::clock::SystemClock;
use crate::config::IssuerSettings;

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn settings(issuer: Option<&str>, audience: Option<&str>) -> AuthSettings {
    AuthSettings {
        issuer: issuer.map(str::to_owned),
        audience: audience.map(str::to_owned),
        algorithms: vec!["HS256".into()],
        hs256_secret: Some(SECRET.into()),
        hs256_secret_file: None,
        public_key_file: None,
        jwks_url: None,
        discovery: false,
        leeway_secs: 0,
        max_token_lifetime_secs: 86_400,
        required_typ: None,
        cookie_name: None,
        verified_tokens_per_user: 4,
        backchannel_logout: false,
        logout_audience: None,
        issuers: Vec::new(),
    }
}

pub(crate) fn verifier(auth: &AuthSettings) -> Result<Verifier, ConfigError> {
    verifier_at(auth, Arc::new(SystemClock))
}

fn verifier_at(auth: &AuthSettings, clock: Arc<dyn Clock>) -> Result<Verifier, ConfigError> {
    Verifier::from_settings(
        auth,
        "sub",
        Some("accounts"),
        clock,
        Arc::new(Metrics::new("/")),
    )
}

/// A clock that reads what a test sets, as the API tests' `ManualClock` does.
struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    fn at(unix: i64) -> Arc<Self> {
        let clock = Arc::new(Self(Mutex::new(OffsetDateTime::UNIX_EPOCH)));
        clock.set(unix);
        clock
    }

    fn set(&self, unix: i64) {
        *self.0.lock().expect("clock lock") =
            OffsetDateTime::from_unix_timestamp(unix).expect("a time in range");
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().expect("clock lock")
    }
}

fn token_with(secret: &str, claims: Value) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("encodes")
}

fn token(claims: Value) -> String {
    token_with(SECRET, claims)
}

fn exp() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp() + 600
}

/// What the login extractor does with a token it has not seen: inspect, then verify.
pub(crate) async fn check(verifier: &Verifier, token: &str) -> Result<Claims, AuthError> {
    let inspected = verifier.inspect(token.to_owned())?;
    verifier.verify(inspected, &IdpClient::new()).await
}

async fn user(verifier: &Verifier, token: &str) -> Result<String, AuthError> {
    check(verifier, token).await.map(|claims| claims.user_id)
}

#[actix_web::test]
async fn numeric_user_ids_are_accepted_as_text() {
    let auth = settings(None, None);
    let verifier = verifier(&auth).expect("builds");
    let id = user(&verifier, &token(json!({"sub": 42, "exp": exp()}))).await;
    assert_eq!(id, Ok("42".into()));
}

#[actix_web::test]
async fn configured_issuer_and_audience_must_be_present() {
    let auth = settings(Some("https://idp"), Some("bff"));
    let verifier = verifier(&auth).expect("builds");
    let no_iss = token(json!({"sub": "u", "exp": exp(), "aud": "bff"}));
    assert_eq!(
        user(&verifier, &no_iss).await,
        Err(AuthError::Rejected("missing `iss`".into()))
    );
    let good = token(json!({"sub": "u", "exp": exp(), "aud": "bff", "iss": "https://idp"}));
    assert_eq!(user(&verifier, &good).await, Ok("u".into()));
}

#[actix_web::test]
async fn oversize_and_userless_tokens_are_refused() {
    let auth = settings(None, None);
    let verifier = verifier(&auth).expect("builds");
    let padding = "x".repeat(MAX_TOKEN_BYTES);
    let oversize = token(json!({"sub": "u", "exp": exp(), "pad": padding}));
    assert_eq!(user(&verifier, &oversize).await, Err(AuthError::TooLarge));
    let userless = token(json!({"sub": "", "exp": exp()}));
    assert_eq!(
        user(&verifier, &userless).await,
        Err(AuthError::BadClaim("sub".into()))
    );
}

#[actix_web::test]
async fn the_issuer_is_chosen_by_iss_and_holds_its_own_keys() {
    let mut auth = settings(Some("https://old"), None);
    let new_secret = "new-issuer-secret-0123456789abcdef";
    auth.issuers.push(IssuerSettings {
        issuer: "https://new".into(),
        audience: Some("bff".into()),
        algorithms: vec!["HS256".into()],
        hs256_secret: Some(new_secret.into()),
        hs256_secret_file: None,
        public_key_file: None,
        jwks_url: None,
        discovery: false,
        logout_audience: None,
        key_prefix: None,
        accounts_metadata_key: None,
        accounts_static: None,
    });
    let verifier = verifier(&auth).expect("builds");
    let old = token(json!({"sub": "a", "exp": exp(), "iss": "https://old"}));
    assert_eq!(user(&verifier, &old).await, Ok("a".into()));
    let new = token_with(
        new_secret,
        json!({"sub": "b", "exp": exp(), "iss": "https://new", "aud": "bff"}),
    );
    assert_eq!(user(&verifier, &new).await, Ok("b".into()));
    // The new issuer's audience rule applies to it alone.
    let new_without_aud = token_with(
        new_secret,
        json!({"sub": "b", "exp": exp(), "iss": "https://new"}),
    );
    assert!(user(&verifier, &new_without_aud).await.is_err());
    // A token claiming one issuer but signed with the other's key is refused.
    let crossed = token(json!({"sub": "c", "exp": exp(), "iss": "https://new", "aud": "bff"}));
    assert_eq!(
        user(&verifier, &crossed).await,
        Err(AuthError::BadSignature("bad signature"))
    );
    let unknown = token(json!({"sub": "d", "exp": exp(), "iss": "https://evil"}));
    assert_eq!(
        user(&verifier, &unknown).await,
        Err(AuthError::Rejected("untrusted issuer".into()))
    );
}

#[actix_web::test]
async fn a_required_typ_is_enforced() {
    let mut auth = settings(None, None);
    auth.required_typ = Some("at+jwt".into());
    let verifier = verifier(&auth).expect("builds");
    let plain = token(json!({"sub": "u", "exp": exp()}));
    assert_eq!(
        user(&verifier, &plain).await,
        Err(AuthError::Rejected("wrong `typ`".into()))
    );
    let header = Header {
        typ: Some("at+JWT".into()),
        ..Header::default()
    };
    let typed = encode(
        &header,
        &json!({"sub": "u", "exp": exp()}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("encodes");
    assert_eq!(user(&verifier, &typed).await, Ok("u".into()));
}

#[test]
fn several_issuers_need_distinct_names() {
    let mut auth = settings(None, None);
    auth.issuers.push(IssuerSettings {
        issuer: "https://new".into(),
        audience: None,
        algorithms: vec!["HS256".into()],
        hs256_secret: Some(SECRET.into()),
        hs256_secret_file: None,
        public_key_file: None,
        jwks_url: None,
        discovery: false,
        logout_audience: None,
        key_prefix: None,
        accounts_metadata_key: None,
        accounts_static: None,
    });
    let err = verifier(&auth)
        .err()
        .expect("the simple form has no issuer");
    assert!(err.to_string().contains("auth.issuer"), "{err}");
}

#[actix_web::test]
async fn verified_claims_are_the_ones_the_service_uses() {
    let verifier = verifier(&settings(Some("https://idp"), None)).expect("builds");
    let exp = exp();
    let token = token(json!({
        "sub": "u", "exp": exp, "iat": exp - 600, "iss": "https://idp", "accounts": ["a"], "other": 1
    }));
    let claims = check(&verifier, &token).await.expect("verifies");
    assert_eq!(claims.user_id, "u");
    assert_eq!(claims.issuer, 0);
    assert_eq!(claims.expires_at, u64::try_from(exp).expect("positive"));
    assert_eq!(
        claims.issued_at,
        Some(u64::try_from(exp - 600).expect("positive"))
    );
    assert_eq!(claims.accounts, Some(json!(["a"])));
}

fn names<'n>(identity: &'n str, accounts: Option<&'n str>) -> unverified::ClaimNames<'n> {
    unverified::ClaimNames {
        identity,
        accounts,
        audience: false,
    }
}

#[test]
fn unverified_claims_pick_the_configured_ones() {
    let mut buffer = [0; 2048];
    let token = token(json!({"sub": "u", "accounts": ["a"], "exp": 1, "sub2": "x", "iss": "i"}));
    let picked = unverified::claims(&token, &mut buffer, names("sub", Some("accounts")));
    let picked = picked.expect("picked");
    assert!(matches!(picked.user_id, Some(Cow::Borrowed("u"))));
    assert_eq!(picked.accounts, Some(json!(["a"])));
    assert_eq!(picked.expires_at, unverified::Claim::Valid(1));
    assert_eq!(picked.issuer, unverified::Claim::Valid(Cow::Borrowed("i")));
    assert_eq!(picked.not_before, unverified::Claim::Absent);
    let picked = unverified::claims(&token, &mut buffer, names("email", None)).expect("picked");
    assert_eq!((picked.user_id, picked.accounts), (None, None));
    assert!(unverified::claims("not a token", &mut buffer, names("sub", None)).is_none());
    // A payload larger than the buffer is not read here (the verification reads it).
    let large = self::token(json!({"sub": "u", "pad": "x".repeat(2048)}));
    assert!(unverified::claims(&large, &mut buffer, names("sub", None)).is_none());
    let mut room = unverified::buffer_for(&large);
    assert!(unverified::claims(&large, &mut room, names("sub", None)).is_some());
}

#[actix_web::test]
async fn user_ids_read_the_same_unverified_and_verified() {
    let verifier = verifier(&settings(None, None)).expect("builds");
    let mut buffer = [0; 2048];
    let no_user = || Err(AuthError::BadClaim("sub".into()));
    for (claim, id, verified) in [
        (json!(42), Some("42"), Ok("42".into())),
        (json!(-7), Some("-7"), Ok("-7".into())),
        (json!("a\"b"), Some("a\"b"), Ok("a\"b".into())),
        (json!(""), None, no_user()),
        (json!("x".repeat(256)), None, no_user()),
        (json!(4.5), None, no_user()),
        (json!(null), None, no_user()),
        // jsonwebtoken refuses a `sub` that is no string or number itself.
        (
            json!(["u"]),
            None,
            Err(AuthError::Rejected("malformed token".into())),
        ),
    ] {
        let token = token(json!({ "sub": claim.clone(), "exp": exp() }));
        let picked = unverified::claims(&token, &mut buffer, names("sub", None));
        assert!(picked.is_some(), "{claim}");
        assert_eq!(picked.and_then(|p| p.user_id).as_deref(), id, "{claim}");
        assert_eq!(user(&verifier, &token).await, verified, "{claim}");
    }
    // An escaped claim name is the same claim (the signature covers the payload's text).
    let payload = format!(r#"{{"s\u0075b":"u","exp":{}}}"#, exp());
    let b64 = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    let message = format!(
        "{}.{}",
        b64(r#"{"alg":"HS256","typ":"JWT"}"#),
        b64(&payload)
    );
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)
            .expect("signs");
    let escaped = format!("{message}.{signature}");
    assert_eq!(user(&verifier, &escaped).await, Ok("u".into()));
}

/// `exp` and `nbf` (with the leeway) are judged on the clock the service was given: tokens of
/// 2001 and of 2096, which the system's clock would refuse, pass exactly while that clock is
/// within their lifetime.
#[actix_web::test]
async fn login_times_are_judged_on_the_injected_clock() {
    for issued in [1_000_000_000, 4_000_000_000] {
        let mut auth = settings(None, None);
        auth.leeway_secs = 30;
        let clock = ManualClock::at(issued);
        let verifier = verifier_at(&auth, clock.clone()).expect("builds");
        let (nbf, exp) = (issued + 60, issued + 600);
        let token = token(json!({"sub": "u", "iat": issued, "nbf": nbf, "exp": exp}));
        for (now, expected) in [
            (nbf - 30 - 1, Err(AuthError::NotYetValid)),
            (nbf - 30, Ok("u".to_owned())),
            (issued + 300, Ok("u".to_owned())),
            (exp + 30, Ok("u".to_owned())),
            (exp + 30 + 1, Err(AuthError::Expired)),
        ] {
            clock.set(now);
            assert_eq!(user(&verifier, &token).await, expected, "at {now}");
        }
    }
}

/// The times are judged again once the signature verified: the wait for it (the client's
/// turn, a key fetch) may outlast the token.
#[actix_web::test]
async fn a_login_that_expires_before_its_signature_is_checked_is_refused() {
    let issued = 1_000_000_000;
    let clock = ManualClock::at(issued);
    let verifier = verifier_at(&settings(None, None), clock.clone()).expect("builds");
    let token = token(json!({"sub": "u", "iat": issued, "exp": issued + 600}));
    let inspected = verifier.inspect(token).expect("current when inspected");
    clock.set(issued + 601);
    let verified = verifier.verify(inspected, &IdpClient::new()).await;
    assert_eq!(verified.err(), Some(AuthError::Expired));
}

/// `auth.max_token_lifetime_secs` counts from the injected clock too.
#[actix_web::test]
async fn the_lifetime_cap_counts_from_the_injected_clock() {
    let mut auth = settings(None, None);
    auth.max_token_lifetime_secs = 3600;
    let issued = 1_000_000_000;
    let clock = ManualClock::at(issued);
    let verifier = verifier_at(&auth, clock.clone()).expect("builds");
    let token = token(json!({"sub": "u", "exp": issued + 7200}));
    assert_eq!(
        user(&verifier, &token).await,
        Err(AuthError::Rejected(
            "lives longer than auth.max_token_lifetime_secs".into()
        ))
    );
    clock.set(issued + 3600);
    assert_eq!(user(&verifier, &token).await, Ok("u".into()));
}

/// What the issuers' `Validation` is left to judge (see `issuer`): jsonwebtoken still requires
/// `exp`, and judges no time itself.
#[actix_web::test]
async fn jsonwebtoken_requires_exp_but_judges_no_time() {
    let verifier = verifier(&settings(None, None)).expect("builds");
    let check = |claims: Value| {
        let token = token(claims);
        let header = decode_header(&token).expect("header");
        let verifier = &verifier;
        async move {
            (verifier.issuers[0])
                .check(&token, &header, &IdpClient::new(), Purpose::Login)
                .await
                .map(drop)
        }
    };
    assert_eq!(
        check(json!({"sub": "u"})).await,
        Err(AuthError::Rejected("missing `exp`".into()))
    );
    assert_eq!(check(json!({"sub": "u", "exp": 1})).await, Ok(()));
    assert_eq!(
        check(json!({"sub": "u", "exp": exp(), "nbf": exp()})).await,
        Ok(())
    );
}
