//! Client sessions: one per key, expiry rewritten, revocation, the lifetime cap, and what a
//! session token may read.

use super::*;

#[actix_web::test]
async fn get_or_create_returns_the_same_session_for_the_same_key() {
    let seam = StandIn::start().await;
    let account = seam.add_connected_account(AccountSpec::owned_by("alice"));
    let first = get_or_create(
        &seam,
        json!({"user_identifier_key": "alice", "connected_account_ids": [account]}),
    )
    .await;
    let later = (OffsetDateTime::now_utc() + time::Duration::hours(3))
        .replace_nanosecond(0)
        .expect("valid");
    let second = get_or_create(
        &seam,
        json!({"user_identifier_key": "alice", "expires_at": later.format(&time::format_description::well_known::Rfc3339).expect("formats")}),
    )
    .await;

    assert_eq!(first["client_session_id"], second["client_session_id"]);
    assert_eq!(first["token"], second["token"]);
    assert!(
        first["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("seam_cst"))
    );
    // The real API rewrites the expiry of an existing session.
    assert_eq!(
        seam.session_for("alice").expect("a session").expires_at,
        later
    );
    assert!(
        second["expires_at"]
            .as_str()
            .is_some_and(|t| t.len() == "2026-01-01T00:00:00.000000Z".len())
    );
    assert_eq!(seam.sessions().len(), 1);
    assert_eq!(seam.calls("/client_sessions/get_or_create"), 2);
}

#[actix_web::test]
async fn get_or_create_treats_accounts_of_an_existing_session_as_configured() {
    let seam = StandIn::start().await;
    let a = seam.add_connected_account(AccountSpec::owned_by("bob"));
    let b = seam.add_connected_account(AccountSpec::owned_by("bob"));
    let ask = |ids: &[&String]| json!({"user_identifier_key": "bob", "connected_account_ids": ids});
    get_or_create(&seam, ask(&[&a])).await;

    let ignored = get_or_create(&seam, ask(&[&b])).await;
    assert_eq!(strings(&ignored["connected_account_ids"]), [a.as_str()]);

    seam.set_accounts_on_existing(AccountsOnExisting::Merge);
    let merged = get_or_create(&seam, ask(&[&b])).await;
    assert_eq!(
        strings(&merged["connected_account_ids"]),
        [a.clone(), b.clone()]
    );

    seam.set_accounts_on_existing(AccountsOnExisting::Replace);
    let replaced = get_or_create(&seam, ask(&[&a])).await;
    assert_eq!(strings(&replaced["connected_account_ids"]), [a.as_str()]);
    assert_eq!(ignored["client_session_id"], replaced["client_session_id"]);
}

#[actix_web::test]
async fn a_revoked_session_stops_authenticating_and_is_replaced() {
    let seam = StandIn::start().await;
    let first = get_or_create(&seam, json!({"user_identifier_key": "carol"})).await;
    let token = first["token"].as_str().expect("a token").to_owned();
    revoke(&seam, &first).await;

    let with_token = post(&seam, "/devices/list", &token, json!({})).await;
    assert_eq!(with_token.status, 401);
    assert_eq!(with_token.error_type(), "client_session_revoked");
    let second = get_or_create(&seam, json!({"user_identifier_key": "carol"})).await;
    assert_ne!(first["client_session_id"], second["client_session_id"]);
    assert_eq!(
        seam.session_for("carol")
            .expect("a session")
            .client_session_id,
        second["client_session_id"]
    );
}

/// Whether `get_or_create` hands a revoked session back is a switch, set both ways.
#[actix_web::test]
async fn a_revoked_session_comes_back_from_get_or_create_only_when_told_to() {
    let seam = StandIn::start().await;
    seam.set_revoked_sessions(RevokedSessions::ReturnedAgain);
    let first = get_or_create(&seam, json!({"user_identifier_key": "ida"})).await;
    revoke(&seam, &first).await;
    let again = get_or_create(&seam, json!({"user_identifier_key": "ida"})).await;
    assert_eq!(
        again["token"], first["token"],
        "the revoked session, returned again"
    );
    let refused = post(
        &seam,
        "/devices/list",
        again["token"].as_str().expect("a token"),
        json!({}),
    )
    .await;
    assert_eq!(refused.error_type(), "client_session_revoked");

    seam.set_revoked_sessions(RevokedSessions::Replaced);
    let fresh = get_or_create(&seam, json!({"user_identifier_key": "ida"})).await;
    assert_ne!(fresh["token"], first["token"]);
}

/// A client session token may read the workspace and its own session (whatever it asks for);
/// the workspace says whether it is suspended and whether publishable keys are on.
#[actix_web::test]
async fn a_client_session_token_reads_the_workspace_and_its_own_session() {
    let seam = StandIn::start().await;
    let mine = get_or_create(&seam, json!({"user_identifier_key": "gus"})).await;
    let theirs = get_or_create(&seam, json!({"user_identifier_key": "hal"})).await;
    let token = mine["token"].as_str().expect("a token");
    let workspace = post(&seam, "/workspaces/get", token, json!({})).await;
    assert_eq!(workspace.status, 200);
    let fields = &workspace.json()["workspace"];
    assert_eq!(
        (fields["is_sandbox"].clone(), fields["is_suspended"].clone()),
        (json!(true), json!(false))
    );
    let asked = post(
        &seam,
        "/client_sessions/get",
        token,
        json!({"client_session_id": theirs["client_session_id"]}),
    )
    .await;
    assert_eq!(
        asked.json()["client_session"]["client_session_id"],
        mine["client_session_id"]
    );

    seam.set_workspace(WorkspaceSpec {
        is_suspended: true,
        is_publishable_key_auth_enabled: true,
        ..WorkspaceSpec::default()
    });
    let changed = post(&seam, "/workspaces/get", &seam.api_key(), json!({}))
        .await
        .json();
    assert_eq!(changed["workspace"]["is_suspended"], true);
    assert_eq!(
        changed["workspace"]["is_publishable_key_auth_enabled"],
        true
    );
}

#[actix_web::test]
async fn bad_input_is_invalid_input_and_the_lifetime_cap_applies() {
    let seam = StandIn::start().await;
    let key = seam.api_key();
    let malformed = request(
        &seam,
        json_post("/client_sessions/get_or_create", &key, "{not json".into()),
    )
    .await;
    assert_eq!(
        (malformed.status, malformed.error_type()),
        (400, "invalid_input".to_owned())
    );
    let nameless = post(&seam, "/client_sessions/get_or_create", &key, json!({})).await;
    assert_eq!(nameless.error_type(), "invalid_input");
    let unknown_account = post(
        &seam,
        "/client_sessions/get_or_create",
        &key,
        json!({"user_identifier_key": "g", "connected_account_ids": ["nope"]}),
    )
    .await;
    assert_eq!(unknown_account.error_type(), "invalid_input");
    let past = post(
        &seam,
        "/client_sessions/get_or_create",
        &key,
        json!({"user_identifier_key": "g", "expires_at": "2001-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(past.error_type(), "invalid_input");

    seam.set_max_session_lifetime(Some(Duration::from_secs(60)));
    get_or_create(
        &seam,
        json!({"user_identifier_key": "g", "expires_at": "2999-01-01T00:00:00Z"}),
    )
    .await;
    let expires_at = seam.session_for("g").expect("a session").expires_at;
    assert!(expires_at <= OffsetDateTime::now_utc() + time::Duration::seconds(60));
}

/// `/client_sessions/list`: each filter, `null` for "without one", and `""` refused where the
/// spec has `minLength: 1`.
#[actix_web::test]
async fn client_sessions_list_applies_each_filter() {
    let seam = StandIn::start().await;
    let key = seam.api_key();
    let identity = uuid::Uuid::new_v4().to_string();
    let ann = get_or_create(&seam, json!({"user_identifier_key": "ann"})).await;
    let keyless = ok_json(&seam, "/client_sessions/create", &key, json!({})).await;
    let keyless = keyless["client_session"].clone();
    let body = json!({"user_identifier_key": "bob", "user_identity_id": identity});
    let bob = ok_json(&seam, "/client_sessions/create", &key, body).await;
    let bob = bob["client_session"].clone();
    let webview = make_webview(&seam, &token(&ann), json!({})).await;
    let id = |s: &Value| s["client_session_id"].as_str().expect("an id").to_owned();
    let list = |body: Value| {
        let (seam, key) = (&seam, &key);
        async move {
            let page = ok_json(seam, "/client_sessions/list", key, body).await;
            ids(&page["client_sessions"], "client_session_id")
        }
    };

    assert_eq!(list(json!({})).await, [id(&ann), id(&keyless), id(&bob)]);
    assert_eq!(
        list(json!({"client_session_id": id(&bob)})).await,
        [id(&bob)]
    );
    assert_eq!(
        list(json!({"user_identifier_key": "ann"})).await,
        [id(&ann)]
    );
    assert_eq!(
        list(json!({"connect_webview_id": webview})).await,
        [id(&ann)]
    );
    let no_webview = json!({"connect_webview_id": null});
    assert_eq!(list(no_webview).await, [id(&keyless), id(&bob)]);
    let keyless_only = json!({"without_user_identifier_key": true});
    assert_eq!(list(keyless_only).await, [id(&keyless)]);
    assert_eq!(
        list(json!({"user_identity_id": identity})).await,
        [id(&bob)]
    );
    let no_identity = json!({"user_identity_id": null});
    assert_eq!(list(no_identity).await, [id(&ann), id(&keyless)]);
    let both = json!({"user_identifier_key": "ann", "user_identity_id": identity});
    assert!(list(both).await.is_empty());
    let by_get = bare_get(&seam, "/client_sessions/list?connect_webview_id=", &key).await;
    let by_get = ids(&by_get.json()["client_sessions"], "client_session_id");
    assert_eq!(by_get, [id(&keyless), id(&bob)], "key= is null in a query");

    for (body, naming) in [
        (json!({"client_session_id": ""}), "client_session_id"),
        (json!({"user_identifier_key": ""}), "user_identifier_key"),
        (json!({"user_identifier_key": null}), "user_identifier_key"),
        (json!({"customer_key": "acme"}), "customer_key"),
    ] {
        assert_refused(&seam, "/client_sessions/list", &key, body, naming).await;
    }
    let with_token = post(&seam, "/client_sessions/list", &token(&ann), json!({})).await;
    assert_eq!(
        with_token.error_type(),
        "client_session_token_used_for_api_key"
    );
}

/// A client session token no session has (never issued, or its session deleted) is
/// `client_session_not_found`, as Seam's fake answers it; another unknown bearer stays
/// `unauthorized`.
#[actix_web::test]
async fn an_unknown_session_token_is_client_session_not_found() {
    let seam = StandIn::start().await;
    seam.set_webhook("http://127.0.0.1:9/unused", &crate::new_webhook_secret());
    let session = get_or_create(&seam, json!({"user_identifier_key": "ann"})).await;
    let deleted = json!({"client_session_id": session["client_session_id"]});
    ok_json(&seam, "/client_sessions/delete", &seam.api_key(), deleted).await;
    let [event] = events_of(&seam).try_into().expect("one event");
    assert_eq!(
        (&event["event_type"], &event["client_session_id"]),
        (
            &json!("client_session.deleted"),
            &session["client_session_id"]
        )
    );
    for bearer in [token(&session), "seam_cst1_never_issued".to_owned()] {
        let reply = post(&seam, "/devices/list", &bearer, json!({})).await;
        assert_eq!(
            (reply.status, reply.error_type()),
            (401, "client_session_not_found".to_owned()),
            "{bearer}"
        );
    }
    let other = post(&seam, "/devices/list", "seam_test_unknown", json!({})).await;
    assert_eq!(
        (other.status, other.error_type()),
        (401, "unauthorized".to_owned())
    );
}
