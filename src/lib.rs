//! seam-bff: exchanges an app's own login (a JWT) for a Seam client session token limited to
//! that user's connected accounts. The Seam API key never leaves the service.
//!
//! A handshake's path, each step importing only the ones after it:
//! `startup` (wiring) → `middleware` (request log, CORS, body and time bounds, and the abuse
//! limits the routes apply) → `routes` (the login extractor, the limits, the answer) → `auth`
//! (verifies the login: claims out) and `sessions` (the user's cache entry and the handshake:
//! accounts, Seam key, session) → `seam` (the upstream client) and `cluster` (fleet mode's
//! shared state in Redis). Shared by all: `config`, `metrics`, `clock`, `cache` (the
//! single-flight slot), `error` (the JSON error answer) and `http_failure` (why an outbound
//! call failed).

mod auth;
mod cache;
pub mod clock;
mod cluster;
pub mod config;
mod error;
mod http_failure;
mod metrics;
mod middleware;
pub mod readyz_probe;
mod routes;
mod seam;
mod sessions;
pub mod startup;
pub mod telemetry;
