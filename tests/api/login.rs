//! Login tokens: every way a token can be wrong gets 401 and costs no upstream call; every
//! configured key type verifies.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::helpers::{Options, claims, fixture, login, now, sign, spawn_app, spawn_app_with};

fn b64(value: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(value).expect("json"))
}

#[actix_web::test]
async fn bad_logins_get_401_and_cause_no_upstream_call() {
    let app = spawn_app().await;
    let valid = sign(&claims("alice"));
    let (head, rest) = valid.split_once('.').expect("three parts");
    let (payload, signature) = rest.split_once('.').expect("three parts");
    let with = |field: &str, value: Value| {
        let mut c = claims("alice");
        c[field] = value;
        sign(&c)
    };
    let without = |field: &str| {
        let mut c = claims("alice");
        c.as_object_mut().expect("object").remove(field);
        sign(&c)
    };
    let other_key = encode(
        &Header::new(Algorithm::HS256),
        &claims("alice"),
        &EncodingKey::from_secret(b"another-secret-of-at-least-32-bytes!!"),
    )
    .expect("encodes");
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims("alice"))
    );
    let tampered_payload = format!(
        "{head}.{}.{signature}",
        b64(
            &json!({"sub": "mallory", "iss": crate::helpers::ISSUER, "aud": crate::helpers::AUDIENCE, "exp": now() + 600})
        )
    );

    let crit = encode(
        &Header {
            crit: Some(vec!["http://example.test/unknown-extension".into()]),
            ..Header::new(Algorithm::HS256)
        },
        &claims("alice"),
        &EncodingKey::from_secret(crate::helpers::SECRET.as_bytes()),
    )
    .expect("encodes");
    let issued_long_ago = {
        let mut c = claims("alice");
        c["iat"] = json!(now() - 2 * 86_400);
        sign(&c)
    };
    let tampered_header = format!(
        "{}.{payload}.{signature}",
        b64(&json!({"alg": "HS256", "typ": "JWT", "kid": "other"}))
    );

    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing", None, "missing_token"),
        (
            "not bearer",
            Some(format!("Basic {valid}")),
            "invalid_token",
        ),
        (
            "malformed",
            Some("Bearer not.a.jwt".into()),
            "invalid_token",
        ),
        (
            "two parts",
            Some(format!("Bearer {head}.{payload}")),
            "invalid_token",
        ),
        (
            "expired",
            Some(format!("Bearer {}", with("exp", json!(now() - 3600)))),
            "invalid_token",
        ),
        (
            "not yet valid",
            Some(format!("Bearer {}", with("nbf", json!(now() + 3600)))),
            "invalid_token",
        ),
        (
            "wrong signature",
            Some(format!("Bearer {other_key}")),
            "invalid_token",
        ),
        (
            "tampered payload",
            Some(format!("Bearer {tampered_payload}")),
            "invalid_token",
        ),
        (
            "tampered header",
            Some(format!("Bearer {tampered_header}")),
            "invalid_token",
        ),
        (
            "wrong issuer",
            Some(format!(
                "Bearer {}",
                with("iss", json!("https://evil.test"))
            )),
            "invalid_token",
        ),
        (
            "missing issuer",
            Some(format!("Bearer {}", without("iss"))),
            "invalid_token",
        ),
        (
            "wrong audience",
            Some(format!("Bearer {}", with("aud", json!("someone-else")))),
            "invalid_token",
        ),
        (
            "missing audience",
            Some(format!("Bearer {}", without("aud"))),
            "invalid_token",
        ),
        (
            "missing exp",
            Some(format!("Bearer {}", without("exp"))),
            "invalid_token",
        ),
        (
            "missing sub",
            Some(format!("Bearer {}", without("sub"))),
            "invalid_token",
        ),
        (
            "alg none",
            Some(format!("Bearer {alg_none}")),
            "invalid_token",
        ),
        (
            "crit header",
            Some(format!("Bearer {crit}")),
            "invalid_token",
        ),
        (
            "iss as an array holding the right issuer",
            Some(format!(
                "Bearer {}",
                with("iss", json!([crate::helpers::ISSUER]))
            )),
            "invalid_token",
        ),
        (
            "exp with a fraction",
            Some(format!(
                "Bearer {}",
                with("exp", json!(now() as f64 + 600.5))
            )),
            "invalid_token",
        ),
        (
            "exp of 1e19",
            Some(format!("Bearer {}", with("exp", json!(1e19)))),
            "invalid_token",
        ),
        (
            "iat with a fraction",
            Some(format!("Bearer {}", with("iat", json!(now() as f64 - 0.5)))),
            "invalid_token",
        ),
        (
            "nbf as a string",
            Some(format!("Bearer {}", with("nbf", json!("0")))),
            "invalid_token",
        ),
        (
            "exp beyond the lifetime cap",
            Some(format!("Bearer {}", with("exp", json!(now() + 2 * 86_400)))),
            "invalid_token",
        ),
        (
            "issued longer ago than the lifetime cap",
            Some(format!("Bearer {issued_long_ago}")),
            "invalid_token",
        ),
        (
            "oversize",
            Some(format!("Bearer {}", with("pad", json!("x".repeat(9000))))),
            "invalid_token",
        ),
    ];
    for (name, authorization, code) in cases {
        let mut request = app.http.post(format!("{}/v1/client-session", app.address));
        if let Some(value) = &authorization {
            request = request.insert_header(("authorization", value.as_str()));
        }
        let mut response = request.send().await.expect("sent");
        let body: Value = response.json().await.expect("json error body");
        assert_eq!(response.status().as_u16(), 401, "{name}");
        assert_eq!(body["error"]["code"], code, "{name}");
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(challenge.starts_with("Bearer"), "{name}: {challenge}");
    }
    assert_eq!(
        app.seam.total_calls(),
        0,
        "a refused login must not reach Seam"
    );
}

/// The cap is the operator's: a login of exactly `auth.max_token_lifetime_secs` passes, one
/// second more does not.
#[actix_web::test]
async fn the_lifetime_cap_is_the_configured_one() {
    let app =
        spawn_app_with(Options::default().with(|s| s.auth.max_token_lifetime_secs = 1000)).await;
    let lifetime = |seconds: i64| {
        let mut c = claims("alice");
        let iat = c["iat"].as_i64().expect("iat");
        c["exp"] = json!(iat + seconds);
        sign(&c)
    };
    let at_the_cap = app.post("/v1/client-session", Some(&lifetime(1000))).await;
    assert_eq!(at_the_cap.status, 200, "{}", at_the_cap.text);
    let over = app.post("/v1/client-session", Some(&lifetime(1001))).await;
    assert_eq!((over.status, over.code()), (401, "invalid_token"));
}

/// Two logins in one request are refused, never "the first one wins": a cookie planted on a
/// parent domain must not choose whose session a page gets.
#[actix_web::test]
async fn two_logins_in_one_request_are_refused() {
    let app = spawn_app_with(Options::default().with(|s| {
        s.auth.cookie_name = Some("app_session".into());
        s.cors.allowed_origins = vec!["http://app.test".into()];
    }))
    .await;
    let url = format!("{}/v1/client-session", app.address);
    let two_headers = app
        .http
        .post(&url)
        .append_header(("authorization", format!("Bearer {}", login("alice"))))
        .append_header(("authorization", format!("Bearer {}", login("mallory"))));
    let reply = crate::helpers::read(two_headers.send().await.expect("sent")).await;
    assert_eq!(
        (reply.status, reply.code()),
        (401, "invalid_token"),
        "two headers"
    );
    let two_cookies = app
        .http
        .post(&url)
        .insert_header((
            "cookie",
            format!(
                "app_session={}; app_session={}",
                login("alice"),
                login("mallory")
            ),
        ))
        .insert_header(("x-csrf", "1"));
    let reply = crate::helpers::read(two_cookies.send().await.expect("sent")).await;
    assert_eq!(
        (reply.status, reply.code()),
        (401, "invalid_token"),
        "two cookies"
    );
    assert_eq!(app.seam.total_calls(), 0, "neither reached Seam");
    // One login alone still gets through.
    let one = app.handshake("alice").await;
    assert_eq!(one.status, 200);
}

async fn accepts_key(algorithm: Algorithm, name: &'static str, private: &str, public: &str) {
    let app = spawn_app_with(Options::default().public_key(name, fixture(public))).await;
    let pem = std::fs::read(fixture(private)).expect("fixture");
    let key = match algorithm {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
        _ => EncodingKey::from_ed_pem(&pem),
    }
    .expect("private key");
    let token = encode(&Header::new(algorithm), &claims("alice"), &key).expect("signs");
    let reply = app.post("/v1/client-session", Some(&token)).await;
    assert_eq!(reply.status, 200, "{name}: {}", reply.text);

    // The same claims signed as HS256 with the public key as the secret (algorithm confusion).
    let public_pem = std::fs::read(fixture(public)).expect("fixture");
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &claims("alice"),
        &EncodingKey::from_secret(&public_pem),
    )
    .expect("signs");
    let refused = app.post("/v1/client-session", Some(&confused)).await;
    assert_eq!(refused.status, 401, "{name}");
}

#[actix_web::test]
async fn rs256_es256_and_eddsa_logins_verify_with_a_pem_public_key() {
    accepts_key(
        Algorithm::RS256,
        "RS256",
        "rsa_private.pem",
        "rsa_public.pem",
    )
    .await;
    accepts_key(Algorithm::ES256, "ES256", "ec_private.pem", "ec_public.pem").await;
    accepts_key(Algorithm::EdDSA, "EdDSA", "ed_private.pem", "ed_public.pem").await;
}
