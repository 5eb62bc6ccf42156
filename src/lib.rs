//! seam-bff: exchanges an app's own login (a JWT) for a Seam client session token limited to
//! that user's connected accounts. The Seam API key never leaves the service.
//!
//! The map, each layer importing only the layers after it (`tests/architecture.rs` checks):
//!
//! 1. `startup` (wiring: builds every component once, binds the listeners) and `replicas`
//!    (what the other replicas' events change here, in fleet mode).
//! 2. `middleware` (request log, JSON envelope, CORS, body and time bounds) around `routes`
//!    (one file per endpoint, the login extractor and the application state).
//! 3. The jobs the routes call, each owning its own state: `limits` (abuse budgets),
//!    `login` (admission: remembered tokens, revocations, logins seen lately, identity; the
//!    logouts), `events` (Seam's webhook events applied to the caches) and `handshake` (the
//!    user cache, account sources and whose webviews connected the accounts, the session
//!    policy and asking Seam for sessions). `login` and `events` find users in the
//!    handshake's user cache; the handshake imports neither.
//! 4. `auth` (verifies logins: claims out), `fleet` (fleet sync over Redis; absent on a
//!    single instance, whose owners hold `None` and never call it), `cluster` (Redis itself)
//!    and `seam` (the upstream client; with a pinned workspace, no call leaves before it is
//!    confirmed).
//!
//! Shared by all: `config`, `metrics`, `clock` (the one clock every time judgement reads),
//! `cache` (the single-flight slot), `error` (the JSON error answer), `http_failure` (why
//! an outbound call failed) and `hex`.

mod auth;
mod cache;
pub mod clock;
mod cluster;
pub mod config;
mod error;
mod events;
mod fleet;
mod handshake;
mod hex;
mod http_failure;
mod limits;
mod login;
mod metrics;
mod middleware;
pub mod readyz_probe;
mod replicas;
mod routes;
mod seam;
pub mod startup;
pub mod telemetry;
