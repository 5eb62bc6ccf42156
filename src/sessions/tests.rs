use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::json;

use super::*;
use crate::clock::SystemClock;

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn parts() -> (Verifier, Sessions) {
    let mut settings = Settings::load(None, &HashMap::new()).expect("the defaults load");
    settings.auth.algorithms = vec!["HS256".into()];
    settings.auth.hs256_secret = Some(SECRET.into());
    settings.auth.leeway_secs = 0;
    let metrics = Metrics::new("/");
    let verifier = Verifier::from_settings(
        &settings.auth,
        "sub",
        None,
        Arc::new(SystemClock),
        Arc::new(Metrics::new("/")),
    )
    .expect("verifier builds");
    let sessions =
        Sessions::from_settings(&settings, Arc::new(SystemClock), &metrics, None).expect("builds");
    (verifier, sessions)
}

/// What the login extractor does: recall the token, else verify and admit it.
async fn login(verifier: &Verifier, sessions: &Sessions, token: &str) -> Option<Login> {
    match sessions.recall(token, verifier).ok()? {
        Recalled::Known(login) => Some(login),
        Recalled::Unseen(unseen) => {
            let claims = crate::auth::tests::check(verifier, token).await.ok()?;
            sessions.admit(claims, unseen).await.ok()
        }
    }
}

#[actix_web::test]
async fn a_verified_token_is_remembered_until_it_expires_and_keyed_by_its_whole_text() {
    let (verifier, sessions) = parts();
    let lookups = |outcome| sessions.login_lookups.by_outcome_count(outcome);
    let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 600;
    let good = encode(
        &Header::default(),
        &json!({"sub": "u", "exp": exp}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("encodes");
    assert!(login(&verifier, &sessions, &good).await.is_some());
    assert_eq!((lookups(Outcome::Miss), lookups(Outcome::Hit)), (1, 0));
    let again = login(&verifier, &sessions, &good)
        .await
        .expect("remembered");
    assert_eq!(again.user_key(), "u");
    assert_eq!(
        (lookups(Outcome::Miss), lookups(Outcome::Hit)),
        (1, 1),
        "no second check"
    );

    // Same header and payload, different signature: not the remembered token.
    let forged = format!("{}x", &good[..good.len() - 1]);
    assert!(login(&verifier, &sessions, &forged).await.is_none());
    // Claims naming a remembered user do not make an unverified token that user's.
    let unsigned = format!("{}.", good.rsplit_once('.').expect("three parts").0);
    assert!(login(&verifier, &sessions, &unsigned).await.is_none());
    assert_eq!(lookups(Outcome::Hit), 1, "neither was recalled");

    // An expired token that verified once is not served from memory.
    let user = sessions.users.get("u").expect("cached");
    let key = memo::digest(&good);
    let now = jsonwebtoken::get_current_timestamp();
    assert!(user.tokens.knows(&key, now, 0));
    let trust = crate::auth::KeyTrust::new();
    user.tokens.remember(key, trust, 1, now, 0, 4);
    assert!(matches!(
        sessions.recall(&good, &verifier),
        Ok(Recalled::Unseen(_))
    ));
}

/// The record of a logout outlives the user's cache entry: a user evicted from a full users
/// cache is still logged out.
#[actix_web::test]
async fn a_revocation_survives_the_users_eviction() {
    let (verifier, sessions) = parts();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let sign = |iat: i64| {
        encode(
            &Header::default(),
            &json!({"sub": "u", "iat": iat, "exp": now + 600}),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .expect("encodes")
    };
    let before = sign(now);
    let user = login(&verifier, &sessions, &before)
        .await
        .expect("admitted")
        .user;
    sessions.end_logins("u", Some(&user), super::now());
    sessions.users.evict("u");
    assert!(sessions.users.get("u").is_none(), "evicted");
    assert!(
        login(&verifier, &sessions, &before).await.is_none(),
        "still ended"
    );
    assert!(login(&verifier, &sessions, &sign(now + 60)).await.is_some());
}
