//! The stand-in refuses what it does not model: every route answers a parameter it does not
//! know with 400 `invalid_input` naming it, and takes every parameter Seam's JS SDK and Seam
//! Components send.

use super::*;

/// Every route, by body and by query string, with a parameter nobody models.
#[actix_web::test]
async fn every_route_refuses_a_parameter_it_does_not_model_by_name() {
    let seam = StandIn::start().await;
    let key = seam.api_key();
    let session = get_or_create(&seam, json!({"user_identifier_key": "ann"})).await;
    let webview = make_webview(&seam, &token(&session), json!({})).await;
    let id = session["client_session_id"].clone();
    let routes = [
        ("/workspaces/get", json!({})),
        ("/connected_accounts/list", json!({})),
        ("/connected_accounts/get", json!({})),
        ("/devices/list", json!({})),
        (
            "/client_sessions/get_or_create",
            json!({"user_identifier_key": "ann"}),
        ),
        ("/client_sessions/create", json!({})),
        ("/client_sessions/get", json!({"client_session_id": id})),
        ("/client_sessions/list", json!({})),
        (
            "/client_sessions/grant_access",
            json!({"client_session_id": id}),
        ),
        ("/client_sessions/revoke", json!({"client_session_id": id})),
        ("/client_sessions/delete", json!({"client_session_id": id})),
        ("/connect_webviews/create", json!({})),
        (
            "/connect_webviews/get",
            json!({"connect_webview_id": webview}),
        ),
        ("/connect_webviews/list", json!({})),
        (
            "/_fake/complete_connect_webview",
            json!({"connect_webview_id": webview}),
        ),
    ];
    for (path, mut body) in routes {
        body["not_modelled"] = json!(true);
        assert_refused(&seam, path, &key, body, "not_modelled").await;
    }
    let unmodelled = [
        (
            "/connected_accounts/list",
            json!({"space_id": uuid::Uuid::new_v4().to_string()}),
        ),
        (
            "/connected_accounts/get",
            json!({"email": "ann@example.com"}),
        ),
        (
            "/devices/list",
            json!({"include_if": ["can_remotely_unlock"]}),
        ),
        ("/devices/list", json!({"page_cursor": "x"})),
        ("/devices/list", json!({"search": "door"})),
    ];
    for (path, body) in unmodelled {
        let name = body.as_object().and_then(|o| o.keys().next().cloned());
        let name = name.expect("one parameter");
        assert_refused(&seam, path, &key, body, &name).await;
    }
    for path in [
        "/devices/list?manufacturer=august&search=door".to_owned(),
        format!("/connect_webviews/view?connect_webview_id={webview}&search=door"),
    ] {
        let reply = bare_get(&seam, &path, &key).await;
        assert_eq!(
            (reply.status, reply.error_type()),
            (400, "invalid_input".to_owned())
        );
        assert!(reply.body.contains("search"), "{path}: {}", reply.body);
    }
    assert_eq!(seam.sessions().len(), 1, "nothing refused was acted on");
}

/// Every parameter of `/connect_webviews/create` is taken, kept and echoed where the
/// `connect_webview` schema has it; its enums are checked.
#[actix_web::test]
async fn connect_webviews_create_keeps_every_parameter_of_seams_spec() {
    let seam = StandIn::start().await;
    let key = seam.api_key();
    let body = json!({
        "accepted_providers": ["august"],
        "accepted_capabilities": ["lock", "thermostat"],
        "excluded_providers": ["nest"],
        "provider_category": "stable",
        "custom_redirect_url": "https://app.example/done",
        "custom_redirect_failure_url": "https://app.example/failed",
        "device_selection_mode": "single",
        "automatically_manage_new_devices": false,
        "wait_for_device_creation": true,
    });
    let made = ok_json(&seam, "/connect_webviews/create", &key, body).await;
    let webview = &made["connect_webview"];
    assert_eq!(
        webview["accepted_capabilities"],
        json!(["lock", "thermostat"])
    );
    assert_eq!(webview["custom_redirect_url"], "https://app.example/done");
    assert_eq!(
        webview["custom_redirect_failure_url"],
        "https://app.example/failed"
    );
    assert_eq!(webview["device_selection_mode"], "single");
    assert_eq!(webview["automatically_manage_new_devices"], false);
    assert_eq!(webview["wait_for_device_creation"], true);
    assert_eq!(webview["any_provider_allowed"], false);
    let plain = ok_json(&seam, "/connect_webviews/create", &key, json!({})).await;
    let plain = &plain["connect_webview"];
    assert_eq!(
        (
            &plain["device_selection_mode"],
            &plain["automatically_manage_new_devices"]
        ),
        (&json!("none"), &json!(true))
    );
    assert_eq!(plain["any_provider_allowed"], true);
    for (body, naming) in [
        (
            json!({"accepted_capabilities": ["teleport"]}),
            "accepted_capabilities",
        ),
        (
            json!({"device_selection_mode": "all"}),
            "device_selection_mode",
        ),
        (
            json!({"provider_category": "everything"}),
            "provider_category",
        ),
    ] {
        assert_refused(&seam, "/connect_webviews/create", &key, body, naming).await;
    }
}

/// `/devices/list` applies the filters it models, by body or query string.
#[actix_web::test]
async fn devices_list_applies_the_filters_it_models() {
    let seam = StandIn::start().await;
    let key = seam.api_key();
    let acme = seam.add_connected_account(AccountSpec::owned_by("ann").with_customer_key("acme"));
    seam.add_device(&acme, "Front door");
    let count = |path: String| {
        let (seam, key) = (&seam, &key);
        async move {
            let reply = bare_get(seam, &path, key).await;
            assert_eq!(reply.status, 200, "{path}: {}", reply.body);
            reply.json()["devices"].as_array().map_or(0, Vec::len)
        }
    };
    for (query, expected) in [
        ("device_type=august_lock", 1),
        ("device_type=ecobee_thermostat", 0),
        ("device_types=ecobee_thermostat&device_types=august_lock", 1),
        ("manufacturer=august", 1),
        ("manufacturer=nest", 0),
        ("customer_key=acme", 1),
        ("customer_key=globex", 0),
        ("user_identifier_key=ann", 1),
        ("user_identifier_key=bob", 0),
        ("custom_metadata_has.room=", 1),
        ("custom_metadata_has.room=hall", 0),
        ("created_before=2001-01-01T00:00:00Z", 0),
        ("created_before=2999-01-01T00:00:00Z", 1),
    ] {
        assert_eq!(
            count(format!("/devices/list?{query}")).await,
            expected,
            "{query}"
        );
    }
}
