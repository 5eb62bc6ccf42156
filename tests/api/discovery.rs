//! Issuers configured by their URL (OpenID Connect Discovery 1.0): the document at
//! `{issuer}/.well-known/openid-configuration` names the key set, must name exactly the
//! configured issuer, narrows the algorithms unless they are listed, is read again with the key
//! set and kept when a read fails; readiness waits for it; the config refuses discovery beside
//! other keys, and `check-config` says which issuers use it.

use seam_bff::config::{IssuerSettings, Settings};
use seam_stand_in::StandIn;
use serde_json::{Value, json};
use time::Duration;

use crate::helpers::{AUDIENCE, Options, TestApp, base_toml, claims, spawn_app_with};
use crate::idp::{Idp, SigningKey, key_set};
use crate::process::{Running, run};

/// A document for `issuer` that names the stand-in's key set and `algorithms`.
fn document(idp: &Idp, issuer: &str, algorithms: &[&str]) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{}/auth", idp.url()),
        "jwks_uri": idp.jwks_url(),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algorithms,
    })
}

/// A provider on loopback with one RSA key, whose document names itself (its URL is the
/// issuer) and RS256: the key, the provider and the issuer.
async fn provider() -> (SigningKey, Idp, String) {
    let rsa = SigningKey::rsa("rsa-1");
    let idp = Idp::start(key_set(&[&rsa.public])).await;
    let issuer = idp.url().to_owned();
    idp.set_document(document(&idp, &issuer, &["RS256"]));
    (rsa, idp, issuer)
}

/// The simple form's issuer is `issuer`, with discovery on and no keys or algorithms listed.
fn discovering(issuer: String) -> Options {
    Options::default()
        .any_issuer_and_audience()
        .with(move |s: &mut Settings| {
            s.auth.issuer = Some(issuer.clone());
            s.auth.audience = Some(AUDIENCE.into());
            s.auth.hs256_secret = None;
            s.auth.algorithms = Vec::new();
            s.auth.discovery = true;
        })
}

/// A fresh login for `user` from `issuer`, signed by `key`.
fn login(key: &SigningKey, issuer: &str, user: &str) -> String {
    let mut claims = claims(user);
    claims["iss"] = issuer.into();
    key.sign(&claims)
}

async fn exchange(app: &TestApp, token: &str) -> u16 {
    app.post("/v1/client-session", Some(token)).await.status
}

#[actix_web::test]
async fn logins_verify_with_the_key_set_the_issuers_document_names() {
    let rsa = SigningKey::rsa("rsa-1");
    let idp = Idp::start(key_set(&[&rsa.public])).await;
    // A trailing `/` is dropped before `/.well-known/…` (§4) but kept in the `iss` compared.
    let issuer = format!("{}/", idp.url());
    idp.set_document(document(&idp, &issuer, &["RS256"]));
    let app = spawn_app_with(discovering(issuer.clone())).await;

    assert_eq!(app.get("/readyz").await.status, 200);
    assert_eq!(exchange(&app, &login(&rsa, &issuer, "alice")).await, 200);
    assert_eq!(exchange(&app, &login(&rsa, &issuer, "bob")).await, 200);
    assert_eq!((idp.document_fetches(), idp.fetches()), (1, 1));
    assert_eq!(idp.other_requests(), 0);
}

/// The ERROR line comes from the binary's own log, so this runs it.
#[actix_web::test]
async fn a_document_naming_another_issuer_is_refused_loudly() {
    let rsa = SigningKey::rsa("rsa-1");
    let idp = Idp::start(key_set(&[&rsa.public])).await;
    let issuer = idp.url().to_owned();
    let impostor = "https://impostor.example";
    idp.set_document(document(&idp, impostor, &["RS256"]));
    let seam = StandIn::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("c.toml");
    let auth = format!("issuer = \"{issuer}\"\naudience = \"{AUDIENCE}\"\ndiscovery = true\n");
    std::fs::write(&config, base_toml(&seam, &auth)).expect("write");
    let service = Running::start(&config, &[], &[]);
    let http = crate::contract::checked_client(&service.address);

    let mut readyz = (http.get(format!("{}/readyz", service.address)).send().await).expect("sent");
    assert_eq!(readyz.status().as_u16(), 503);
    let body: Value = readyz.json().await.expect("json");
    assert_eq!(body["reason"], "login_keys_unavailable");
    let refused = (http.post(format!("{}/v1/client-session", service.address)))
        .bearer_auth(login(&rsa, &issuer, "alice"))
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status().as_u16(), 401);
    assert_eq!(idp.fetches(), 0, "no key set read from a refused document");

    let (_, log) = service.terminate();
    let line = (log.lines())
        .find(|line| line.contains("discovery document names another issuer"))
        .unwrap_or_else(|| panic!("no refusal logged:\n{log}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains(&issuer) && line.contains(impostor), "{line}");
}

/// A document that names only ES256 turns RS256 logins away when no algorithms were listed;
/// listed ones win over the document.
#[actix_web::test]
async fn the_document_narrows_the_algorithms_unless_they_are_listed() {
    let rsa = SigningKey::rsa("rsa-1");
    let ec = SigningKey::ec("ec-1");
    let idp = Idp::start(key_set(&[&rsa.public, &ec.public])).await;
    let issuer = idp.url().to_owned();
    idp.set_document(document(&idp, &issuer, &["ES256", "none", "HS256"]));

    let narrowed = spawn_app_with(discovering(issuer.clone())).await;
    assert_eq!(
        exchange(&narrowed, &login(&ec, &issuer, "alice")).await,
        200
    );
    assert_eq!(exchange(&narrowed, &login(&rsa, &issuer, "bob")).await, 401);

    let listed = spawn_app_with(
        discovering(issuer.clone()).with(|s| s.auth.algorithms = vec!["RS256".into()]),
    )
    .await;
    assert_eq!(exchange(&listed, &login(&rsa, &issuer, "carol")).await, 200);
    assert_eq!(exchange(&listed, &login(&ec, &issuer, "dave")).await, 401);
}

#[actix_web::test]
async fn the_document_is_read_again_with_the_key_set_and_kept_when_a_read_fails() {
    let (rsa, idp, issuer) = provider().await;
    idp.set_cache_control("public, max-age=60");
    let app = spawn_app_with(discovering(issuer.clone())).await;
    assert_eq!(exchange(&app, &login(&rsa, &issuer, "alice")).await, 200);

    idp.set_document_failing(true);
    app.clock.advance(Duration::seconds(61));
    assert_eq!(exchange(&app, &login(&rsa, &issuer, "alice")).await, 200);
    assert_eq!(
        idp.document_fetches(),
        2,
        "read again when the keys were due"
    );
    assert_eq!(
        idp.fetches(),
        2,
        "the key set named by the last good document"
    );
    assert_eq!(app.get("/readyz").await.status, 200);
}

/// A provider that moves its key set says so in its document: the next read follows it.
#[actix_web::test]
async fn a_key_set_moved_by_the_document_is_followed_on_the_next_read() {
    let old = SigningKey::rsa("old");
    let new = SigningKey::ec("new");
    let idp = Idp::start(key_set(&[&old.public])).await;
    let moved = Idp::start(key_set(&[&new.public])).await;
    idp.set_cache_control("public, max-age=60");
    let issuer = idp.url().to_owned();
    idp.set_document(document(&idp, &issuer, &["RS256", "ES256"]));
    let app = spawn_app_with(discovering(issuer.clone())).await;
    assert_eq!(exchange(&app, &login(&old, &issuer, "alice")).await, 200);

    let mut document = document(&idp, &issuer, &["RS256", "ES256"]);
    document["jwks_uri"] = moved.jwks_url().into();
    idp.set_document(document);
    app.clock.advance(Duration::seconds(61));
    assert_eq!(exchange(&app, &login(&new, &issuer, "bob")).await, 200);
    assert_eq!(exchange(&app, &login(&old, &issuer, "carol")).await, 401);
    assert_eq!((idp.fetches(), moved.fetches()), (1, 1));
}

/// Each `[[auth.issuers]]` entry has its own `discovery`, beside issuers with other keys.
#[actix_web::test]
async fn a_listed_issuer_may_use_discovery_beside_a_fixed_key() {
    let (rsa, idp, issuer) = provider().await;
    let listed = issuer.clone();
    let app = spawn_app_with(Options::default().with(move |s: &mut Settings| {
        s.auth.issuers.push(IssuerSettings {
            issuer: listed.clone(),
            audience: Some(AUDIENCE.into()),
            algorithms: Vec::new(),
            hs256_secret: None,
            hs256_secret_file: None,
            public_key_file: None,
            jwks_url: None,
            discovery: true,
            logout_audience: None,
            key_prefix: Some("idp:".into()),
            accounts_metadata_key: None,
            accounts_static: None,
        });
    }))
    .await;

    assert_eq!(exchange(&app, &login(&rsa, &issuer, "alice")).await, 200);
    assert_eq!(exchange(&app, &crate::helpers::login("alice")).await, 200);
    assert_eq!(idp.document_fetches(), 1);
}

#[actix_web::test]
async fn readyz_waits_for_the_first_document() {
    let (rsa, idp, issuer) = provider().await;
    idp.set_document_failing(true);
    let app = spawn_app_with(discovering(issuer.clone())).await;

    let not_ready = app.get("/readyz").await;
    assert_eq!(not_ready.status, 503);
    assert_eq!(not_ready.body["reason"], "login_keys_unavailable");
    assert_eq!(exchange(&app, &login(&rsa, &issuer, "alice")).await, 401);
    assert_eq!(idp.fetches(), 0);

    idp.set_document_failing(false);
    app.clock.advance(Duration::seconds(11));
    assert_eq!(app.get("/readyz").await.status, 200);
    assert_eq!(exchange(&app, &login(&rsa, &issuer, "alice")).await, 200);
}

const SEAM_KEY: &str = "seam_test_discovery_key_123";

/// `check-config` on `toml`: its exit code, stdout and stderr.
fn check_config(toml: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("c.toml");
    std::fs::write(&path, toml).expect("write");
    let output = run(
        &["--config", path.to_str().expect("utf-8"), "check-config"],
        &[("SEAM_API_KEY", SEAM_KEY)],
    );
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

#[test]
fn discovery_beside_other_keys_or_without_a_secure_issuer_is_refused_naming_the_keys() {
    let secret = "discovery-test-secret-0123456789abcdef";
    let cases = [
        (
            "[auth]\nissuer = \"https://a.example/\"\ndiscovery = true\n\
             jwks_url = \"https://a.example/jwks\"\n",
            &["auth.discovery", "auth.jwks_url"][..],
        ),
        (
            &*format!(
                "[auth]\nissuer = \"https://a.example/\"\ndiscovery = true\n\
                 hs256_secret = \"{secret}\"\n"
            ),
            &["auth.discovery", "auth.hs256_secret"][..],
        ),
        (
            "[auth]\nissuer = \"https://a.example/\"\njwks_url = \"https://a.example/j\"\n\
             [[auth.issuers]]\nissuer = \"https://b.example/\"\ndiscovery = true\n\
             public_key_file = \"/nonexistent.pem\"\nkey_prefix = \"b:\"\n",
            &[
                "auth.issuers[0].discovery",
                "auth.issuers[0].public_key_file",
            ][..],
        ),
        (
            "[auth]\ndiscovery = true\n",
            &["auth.issuer", "required"][..],
        ),
        (
            "[auth]\nissuer = \"http://login.example.com/\"\ndiscovery = true\n",
            &["auth.issuer", "https"][..],
        ),
    ];
    for (toml, expected) in cases {
        let (code, _, stderr) = check_config(toml);
        assert_eq!(code, Some(1), "{toml}: {stderr}");
        for word in expected {
            assert!(
                stderr.contains(word),
                "{toml}: expected {word:?} in {stderr}"
            );
        }
        assert!(!stderr.contains(secret), "the secret leaked: {stderr}");
    }
}

#[test]
fn check_config_says_which_issuers_use_discovery() {
    let (code, stdout, stderr) = check_config(
        "[auth]\nissuer = \"https://login.example.com/\"\ndiscovery = true\n\
         [[auth.issuers]]\nissuer = \"https://old-login.example.com/\"\n\
         jwks_url = \"https://old-login.example.com/jwks\"\nkey_prefix = \"old:\"\n",
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains(
            "issuers: https://login.example.com/ (discovery), \
             https://old-login.example.com/ (jwks)"
        ),
        "{stdout}"
    );
}
