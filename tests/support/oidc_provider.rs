//! A real OpenID provider, panva's `oidc-provider` (`tests/oidc`), as a child process on
//! loopback: its npm packages installed the first time (`npm ci`, pinned by the lock file),
//! stopped when dropped. It listens on port 0 and says its issuer first, so that the service
//! can be configured with it; then `register` gives it the service's back-channel logout URI.
//! It also runs a user agent (`agent.mjs`) that signs in and out over HTTP as a browser would.
//!
//! Its answers are read on a thread and awaited, never waited for on the test's own thread:
//! a sign-out makes the provider call the service, which runs on that thread.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Stdio};

use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::node_package;

pub struct OidcProvider {
    /// The issuer: `auth.issuer`, and where its discovery document is.
    pub issuer: String,
    /// The example app's client id: `auth.audience`.
    pub client_id: String,
    child: Child,
    stdin: ChildStdin,
    lines: UnboundedReceiver<String>,
}

fn folder() -> PathBuf {
    node_package::folder("oidc")
}

impl OidcProvider {
    pub async fn start() -> OidcProvider {
        node_package::ensure_installed(&folder(), &["oidc-provider"]);
        let mut child = node_package::node(&folder(), "serve.mjs", Stdio::null())
            .spawn()
            .expect("node starts the OpenID provider");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let (sender, lines) = unbounded_channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let mut provider = OidcProvider {
            issuer: String::new(),
            client_id: String::new(),
            child,
            stdin,
            lines,
        };
        let first = provider.answer().await;
        provider.issuer = first["issuer"].as_str().expect("issuer").to_owned();
        provider.client_id = first["client_id"].as_str().expect("client id").to_owned();
        provider
    }

    /// Registers the client with the service's back-channel logout URI (and loopback
    /// redirect URIs nobody listens on: the user agent reads the code from the redirect).
    pub async fn register(&mut self, service: &str) {
        let answer = self
            .ask(json!({
                "backchannel_logout_uri": format!("{service}/v1/backchannel-logout"),
                "redirect_uris": [format!("{service}/example/callback")],
                "post_logout_redirect_uris": [format!("{service}/example/signed-out")],
            }))
            .await;
        assert_eq!(answer["ready"], true, "{answer}");
    }

    /// Signs `user` in with the authorization code flow and PKCE: the ID token.
    pub async fn sign_in(&mut self, user: &str) -> String {
        let answer = self.ask(json!({ "sign_in": user })).await;
        answer["id_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no ID token: {answer}"))
            .to_owned()
    }

    /// RP-initiated logout of the last sign-in, confirmed; the provider has sent its
    /// back-channel logout and had the service's answer when this returns: how many it
    /// delivered (a `2xx`), and why the others failed.
    pub async fn sign_out(&mut self) -> (u64, Vec<String>) {
        let answer = self.ask(json!({ "sign_out": true })).await;
        assert_eq!(answer["signed_out"], true, "{answer}");
        let backchannel = &answer["backchannel"];
        let failed = backchannel["failed"].as_array().expect("failures");
        let failed = failed.iter().map(|f| f.to_string()).collect();
        (
            backchannel["delivered"].as_u64().expect("delivered"),
            failed,
        )
    }

    async fn ask(&mut self, command: Value) -> Value {
        writeln!(self.stdin, "{command}").expect("the provider reads its stdin");
        self.answer().await
    }

    async fn answer(&mut self) -> Value {
        let line = self.lines.recv().await.expect("the provider answers");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("the provider said {line:?}: {e}"))
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
