//! Abuse limits: per user, what reaches Seam; per client address, failed signature checks (all
//! other refusals and all valid sign-ins cost nothing); 429 with Retry-After and the RateLimit
//! headers; the client address as the trusted proxy wrote it, in `X-Forwarded-For` or
//! `Forwarded`; an off switch.

use seam_bff::config::{ForwardedHeader, Settings};
use serde_json::json;

use crate::helpers::{Options, TestApp, assert_retry_after, claims, forged, login, spawn_app_with};

/// Limits a test reaches: two Seam-costing requests per user and three failed signature checks
/// per address, each refilled once a minute; a test's own changes come after, and win.
fn limited() -> Options {
    Options::default().with(|s| {
        s.rate_limit.enabled = true;
        s.rate_limit.user_per_minute = 1;
        s.rate_limit.user_burst = 2;
        s.rate_limit.client_per_minute = 1;
        s.rate_limit.client_burst = 3;
    })
}

/// Proxies on loopback, where the tests' requests come from, are trusted.
fn behind_a_trusted_proxy(s: &mut Settings) {
    s.server.trusted_proxies = vec!["127.0.0.0/8".into()];
}

async fn handshake_from(app: &TestApp, token: &str, forwarded: Option<(&str, &str)>) -> u16 {
    let mut request = app
        .http
        .post(format!("{}/v1/client-session", app.address))
        .bearer_auth(token);
    if let Some(header) = forwarded {
        request = request.insert_header(header);
    }
    request.send().await.expect("sent").status().as_u16()
}

/// Each handshake of alice's needs Seam (account lookups are not kept), so each counts.
#[actix_web::test]
async fn a_user_over_the_limit_gets_429_with_retry_after_and_the_policy() {
    let app = spawn_app_with(limited().with(|s| s.accounts.cache_ttl_secs = 0)).await;
    assert_eq!(app.handshake("alice").await.status, 200);
    assert_eq!(app.handshake("alice").await.status, 200);
    let limited = app.handshake("alice").await;
    assert_eq!((limited.status, limited.code()), (429, "rate_limited"));
    assert_retry_after(limited.header("retry-after"));
    assert_eq!(
        limited.header("ratelimit-policy"),
        Some(r#""seam-calls";q=2;w=120"#)
    );
    let retry = limited.header("retry-after").expect("retry-after");
    assert_eq!(
        limited.header("ratelimit"),
        Some(format!(r#""seam-calls";r=0;t={retry}"#).as_str())
    );
    assert_eq!(
        app.handshake("bob").await.status,
        200,
        "users are limited separately"
    );
}

/// A page reload costs Seam nothing, so it is never counted: however often alice reloads or
/// signs in again while her session is cached, she gets it.
#[actix_web::test]
async fn cached_handshakes_never_count_against_the_user() {
    let app = spawn_app_with(limited()).await;
    let token = app.login("alice");
    for _ in 0..20 {
        assert_eq!(app.handshake_with(&token).await.status, 200);
        assert_eq!(
            app.handshake("alice").await.status,
            200,
            "a new login, cached session"
        );
    }
    assert_eq!(app.seam.calls("/client_sessions/get_or_create"), 1);
}

/// Each logout costs Seam calls, so a user cannot log out without limit either: 40 logouts
/// make the Seam calls of the two the burst allows.
#[actix_web::test]
async fn logouts_count_against_the_user_limit() {
    let app = spawn_app_with(limited()).await;
    let mut statuses = Vec::new();
    for _ in 0..40 {
        // A new login each time: a logout ends the login it was sent with.
        statuses.push(app.logout(Some(&app.later_login("alice"))).await.status);
    }
    assert_eq!(&statuses[..2], [204, 204]);
    assert!(statuses[2..].iter().all(|s| *s == 429), "{statuses:?}");
    assert_eq!(app.seam.calls("/client_sessions/list"), 2);
    let handshake = app.handshake_with(&app.later_login("alice")).await;
    assert_eq!(
        handshake.status, 429,
        "one budget for both, once Seam is needed"
    );
}

/// Forged tokens from one address are cut off after the burst, before their signature is
/// checked; a login verified before still works from there, and other addresses are
/// unaffected. Refusals that need no signature work never count.
#[actix_web::test]
async fn forged_logins_are_cut_off_without_touching_anyone_else() {
    let app = spawn_app_with(limited().with(behind_a_trusted_proxy)).await;
    let office = ("x-forwarded-for", "198.51.100.1");
    let remembered = login("alice");
    assert_eq!(handshake_from(&app, &remembered, Some(office)).await, 200);
    let mut expired = claims("mallory");
    expired["exp"] = json!(crate::helpers::now() - 300);
    let expired = crate::helpers::sign(&expired);
    for cheap in ["not a token", expired.as_str()] {
        for _ in 0..10 {
            assert_eq!(handshake_from(&app, cheap, Some(office)).await, 401);
        }
    }

    for _ in 0..3 {
        assert_eq!(
            handshake_from(&app, &forged("mallory"), Some(office)).await,
            401
        );
    }
    let refused = app
        .http
        .post(format!("{}/v1/client-session", app.address))
        .insert_header(office)
        .bearer_auth(forged("mallory"))
        .send()
        .await
        .expect("sent");
    let refused = crate::helpers::read(refused).await;
    assert_eq!((refused.status, refused.code()), (429, "rate_limited"));
    assert_retry_after(refused.header("retry-after"));
    assert_eq!(
        refused.header("ratelimit-policy"),
        Some(r#""failed-logins";q=3;w=180"#)
    );
    assert_eq!(
        handshake_from(&app, &login("bob"), Some(office)).await,
        429,
        "a token not verified before waits with the rest of the address"
    );
    assert_eq!(handshake_from(&app, &remembered, Some(office)).await, 200);
    let elsewhere = ("x-forwarded-for", "203.0.113.50");
    assert_eq!(
        handshake_from(&app, &login("carol"), Some(elsewhere)).await,
        200
    );
    assert_eq!(
        handshake_from(&app, &forged("mallory"), Some(elsewhere)).await,
        401
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(
            r#"seam_bff_rate_limited_total{reason="signature_failures",scope="client"} 2"#
        ),
        "{metrics}"
    );
}

/// An office of 1,000 people behind one address, with the shipped limits: each signs in once
/// and reloads twice, and nobody sees a 429.
#[actix_web::test]
async fn an_office_behind_one_address_signs_in_with_the_defaults() {
    let app = spawn_app_with(Options::default().with(|s| s.rate_limit.enabled = true)).await;
    for n in 0..1000 {
        let token = login(&format!("employee-{n}"));
        for _ in 0..3 {
            let reply = app.handshake_with(&token).await;
            assert_eq!(reply.status, 200, "employee-{n}: {}", reply.text);
        }
    }
}

/// With three failures allowed, each spelling of an address below reaches the same bucket:
/// the fourth forged token, however written, is refused before its check.
async fn assert_one_bucket(app: &TestApp, header: &str, spellings: &[&str]) {
    let mut statuses = Vec::new();
    for value in spellings {
        statuses.push(handshake_from(app, &forged("mallory"), Some((header, value))).await);
    }
    assert_eq!(statuses, [401, 401, 401, 429], "{spellings:?}");
}

#[actix_web::test]
async fn the_client_address_is_the_one_the_trusted_proxy_wrote() {
    let xff = spawn_app_with(limited().with(behind_a_trusted_proxy)).await;
    let header = "x-forwarded-for";
    assert_one_bucket(
        &xff,
        header,
        &[
            "198.51.100.1",
            "6.6.6.6, 198.51.100.1:5555",
            "7.7.7.7, ::ffff:198.51.100.1",
            "8.8.8.8, [::ffff:198.51.100.1]:443",
        ],
    )
    .await;
    assert_one_bucket(
        &xff,
        header,
        &[
            "2001:db8:1:2::1",
            "6.6.6.6, [2001:db8:1:2::2]:443",
            "[2001:db8:1:2:ffff::9]",
            "2001:db8:1:2:abcd::1",
        ],
    )
    .await;
    // Unreadable entries count against the proxy that wrote them, never the entry to their left.
    assert_one_bucket(
        &xff,
        header,
        &["6.6.6.1, unknown", "6.6.6.2, g@rbage", "6.6.6.3, ", "_x"],
    )
    .await;

    let forwarded = spawn_app_with(limited().with(|s| {
        behind_a_trusted_proxy(s);
        s.server.forwarded_header = ForwardedHeader::Forwarded;
    }))
    .await;
    assert_one_bucket(
        &forwarded,
        "forwarded",
        &[
            "for=198.51.100.1",
            r#"for=6.6.6.6, for="198.51.100.1:5555";proto=https"#,
            r#"For="[::ffff:198.51.100.1]:443""#,
            "for=198.51.100.1;by=127.0.0.1",
        ],
    )
    .await;
    // There, X-Forwarded-For is the client's own writing, and is not read.
    let spoofed = ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"];
    assert_one_bucket(&forwarded, "x-forwarded-for", &spoofed).await;
}

#[actix_web::test]
async fn a_spoofed_forwarded_for_counts_only_from_a_trusted_proxy() {
    let direct = spawn_app_with(limited()).await;
    let spoofed = [
        "198.51.100.1",
        "198.51.100.2",
        "198.51.100.3",
        "198.51.100.4",
    ];
    assert_one_bucket(&direct, "x-forwarded-for", &spoofed).await;
}

#[actix_web::test]
async fn the_off_switch_turns_limits_off() {
    let app = spawn_app_with(limited().with(|s| {
        s.rate_limit.enabled = false;
        s.accounts.cache_ttl_secs = 0;
    }))
    .await;
    for _ in 0..6 {
        assert_eq!(app.handshake("alice").await.status, 200);
        assert_eq!(handshake_from(&app, &forged("mallory"), None).await, 401);
    }
}

#[actix_web::test]
async fn a_page_can_read_a_client_refusal_and_it_is_logged_and_counted() {
    const ORIGIN: &str = "https://app.example.com";
    let app = spawn_app_with(limited().with(|s| {
        s.rate_limit.client_burst = 1;
        s.cors.allowed_origins = vec![ORIGIN.into()];
    }))
    .await;
    assert_eq!(handshake_from(&app, &forged("mallory"), None).await, 401);
    let refused = app
        .http
        .post(format!("{}/v1/client-session", app.address))
        .insert_header(("origin", ORIGIN))
        .bearer_auth(login("alice"))
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status().as_u16(), 429);
    let header = |name: &str| {
        refused
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(
        header("access-control-allow-origin").as_deref(),
        Some(ORIGIN)
    );
    let exposed = header("access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for name in ["retry-after", "ratelimit", "ratelimit-policy"] {
        assert!(
            exposed.split(", ").any(|e| e == name),
            "{name} in {exposed}"
        );
    }
    assert!(header("x-request-id").is_some());
    let metrics = app.metrics().await;
    assert!(
        metrics
            .contains(r#"seam_bff_http_requests_total{route="/v1/client-session",status="429"} 1"#)
    );
    assert!(
        metrics.contains(
            r#"seam_bff_rate_limited_total{reason="signature_failures",scope="client"} 1"#
        ),
        "{metrics}"
    );
}
