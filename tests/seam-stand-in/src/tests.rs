//! End-to-end checks of the stand-in through a real socket and its public controls, with a
//! deliberately dumb HTTP/1.1 client so that nothing but the wire format is trusted.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::{AccountSpec, AccountsOnExisting, Fault, RevokedSessions, StandIn, WorkspaceSpec};

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    fn error_type(&self) -> String {
        self.json()["error"]["type"]
            .as_str()
            .expect("an error type")
            .to_owned()
    }
}

/// A request as sent: method, path, extra header lines and body.
struct Raw {
    method: &'static str,
    path: String,
    headers: Vec<String>,
    body: String,
}

fn send(addr: String, raw: Raw) -> Reply {
    let mut stream = TcpStream::connect(&addr).expect("connect to the stand-in");
    let mut head = format!("{} {} HTTP/1.1\r\nHost: {addr}\r\n", raw.method, raw.path);
    for line in &raw.headers {
        head.push_str(line);
        head.push_str("\r\n");
    }
    let request = format!(
        "{head}Content-Length: {}\r\nConnection: close\r\n\r\n{}",
        raw.body.len(),
        raw.body
    );
    stream
        .write_all(request.as_bytes())
        .expect("send the request");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read the response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a header block");
    let mut lines = head.lines();
    let status_line = lines.next().expect("a status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .expect("a status")
        .parse()
        .expect("a number");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// Blocking I/O runs off the test's runtime so the server's own tasks are never starved.
async fn request(stand_in: &StandIn, raw: Raw) -> Reply {
    let addr = stand_in.addr.to_string();
    actix_web::rt::task::spawn_blocking(move || send(addr, raw))
        .await
        .expect("the client thread finishes")
}

/// A JSON POST as the service sends it; `body` need not be valid JSON.
fn json_post(path: &str, token: &str, body: String) -> Raw {
    Raw {
        method: "POST",
        path: path.to_owned(),
        headers: vec![
            format!("Authorization: Bearer {token}"),
            "Content-Type: application/json".to_owned(),
        ],
        body,
    }
}

async fn post(stand_in: &StandIn, path: &str, token: &str, body: Value) -> Reply {
    request(stand_in, json_post(path, token, body.to_string())).await
}

async fn get_or_create(stand_in: &StandIn, body: Value) -> Value {
    let reply = post(
        stand_in,
        "/client_sessions/get_or_create",
        &stand_in.api_key(),
        body,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["client_session"].clone()
}

/// Revokes `session` with the API key.
async fn revoke(stand_in: &StandIn, session: &Value) {
    let body = json!({"client_session_id": session["client_session_id"]});
    let reply = post(
        stand_in,
        "/client_sessions/revoke",
        &stand_in.api_key(),
        body,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

fn strings(value: &Value) -> Vec<String> {
    serde_json::from_value(value.clone()).expect("an array of strings")
}

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

/// A request with no body (GET, DELETE, OPTIONS), its parameters in `path`'s query.
async fn bare(stand_in: &StandIn, method: &'static str, path: &str, token: &str) -> Reply {
    let raw = Raw {
        method,
        path: path.to_owned(),
        headers: vec![format!("Authorization: Bearer {token}")],
        body: String::new(),
    };
    request(stand_in, raw).await
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
