//! The stand-in against Seam's own fake (`@seamapi/fake-seam-connect`): the same requests to
//! both, seeded alike, must agree on the status, the error `type` and `ok`, and the response's
//! shape (every field the fake returns, the stand-in returns too, with the same JSON type; ids
//! and values differ). Where the fake is known to be wrong about Seam's API, `FAKE_IS_WRONG`
//! says so, and the test checks that they still differ, so that the list stays true.

use seam_stand_in::{AccountSpec, StandIn, WorkspaceSpec};
use serde_json::{Value, json};

use crate::fake_seam::FakeSeam;

/// Cases where the fake is known not to answer as Seam's API does (`seam-api.md` in the
/// project's reference notes, and the fake's own source), with the reason.
const FAKE_IS_WRONG: &[(&str, &str)] = &[
    (
        "accounts with a token",
        "a client session token may not list connected accounts (Seam's docs); the fake lists the token's own",
    ),
    (
        "devices with an unknown session token",
        "on a route that takes either credential, fake 1.86 checks for an API key first and calls any seam_cst1 token client_session_token_used_for_api_key; Seam's fake 2.x answers an unknown session token client_session_not_found (the project's reference notes), as the stand-in does; both answer 401",
    ),
];

/// Fields the fake returns that Seam's OpenAPI description does not have, with where it adds
/// them: not asked of the stand-in.
const FAKE_ONLY_FIELDS: &[(&str, &str)] = &[(
    ".client_session.api_key_id",
    "the fake names the key that made a session; Seam's client_session schema has no such field",
)];

/// One target's credentials and ids, so that one case list serves both.
struct Target {
    url: String,
    api_key: String,
    alice_token: String,
    alice_session: String,
    alice_account: String,
    bob_account: String,
}

#[derive(Clone, Copy)]
enum Auth {
    ApiKey,
    Alice,
    Nothing,
    WrongKey,
    /// A client session token no session has.
    UnknownSession,
}

struct Case {
    name: &'static str,
    method: &'static str,
    /// With `{alice_session}`, `{alice_account}` and `{bob_account}` filled in per target.
    path: &'static str,
    auth: Auth,
    body: Option<Value>,
    /// Lists whose lengths must agree (same seed, same filters).
    counted: Option<&'static str>,
}

const fn case(name: &'static str, method: &'static str, path: &'static str, auth: Auth) -> Case {
    Case {
        name,
        method,
        path,
        auth,
        body: None,
        counted: None,
    }
}

fn cases() -> Vec<Case> {
    let with = |mut c: Case, body: Value| {
        c.body = Some(body);
        c
    };
    let counted = |mut c: Case, list: &'static str| {
        c.counted = Some(list);
        c
    };
    let unknown = json!("9a8b7c6d-0000-4000-8000-000000000000");
    vec![
        case("workspace by GET", "GET", "/workspaces/get", Auth::ApiKey),
        with(
            case(
                "workspace with a token",
                "POST",
                "/workspaces/get",
                Auth::Alice,
            ),
            json!({}),
        ),
        with(
            case(
                "workspace without a credential",
                "POST",
                "/workspaces/get",
                Auth::Nothing,
            ),
            json!({}),
        ),
        case(
            "workspace, wrong method",
            "DELETE",
            "/workspaces/get",
            Auth::ApiKey,
        ),
        counted(
            with(
                case("devices", "POST", "/devices/list", Auth::ApiKey),
                json!({}),
            ),
            "devices",
        ),
        counted(
            case(
                "devices by GET, a list in the query",
                "GET",
                "/devices/list?connected_account_ids={alice_account}&connected_account_ids={bob_account}",
                Auth::ApiKey,
            ),
            "devices",
        ),
        counted(
            with(
                case("devices with a token", "POST", "/devices/list", Auth::Alice),
                json!({}),
            ),
            "devices",
        ),
        counted(
            case(
                "devices with a token by GET",
                "GET",
                "/devices/list",
                Auth::Alice,
            ),
            "devices",
        ),
        counted(
            with(
                case(
                    "devices with a token, another's account",
                    "POST",
                    "/devices/list",
                    Auth::Alice,
                ),
                json!({"connected_account_id": "{bob_account}"}),
            ),
            "devices",
        ),
        with(
            case(
                "devices with a wrong key",
                "POST",
                "/devices/list",
                Auth::WrongKey,
            ),
            json!({}),
        ),
        with(
            case(
                "devices with an unknown session token",
                "POST",
                "/devices/list",
                Auth::UnknownSession,
            ),
            json!({}),
        ),
        with(
            case(
                "devices without a credential",
                "POST",
                "/devices/list",
                Auth::Nothing,
            ),
            json!({}),
        ),
        case(
            "devices, wrong method",
            "PUT",
            "/devices/list",
            Auth::ApiKey,
        ),
        with(
            case(
                "own session with a token",
                "POST",
                "/client_sessions/get",
                Auth::Alice,
            ),
            json!({}),
        ),
        case(
            "own session with a token by GET",
            "GET",
            "/client_sessions/get",
            Auth::Alice,
        ),
        case(
            "session by id, GET",
            "GET",
            "/client_sessions/get?client_session_id={alice_session}",
            Auth::ApiKey,
        ),
        with(
            case(
                "session, unknown id",
                "POST",
                "/client_sessions/get",
                Auth::ApiKey,
            ),
            json!({"client_session_id": unknown}),
        ),
        with(
            case(
                "new session by PUT",
                "PUT",
                "/client_sessions/create",
                Auth::ApiKey,
            ),
            json!({"user_identifier_key": "erin"}),
        ),
        with(
            case(
                "webview with a token",
                "POST",
                "/connect_webviews/create",
                Auth::Alice,
            ),
            json!({"custom_metadata": {"user_id": "alice"}, "accepted_providers": ["august"]}),
        ),
        counted(
            with(
                case("webviews", "POST", "/connect_webviews/list", Auth::ApiKey),
                json!({}),
            ),
            "connect_webviews",
        ),
        counted(
            case(
                "webviews with a token by GET",
                "GET",
                "/connect_webviews/list",
                Auth::Alice,
            ),
            "connect_webviews",
        ),
        with(
            case(
                "complete an unknown webview",
                "POST",
                "/_fake/complete_connect_webview",
                Auth::Nothing,
            ),
            json!({"connect_webview_id": unknown}),
        ),
        with(
            case("account", "POST", "/connected_accounts/get", Auth::ApiKey),
            json!({"connected_account_id": "{alice_account}"}),
        ),
        with(
            case(
                "account, unknown id",
                "POST",
                "/connected_accounts/get",
                Auth::ApiKey,
            ),
            json!({"connected_account_id": unknown}),
        ),
        with(
            case("accounts", "POST", "/connected_accounts/list", Auth::ApiKey),
            json!({}),
        ),
        with(
            case(
                "accounts with a token",
                "POST",
                "/connected_accounts/list",
                Auth::Alice,
            ),
            json!({}),
        ),
    ]
}

fn fill(text: &str, target: &Target) -> String {
    text.replace("{alice_session}", &target.alice_session)
        .replace("{alice_account}", &target.alice_account)
        .replace("{bob_account}", &target.bob_account)
}

struct Answer {
    status: u16,
    body: Value,
}

async fn ask(http: &awc::Client, target: &Target, case: &Case) -> Answer {
    let method = awc::http::Method::from_bytes(case.method.as_bytes()).expect("a method");
    let mut request = http.request(method, format!("{}{}", target.url, fill(case.path, target)));
    let bearer = match case.auth {
        Auth::ApiKey => Some(target.api_key.clone()),
        Auth::Alice => Some(target.alice_token.clone()),
        Auth::WrongKey => Some("seam_wrong_0123456789".to_owned()),
        // `seam_cst1`, as the fake's tokens start: it treats only those as session tokens.
        Auth::UnknownSession => Some("seam_cst1_never_issued_0123456789".to_owned()),
        Auth::Nothing => None,
    };
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = match &case.body {
        Some(body) => {
            let body: Value = serde_json::from_str(&fill(&body.to_string(), target)).expect("json");
            request.send_json(&body).await
        }
        None => request.send().await,
    };
    let mut response = response.expect("an answer");
    let bytes = response.body().await.expect("a body");
    Answer {
        status: response.status().as_u16(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// Where `ours` lacks something of `theirs`' shape (a missing field, another JSON type). A
/// `null` on either side matches anything: the values differ, not the schema.
fn shape_gaps(theirs: &Value, ours: &Value, at: &str, gaps: &mut Vec<String>) {
    match (theirs, ours) {
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::Object(theirs), Value::Object(ours)) => {
            for (key, value) in theirs {
                match ours.get(key) {
                    Some(mine) => shape_gaps(value, mine, &format!("{at}.{key}"), gaps),
                    None => gaps.push(format!("{at}.{key} missing")),
                }
            }
        }
        (Value::Array(theirs), Value::Array(ours)) => {
            if let (Some(theirs), Some(ours)) = (theirs.first(), ours.first()) {
                shape_gaps(theirs, ours, &format!("{at}[0]"), gaps);
            }
        }
        (Value::String(_), Value::String(_))
        | (Value::Number(_), Value::Number(_))
        | (Value::Bool(_), Value::Bool(_)) => {}
        (theirs, ours) => gaps.push(format!("{at}: {theirs} vs {ours}")),
    }
}

/// What differs between the two answers, empty when they agree.
fn differences(case: &Case, fake: &Answer, stand_in: &Answer) -> Vec<String> {
    let mut found = Vec::new();
    if fake.status != stand_in.status {
        found.push(format!("status {} vs {}", fake.status, stand_in.status));
    }
    for field in ["/ok", "/error/type"] {
        let (theirs, ours) = (fake.body.pointer(field), stand_in.body.pointer(field));
        if theirs != ours {
            found.push(format!("{field}: {theirs:?} vs {ours:?}"));
        }
    }
    if let Some(list) = case.counted {
        let length = |a: &Answer| a.body[list].as_array().map(Vec::len);
        if length(fake) != length(stand_in) {
            found.push(format!(
                "{list}: {:?} vs {:?}",
                length(fake),
                length(stand_in)
            ));
        }
    }
    let mut gaps = Vec::new();
    shape_gaps(&fake.body, &stand_in.body, "", &mut gaps);
    found.extend(gaps);
    found
}

/// The gap a field of `FAKE_ONLY_FIELDS` makes.
fn fake_only(gap: &str) -> Option<&'static str> {
    FAKE_ONLY_FIELDS
        .iter()
        .map(|(field, _)| *field)
        .find(|field| gap == format!("{field} missing"))
}

async fn stand_in_target() -> (StandIn, Target) {
    let seam = StandIn::start().await;
    // The fake's workspace has publishable keys on (and so a `publishable_key`): seed alike.
    seam.set_workspace(WorkspaceSpec {
        is_publishable_key_auth_enabled: true,
        ..WorkspaceSpec::default()
    });
    let alice = |seam: &StandIn| {
        seam.add_connected_account(AccountSpec::owned_by("alice").with_metadata("user_id", "alice"))
    };
    let (first, second) = (alice(&seam), alice(&seam));
    let bob =
        seam.add_connected_account(AccountSpec::owned_by("bob").with_metadata("user_id", "bob"));
    seam.add_device(&first, "Front door");
    seam.add_device(&second, "Garage");
    seam.add_device(&bob, "Bob's flat");
    let http = awc::Client::default();
    let mut response = http
        .post(format!("{}/client_sessions/get_or_create", seam.url()))
        .bearer_auth(seam.api_key())
        .send_json(
            &json!({"user_identifier_key": "alice", "connected_account_ids": [first, second]}),
        )
        .await
        .expect("a session");
    let session: Value = response.json().await.expect("json");
    let target = Target {
        url: seam.url(),
        api_key: seam.api_key(),
        alice_token: session["client_session"]["token"]
            .as_str()
            .expect("token")
            .to_owned(),
        alice_session: (session["client_session"]["client_session_id"].as_str())
            .expect("id")
            .to_owned(),
        alice_account: first,
        bob_account: bob,
    };
    (seam, target)
}

#[actix_web::test]
async fn the_stand_in_answers_as_seams_own_fake_where_both_implement_a_route() {
    let fake = FakeSeam::start();
    let seeded = &fake.seeded;
    let theirs = Target {
        url: seeded.url.clone(),
        api_key: seeded.api_key.clone(),
        alice_token: seeded.alice_token.clone(),
        alice_session: seeded.alice_session_id.clone(),
        alice_account: seeded.alice_accounts[0].clone(),
        bob_account: seeded.bob_account.clone(),
    };
    let (_seam, ours) = stand_in_target().await;
    let http = awc::Client::default();
    let mut disagreements = Vec::new();
    let mut fake_only_seen = Vec::new();
    for case in cases() {
        let (fake_answer, our_answer) = (
            ask(&http, &theirs, &case).await,
            ask(&http, &ours, &case).await,
        );
        let mut found = differences(&case, &fake_answer, &our_answer);
        found.retain(|gap| match fake_only(gap) {
            Some(field) => {
                fake_only_seen.push(field);
                false
            }
            None => true,
        });
        match FAKE_IS_WRONG.iter().find(|(name, _)| *name == case.name) {
            Some((_, why)) => assert!(
                !found.is_empty(),
                "{}: the fake now agrees ({why}): drop it from FAKE_IS_WRONG",
                case.name
            ),
            None if !found.is_empty() => disagreements.push(format!(
                "{}: {}\n  fake: {}\n  stand-in: {}",
                case.name,
                found.join("; "),
                fake_answer.body,
                our_answer.body
            )),
            None => {}
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    for (field, why) in FAKE_ONLY_FIELDS {
        assert!(
            fake_only_seen.contains(field),
            "{field} no longer comes from the fake ({why}): drop it from FAKE_ONLY_FIELDS"
        );
    }
}

/// The CORS answer a browser running Seam's JS SDK gets, from both.
#[actix_web::test]
async fn the_stand_in_answers_the_sdks_preflight_as_seams_fake_does() {
    let fake = FakeSeam::start();
    let (_seam, ours) = stand_in_target().await;
    let http = awc::Client::default();
    let preflight = |url: String| {
        http.request(awc::http::Method::OPTIONS, format!("{url}/devices/list"))
            .insert_header(("Origin", "http://127.0.0.1:5173"))
            .insert_header(("Access-Control-Request-Method", "POST"))
            .insert_header((
                "Access-Control-Request-Headers",
                "authorization,client-session-token,content-type,seam-lts-version,seam-sdk-name,seam-sdk-version",
            ))
            .send()
    };
    for url in [fake.seeded.url.clone(), ours.url.clone()] {
        let response = preflight(url.clone()).await.expect("an answer");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        assert_eq!(
            header("access-control-allow-origin").as_deref(),
            Some("http://127.0.0.1:5173"),
            "{url}"
        );
        assert_eq!(
            header("access-control-allow-credentials").as_deref(),
            Some("true"),
            "{url}"
        );
        let allowed = header("access-control-allow-headers")
            .unwrap_or_default()
            .to_ascii_lowercase();
        for asked in [
            "authorization",
            "client-session-token",
            "seam-sdk-name",
            "seam-sdk-version",
            "seam-lts-version",
        ] {
            assert!(allowed.contains(asked), "{url}: {asked} not in {allowed}");
        }
    }
}
