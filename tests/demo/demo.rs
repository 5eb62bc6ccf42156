//! `cargo run --example demo`: the whole path on loopback. A stand-in Seam with demo users alice
//! and bob, the service in front of it, and the example frontend (`tests/demo/frontend/`) served
//! by a small app server that plays the app's identity provider. Open the page, sign in, and
//! the page exchanges the login for a client session token and lists the user's devices at
//! Seam with it.
//!
//! It uses `config/demo.toml`; `SEAM_BFF__…` variables still override it, and `--bind`,
//! `--management-bind` and `--page-bind` move its listeners. Its instructions go to stdout and
//! the service's log to stderr (`2>demo.log` keeps them apart). The admin API is on, with a
//! token made for the run and printed. The browser test starts it with `--json`.

mod app_server;

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;

use clap::Parser;
use seam_bff::config::Settings;
use seam_bff::startup::{Application, StartupError};
use seam_bff::telemetry;
use seam_stand_in::{AccountSpec, StandIn};
use secrecy::SecretString;
use serde_json::json;

const DEMO_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/demo.toml");

/// Demo users and their devices.
const DEMO_USERS: [(&str, &[&str]); 2] = [
    ("alice", &["Front door", "Garage"]),
    ("bob", &["Bob's flat"]),
];

#[derive(Parser)]
struct Args {
    /// Where the example frontend is served; its origin is added to cors.allowed_origins.
    #[arg(long, default_value = "127.0.0.1:3000")]
    page_bind: String,
    /// Where the service listens (`server.bind`; config/demo.toml says 127.0.0.1:8080).
    #[arg(long)]
    bind: Option<String>,
    /// Where the management listener (metrics, admin API) listens (`management.bind`).
    #[arg(long)]
    management_bind: Option<String>,
    /// Print the addresses as one JSON line instead of the walkthrough (for the browser test).
    #[arg(long)]
    json: bool,
    /// Also trust this OpenID provider's ID tokens (RS256, its key set at `{issuer}/jwks`),
    /// and offer the page's sign-in there (the browser test's `oidc-provider`).
    #[arg(long)]
    oidc_issuer: Option<String>,
    /// The example app's client id at that provider: the ID tokens' `aud`.
    #[arg(long, default_value = "seam-bff-example")]
    oidc_client_id: String,
}

/// The flag that moves each listener, for a start-up that could not bind it.
const FLAGS: [(&str, &str); 3] = [
    ("server.bind", "--bind"),
    ("management.bind", "--management-bind"),
    ("page", "--page-bind"),
];

/// Ends the demo with one line on stderr, no backtrace.
fn fail(message: &str) -> ! {
    eprintln!("demo: {message}");
    std::process::exit(1);
}

/// A listener that could not be bound, named with the flag that moves it.
fn cannot_listen(key: &str, address: &str, error: &dyn std::fmt::Display) -> ! {
    let flag = FLAGS.iter().find(|(k, _)| *k == key).map_or("", |(_, f)| f);
    fail(&format!(
        "cannot listen on {address} ({key}): {error}; pick another with {flag} <address:port>"
    ))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let seam = StandIn::start().await;
    for (user, devices) in DEMO_USERS {
        let account = seam.add_connected_account(AccountSpec::owned_by(user));
        for device in devices {
            seam.add_device(&account, device);
        }
    }

    let page_listener = TcpListener::bind(&args.page_bind)
        .unwrap_or_else(|e| cannot_listen("page", &args.page_bind, &e));
    let page_origin = format!("http://{}", page_listener.local_addr()?);
    let mut env: HashMap<String, String> = std::env::vars().collect();
    env.insert("SEAM_BFF__SEAM__ENDPOINT".into(), seam.url());
    env.insert("SEAM_BFF__SEAM__API_KEY".into(), seam.api_key());
    let mut settings = Settings::load(Some(Path::new(DEMO_CONFIG)), &env)
        .unwrap_or_else(|e| fail(&format!("demo config: {e}")));
    settings.cors.allowed_origins.push(page_origin.clone());
    if let Some(bind) = args.bind {
        settings.server.bind = bind;
    }
    if let Some(bind) = args.management_bind {
        settings.management.bind = bind;
    }
    if let Some(issuer) = &args.oidc_issuer {
        trust_provider(&mut settings, issuer, &args.oidc_client_id);
    }
    let admin_token = format!("demo-admin-{:032x}", fastrand::u128(..));
    settings.admin.token = Some(SecretString::from(admin_token.clone()));
    let _log = telemetry::init_to_stderr(settings.log.format);
    let app = Application::build(&settings).unwrap_or_else(|e| match e {
        StartupError::Bind {
            key,
            address,
            source,
        } => cannot_listen(key, &address, &source),
        other => fail(&format!("start-up: {other}")),
    });
    app.shutdown_on_signal()?;
    let bff = format!("http://{}", app.address());
    let management = format!("http://{}", app.management_address());
    let logins = app_server::Logins::from_settings(&settings);
    let oidc = (args.oidc_issuer.as_ref())
        .map(|issuer| json!({ "issuer": issuer, "client_id": args.oidc_client_id }));
    let endpoints = json!({ "bff": bff, "seam": seam.url(), "oidc": oidc });
    let page = app_server::serve(page_listener, logins.clone(), endpoints)?;

    if args.json {
        let addresses = json!({
            "page": page_origin,
            "bff": bff,
            "seam": seam.url(),
            "management": management,
            "cookie_name": settings.auth.cookie_name,
        });
        println!("{addresses}");
    } else {
        let urls = Urls {
            page: &page_origin,
            bff: &bff,
            seam: &seam.url(),
            management: &management,
        };
        walkthrough(&urls, &logins, &admin_token);
    }
    let served = app.run_until_stopped().await;
    page.stop(true).await;
    served
}

/// Trusts an OpenID provider besides the demo's own logins, as the README's recipe says: its
/// ID tokens for the example app's client id, verified with its key set. Its users are the
/// demo's users (`identity.issuers_share_users`): its alice sees alice's devices.
fn trust_provider(settings: &mut Settings, issuer: &str, client_id: &str) {
    let entry = json!({
        "issuer": issuer,
        "audience": client_id,
        "algorithms": ["RS256"],
        "jwks_url": format!("{issuer}/jwks"),
    });
    let entry =
        serde_json::from_value(entry).unwrap_or_else(|e| fail(&format!("--oidc-issuer: {e}")));
    settings.auth.issuers.push(entry);
    settings.identity.issuers_share_users = true;
}

struct Urls<'a> {
    page: &'a str,
    bff: &'a str,
    seam: &'a str,
    management: &'a str,
}

fn walkthrough(urls: &Urls, logins: &app_server::Logins, admin_token: &str) {
    let Urls {
        page,
        bff,
        seam,
        management,
    } = urls;
    println!("\nseam-bff demo: the service on {bff}, a stand-in Seam on {seam}");
    println!(
        "(the service's log goes to stderr: `2>demo.log` keeps it out of these instructions)\n"
    );
    println!("# Open the example frontend and sign in as alice or bob: {page}");
    println!(
        "# The same with Seam Components, once built (npm ci --prefix tests/browser && npm run build --prefix tests/browser): {page}/components\n"
    );
    for (user, _) in DEMO_USERS {
        let token = logins.mint(user);
        println!("# {user}'s handshake with curl (login valid 24 h):");
        println!("curl -s -X POST {bff}/v1/client-session -H 'Authorization: Bearer {token}'\n");
    }
    println!("# Then list that user's devices at the stand-in Seam with the returned token:");
    println!(
        "curl -s -X POST {seam}/devices/list -H 'Authorization: Bearer <token>' -H 'Content-Type: application/json' -d '{{}}'\n"
    );
    println!("# Probes: curl -i {bff}/healthz ; curl -i {bff}/readyz");
    println!("# Metrics: curl -s {management}/metrics | grep seam_bff_");
    println!("# Admin API (token made for this run):");
    println!("curl -s {management}/admin/client-sessions -H 'Authorization: Bearer {admin_token}'");
    println!(
        "curl -s -X POST {management}/admin/users/alice/revoke -H 'Authorization: Bearer {admin_token}'\n"
    );
    println!("# Ctrl-C stops the demo.\n");
}
