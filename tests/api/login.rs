//! Login tokens: every way a token can be wrong gets 401 and costs no upstream call; every
//! configured key type verifies.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::helpers::{Options, claims, fixture, now, sign, spawn_app, spawn_app_with};

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
