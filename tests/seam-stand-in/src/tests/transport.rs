//! What every route shares: faults, latency, request ids, keys, CORS, methods and ids.

use super::*;

#[actix_web::test]
async fn injected_faults_are_served_in_order_then_the_real_answer() {
    let seam = StandIn::start().await;
    seam.inject("/workspaces/get", Fault::Status(503), 1);
    seam.inject(
        "*",
        Fault::RateLimited {
            retry_after_secs: 7,
        },
        1,
    );
    seam.inject("/workspaces/get", Fault::PlainText(502), 1);
    seam.inject("/workspaces/get", Fault::Garbage, 1);
    let key = seam.api_key();

    let unavailable = post(&seam, "/workspaces/get", &key, json!({})).await;
    assert_eq!(
        (unavailable.status, unavailable.error_type()),
        (503, "service_unavailable".to_owned())
    );
    let limited = post(&seam, "/workspaces/get", "not-even-a-key", json!({})).await;
    assert_eq!(
        (limited.status, limited.header("retry-after")),
        (429, Some("7"))
    );
    let plain = post(&seam, "/workspaces/get", &key, json!({})).await;
    assert_eq!(plain.status, 502);
    assert!(
        plain
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/plain"))
    );
    let garbage = post(&seam, "/workspaces/get", &key, json!({})).await;
    assert_eq!(garbage.status, 200);
    assert!(serde_json::from_str::<Value>(&garbage.body).is_err());
    let real = post(&seam, "/workspaces/get", &key, json!({})).await;
    assert_eq!(real.status, 200);
    assert_eq!(real.json()["workspace"]["is_sandbox"], true);
    assert_eq!(seam.calls("/workspaces/get"), 5);
    assert_eq!(seam.total_calls(), 5);
}

#[actix_web::test]
async fn every_answer_carries_a_request_id_and_a_rotated_key_is_refused() {
    let seam = StandIn::start().await;
    let old = seam.api_key();
    let new = seam.rotate_api_key();
    assert!(new.starts_with("seam_test_") && new != old);

    let refused = post(&seam, "/workspaces/get", &old, json!({})).await;
    assert_eq!(
        (refused.status, refused.error_type()),
        (401, "unauthorized".to_owned())
    );
    let missing = post(&seam, "/no/such/endpoint", &new, json!({})).await;
    assert_eq!(
        (missing.status, missing.error_type()),
        (404, "not_found".to_owned())
    );
    let unknown = post(
        &seam,
        "/client_sessions/get",
        &new,
        json!({"client_session_id": uuid::Uuid::new_v4().to_string()}),
    )
    .await;
    assert_eq!(unknown.error_type(), "client_session_not_found");
    for reply in [&refused, &missing, &unknown] {
        assert!(
            reply
                .header("seam-request-id")
                .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok())
        );
    }
    assert_eq!(seam.calls("/no/such/endpoint"), 1);
}

#[actix_web::test]
async fn latency_delays_answers_and_a_hang_never_answers() {
    let seam = StandIn::start().await;
    seam.inject("/workspaces/get", Fault::Hang, 1);
    let addr = seam.addr.to_string();
    let key = seam.api_key();
    let hung = actix_web::rt::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(&addr).expect("connect to the stand-in");
        let request = format!(
            "POST /workspaces/get HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
             Content-Length: 0\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .expect("send the request");
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .expect("set a timeout");
        let mut buf = [0_u8; 64];
        stream.read(&mut buf).map_err(|e| e.kind())
    })
    .await
    .expect("the client thread finishes");
    assert!(
        matches!(
            hung,
            Err(std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
        ),
        "a hung request answered: {hung:?}"
    );

    seam.set_latency(Duration::from_millis(150));
    let started = std::time::Instant::now();
    let reply = post(&seam, "/workspaces/get", &seam.api_key(), json!({})).await;
    assert_eq!(reply.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[actix_web::test]
async fn browsers_on_any_origin_may_call_with_a_client_session_token() {
    let seam = StandIn::start().await;
    let preflight = request(
        &seam,
        Raw {
            method: "OPTIONS",
            path: "/devices/list".to_owned(),
            headers: vec![
                "Origin: http://127.0.0.1:5173".to_owned(),
                "Access-Control-Request-Method: POST".to_owned(),
                // What Seam's JS SDK asks for.
                "Access-Control-Request-Headers: authorization,client-session-token,content-type,seam-sdk-name,seam-sdk-version".to_owned(),
            ],
            body: String::new(),
        },
    )
    .await;
    assert_eq!(preflight.status, 200);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("http://127.0.0.1:5173")
    );
    assert_eq!(seam.total_calls(), 0, "a preflight is not an API call");

    let account = seam.add_connected_account(AccountSpec::owned_by("alice"));
    seam.add_device(&account, "Front door");
    let session = get_or_create(
        &seam,
        json!({"user_identifier_key": "alice", "connected_account_ids": [account]}),
    )
    .await;
    let token = session["token"].as_str().expect("a token");
    let raw = Raw {
        method: "POST",
        path: "/devices/list".to_owned(),
        headers: vec![
            "Origin: http://127.0.0.1:5173".to_owned(),
            format!("Authorization: Bearer {token}"),
        ],
        body: "{}".to_owned(),
    };
    let listed = request(&seam, raw).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(
        listed.header("access-control-allow-origin"),
        Some("http://127.0.0.1:5173")
    );
    assert_eq!(
        listed.header("access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(listed.json()["devices"][0]["display_name"], "Front door");
}

/// The methods of Seam's OpenAPI, with GET's and DELETE's parameters in the query string in
/// the SDKs' encoding (a list as the key repeated, a nested object as dot paths).
#[actix_web::test]
async fn each_route_takes_the_methods_seams_openapi_gives_it() {
    let seam = StandIn::start().await;
    let key = seam.api_key();
    let a = seam.add_connected_account(AccountSpec::owned_by("fay").with_metadata("active", true));
    let b = seam.add_connected_account(AccountSpec::owned_by("fay"));
    seam.add_device(&a, "Front door");
    seam.add_device(&b, "Back door");
    let session = get_or_create(
        &seam,
        json!({"user_identifier_key": "fay", "connected_account_ids": [a, b]}),
    )
    .await;
    let id = session["client_session_id"]
        .as_str()
        .expect("an id")
        .to_owned();

    let path = format!("/devices/list?connected_account_ids={a}&connected_account_ids={b}");
    let both = bare(&seam, "GET", &path, &key).await;
    assert_eq!(
        both.json()["devices"].as_array().map(Vec::len),
        Some(2),
        "{}",
        both.body
    );
    let one = bare(
        &seam,
        "GET",
        &format!("/devices/list?connected_account_ids={a}"),
        &key,
    )
    .await;
    assert_eq!(one.json()["devices"][0]["display_name"], "Front door");
    let listed = bare(
        &seam,
        "GET",
        "/connected_accounts/list?user_identifier_key=fay&custom_metadata_has.active=true",
        &key,
    )
    .await;
    let accounts = listed.json()["connected_accounts"].clone();
    assert_eq!(accounts.as_array().map(Vec::len), Some(1), "{accounts}");
    assert_eq!(accounts[0]["connected_account_id"], a.as_str());
    let got = bare(
        &seam,
        "GET",
        &format!("/client_sessions/get?client_session_id={id}"),
        &key,
    )
    .await;
    assert_eq!(
        got.json()["client_session"]["client_session_id"],
        id.as_str()
    );
    let by_get = bare(&seam, "GET", "/workspaces/get", &key).await;
    assert_eq!(by_get.status, 200);

    let patched = Raw {
        method: "PATCH",
        ..json_post(
            "/client_sessions/grant_access",
            &key,
            json!({"client_session_id": id}).to_string(),
        )
    };
    assert_eq!(request(&seam, patched).await.status, 200);
    let wrong = bare(&seam, "DELETE", "/devices/list", &key).await;
    assert_eq!(
        (wrong.status, wrong.error_type()),
        (405, "method_not_allowed".to_owned())
    );
    assert_eq!(wrong.json()["ok"], false);
    let deleted = bare(
        &seam,
        "DELETE",
        &format!("/client_sessions/delete?client_session_id={id}"),
        &key,
    )
    .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert!(seam.session_for("fay").is_none());
}

/// Ids the spec types as UUIDs are checked: a malformed one is `invalid_input`.
#[actix_web::test]
async fn malformed_ids_are_invalid_input() {
    let seam = StandIn::start().await;
    for (path, body) in [
        ("/client_sessions/get", json!({"client_session_id": "nope"})),
        (
            "/client_sessions/delete",
            json!({"client_session_id": "nope"}),
        ),
        (
            "/connected_accounts/get",
            json!({"connected_account_id": "nope"}),
        ),
        (
            "/connect_webviews/get",
            json!({"connect_webview_id": "nope"}),
        ),
    ] {
        let reply = post(&seam, path, &seam.api_key(), body).await;
        assert_eq!(
            (reply.status, reply.error_type()),
            (400, "invalid_input".to_owned()),
            "{path}"
        );
        assert_eq!(reply.json()["ok"], false);
    }
}
