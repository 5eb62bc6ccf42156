//! Black-box tests: the real service on port 0, talking HTTP to a stand-in Seam on port 0.

mod accounts;
mod backchannel;
mod browser;
mod config;
mod contract;
mod differential;
mod discovery;
#[path = "../support/fake_seam.rs"]
mod fake_seam;
mod fleet;
mod fleet_claims;
mod handshake;
mod health;
mod helpers;
mod identity;
mod idp;
mod jwks;
mod login;
mod logs;
#[path = "../support/node_package.rs"]
mod node_package;
mod oidc;
#[path = "../support/oidc_provider.rs"]
mod oidc_provider;
mod openapi;
mod operations;
mod operators;
mod process;
mod provenance;
mod ratelimits;
#[path = "../support/redis_server.rs"]
mod redis_server;
mod relogin;
mod resilience;
mod revocations;
mod secrets;
mod sessions;
mod stale;
mod upstream;
mod webhooks;
mod webviews;
mod workspace;
