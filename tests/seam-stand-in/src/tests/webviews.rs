//! Connect Webviews: made, listed and completed.

use super::*;

/// The Connect Webview life cycle: made with a client session token (it joins the session),
/// completed through the hook, the new account filed under the session's key with the
/// webview's `custom_metadata`, and its device visible to the token.
#[actix_web::test]
async fn a_connect_webview_made_with_a_token_adds_its_account_to_that_session() {
    let seam = StandIn::start().await;
    let session = get_or_create(&seam, json!({"user_identifier_key": "jo"})).await;
    let other = get_or_create(&seam, json!({"user_identifier_key": "kit"})).await;
    let token = session["token"].as_str().expect("a token");
    let created = post(
        &seam,
        "/connect_webviews/create",
        token,
        json!({"custom_metadata": {"user_id": "jo"}, "accepted_providers": ["august"]}),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let webview = created.json()["connect_webview"].clone();
    assert_eq!(webview["status"], "pending");
    let id = webview["connect_webview_id"]
        .as_str()
        .expect("an id")
        .to_owned();

    let hook = Raw {
        headers: vec!["Content-Type: application/json".to_owned()],
        ..json_post(
            "/_fake/complete_connect_webview",
            "",
            json!({"connect_webview_id": id}).to_string(),
        )
    };
    let completed = request(&seam, hook).await;
    assert_eq!(completed.status, 200, "{}", completed.body);
    let account = completed.json()["connected_account_id"]
        .as_str()
        .expect("an account")
        .to_owned();

    let now = post(&seam, "/client_sessions/get", token, json!({}))
        .await
        .json()["client_session"]
        .clone();
    assert_eq!(now["connected_account_ids"], json!([account]));
    assert_eq!(now["connect_webview_ids"], json!([id]));
    let listed = post(
        &seam,
        "/connected_accounts/list",
        &seam.api_key(),
        json!({"custom_metadata_has": {"user_id": "jo"}}),
    )
    .await
    .json();
    assert_eq!(
        listed["connected_accounts"][0]["connected_account_id"],
        account.as_str()
    );
    let owned = post(
        &seam,
        "/connected_accounts/list",
        &seam.api_key(),
        json!({"user_identifier_key": "jo"}),
    )
    .await
    .json();
    assert_eq!(
        owned["connected_accounts"].as_array().map(Vec::len),
        Some(1)
    );
    let done = post(
        &seam,
        "/connect_webviews/get",
        &seam.api_key(),
        json!({"connect_webview_id": id}),
    )
    .await
    .json();
    assert_eq!(
        (
            done["connect_webview"]["status"].clone(),
            done["connect_webview"]["connected_account_id"].clone()
        ),
        (json!("authorized"), json!(account))
    );
    let hidden = post(
        &seam,
        "/connect_webviews/get",
        other["token"].as_str().expect("a token"),
        json!({"connect_webview_id": id}),
    )
    .await;
    assert_eq!(hidden.status, 404, "another session's webview");
}

/// `/connect_webviews/list` for the API key: every filter applied, all of them together.
#[actix_web::test]
async fn connect_webviews_list_applies_each_filter() {
    let seam = StandIn::start().await;
    let key = seam.api_key();
    let ann = get_or_create(&seam, json!({"user_identifier_key": "ann"})).await;
    let anns = make_webview(
        &seam,
        &token(&ann),
        json!({"custom_metadata": {"app": "x"}}),
    )
    .await;
    let acme = make_webview(
        &seam,
        &key,
        json!({"customer_key": "acme", "custom_metadata": {"app": "y", "vip": true}}),
    )
    .await;
    let bare = make_webview(&seam, &key, json!({})).await;
    let list = |body: Value| {
        let (seam, key) = (&seam, &key);
        async move {
            let page = ok_json(seam, "/connect_webviews/list", key, body).await;
            ids(&page["connect_webviews"], "connect_webview_id")
        }
    };

    assert_eq!(
        list(json!({})).await,
        [anns.as_str(), acme.as_str(), bare.as_str()]
    );
    let x = json!({"custom_metadata_has": {"app": "x"}});
    assert_eq!(list(x).await, [anns.as_str()]);
    let y_vip = json!({"custom_metadata_has": {"app": "y", "vip": true}});
    assert_eq!(list(y_vip).await, [acme.as_str()]);
    let y_not_vip = json!({"custom_metadata_has": {"app": "y", "vip": false}});
    assert!(list(y_not_vip).await.is_empty());
    // "" leaves the key out of the filter; null matches a key that is unset.
    let empty = json!({"custom_metadata_has": {"app": ""}});
    assert_eq!(list(empty).await.len(), 3);
    let unset = json!({"custom_metadata_has": {"vip": null}});
    assert_eq!(list(unset).await, [anns.as_str(), bare.as_str()]);
    assert_eq!(list(json!({"customer_key": "acme"})).await, [acme.as_str()]);
    assert_eq!(
        list(json!({"user_identifier_key": "ann"})).await,
        [anns.as_str()]
    );
    assert!(list(json!({"user_identifier_key": "bob"})).await.is_empty());
    let both = json!({"user_identifier_key": "ann", "customer_key": "acme"});
    assert!(list(both).await.is_empty());
    // The key is the webview's own, kept when the session that made it is deleted.
    let deleted = json!({"client_session_id": ann["client_session_id"]});
    ok_json(&seam, "/client_sessions/delete", &key, deleted).await;
    assert_eq!(
        list(json!({"user_identifier_key": "ann"})).await,
        [anns.as_str()]
    );
    let by_get = bare_get(
        &seam,
        "/connect_webviews/list?custom_metadata_has.vip=true",
        &key,
    );
    let by_get = by_get.await.json();
    assert_eq!(
        ids(&by_get["connect_webviews"], "connect_webview_id"),
        [acme.as_str()]
    );
}

/// What `/connect_webviews/list` does not model, or the spec refuses, is refused by name.
#[actix_web::test]
async fn connect_webviews_list_refuses_search_and_empty_filters() {
    let seam = StandIn::start().await;
    let key = seam.api_key();
    for (body, naming) in [
        (json!({"search": "front"}), "search"),
        (json!({"user_identifier_key": ""}), "user_identifier_key"),
        (json!({"customer_key": ""}), "customer_key"),
        (json!({"customer_key": null}), "customer_key"),
        (
            json!({"custom_metadata_has": {"n": 1}}),
            "custom_metadata_has.n",
        ),
        (
            json!({"custom_metadata_has": {"a.b": "x"}}),
            "custom_metadata_has.a.b",
        ),
        (json!({"page_cursor": "not-issued"}), "page_cursor"),
    ] {
        assert_refused(&seam, "/connect_webviews/list", &key, body, naming).await;
    }
}

/// A client session token lists only the webviews it made.
#[actix_web::test]
async fn a_session_token_lists_only_the_webviews_it_made() {
    let seam = StandIn::start().await;
    let mine = get_or_create(&seam, json!({"user_identifier_key": "ann"})).await;
    let theirs = get_or_create(&seam, json!({"user_identifier_key": "bob"})).await;
    let made = make_webview(&seam, &token(&mine), json!({})).await;
    make_webview(&seam, &token(&theirs), json!({})).await;
    make_webview(&seam, &seam.api_key(), json!({})).await;

    let listed = ok_json(&seam, "/connect_webviews/list", &token(&mine), json!({})).await;
    assert_eq!(
        ids(&listed["connect_webviews"], "connect_webview_id"),
        [made]
    );
    let asked = json!({"user_identifier_key": "bob"});
    let listed = ok_json(&seam, "/connect_webviews/list", &token(&mine), asked).await;
    assert_eq!(listed["connect_webviews"], json!([]));
}

/// Pages of `/connect_webviews/list` as those of `/connected_accounts/list`: `limit`, the page
/// size cap, and cursors good only for the list that issued them.
#[actix_web::test]
async fn connect_webviews_list_pages_like_connected_accounts_list() {
    let seam = StandIn::start().await;
    let key = seam.api_key();
    seam.set_page_size(2);
    let mut made = Vec::new();
    for _ in 0..5 {
        made.push(make_webview(&seam, &key, json!({})).await);
    }
    let mut seen = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let body = json!({"page_cursor": cursor});
        let page = ok_json(&seam, "/connect_webviews/list", &key, body).await;
        seen.extend(ids(&page["connect_webviews"], "connect_webview_id"));
        let pagination = &page["pagination"];
        if pagination["has_next_page"] == false {
            assert_eq!(
                (
                    &pagination["next_page_cursor"],
                    &pagination["next_page_url"]
                ),
                (&Value::Null, &Value::Null)
            );
            break;
        }
        cursor = pagination["next_page_cursor"].clone();
        let url = pagination["next_page_url"]
            .as_str()
            .expect("a next_page_url");
        let cursor_text = cursor.as_str().expect("a cursor");
        assert!(url.ends_with(&format!("/connect_webviews/list?page_cursor={cursor_text}")));
    }
    assert_eq!(seen, made);
    let one = ok_json(&seam, "/connect_webviews/list", &key, json!({"limit": 1})).await;
    assert_eq!(
        ids(&one["connect_webviews"], "connect_webview_id"),
        [made[0].as_str()]
    );

    seam.add_connected_account(AccountSpec::unowned());
    seam.add_connected_account(AccountSpec::unowned());
    seam.add_connected_account(AccountSpec::unowned());
    let accounts = ok_json(&seam, "/connected_accounts/list", &key, json!({})).await;
    let theirs = json!({"page_cursor": accounts["pagination"]["next_page_cursor"]});
    assert_refused(&seam, "/connect_webviews/list", &key, theirs, "page_cursor").await;
}
