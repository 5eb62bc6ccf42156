//! The binary's log: one line per request with the fields operators need, never a key, login
//! token or client session token, even at trace level; SIGTERM stops it cleanly.

use seam_stand_in::{AccountSpec, Fault, StandIn, WorkspaceSpec};
use serde_json::Value;

use crate::helpers::{SECRET, base_toml, hs256_auth, issuer_and_audience, login, sign};
use crate::process::Running;

/// The binary's settings for `seam`, in a folder of their own (kept while the folder is).
pub(crate) fn config_for(seam: &StandIn) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("c.toml");
    let toml = base_toml(seam, &(hs256_auth() + &issuer_and_audience()));
    std::fs::write(&config, toml).expect("write");
    (dir, config)
}

#[actix_web::test]
async fn logs_carry_request_fields_and_never_a_secret() {
    let seam = StandIn::start().await;
    // With publishable keys on and no derived user keys, start-up warns.
    seam.set_workspace(WorkspaceSpec {
        is_publishable_key_auth_enabled: true,
        ..WorkspaceSpec::default()
    });
    let account = seam.add_connected_account(AccountSpec::owned_by("alice"));
    seam.add_device(&account, "door");
    let (_dir, config) = config_for(&seam);
    let service = Running::start(
        &config,
        &[],
        &[
            ("RUST_LOG", "trace"),
            ("SEAM_BFF__RATE_LIMIT__ENABLED", "true"),
            ("SEAM_BFF__RATE_LIMIT__CLIENT_BURST", "1"),
        ],
    );
    let http = crate::contract::checked_client(&service.address);
    let url = format!("{}/v1/client-session", service.address);

    let alice = login("alice");
    let mut issued = Vec::new();
    for _ in 0..2 {
        let mut response = http
            .post(&url)
            .bearer_auth(&alice)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status().as_u16(), 200);
        let body: Value = response.json().await.expect("json");
        issued.push(body["token"].as_str().expect("token").to_owned());
    }
    let mut expired = crate::helpers::claims("bob");
    expired["exp"] = (crate::helpers::now() - 3600).into();
    let expired = sign(&expired);
    let refused = http
        .post(&url)
        .bearer_auth(&expired)
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status().as_u16(), 401);
    seam.inject("/client_sessions/get_or_create", Fault::Status(500), 1);
    let carol = login("carol");
    let failed = http
        .post(&url)
        .bearer_auth(&carol)
        .send()
        .await
        .expect("sent");
    assert_eq!(failed.status().as_u16(), 502);
    // A forged login spends the address's one failure; the next is refused before its check.
    let forged = format!("{}x", login("mallory"));
    for status in [401, 429] {
        let answer = http
            .post(&url)
            .bearer_auth(&forged)
            .send()
            .await
            .expect("sent");
        assert_eq!(answer.status().as_u16(), status);
    }
    let api_key = seam.api_key();

    let (exit, log) = service.terminate();

    assert!(exit.success(), "graceful exit on SIGTERM: {exit:?}");
    for secret in [api_key.as_str(), SECRET, &alice, &expired, &carol, &forged]
        .into_iter()
        .chain(issued.iter().map(String::as_str))
    {
        assert!(!log.contains(secret), "a secret reached the log");
    }
    // A JWT's signature alone is as good as a fingerprint of it: also absent.
    let signature = alice.rsplit('.').next().expect("signature");
    assert!(!log.contains(signature));
    assert!(
        !log.contains("seam_cst"),
        "a client session token reached the log"
    );

    let entries: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let requests: Vec<&Value> = entries
        .iter()
        .filter(|e| e["fields"]["message"] == "request")
        .collect();
    assert_eq!(requests.len(), 6, "one line per request");
    let first = &requests[0];
    assert_eq!(first["fields"]["route"], "/v1/client-session");
    assert_eq!(first["fields"]["status"], 200);
    assert_eq!(first["fields"]["cache"], "miss");
    assert!(first["fields"]["latency_ms"].is_string() || first["fields"]["latency_ms"].is_number());
    let first_id = first["fields"]["request_id"]
        .as_str()
        .expect("a request id");
    assert_eq!(first_id.len(), 32);
    assert_eq!(requests[1]["fields"]["cache"], "hit");
    assert_eq!(requests[2]["fields"]["status"], 401);
    assert_eq!(requests[3]["fields"]["status"], 502);
    assert!(
        requests[3]["fields"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("/client_sessions/get_or_create") && e.contains("500"))
    );
    assert_eq!(requests[5]["fields"]["status"], 429);
    assert!(
        requests[5]["fields"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("failed-logins")),
        "the log names the limit: {}",
        requests[5]
    );
    let upstream: Vec<&Value> = entries
        .iter()
        .filter(|e| e["fields"]["message"] == "seam call")
        .collect();
    assert!(!upstream.is_empty());
    for call in &upstream {
        assert!(call["fields"]["endpoint"].is_string());
        assert!(
            call["fields"]["seam_request_id"]
                .as_str()
                .is_some_and(|id| id != "-")
        );
        // The one call outside a request is start-up's look at the workspace.
        let at_start_up = call["fields"]["endpoint"] == "/workspaces/get";
        let id = call["fields"]["request_id"]
            .as_str()
            .expect("a request_id field");
        assert!(
            (id.len() == 32) != at_start_up,
            "upstream calls carry their request's id, and only they: {call}"
        );
    }
    // The first handshake's own Seam calls carry its id.
    assert!(
        (upstream.iter()).any(|call| call["fields"]["request_id"] == first_id),
        "the first handshake's calls carry its id"
    );
    assert!(entries.iter().any(|e| e["fields"]["message"] == "stopped"));
    // Start-up asks Seam which workspace the key is for, and says so.
    let workspace = entries
        .iter()
        .find(|e| e["fields"]["message"] == "seam workspace")
        .expect("a seam workspace line");
    assert!(
        workspace["fields"]["workspace_id"].is_string(),
        "{workspace}"
    );
    assert_eq!(workspace["fields"]["sandbox"], true);
    let warning = entries
        .iter()
        .find(|e| {
            e["level"] == "WARN"
                && e["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("publishable keys"))
        })
        .expect("a warning about publishable keys");
    assert!(
        warning["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("identity.key_hmac_secret")),
        "{warning}"
    );
    // Start-up says what is in effect.
    let summary = entries
        .iter()
        .find(|e| e["fields"]["message"] == "configuration")
        .and_then(|e| e["fields"]["settings"].as_str())
        .expect("a configuration line");
    assert!(
        summary.contains(&seam.url())
            && summary.contains("accounts: seam")
            && summary.contains("rate limits"),
        "{summary}"
    );
}

/// A Seam that refuses connections: the failed call's log line names the cause class, and so
/// do `/readyz` and `seam-bff healthcheck`. (A name that does not resolve is `dns`; that class
/// is checked in the service's unit tests, as resolving a name would leave loopback.)
#[actix_web::test]
async fn a_seam_that_refuses_connections_is_named_so_in_the_log_and_readyz() {
    let seam = StandIn::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let (_dir, config) = config_for(&seam);
    let endpoint = format!("http://{closed}");
    let service = Running::start(&config, &[], &[("SEAM_BFF__SEAM__ENDPOINT", &endpoint)]);
    let mut ready = awc::Client::default()
        .get(format!("{}/readyz", service.address))
        .send()
        .await
        .expect("answers");
    assert_eq!(ready.status().as_u16(), 503);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(
        (&body["reason"], &body["cause"]),
        (&Value::from("seam_unavailable"), &Value::from("connect")),
        "{body}"
    );
    let address = service.address.trim_start_matches("http://").to_owned();
    let probe = crate::process::run_async(
        &[
            "--config",
            config.to_str().expect("utf-8"),
            "healthcheck",
            "--address",
            &address,
        ],
        &[("SEAM_BFF__SEAM__ENDPOINT", &endpoint)],
    )
    .await;
    assert_eq!(probe.status.code(), Some(1));
    let said = String::from_utf8_lossy(&probe.stderr);
    assert!(said.contains("seam_unavailable (connect)"), "{said}");

    let (_, log) = service.terminate();
    let failed: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["fields"]["message"] == "seam call failed")
        .collect();
    assert!(!failed.is_empty(), "{log}");
    for line in &failed {
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["fields"]["cause"], "connect");
        assert!(
            line["fields"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("unreachable")),
            "{line}"
        );
    }
}
