use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::json;

use super::*;
use crate::clock::{Clock, SystemClock};

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn parts() -> (Verifier, Admission) {
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
    let (identity, _) = Identity::from_settings(&settings).expect("builds");
    let users = Arc::new(Users::new(settings.sessions.max_entries, &metrics));
    let clock = Arc::new(SystemClock);
    let provenance = Arc::new(Provenance::new(16, None, &metrics));
    let admission = Admission::new(
        &settings,
        users,
        Arc::new(identity),
        None,
        provenance,
        clock,
        &metrics,
    );
    (verifier, admission)
}

/// What the login extractor does: recall the token, else verify and admit it.
async fn login(verifier: &Verifier, admission: &Admission, token: &str) -> Option<Login> {
    match admission.recall(token, verifier).ok()? {
        Recalled::Known(login) => Some(login),
        Recalled::Unseen(unseen) => {
            let claims = crate::auth::tests::check(verifier, token).await.ok()?;
            admission.admit(claims, unseen).await.ok()
        }
    }
}

#[actix_web::test]
async fn a_verified_token_is_remembered_until_it_expires_and_keyed_by_its_whole_text() {
    let (verifier, admission) = parts();
    let lookups = |outcome| admission.lookups.by_outcome_count(outcome);
    let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 600;
    let good = encode(
        &Header::default(),
        &json!({"sub": "u", "exp": exp}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("encodes");
    assert!(login(&verifier, &admission, &good).await.is_some());
    assert_eq!((lookups(Outcome::Miss), lookups(Outcome::Hit)), (1, 0));
    let again = login(&verifier, &admission, &good)
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
    assert!(login(&verifier, &admission, &forged).await.is_none());
    // Claims naming a remembered user do not make an unverified token that user's.
    let unsigned = format!("{}.", good.rsplit_once('.').expect("three parts").0);
    assert!(login(&verifier, &admission, &unsigned).await.is_none());
    assert_eq!(lookups(Outcome::Hit), 1, "neither was recalled");

    // An expired token that verified once is not served from memory.
    let user = admission.users.get("u").expect("cached");
    let key = memo::digest(&good);
    let now = SystemClock.unix_now();
    assert_eq!(user.tokens.recall(&good, now, 0), Ok(()));
    let trust = crate::auth::KeyTrust::new();
    user.tokens.remember(key, trust, 1, now, 0, 4);
    assert!(matches!(
        admission.recall(&good, &verifier),
        Ok(Recalled::Unseen(_))
    ));
}

/// The record of a logout outlives the user's cache entry: a user evicted from a full users
/// cache is still logged out.
#[actix_web::test]
async fn a_revocation_survives_the_users_eviction() {
    let (verifier, admission) = parts();
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
    let user = login(&verifier, &admission, &before)
        .await
        .expect("admitted")
        .user;
    let ended = admission.end_logins("u", Some(&user), SystemClock.unix_now(), SameSecond::Unseen);
    assert_eq!(ended, Ok(SameSecond::Unseen));
    admission.users.evict("u");
    assert!(admission.users.get("u").is_none(), "evicted");
    assert!(
        login(&verifier, &admission, &before).await.is_none(),
        "still ended"
    );
    assert!(
        login(&verifier, &admission, &sign(now + 60))
            .await
            .is_some()
    );
}
