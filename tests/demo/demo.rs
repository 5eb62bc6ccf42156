//! `cargo run --example demo`: the whole path on loopback. A stand-in Seam with demo users alice
//! and bob, the service in front of it, and the example frontend (`tests/demo/frontend/`) served
//! by a small app server that plays the app's identity provider. Open the page, sign in, and
//! the page exchanges the login for a client session token and lists the user's devices at
//! Seam with it.
//!
//! It uses `config/demo.toml`; `SEAM_BFF__…` variables still override it (e.g.
//! `SEAM_BFF__SERVER__BIND=127.0.0.1:9000`). The browser test starts it with `--json`.

mod app_server;

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;

use clap::Parser;
use seam_bff::config::Settings;
use seam_bff::startup::Application;
use seam_bff::telemetry;
use seam_stand_in::{AccountSpec, StandIn};
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
    /// Print the addresses as one JSON line instead of the walkthrough (for the browser test).
    #[arg(long)]
    json: bool,
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

    let page_listener = TcpListener::bind(&args.page_bind)?;
    let page_origin = format!("http://{}", page_listener.local_addr()?);
    let mut env: HashMap<String, String> = std::env::vars().collect();
    env.insert("SEAM_BFF__SEAM__ENDPOINT".into(), seam.url());
    env.insert("SEAM_BFF__SEAM__API_KEY".into(), seam.api_key());
    let mut settings = Settings::load(Some(Path::new(DEMO_CONFIG)), &env)
        .unwrap_or_else(|e| panic!("demo config: {e}"));
    settings.cors.allowed_origins.push(page_origin.clone());
    let _log = telemetry::init(settings.log.format);
    let app = Application::build(&settings).unwrap_or_else(|e| panic!("demo start-up: {e}"));
    app.shutdown_on_signal()?;
    let bff = format!("http://{}", app.address());
    let logins = app_server::Logins::from_settings(&settings);
    let page = app_server::serve(page_listener, logins.clone(), &bff, &seam.url())?;

    if args.json {
        let addresses = json!({
            "page": page_origin,
            "bff": bff,
            "seam": seam.url(),
            "cookie_name": settings.auth.cookie_name,
        });
        println!("{addresses}");
    } else {
        walkthrough(&page_origin, &bff, &seam.url(), &logins);
    }
    let served = app.run_until_stopped().await;
    page.stop(true).await;
    served
}

fn walkthrough(page: &str, bff: &str, seam: &str, logins: &app_server::Logins) {
    println!("\nseam-bff demo: the service on {bff}, a stand-in Seam on {seam}\n");
    println!("# Open the example frontend and sign in as alice or bob: {page}\n");
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
    println!("# Ctrl-C stops the demo.\n");
}
