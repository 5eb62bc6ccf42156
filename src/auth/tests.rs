use std::borrow::Cow;
use std::sync::Arc;

use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::json;

use super::*;
use crate::clock::SystemClock;
use crate::config::IssuerSettings;
use crate::identity::Identity;

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn settings(issuer: Option<&str>, audience: Option<&str>) -> (AuthSettings, IdentitySettings) {
    (
        AuthSettings {
            issuer: issuer.map(str::to_owned),
            audience: audience.map(str::to_owned),
            algorithms: vec!["HS256".into()],
            hs256_secret: Some(SECRET.into()),
            hs256_secret_file: None,
            public_key_file: None,
            jwks_url: None,
            leeway_secs: 0,
            required_typ: None,
            cookie_name: None,
            verified_tokens_per_user: 4,
            issuers: Vec::new(),
        },
        IdentitySettings {
            claim: "sub".into(),
            key_prefix: String::new(),
            key_hmac_secret: None,
            key_hmac_secret_file: None,
        },
    )
}

fn users(identity: &IdentitySettings) -> Arc<Users> {
    let identity = Identity::from_settings(identity).expect("identity builds");
    Arc::new(Users::new(identity, 100, &Metrics::new()))
}

fn verifier(auth: &AuthSettings, identity: &IdentitySettings) -> Verifier {
    Verifier::from_settings(
        auth,
        identity,
        None,
        users(identity),
        Arc::new(SystemClock),
        Arc::new(Metrics::new()),
    )
    .expect("builds")
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
    time::OffsetDateTime::now_utc().unix_timestamp() + 600
}

/// What the login extractor does: recall the token, else verify it.
async fn verify(verifier: &Verifier, token: &str) -> Result<Login, AuthError> {
    match verifier.recall(token)? {
        Recalled::Known(login) => Ok(login),
        Recalled::Unseen(unseen) => {
            verifier
                .verify_unseen(token, unseen, &IdpClient::new())
                .await
        }
    }
}

async fn user(verifier: &Verifier, token: &str) -> Result<String, AuthError> {
    verify(verifier, token)
        .await
        .map(|login| login.user_id().to_owned())
}

#[actix_web::test]
async fn numeric_user_ids_are_accepted_as_text() {
    let (auth, identity) = settings(None, None);
    let verifier = verifier(&auth, &identity);
    let id = user(&verifier, &token(json!({"sub": 42, "exp": exp()}))).await;
    assert_eq!(id, Ok("42".into()));
}

#[actix_web::test]
async fn configured_issuer_and_audience_must_be_present() {
    let (auth, identity) = settings(Some("https://idp"), Some("bff"));
    let verifier = verifier(&auth, &identity);
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
    let (auth, identity) = settings(None, None);
    let verifier = verifier(&auth, &identity);
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
    let (mut auth, identity) = settings(Some("https://old"), None);
    let new_secret = "new-issuer-secret-0123456789abcdef";
    auth.issuers.push(IssuerSettings {
        issuer: "https://new".into(),
        audience: Some("bff".into()),
        algorithms: vec!["HS256".into()],
        hs256_secret: Some(new_secret.into()),
        hs256_secret_file: None,
        public_key_file: None,
        jwks_url: None,
    });
    let verifier = verifier(&auth, &identity);
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
        Err(AuthError::Rejected("bad signature".into()))
    );
    let unknown = token(json!({"sub": "d", "exp": exp(), "iss": "https://evil"}));
    assert_eq!(
        user(&verifier, &unknown).await,
        Err(AuthError::Rejected("untrusted issuer".into()))
    );
}

#[actix_web::test]
async fn a_required_typ_is_enforced() {
    let (mut auth, identity) = settings(None, None);
    auth.required_typ = Some("at+jwt".into());
    let verifier = verifier(&auth, &identity);
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
    let (mut auth, identity) = settings(None, None);
    auth.issuers.push(IssuerSettings {
        issuer: "https://new".into(),
        audience: None,
        algorithms: vec!["HS256".into()],
        hs256_secret: Some(SECRET.into()),
        hs256_secret_file: None,
        public_key_file: None,
        jwks_url: None,
    });
    let err = Verifier::from_settings(
        &auth,
        &identity,
        None,
        users(&identity),
        Arc::new(SystemClock),
        Arc::new(Metrics::new()),
    )
    .err()
    .expect("the simple form has no issuer");
    assert!(err.to_string().contains("auth.issuer"), "{err}");
}

#[actix_web::test]
async fn a_verified_token_is_remembered_until_it_expires_and_keyed_by_its_whole_text() {
    let (auth, identity) = settings(None, None);
    let verifier = verifier(&auth, &identity);
    let login = |token: String| {
        let verifier = &verifier;
        async move { verify(verifier, &token).await.ok() }
    };
    let lookups = |outcome: Outcome| verifier.lookups.by_outcome_count(outcome);
    let good = token(json!({"sub": "u", "exp": exp()}));
    assert!(login(good.clone()).await.is_some());
    assert_eq!((lookups(Outcome::Miss), lookups(Outcome::Hit)), (1, 0));
    let again = login(good.clone()).await.expect("remembered");
    assert_eq!(again.user_id(), "u");
    assert_eq!(
        (lookups(Outcome::Miss), lookups(Outcome::Hit)),
        (1, 1),
        "no second check"
    );

    // Same header and payload, different signature: not the remembered token.
    let forged = format!("{}x", &good[..good.len() - 1]);
    assert!(login(forged).await.is_none());
    // Claims naming a remembered user do not make an unverified token that user's.
    let unsigned = format!("{}.", good.rsplit_once('.').expect("three parts").0);
    assert!(login(unsigned).await.is_none());

    // An expired token that verified once is not served from memory.
    let user = verifier.users.get("u").expect("cached");
    let key = verified::digest(&good);
    let now = jsonwebtoken::get_current_timestamp();
    assert!(user.tokens.knows(&key, now, 0));
    user.tokens.remember(key, 1, now, 0, 4);
    assert!(!user.tokens.knows(&key, now, 0));
}

#[test]
fn each_user_keeps_its_newest_tokens() {
    let tokens = VerifiedTokens::new();
    let now = 1_000;
    for n in 0..5u8 {
        tokens.remember([n; 32], now + 60, now, 0, 4);
    }
    assert!(!tokens.knows(&[0; 32], now, 0), "the oldest went first");
    assert!((1..5u8).all(|n| tokens.knows(&[n; 32], now, 0)));
    // An expired one goes before any live one.
    tokens.remember([9; 32], now - 1, now - 2, 0, 4);
    tokens.remember([8; 32], now + 60, now, 0, 4);
    assert!(!tokens.knows(&[9; 32], now, 0));
    assert!((2..5u8).chain([8]).all(|n| tokens.knows(&[n; 32], now, 0)));
}

#[test]
fn unverified_claims_pick_the_configured_ones() {
    let mut buffer = [0; 2048];
    let token = token(json!({"sub": "u", "accounts": ["a"], "exp": 1, "sub2": "x"}));
    let picked = verified::unverified_claims(&token, &mut buffer, "sub", Some("accounts"));
    let picked = picked.expect("picked");
    assert!(matches!(picked.identity, Some(Cow::Borrowed("u"))));
    assert_eq!(picked.accounts, Some(json!(["a"])));
    let picked = verified::unverified_claims(&token, &mut buffer, "email", None).expect("picked");
    assert_eq!((picked.identity, picked.accounts), (None, None));
    assert!(verified::unverified_claims("not a token", &mut buffer, "sub", None).is_none());
}

#[test]
fn unverified_user_ids_read_as_the_verification_reads_them() {
    let mut buffer = [0; 2048];
    for (claim, id) in [
        (json!(42), Some("42")),
        (json!(-7), Some("-7")),
        (json!("a\"b"), Some("a\"b")),
        (json!(4.5), None),
        (json!(["u"]), None),
    ] {
        let token = token(json!({ "sub": claim.clone(), "exp": exp() }));
        let picked = verified::unverified_claims(&token, &mut buffer, "sub", None);
        assert_eq!(picked.and_then(|p| p.identity).as_deref(), id, "{claim}");
        assert_eq!(user_id(Some(claim.clone())).as_deref(), id, "{claim}");
    }
}
