//! Seam's own fake API, `@seamapi/fake-seam-connect` (`tests/fake-seam`), as a child process on
//! loopback: its npm packages installed the first time (`npm ci`, pinned by the lock file),
//! seeded by `serve.mjs`, stopped when dropped. And Seam's webhook tools (`webhook.mjs`), from
//! the same packages.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Stdio};

use serde::Deserialize;

use crate::node_package;

/// What `serve.mjs` seeded, as it prints it.
#[derive(Debug, Deserialize)]
pub struct Seeded {
    pub url: String,
    pub api_key: String,
    pub alice_accounts: Vec<String>,
    pub bob_account: String,
    pub alice_token: String,
    pub alice_session_id: String,
}

pub struct FakeSeam {
    pub seeded: Seeded,
    child: Child,
    /// Held open: the fake exits when it closes.
    _stdin: ChildStdin,
}

fn folder() -> PathBuf {
    node_package::folder("fake-seam")
}

fn ensure_installed() {
    let packages = ["@seamapi/fake-seam-connect", "@seamapi/webhook", "svix"];
    node_package::ensure_installed(&folder(), &packages);
}

/// `webhook.mjs` with `args` (see there), `body` on stdin: what it printed, or its error.
pub fn webhook_tool(args: &[&str], body: &[u8]) -> Result<String, String> {
    ensure_installed();
    let mut child = node_package::node(&folder(), "webhook.mjs", Stdio::piped())
        .args(args)
        .spawn()
        .expect("node runs webhook.mjs");
    let mut stdin = child.stdin.take().expect("piped stdin");
    std::io::Write::write_all(&mut stdin, body).expect("the body is written");
    drop(stdin);
    let output = child.wait_with_output().expect("webhook.mjs ends");
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).trim().to_owned();
    if output.status.success() {
        Ok(text(output.stdout))
    } else {
        Err(text(output.stderr))
    }
}

impl FakeSeam {
    pub fn start() -> FakeSeam {
        ensure_installed();
        let mut child = node_package::node(&folder(), "serve.mjs", Stdio::inherit())
            .spawn()
            .expect("node starts Seam's fake");
        let stdin = child.stdin.take().expect("piped stdin");
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        stdout.read_line(&mut line).expect("the fake's first line");
        // Keep reading, so that the fake never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let seeded = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the fake did not start: {e}: {line:?}"));
        FakeSeam {
            seeded,
            child,
            _stdin: stdin,
        }
    }
}

impl Drop for FakeSeam {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
