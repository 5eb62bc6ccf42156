//! seam-bff: exchanges an app's own login (a JWT) for a Seam client session token limited to
//! that user's connected accounts. The Seam API key never leaves the service.
//!
//! A request's path through the service: `routes` → `auth` (who is this?) → `users` (what is
//! kept about them, with their Seam key from `identity`) → `accounts` (what do they own?) →
//! `sessions` (a token granting exactly that) → `seam` (the upstream client).

mod accounts;
mod auth;
mod cache;
pub mod clock;
pub mod config;
mod cors;
mod error;
pub mod healthcheck;
mod identity;
mod metrics;
mod ratelimit;
mod readiness;
mod request_bounds;
mod request_log;
mod routes;
mod seam;
mod sessions;
pub mod startup;
pub mod telemetry;
mod users;
