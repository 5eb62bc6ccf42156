//! A folder of the tests holding an npm package (`tests/fake-seam`, `tests/oidc`): installed
//! once per test process from its lock file (`npm ci`, so the versions are the pinned ones),
//! and its scripts run with `node` as long-lived children that talk over stdin and stdout.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// The folder `tests/<name>` of this crate.
pub fn folder(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(name)
}

/// Runs `npm ci` in `folder` unless every one of `packages` is already installed there; once
/// per folder per process, whoever asks first (the others wait for it).
pub fn ensure_installed(folder: &Path, packages: &[&str]) {
    static INSTALLED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if installed.iter().any(|f| f == folder) {
        return;
    }
    let modules = folder.join("node_modules");
    if !packages.iter().all(|p| modules.join(p).is_dir()) {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(folder)
            .status()
            .expect("npm runs (the tests need Node.js and npm)");
        assert!(status.success(), "npm ci in {} failed", folder.display());
    }
    installed.push(folder.to_owned());
}

/// `node <script>` in `folder`, with stdin and stdout piped (stderr as `stderr` says).
pub fn node(folder: &Path, script: &str, stderr: Stdio) -> Command {
    let mut command = Command::new("node");
    command
        .arg(script)
        .current_dir(folder)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr);
    command
}
