//! Connected accounts and devices: who sees which, and pagination.

use super::*;

#[actix_web::test]
async fn a_session_token_sees_only_its_accounts_devices() {
    let seam = StandIn::start().await;
    let mine = seam.add_connected_account(AccountSpec::owned_by("dave"));
    let gone = seam.add_connected_account(AccountSpec::owned_by("dave"));
    let theirs = seam.add_connected_account(AccountSpec::owned_by("erin"));
    let front_door = seam.add_device(&mine, "Front door");
    seam.add_device(&gone, "Shed");
    seam.add_device(&theirs, "Their door");
    let session = get_or_create(
        &seam,
        json!({"user_identifier_key": "dave", "connected_account_ids": [mine, gone]}),
    )
    .await;
    assert_eq!(session["device_count"], 2);
    seam.remove_connected_account(&gone);

    let token = session["token"].as_str().expect("a token");
    let reply = post(&seam, "/devices/list", token, json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let devices = reply.json()["devices"].as_array().expect("devices").clone();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["device_id"], front_door.as_str());
    assert_eq!(
        seam.session_for("dave")
            .expect("a session")
            .connected_account_ids,
        [mine, gone]
    );

    let all = post(&seam, "/devices/list", &seam.api_key(), json!({})).await;
    assert_eq!(all.json()["devices"].as_array().map(Vec::len), Some(2));
    let listing = post(&seam, "/connected_accounts/list", token, json!({})).await;
    assert_eq!(listing.status, 401);
    assert_eq!(
        listing.error_type(),
        "client_session_token_used_for_api_key"
    );
}

#[actix_web::test]
async fn pagination_returns_every_matching_account_exactly_once() {
    let seam = StandIn::start().await;
    seam.set_page_size(2);
    let mut expected = Vec::new();
    for i in 0..5 {
        expected.push(
            seam.add_connected_account(AccountSpec::unowned().with_metadata("app_user", "frank")),
        );
        seam.add_connected_account(
            AccountSpec::unowned().with_metadata("app_user", format!("other{i}")),
        );
    }
    let mut seen = Vec::new();
    let mut cursor = Value::Null;
    let mut pages = 0;
    loop {
        let body = json!({"custom_metadata_has": {"app_user": "frank"}, "page_cursor": cursor});
        let page = post(&seam, "/connected_accounts/list", &seam.api_key(), body)
            .await
            .json();
        pages += 1;
        for account in page["connected_accounts"].as_array().expect("accounts") {
            seen.push(
                account["connected_account_id"]
                    .as_str()
                    .expect("an id")
                    .to_owned(),
            );
        }
        if page["pagination"]["has_next_page"] != true {
            assert_eq!(page["pagination"]["next_page_cursor"], Value::Null);
            break;
        }
        cursor = page["pagination"]["next_page_cursor"].clone();
    }
    assert_eq!(seen, expected);
    assert_eq!(pages, 3);

    let bogus = post(
        &seam,
        "/connected_accounts/list",
        &seam.api_key(),
        json!({"page_cursor": "nope"}),
    )
    .await;
    assert_eq!(bogus.status, 400);
    assert_eq!(bogus.error_type(), "invalid_input");
}

/// `/connected_accounts/list`'s filters: `custom_metadata_has` (all pairs; `""` leaves a key out;
/// `null` matches an unset key), `user_identifier_key` and `customer_key`.
#[actix_web::test]
async fn connected_accounts_list_applies_each_filter() {
    let seam = StandIn::start().await;
    let key = seam.api_key();
    let ann = seam.add_connected_account(AccountSpec::owned_by("ann").with_metadata("app", "x"));
    let acme = seam.add_connected_account(
        AccountSpec::unowned()
            .with_metadata("app", "y")
            .with_metadata("vip", true)
            .with_customer_key("acme"),
    );
    let list = |body: Value| {
        let (seam, key) = (&seam, &key);
        async move {
            let page = ok_json(seam, "/connected_accounts/list", key, body).await;
            ids(&page["connected_accounts"], "connected_account_id")
        }
    };
    assert_eq!(list(json!({})).await, [ann.as_str(), acme.as_str()]);
    let y_vip = json!({"custom_metadata_has": {"app": "y", "vip": true}});
    assert_eq!(list(y_vip).await, [acme.as_str()]);
    let empty = json!({"custom_metadata_has": {"app": ""}});
    assert_eq!(list(empty).await.len(), 2);
    let unset = json!({"custom_metadata_has": {"vip": null}});
    assert_eq!(list(unset).await, [ann.as_str()]);
    assert_eq!(list(json!({"customer_key": "acme"})).await, [acme.as_str()]);
    assert_eq!(
        list(json!({"user_identifier_key": "ann"})).await,
        [ann.as_str()]
    );
    let both = json!({"user_identifier_key": "ann", "customer_key": "acme"});
    assert!(list(both).await.is_empty());
    for (body, naming) in [
        (json!({"user_identifier_key": ""}), "user_identifier_key"),
        (json!({"customer_key": ""}), "customer_key"),
        (
            json!({"custom_metadata_has": {"n": 2}}),
            "custom_metadata_has.n",
        ),
    ] {
        assert_refused(&seam, "/connected_accounts/list", &key, body, naming).await;
    }
}

/// Disconnected is not deleted: the account stays listed, in its session, with its devices,
/// and an `account_disconnected` error; reconnecting clears it in place; removal deletes.
#[actix_web::test]
async fn a_disconnected_account_stays_until_it_is_reconnected_or_removed() {
    let seam = StandIn::start().await;
    seam.set_webhook("http://127.0.0.1:9/unused", &crate::new_webhook_secret());
    let key = seam.api_key();
    let spec = AccountSpec::owned_by("ann").with_metadata("app", "x");
    let account = seam.add_connected_account(spec.with_customer_key("acme"));
    seam.add_device(&account, "Front door");
    let session = get_or_create(
        &seam,
        json!({"user_identifier_key": "ann", "connected_account_ids": [account]}),
    )
    .await;
    events_of(&seam);

    seam.disconnect_connected_account(&account);
    let owned = json!({"user_identifier_key": "ann"});
    let listed = ok_json(&seam, "/connected_accounts/list", &key, owned.clone()).await;
    let listed = &listed["connected_accounts"];
    assert_eq!(ids(listed, "connected_account_id"), [account.as_str()]);
    let error = &listed[0]["errors"][0];
    assert_eq!(
        (&error["error_code"], &error["is_connected_account_error"]),
        (&json!("account_disconnected"), &json!(true))
    );
    assert!(error["message"].is_string() && error["created_at"].is_string());
    let devices = ok_json(&seam, "/devices/list", &token(&session), json!({})).await;
    assert_eq!(devices["devices"][0]["display_name"], "Front door");
    let now = seam.session_for("ann").expect("a session");
    assert_eq!(now.connected_account_ids, [account.as_str()]);
    let [disconnected] = events_of(&seam).try_into().expect("one event");
    assert_eq!(disconnected["event_type"], "connected_account.disconnected");
    assert_eq!(disconnected["connected_account_id"], json!(account));
    assert_eq!(
        disconnected["connected_account_errors"][0]["error_code"],
        "account_disconnected"
    );
    assert_eq!(disconnected["connected_account_warnings"], json!([]));
    assert!(disconnected.get("customer_key").is_none(), "{disconnected}");

    seam.reconnect_connected_account(&account);
    let listed = ok_json(&seam, "/connected_accounts/list", &key, owned).await;
    assert_eq!(listed["connected_accounts"][0]["errors"], json!([]));
    let [connected] = events_of(&seam).try_into().expect("one event");
    assert_eq!(
        (&connected["event_type"], &connected["connected_account_id"]),
        (&json!("connected_account.connected"), &json!(account))
    );
    assert_eq!(
        (
            &connected["connected_account_custom_metadata"],
            &connected["customer_key"]
        ),
        (&json!({"app": "x"}), &json!("acme"))
    );

    seam.remove_connected_account(&account);
    let listed = ok_json(&seam, "/connected_accounts/list", &key, json!({})).await;
    assert_eq!(listed["connected_accounts"], json!([]));
    let [deleted] = events_of(&seam).try_into().expect("one event");
    assert_eq!(
        (&deleted["event_type"], &deleted["customer_key"]),
        (&json!("connected_account.deleted"), &json!("acme"))
    );
}
