//! Logins verified with an identity provider's JWKS: keys cached per Cache-Control, fetched
//! again for an unknown `kid` only after a cooldown, last good keys kept when a fetch fails,
//! each key limited to its own `alg` and `use`, and readiness until the first set arrives.

use futures_util::future::join_all;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use time::Duration;

use crate::helpers::{Options, TestApp, claims, spawn_app_with};
use crate::idp::{Idp, SigningKey, key_set};

async fn app_with_jwks(idp: &Idp) -> TestApp {
    spawn_app_with(
        Options::default()
            .jwks(idp.jwks_url())
            .with(|s| s.auth.algorithms = vec!["RS256".into(), "ES256".into()]),
    )
    .await
}

#[actix_web::test]
async fn rsa_and_ec_logins_verify_with_one_fetch_of_the_key_set() {
    let rsa = SigningKey::rsa("rsa-1");
    let ec = SigningKey::ec("ec-1");
    let idp = Idp::start(key_set(&[&rsa.public, &ec.public])).await;
    let app = app_with_jwks(&idp).await;

    for token in [
        rsa.sign(&claims("alice")),
        ec.sign(&claims("bob")),
        rsa.sign(&claims("carol")),
    ] {
        let reply = app.post("/v1/client-session", Some(&token)).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    assert_eq!(idp.fetches(), 1);
}

#[actix_web::test]
async fn readyz_waits_for_the_first_key_set() {
    let rsa = SigningKey::rsa("rsa-1");
    let idp = Idp::start(key_set(&[&rsa.public])).await;
    idp.set_failing(true);
    let app = app_with_jwks(&idp).await;

    let not_ready = app.get("/readyz").await;
    assert_eq!(not_ready.status, 503);
    assert_eq!(not_ready.body["reason"], "login_keys_unavailable");
    let refused = app
        .post("/v1/client-session", Some(&rsa.sign(&claims("alice"))))
        .await;
    assert_eq!(refused.status, 401);

    idp.set_failing(false);
    app.clock.advance(Duration::seconds(11));
    assert_eq!(app.get("/readyz").await.status, 200);
    let accepted = app
        .post("/v1/client-session", Some(&rsa.sign(&claims("alice"))))
        .await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
}

#[actix_web::test]
async fn keys_are_reused_for_their_max_age_and_kept_when_a_refresh_fails() {
    let rsa = SigningKey::rsa("rsa-1");
    let idp = Idp::start(key_set(&[&rsa.public])).await;
    idp.set_cache_control("public, max-age=120");
    let app = app_with_jwks(&idp).await;
    // A new token each time (`claims` gives each its own `jti`), so that each one is
    // verified rather than remembered.
    let token = || rsa.sign(&claims("alice"));

    let first = app.post("/v1/client-session", Some(&token())).await;
    assert_eq!(first.status, 200);
    app.clock.advance(Duration::seconds(100));
    let within = app.post("/v1/client-session", Some(&token())).await;
    assert_eq!(within.status, 200);
    assert_eq!(idp.fetches(), 1, "still within max-age");

    idp.set_failing(true);
    app.clock.advance(Duration::seconds(30));
    let during_outage = app.post("/v1/client-session", Some(&token())).await;
    assert_eq!(during_outage.status, 200, "the last good keys still verify");
    assert_eq!(idp.fetches(), 2, "a refresh was attempted past max-age");
    assert_eq!(app.get("/readyz").await.status, 200);
}

#[actix_web::test]
async fn a_rotated_key_is_fetched_when_its_kid_first_appears() {
    let old = SigningKey::rsa("old");
    let new = SigningKey::ec("new");
    let idp = Idp::start(key_set(&[&old.public])).await;
    let app = app_with_jwks(&idp).await;
    assert_eq!(
        app.post("/v1/client-session", Some(&old.sign(&claims("alice"))))
            .await
            .status,
        200
    );

    idp.set_keys(key_set(&[&old.public, &new.public]));
    app.clock.advance(Duration::seconds(11));
    let reply = app
        .post("/v1/client-session", Some(&new.sign(&claims("alice"))))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(idp.fetches(), 2);
}

/// A key dropped from the set (a rotation after a compromise) takes the logins it verified
/// with it: a remembered one is refused at once, on the refresh that dropped the key, although
/// it has not expired; a key published again keeps what it verified.
#[actix_web::test]
async fn a_remembered_login_stops_working_once_its_key_leaves_the_set() {
    let compromised = SigningKey::rsa("compromised");
    let kept = SigningKey::ec("kept");
    let next = SigningKey::rsa("next");
    let idp = Idp::start(key_set(&[&compromised.public, &kept.public])).await;
    idp.set_cache_control("public, max-age=60");
    let app = app_with_jwks(&idp).await;
    let stolen = compromised.sign(&claims("alice"));
    let other = kept.sign(&claims("bob"));
    for token in [&stolen, &other] {
        assert_eq!(app.handshake_with(token).await.status, 200);
    }
    // The same token again is answered from memory.
    assert_eq!(app.handshake_with(&stolen).await.status, 200);
    assert!(
        app.metrics()
            .await
            .contains(r#"seam_bff_cache_lookups_total{cache="login",outcome="hit"} 1"#)
    );

    idp.set_keys(key_set(&[&kept.public, &next.public]));
    app.clock.advance(Duration::seconds(61));
    // Any login that needs the keys fetches the set again, now that it is past its max-age.
    let fresh = next.sign(&claims("carol"));
    assert_eq!(app.handshake_with(&fresh).await.status, 200);
    assert_eq!(idp.fetches(), 2);

    let refused = app.handshake_with(&stolen).await;
    assert_eq!((refused.status, refused.code()), (401, "invalid_token"));
    assert_eq!(
        app.handshake_with(&other).await.status,
        200,
        "a key still published keeps its logins"
    );
    assert!(
        app.metrics()
            .await
            .contains(r#"seam_bff_cache_lookups_total{cache="login",outcome="hit"} 2"#)
    );
}

#[actix_web::test]
async fn a_thousand_random_kids_cause_at_most_a_handful_of_fetches() {
    let rsa = SigningKey::rsa("rsa-1");
    let idp = Idp::start(key_set(&[&rsa.public])).await;
    let app = app_with_jwks(&idp).await;
    assert_eq!(
        app.post("/v1/client-session", Some(&rsa.sign(&claims("alice"))))
            .await
            .status,
        200
    );

    for batch in 0..10 {
        let tokens: Vec<String> = (0..100)
            .map(|i| {
                let mut header = Header::new(Algorithm::RS256);
                header.kid = Some(format!("random-{batch}-{i}-{}", uuid::Uuid::new_v4()));
                encode(&header, &claims("mallory"), &rsa.key).expect("signs")
            })
            .collect();
        let replies = join_all(
            tokens
                .iter()
                .map(|t| app.post("/v1/client-session", Some(t))),
        )
        .await;
        assert!(replies.iter().all(|r| r.status == 401));
    }
    assert_eq!(
        idp.fetches(),
        1,
        "alice's login fetched the set; within the 10 s cooldown (by the test's clock, which \
         stands still) no unknown kid fetches it again"
    );
}

#[actix_web::test]
async fn a_keys_own_alg_and_use_narrow_what_it_verifies() {
    let rsa = SigningKey::rsa("rsa-1");
    let mut rs384_only = rsa.public.clone();
    rs384_only.common.key_algorithm = Some(jsonwebtoken::jwk::KeyAlgorithm::RS384);
    let idp = Idp::start(key_set(&[&rs384_only])).await;
    let app = app_with_jwks(&idp).await;
    let reply = app
        .post("/v1/client-session", Some(&rsa.sign(&claims("alice"))))
        .await;
    assert_eq!(reply.status, 401, "an RS384 key must not verify RS256");

    let mut encryption = rsa.public.clone();
    encryption.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Encryption);
    idp.set_keys(key_set(&[&encryption]));
    app.clock.advance(Duration::seconds(11));
    let reply = app
        .post("/v1/client-session", Some(&rsa.sign(&claims("alice"))))
        .await;
    assert_eq!(
        reply.status, 401,
        "an encryption key must not verify signatures"
    );
}

#[actix_web::test]
async fn hostile_headers_are_never_trusted_or_fetched() {
    let rsa = SigningKey::rsa("rsa-1");
    let attacker = SigningKey::ec("attacker");
    let idp = Idp::start(key_set(&[&rsa.public])).await;
    let app = app_with_jwks(&idp).await;
    let mallory = claims("mallory");

    // The attacker's own key, embedded in the token.
    let mut embedded = Header::new(Algorithm::ES256);
    embedded.jwk = Some(attacker.public.clone());
    // Key sets at addresses of the attacker's choosing.
    let mut jku = Header::new(Algorithm::ES256);
    jku.jku = Some(idp.trap_url());
    jku.kid = Some("attacker".into());
    let mut x5u = Header::new(Algorithm::ES256);
    x5u.x5u = Some(idp.trap_url());
    // A kid that looks like a path.
    let mut traversal = Header::new(Algorithm::RS256);
    traversal.kid = Some("../../../../etc/passwd".into());
    // HS256 keyed with the public key's PEM (algorithm confusion).
    let public_pem = std::fs::read(crate::helpers::fixture("rsa_public.pem")).expect("pem");
    let mut confused = Header::new(Algorithm::HS256);
    confused.kid = Some("rsa-1".into());

    let tokens = [
        encode(&embedded, &mallory, &attacker.key).expect("signs"),
        encode(&jku, &mallory, &attacker.key).expect("signs"),
        encode(&x5u, &mallory, &attacker.key).expect("signs"),
        encode(&traversal, &mallory, &rsa.key).expect("signs"),
        encode(&confused, &mallory, &EncodingKey::from_secret(&public_pem)).expect("signs"),
    ];
    for token in &tokens {
        let reply = app.post("/v1/client-session", Some(token)).await;
        assert_eq!(reply.status, 401, "{}", reply.text);
    }
    assert_eq!(
        idp.other_requests(),
        0,
        "a token made the service fetch a URL it named"
    );
    assert_eq!(app.seam.total_calls(), 0);
}

/// The RFC 7515 A.2 (RS256) and A.3 (ES256) example tokens, their keys published as a JWKS,
/// go through the whole handshake. They expired in 2011, hence the vast leeway here; their
/// user is their `iss`, "joe".
#[actix_web::test]
async fn the_rfc_7515_example_tokens_are_accepted() {
    let vectors: Vec<serde_json::Value> = serde_json::from_slice(
        &std::fs::read(crate::helpers::fixture("rfc-vectors.json")).expect("fixture"),
    )
    .expect("json");
    let pick = |name: &str| {
        vectors
            .iter()
            .find(|v| v["name"] == name)
            .expect("vector present")
            .clone()
    };
    let rs256 = pick("RFC 7515 A.2 RS256");
    let es256 = pick("RFC 7515 A.3 ES256");
    let idp = Idp::start(serde_json::json!({"keys": [rs256["jwk"], es256["jwk"]]})).await;
    let app = spawn_app_with(
        Options::default()
            .jwks(idp.jwks_url())
            .any_issuer_and_audience()
            .with(|s| {
                s.auth.algorithms = vec!["RS256".into(), "ES256".into()];
                s.auth.leeway_secs = 1_000_000_000;
                s.identity.claim = "iss".into();
            }),
    )
    .await;
    for vector in [rs256, es256] {
        let token = vector["token"].as_str().expect("token");
        let reply = app.post("/v1/client-session", Some(token)).await;
        assert_eq!(reply.status, 200, "{}: {}", vector["name"], reply.text);
        assert!(app.seam.session_for("joe").is_some());
        let tampered = format!("{}x", &token[..token.len() - 1]);
        assert_eq!(
            app.post("/v1/client-session", Some(&tampered)).await.status,
            401
        );
    }
}
