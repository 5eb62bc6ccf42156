//! End-to-end checks of the stand-in through a real socket and its public controls, with a
//! deliberately dumb HTTP/1.1 client so that nothing but the wire format is trusted. The
//! client is here; the checks are in `tests/`, one file per part of the API.

mod accounts;
mod customers;
mod refusals;
mod schemas;
mod sessions;
mod transport;
mod webviews;

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
/// Every successful JSON answer is checked against Seam's schemas, whatever the test asks.
async fn request(stand_in: &StandIn, raw: Raw) -> Reply {
    let addr = stand_in.addr.to_string();
    let path = raw.path.clone();
    let reply = actix_web::rt::task::spawn_blocking(move || send(addr, raw))
        .await
        .expect("the client thread finishes");
    if reply.status == 200
        && let Ok(body) = serde_json::from_str::<Value>(&reply.body)
    {
        schemas::assert_body_meets_schemas(&path, &body);
    }
    reply
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

/// The session `path` (`get_or_create` or `create`) answers with the API key.
async fn session_from(stand_in: &StandIn, path: &str, body: Value) -> Value {
    let made = ok_json(stand_in, path, &stand_in.api_key(), body).await;
    made["client_session"].clone()
}

async fn get_or_create(stand_in: &StandIn, body: Value) -> Value {
    session_from(stand_in, "/client_sessions/get_or_create", body).await
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

/// The body of a POST that must succeed.
async fn ok_json(stand_in: &StandIn, path: &str, token: &str, body: Value) -> Value {
    let reply = post(stand_in, path, token, body).await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    reply.json()
}

/// Asserts a POST is refused with 400 `invalid_input` whose message names `naming`.
async fn assert_refused(stand_in: &StandIn, path: &str, token: &str, body: Value, naming: &str) {
    let reply = post(stand_in, path, token, body.clone()).await;
    assert_eq!(
        (reply.status, reply.error_type()),
        (400, "invalid_input".to_owned()),
        "{path} {body}: {}",
        reply.body
    );
    let message = reply.json()["error"]["message"].clone();
    assert!(
        message.as_str().is_some_and(|m| m.contains(naming)),
        "{path} {body}: {message} does not name {naming}"
    );
}

/// The `id` field of every item of a list.
fn ids(list: &Value, id: &str) -> Vec<String> {
    (list.as_array().expect("a list").iter())
        .map(|item| item[id].as_str().expect("an id").to_owned())
        .collect()
}

fn token(session: &Value) -> String {
    session["token"].as_str().expect("a token").to_owned()
}

/// A Connect Webview made with `credential`; returns its id.
async fn make_webview(stand_in: &StandIn, credential: &str, body: Value) -> String {
    let made = ok_json(stand_in, "/connect_webviews/create", credential, body).await;
    ids(&json!([made["connect_webview"]]), "connect_webview_id").remove(0)
}

/// A GET with its parameters in `path`'s query.
async fn bare_get(stand_in: &StandIn, path: &str, token: &str) -> Reply {
    bare(stand_in, "GET", path, token).await
}

/// The events queued since the last call, as their JSON, each checked against Seam's schema.
fn events_of(stand_in: &StandIn) -> Vec<Value> {
    let events: Vec<Value> = (stand_in.take_deliveries().iter())
        .map(|d| serde_json::from_slice(&d.body).expect("an event"))
        .collect();
    events.iter().for_each(schemas::assert_event_meets_schema);
    events
}
