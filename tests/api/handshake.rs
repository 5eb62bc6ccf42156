//! The login handshake: a login in, a token limited to the user's accounts out.

use futures_util::future::{join, join_all};
use seam_bff::config::AccountSourceKind;
use seam_stand_in::AccountSpec;

use crate::helpers::{
    Options, login, logins_admitted, patient, read, series, spawn_app, spawn_app_with,
};

const GET_OR_CREATE: &str = "/client_sessions/get_or_create";
const LOOKUPS: &str = "seam_bff_cache_lookups_total";

#[actix_web::test]
async fn handshake_returns_a_token_that_sees_only_the_users_devices() {
    let app = spawn_app().await;
    let alice_lock = app
        .seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    let alice_hub = app
        .seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    let bob_account = app.seam.add_connected_account(AccountSpec::owned_by("bob"));
    app.seam.add_device(&alice_lock, "front door");
    app.seam.add_device(&alice_hub, "garage");
    app.seam.add_device(&bob_account, "bob's door");

    let reply = app.handshake("alice").await;

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert!(reply.token().starts_with("seam_cst"));
    let mut expected = vec![alice_lock.clone(), alice_hub.clone()];
    expected.sort();
    assert_eq!(reply.account_ids(), expected);
    let session = app.seam.session_for("alice").expect("session at Seam");
    assert_eq!(reply.token(), session.token);
    assert_eq!(
        reply.body["client_session_id"],
        session.client_session_id.as_str()
    );
    let mut held = session.connected_account_ids.clone();
    held.sort();
    assert_eq!(held, expected);
    assert_eq!(
        app.devices_seen_with(reply.token()).await,
        ["front door", "garage"]
    );
    // The response carries the token and its timing, and nothing else.
    let mut keys: Vec<&str> = reply
        .body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "client_session_id",
            "connected_account_ids",
            "expires_at",
            "refresh_after",
            "token"
        ]
    );
    assert!(!reply.text.contains(&app.seam.api_key()));
}

#[actix_web::test]
async fn metadata_source_finds_accounts_by_custom_metadata_across_pages() {
    let app = spawn_app_with(Options::default().with(|s| {
        s.accounts.source = AccountSourceKind::SeamMetadata;
        s.accounts.metadata_key = Some("app_user".into());
    }))
    .await;
    app.seam.set_page_size(2);
    let mut mine = Vec::new();
    for i in 0..5 {
        let id = app
            .seam
            .add_connected_account(AccountSpec::unowned().with_metadata("app_user", "carol"));
        app.seam.add_device(&id, &format!("carol {i}"));
        mine.push(id);
        let other = app
            .seam
            .add_connected_account(AccountSpec::unowned().with_metadata("app_user", "dave"));
        app.seam.add_device(&other, &format!("dave {i}"));
    }
    mine.sort();

    let reply = app.handshake("carol").await;

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.account_ids(), mine);
    assert_eq!(
        app.devices_seen_with(reply.token()).await,
        ["carol 0", "carol 1", "carol 2", "carol 3", "carol 4"]
    );
    // Seam filters the 10 accounts by the metadata to carol's 5, 2 a page: three pages, each
    // asked for once.
    assert_eq!(app.seam.calls("/connected_accounts/list"), 3);
}

#[actix_web::test]
async fn claim_source_grants_the_accounts_the_identity_provider_lists() {
    let app = spawn_app_with(Options::default().with(|s| {
        s.accounts.source = AccountSourceKind::Claim;
        s.accounts.claim = Some("seam_accounts".into());
    }))
    .await;
    let granted = app.seam.add_connected_account(AccountSpec::unowned());
    let other = app.seam.add_connected_account(AccountSpec::unowned());
    app.seam.add_device(&granted, "granted lock");
    app.seam.add_device(&other, "other lock");
    let mut claims = crate::helpers::claims("erin");
    claims["seam_accounts"] = serde_json::json!([granted]);

    let reply = app
        .post("/v1/client-session", Some(&crate::helpers::sign(&claims)))
        .await;

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.account_ids(), [granted]);
    assert_eq!(app.devices_seen_with(reply.token()).await, ["granted lock"]);
    assert_eq!(app.seam.calls("/connected_accounts/list"), 0);

    claims["seam_accounts"] = serde_json::json!("not-a-list");
    let bad = app
        .post("/v1/client-session", Some(&crate::helpers::sign(&claims)))
        .await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.code(), "invalid_token");
}

#[actix_web::test]
async fn static_source_reads_accounts_from_the_config_file() {
    let seam = seam_stand_in::StandIn::start().await;
    let frank = seam.add_connected_account(AccountSpec::unowned());
    let someone_else = seam.add_connected_account(AccountSpec::unowned());
    seam.add_device(&frank, "frank's lock");
    seam.add_device(&someone_else, "not frank's");
    let app = crate::helpers::spawn_app_against(
        seam,
        // The table as a config file writes it: a quoted key keeps its case and its `|`.
        Options::default()
            .with(|s| s.accounts.source = AccountSourceKind::Static)
            .toml(&format!("[accounts.static]\n\"Frank|1\" = [\"{frank}\"]\n")),
    )
    .await;

    let reply = app.handshake("Frank|1").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.account_ids(), [frank]);
    assert_eq!(app.devices_seen_with(reply.token()).await, ["frank's lock"]);

    // A user with no accounts still gets a token: the frontend needs one to connect the first.
    let newcomer = app.handshake("grace").await;
    assert_eq!(newcomer.status, 200, "{}", newcomer.text);
    assert!(newcomer.account_ids().is_empty());
    assert!(app.devices_seen_with(newcomer.token()).await.is_empty());
}

#[actix_web::test]
async fn second_handshake_reuses_the_cached_session_without_calling_seam() {
    let app = spawn_app().await;
    app.seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    let (first_login, second_login) = (login("alice"), login("alice"));
    assert_ne!(first_login, second_login, "two sign-ins, two tokens");
    let first = app.handshake_with(&first_login).await;
    assert_eq!(first.status, 200);
    let calls_after_first = app.seam.total_calls();

    // A different, freshly signed login for the same user: verified afresh, not remembered.
    let second = app.handshake_with(&second_login).await;

    assert_eq!(second.status, 200);
    assert_eq!(second.token(), first.token());
    assert_eq!(second.body, first.body);
    assert_eq!(app.seam.total_calls(), calls_after_first);
    let text = app.metrics().await;
    assert!(
        text.contains(r#"seam_bff_cache_lookups_total{cache="login",outcome="miss"} 2"#)
            && text.contains(r#"seam_bff_cache_lookups_total{cache="login",outcome="hit"} 0"#),
        "both logins had their signatures checked"
    );
}

/// All at once, not merely close together: the first handshake's account lookup is held at
/// Seam until every one of the 200 has been admitted (its login checked), so that every one is
/// under way while that call is, and each takes its answer instead of making a call of its own.
#[actix_web::test]
async fn concurrent_first_handshakes_for_one_user_make_one_get_or_create() {
    let app = spawn_app_with(Options::default().with(patient)).await;
    app.seam
        .add_connected_account(AccountSpec::owned_by("alice"));
    // One login sent 200 times at once (the same token text each time), each on a connection
    // of its own.
    let token = login("alice");
    let http = crate::contract::checked_client_without_connection_cap(&app.address);
    let url = format!("{}/v1/client-session", app.address);
    let send = || async {
        let sent = http.post(&url).bearer_auth(&token).send().await;
        read(sent.expect("request sent")).await
    };
    let lookup = app.seam.hold("/connected_accounts/list");
    let all_admitted = async {
        lookup.answered().await;
        logins_admitted(&app, 200).await;
        lookup.release();
    };

    let (replies, ()) = join(join_all((0..200).map(|_| send())), all_admitted).await;

    assert!(replies.iter().all(|r| r.status == 200));
    let first = replies[0].token();
    assert!(replies.iter().all(|r| r.token() == first));
    assert_eq!(app.seam.calls(GET_OR_CREATE), 1);
    assert_eq!(app.seam.calls("/connected_accounts/list"), 1);
    let text = app.metrics().await;
    for cache in ["accounts", "session"] {
        let outcome = |outcome: &str| {
            series(
                &text,
                &format!("{LOOKUPS}{{cache=\"{cache}\",outcome=\"{outcome}\"}}"),
            )
        };
        // Shared or a hit: one admitted just before the answer came may reach the cache just
        // after it (a worker polls it when it gets to it), and find it there.
        assert_eq!(
            (outcome("miss"), outcome("shared") + outcome("hit")),
            (1.0, 199.0),
            "{cache}: one handshake asked Seam, the 199 others took its answer"
        );
    }
}

#[actix_web::test]
async fn users_never_receive_each_others_tokens_under_concurrency() {
    let app = spawn_app().await;
    let users: Vec<String> = (0..40).map(|i| format!("user-{i}")).collect();
    for user in &users {
        let account = app.seam.add_connected_account(AccountSpec::owned_by(user));
        app.seam.add_device(&account, &format!("{user}'s lock"));
    }
    // Four concurrent handshakes per user, interleaved.
    let requests: Vec<(String, String)> = (0..4)
        .flat_map(|_| users.iter().map(|u| (u.clone(), login(u))))
        .collect();

    let replies = join_all(
        requests
            .iter()
            .map(|(_, token)| app.post("/v1/client-session", Some(token))),
    )
    .await;

    let mut tokens = std::collections::HashMap::new();
    for ((user, _), reply) in requests.iter().zip(&replies) {
        assert_eq!(reply.status, 200, "{}", reply.text);
        let at_seam = app.seam.session_for(user).expect("session").token;
        assert_eq!(
            reply.token(),
            at_seam,
            "{user} got a token that is not theirs"
        );
        tokens.insert(reply.token().to_owned(), user.clone());
    }
    assert_eq!(tokens.len(), users.len(), "one distinct token per user");
    for (token, user) in tokens.iter().take(5) {
        assert_eq!(
            app.devices_seen_with(token).await,
            [format!("{user}'s lock")]
        );
    }
    assert_eq!(app.seam.calls(GET_OR_CREATE), users.len());
}
