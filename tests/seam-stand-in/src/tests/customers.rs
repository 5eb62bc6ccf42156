//! Customers: sessions made for one (Seam's `client_session_with_customer`), user identities on
//! sessions, and `customer_key` carried from a Connect Webview to the account it connects.

use super::*;

async fn create(stand_in: &StandIn, body: Value) -> Value {
    session_from(stand_in, "/client_sessions/create", body).await
}

/// Asserts each `/client_sessions/create` body is refused, naming the parameter.
async fn assert_create_refused(stand_in: &StandIn, refused: &[(Value, &str)]) {
    for (body, naming) in refused {
        let path = "/client_sessions/create";
        assert_refused(stand_in, path, &stand_in.api_key(), body.clone(), naming).await;
    }
}

/// Only `create` takes a customer; `get_or_create` refuses one, yet hands back the key's
/// existing customer session as it is.
#[actix_web::test]
async fn a_customer_session_is_made_by_create_and_returned_by_get_or_create() {
    let seam = StandIn::start().await;
    let plain = create(&seam, json!({"user_identifier_key": "bob"})).await;
    assert!(plain.get("customer_key").is_none(), "{plain}");
    assert_eq!(plain["user_identity_ids"], json!([]));
    assert!(plain.get("user_identity_id").is_none(), "{plain}");

    let made = create(
        &seam,
        json!({"user_identifier_key": "ann", "customer_key": "acme"}),
    )
    .await;
    assert_eq!(made["customer_key"], "acme");
    let again = get_or_create(&seam, json!({"user_identifier_key": "ann"})).await;
    assert_eq!(again["client_session_id"], made["client_session_id"]);
    assert_eq!(again["customer_key"], "acme");
    let view = seam.session_for("ann").expect("a session");
    assert_eq!(view.customer_key.as_deref(), Some("acme"));

    let key = seam.api_key();
    let refused = json!({"user_identifier_key": "cy", "customer_key": "acme"});
    assert_refused(
        &seam,
        "/client_sessions/get_or_create",
        &key,
        refused,
        "customer_key",
    )
    .await;
    assert!(seam.session_for("cy").is_none());
    assert_create_refused(&seam, &[(json!({"customer_key": ""}), "customer_key")]).await;
}

/// `customer_id` names a customer the stand-in knows (once its key has been used); with
/// `customer_key`, both must name the same one.
#[actix_web::test]
async fn a_session_may_name_its_customer_by_id() {
    let seam = StandIn::start().await;
    create(&seam, json!({"customer_key": "acme"})).await;
    let acme = seam.state().customer("acme").id.clone();
    let other = seam.state().customer("other").id.clone();
    let by_id = create(&seam, json!({"customer_id": acme})).await;
    assert_eq!(by_id["customer_key"], "acme");
    let unknown = json!({"customer_id": uuid::Uuid::new_v4().to_string()});
    let mismatch = json!({"customer_key": "acme", "customer_id": other});
    assert_create_refused(
        &seam,
        &[(unknown, "customer_id"), (mismatch, "customer_id")],
    )
    .await;
}

/// A session names at most one user identity, by `user_identity_id` or the deprecated
/// one-element `user_identity_ids`; `grant_access` may set it.
#[actix_web::test]
async fn a_session_carries_one_user_identity() {
    let seam = StandIn::start().await;
    let key = seam.api_key();
    let (one, two) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let singular = create(&seam, json!({"user_identity_id": one})).await;
    assert_eq!(
        (
            &singular["user_identity_id"],
            &singular["user_identity_ids"]
        ),
        (&json!(one), &json!([one]))
    );
    let plural = create(&seam, json!({"user_identity_ids": [two]})).await;
    assert_eq!(plural["user_identity_id"], json!(two));
    let id = plural["client_session_id"].clone();
    let granted = json!({"client_session_id": id, "user_identity_id": one});
    let granted = ok_json(&seam, "/client_sessions/grant_access", &key, granted).await;
    assert_eq!(granted["client_session"]["user_identity_ids"], json!([one]));
    let refused = [
        json!({"user_identity_ids": [one, two]}),
        json!({"user_identity_ids": []}),
        json!({"user_identity_id": one, "user_identity_ids": [two]}),
        json!({"user_identity_id": "not-a-uuid"}),
    ]
    .map(|body| (body, "user_identity_id"));
    assert_create_refused(&seam, &refused).await;
}

/// A customer's session may list connected accounts, only its customer's; a plain session may
/// not list at all. It reads its customer's accounts and their devices too.
#[actix_web::test]
async fn a_customer_session_lists_only_its_customers_accounts() {
    let seam = StandIn::start().await;
    let acme = seam.add_connected_account(AccountSpec::unowned().with_customer_key("acme"));
    let globex = seam.add_connected_account(AccountSpec::unowned().with_customer_key("globex"));
    let untagged = seam.add_connected_account(AccountSpec::owned_by("ann"));
    seam.add_device(&acme, "Acme door");
    seam.add_device(&globex, "Globex door");
    let admin = token(&create(&seam, json!({"customer_key": "acme"})).await);
    let plain = token(&create(&seam, json!({"connected_account_ids": [untagged]})).await);

    let listed = ok_json(&seam, "/connected_accounts/list", &admin, json!({})).await;
    assert_eq!(
        ids(&listed["connected_accounts"], "connected_account_id"),
        [acme.as_str()]
    );
    assert_eq!(listed["connected_accounts"][0]["customer_key"], "acme");
    let other = json!({"customer_key": "globex"});
    let listed = ok_json(&seam, "/connected_accounts/list", &admin, other).await;
    assert_eq!(listed["connected_accounts"], json!([]));
    let refused = post(&seam, "/connected_accounts/list", &plain, json!({})).await;
    assert_eq!(
        (refused.status, refused.error_type()),
        (401, "client_session_token_used_for_api_key".to_owned())
    );

    let read = json!({"connected_account_id": acme});
    ok_json(&seam, "/connected_accounts/get", &admin, read).await;
    let hidden = json!({"connected_account_id": globex});
    let hidden = post(&seam, "/connected_accounts/get", &admin, hidden).await;
    assert_eq!(hidden.status, 404);
    let devices = ok_json(&seam, "/devices/list", &admin, json!({})).await;
    assert_eq!(devices["devices"][0]["display_name"], "Acme door");
    assert_eq!(devices["devices"].as_array().map(Vec::len), Some(1));
}

/// A webview's `customer_key` (given, or its customer session's) and `custom_metadata` go to the
/// account it connects, and to `connected_account.connected`.
#[actix_web::test]
async fn a_webviews_customer_and_metadata_go_to_its_account() {
    let seam = StandIn::start().await;
    seam.set_webhook("http://127.0.0.1:9/unused", &crate::new_webhook_secret());
    let key = seam.api_key();
    let ann = get_or_create(&seam, json!({"user_identifier_key": "ann"})).await;
    let body = json!({"customer_key": "acme", "custom_metadata": {"app": "x", "gone": null}});
    let made = make_webview(&seam, &token(&ann), body).await;
    let webview = ok_json(
        &seam,
        "/connect_webviews/get",
        &key,
        json!({"connect_webview_id": made}),
    );
    let webview = webview.await["connect_webview"].clone();
    assert_eq!(
        (&webview["customer_key"], &webview["custom_metadata"]),
        (&json!("acme"), &json!({"app": "x"}))
    );
    let account = seam.complete_connect_webview(&made, "Front door");

    let listed = json!({"customer_key": "acme"});
    let listed = ok_json(&seam, "/connected_accounts/list", &key, listed).await;
    let listed = &listed["connected_accounts"];
    assert_eq!(ids(listed, "connected_account_id"), [account.as_str()]);
    assert_eq!(
        (&listed[0]["customer_key"], &listed[0]["custom_metadata"]),
        (&json!("acme"), &json!({"app": "x"}))
    );
    let owned = json!({"user_identifier_key": "ann"});
    let owned = ok_json(&seam, "/connected_accounts/list", &key, owned).await;
    assert_eq!(
        ids(&owned["connected_accounts"], "connected_account_id"),
        [account.as_str()]
    );

    let admin = token(&create(&seam, json!({"customer_key": "globex"})).await);
    let own = make_webview(&seam, &admin, json!({})).await;
    let own = ok_json(
        &seam,
        "/connect_webviews/get",
        &admin,
        json!({"connect_webview_id": own}),
    );
    assert_eq!(own.await["connect_webview"]["customer_key"], "globex");
    let theirs = json!({"customer_key": "acme"});
    assert_refused(
        &seam,
        "/connect_webviews/create",
        &admin,
        theirs,
        "customer_key",
    )
    .await;

    let events = events_of(&seam);
    let connected = events
        .iter()
        .find(|e| e["connected_account_id"] == json!(account));
    let connected = connected.expect("connected_account.connected");
    assert_eq!(
        (&connected["customer_key"], &connected["connect_webview_id"]),
        (&json!("acme"), &json!(made))
    );
    assert_eq!(
        connected["connected_account_custom_metadata"],
        json!({"app": "x"})
    );
}
