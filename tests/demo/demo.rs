//! `cargo run --example demo`: the service against the stand-in Seam on loopback, with demo
//! users alice and bob, a demo login secret, and the curl commands that perform a handshake.
//!
//! It uses `config/demo.toml`; `SEAM_BFF__…` variables still override it (e.g.
//! `SEAM_BFF__SERVER__BIND=127.0.0.1:9000`).

use std::collections::HashMap;
use std::path::Path;

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use seam_bff::config::Settings;
use seam_bff::startup::Application;
use seam_bff::telemetry;
use seam_stand_in::{AccountSpec, StandIn};
use secrecy::ExposeSecret;
use serde_json::json;

const DEMO_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/demo.toml");

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let seam = StandIn::start().await;
    let demo_users: [(&str, &[&str]); 2] = [
        ("alice", &["Front door", "Garage"]),
        ("bob", &["Bob's flat"]),
    ];
    for (user, devices) in demo_users {
        let account = seam.add_connected_account(AccountSpec::owned_by(user));
        for device in devices {
            seam.add_device(&account, device);
        }
    }

    let mut env: HashMap<String, String> = std::env::vars().collect();
    env.insert("SEAM_BFF__SEAM__ENDPOINT".into(), seam.url());
    env.insert("SEAM_BFF__SEAM__API_KEY".into(), seam.api_key());
    let settings = Settings::load(Some(Path::new(DEMO_CONFIG)), &env)
        .unwrap_or_else(|e| panic!("demo config: {e}"));
    telemetry::init(settings.log.format);
    let app = Application::build(&settings).unwrap_or_else(|e| panic!("demo start-up: {e}"));
    let address = app.address();

    println!(
        "\nseam-bff demo: the service on http://{address}, a stand-in Seam on {}\n",
        seam.url()
    );
    for user in ["alice", "bob"] {
        let token = demo_login(&settings, user);
        println!("# {user}'s handshake (login valid 24 h):");
        println!(
            "curl -s -X POST http://{address}/v1/client-session -H 'Authorization: Bearer {token}'\n"
        );
    }
    println!("# Then list that user's devices at the stand-in Seam with the returned token:");
    println!(
        "curl -s -X POST {}/devices/list -H 'Authorization: Bearer <token>' -H 'Content-Type: application/json' -d '{{}}'\n",
        seam.url()
    );
    println!("# Probes: curl -i http://{address}/healthz ; curl -i http://{address}/readyz");
    println!("# Ctrl-C stops the demo.\n");
    app.run_until_stopped().await
}

/// A login as the demo identity provider would issue it.
fn demo_login(settings: &Settings, user: &str) -> String {
    let secret = settings
        .auth
        .hs256_secret
        .as_ref()
        .expect("demo.toml sets auth.hs256_secret");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({
        "sub": user,
        "iss": settings.auth.issuer,
        "aud": settings.auth.audience,
        "iat": now,
        "exp": now + 24 * 3600,
    });
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )
    .expect("demo token encodes")
}
