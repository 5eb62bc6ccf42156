//! Black-box tests: the real service on port 0, talking HTTP to a stand-in Seam on port 0.

mod accounts;
mod config;
mod handshake;
mod health;
mod helpers;
mod login;
mod logs;
mod process;
mod sessions;
mod upstream;
