//! Starting the real service on port 0 against a stand-in Seam on port 0, minting login
//! tokens, and a clock the tests move instead of waiting.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex, Once};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use seam_bff::clock::Clock;
use seam_bff::config::Settings;
use seam_bff::startup::Application;
use seam_stand_in::StandIn;
use serde_json::{Value, json};
use time::OffsetDateTime;

pub const SECRET: &str = "test-secret-0123456789abcdef-0123456789";
pub const ISSUER: &str = "https://login.test";
pub const AUDIENCE: &str = "seam-bff-tests";
pub const TTL_SECS: i64 = 3600;
pub const MIN_REMAINING_SECS: i64 = 600;
pub const ACCOUNT_TTL_SECS: i64 = 60;

/// A clock that moves only when a test says so.
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn advance(&self, by: time::Duration) {
        *self.0.lock().expect("clock lock") += by;
    }

    /// Sets this clock to another's time: replicas that must agree on the second.
    pub fn set_to(&self, other: &ManualClock) {
        *self.0.lock().expect("clock lock") = other.now();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().expect("clock lock")
    }
}

pub struct TestApp {
    pub address: String,
    pub management: String,
    /// Shared with replicas (see `replica`).
    pub seam: Rc<StandIn>,
    pub clock: Arc<ManualClock>,
    /// Checks every answer from `address` against the OpenAPI description.
    pub http: awc::Client,
    /// What this instance was started with, so that `replica` starts its twin.
    options: Options,
    _config_dir: tempfile::TempDir,
}

/// A change to the typed settings of a test app (see `Options::with`).
type Change = Rc<dyn Fn(&mut Settings)>;

/// Settings beyond the defaults of `spawn_app`. Cloned by `replica`, so every change can be
/// made again.
#[derive(Clone, Default)]
pub struct Options {
    /// Typed changes, made in order to the settings loaded from the test file (see `with`).
    changes: Vec<Change>,
    /// TOML appended to the test file, for tests of what a config file says (see `toml`).
    extra_toml: String,
    /// `(algorithm, PEM file)` to verify logins with instead of the HS256 test secret.
    pub public_key: Option<(&'static str, String)>,
    /// A JWKS URL to verify logins with instead of the HS256 test secret.
    pub jwks_url: Option<String>,
    /// Leave `auth.issuer` and `auth.audience` unset.
    pub any_issuer_and_audience: bool,
}

impl Options {
    pub fn any_issuer_and_audience(mut self) -> Self {
        self.any_issuer_and_audience = true;
        self
    }
    pub fn jwks(mut self, url: String) -> Self {
        self.jwks_url = Some(url);
        self
    }
    pub fn public_key(mut self, algorithm: &'static str, pem_file: String) -> Self {
        self.public_key = Some((algorithm, pem_file));
        self
    }
    /// Changes the typed settings after they are loaded from the test file, before the app is
    /// built: `.with(|s| s.sessions.ttl_secs = 5)`. Changes are made in the order given (a
    /// later one wins), and again for each `replica`. The way to change a setting, unless what
    /// a test is about is how the service reads its config text: a typed field is checked by
    /// the compiler, where a misplaced line of TOML can set another table's key, or nothing.
    pub fn with(mut self, change: impl Fn(&mut Settings) + 'static) -> Self {
        self.changes.push(Rc::new(change));
        self
    }
    /// TOML appended to the test file: only for a test of what the service makes of a config
    /// file's text (its key spelling, its quoting); any other test changes settings `with`.
    pub fn toml(mut self, text: &str) -> Self {
        self.extra_toml.push_str(text);
        self
    }
}

/// The service on port 0 against a fresh stand-in Seam, with the test settings.
///
/// With the `TEST_LOG` environment variable set (to anything), the first app a test process
/// starts installs a tracing subscriber that writes the service's logs (level from
/// `RUST_LOG`, default `info`) to the test's captured output, so a failing test shows them:
/// `TEST_LOG=1 cargo test --test api -- name`. Without `TEST_LOG` nothing is installed.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

/// `TEST_LOG` (see `spawn_app`). Not `seam_bff::telemetry::init`: that writes to the process's
/// stdout directly, past libtest's capture, so every test's logs would be printed, interleaved,
/// whether it failed or not; the test writer keeps each log with its test.
fn install_test_log() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_none() {
            return;
        }
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        // Worker threads the service starts inherit the starting test's output capture.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .with_test_writer()
            .try_init();
    });
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let seam = StandIn::start().await;
    spawn_app_against(seam, options).await
}

/// The `[auth]` lines for the HS256 test secret (add `issuer_and_audience` to pin those).
pub fn hs256_auth() -> String {
    format!("algorithms = [\"HS256\"]\nhs256_secret = \"{SECRET}\"\n")
}

/// The `[auth]` lines that pin the test issuer and audience.
pub fn issuer_and_audience() -> String {
    format!("issuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\n")
}

/// The service's TOML for a stand-in; shared with the subprocess tests.
pub fn base_toml(seam: &StandIn, auth: &str) -> String {
    format!(
        r#"
[server]
bind = "127.0.0.1:0"
workers = 2
[management]
bind = "127.0.0.1:0"
[rate_limit]
enabled = false
[seam]
endpoint = "{endpoint}"
api_key = "{key}"
timeout_ms = 1000
# One attempt unless a test asks for retries, so that each injected fault is seen as such.
max_attempts = 1
retry_base_ms = 1
[auth]
{auth}[accounts]
cache_ttl_secs = {ACCOUNT_TTL_SECS}
[sessions]
ttl_secs = {TTL_SECS}
min_remaining_secs = {MIN_REMAINING_SECS}
refresh_ahead_secs = 0
"#,
        endpoint = seam.url(),
        key = seam.api_key(),
    )
}

pub async fn spawn_app_against(seam: StandIn, options: Options) -> TestApp {
    spawn_with_seam(Rc::new(seam), options).await
}

impl TestApp {
    /// A second instance with its own cache and clock, against the same stand-in Seam, started
    /// with the same options as this one.
    pub async fn replica(&self) -> TestApp {
        spawn_with_seam(self.seam.clone(), self.options.clone()).await
    }
}

async fn spawn_with_seam(seam: Rc<StandIn>, options: Options) -> TestApp {
    install_test_log();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("seam-bff.toml");
    let auth = match (&options.public_key, &options.jwks_url) {
        (Some((algorithm, file)), _) => {
            format!("algorithms = [\"{algorithm}\"]\npublic_key_file = \"{file}\"\n")
        }
        (None, Some(url)) => format!("algorithms = [\"RS256\"]\njwks_url = \"{url}\"\n"),
        (None, None) => hs256_auth(),
    };
    let auth = if options.any_issuer_and_audience {
        auth
    } else {
        auth + &issuer_and_audience()
    };
    std::fs::write(&path, base_toml(&seam, &auth) + &options.extra_toml).expect("write config");
    // No environment: the process's must not reach a test app, and tests change settings
    // `with` typed changes instead.
    let mut settings = Settings::load(Some(&path), &HashMap::new()).expect("test settings load");
    for change in &options.changes {
        change(&mut settings);
    }
    let clock = Arc::new(ManualClock(Mutex::new(OffsetDateTime::now_utc())));
    let app = Application::build_with_clock(&settings, clock.clone()).expect("app builds");
    let address = format!("http://{}", app.address());
    let management = format!("http://{}", app.management_address());
    let http = crate::contract::checked_client(&address);
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address,
        management,
        seam,
        clock,
        http,
        options,
        _config_dir: dir,
    }
}

/// A response read whole: status, headers and body.
pub struct Reply {
    pub status: u16,
    pub headers: actix_web::http::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn token(&self) -> &str {
        self.body["token"].as_str().expect("token in body")
    }
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("<none>")
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn account_ids(&self) -> Vec<String> {
        serde_json::from_value(self.body["connected_account_ids"].clone()).expect("ids")
    }
}

impl TestApp {
    pub async fn post(&self, path: &str, bearer: Option<&str>) -> Reply {
        let mut request = self.http.post(format!("{}{path}", self.address));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        read(request.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        read(
            self.http
                .get(format!("{}{path}", self.address))
                .send()
                .await
                .expect("request sent"),
        )
        .await
    }

    /// A call to the stand-in Seam, as a browser with a client session token (or a backend
    /// with the API key) makes.
    pub async fn seam_call(&self, path: &str, bearer: &str, body: Value) -> Reply {
        let response = (self.http)
            .post(format!("{}{path}", self.seam.url()))
            .bearer_auth(bearer)
            .send_json(&body)
            .await
            .expect("the stand-in answers");
        read(response).await
    }

    /// The login handshake for `user`, with a fresh valid token: a different token on every
    /// call (see `claims`), as after a new sign-in, so it is verified afresh.
    pub async fn handshake(&self, user: &str) -> Reply {
        self.handshake_with(&self.login(user)).await
    }

    /// A freshly signed, valid login for `user`, issued now on this instance's clock: the
    /// service judges login times (`exp`, and `iat` against a logout) on its own clock, so a
    /// test that moves it moves the token's times with it.
    pub fn login(&self, user: &str) -> String {
        sign(&claims_at(user, self.clock.now().unix_timestamp()))
    }

    /// `later_login(user)`, likewise.
    pub fn later_login(&self, user: &str) -> String {
        sign(&later_claims(user, self.clock.now().unix_timestamp()))
    }

    /// The login handshake with this token; sending one token again is what a browser does
    /// on every page load, and what the service remembers (`auth.verified_tokens_per_user`).
    pub async fn handshake_with(&self, token: &str) -> Reply {
        self.post("/v1/client-session", Some(token)).await
    }

    /// `DELETE /v1/client-session` (logout) with this login token, or none.
    pub async fn logout(&self, bearer: Option<&str>) -> Reply {
        let mut request = self
            .http
            .delete(format!("{}/v1/client-session", self.address));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        read(request.send().await.expect("request sent")).await
    }

    /// What an identity provider posts to the back-channel logout route.
    pub async fn backchannel_logout(&self, logout_token: &str) -> Reply {
        let response = self
            .http
            .post(format!("{}/v1/backchannel-logout", self.address))
            .send_form(&[("logout_token", logout_token)])
            .await
            .expect("sent");
        read(response).await
    }

    /// The Prometheus text from the management listener.
    pub async fn metrics(&self) -> String {
        let reply = read(
            self.http
                .get(format!("{}/metrics", self.management))
                .send()
                .await
                .expect("request sent"),
        )
        .await;
        assert_eq!(reply.status, 200);
        reply.text
    }

    /// The status of `/devices/list` at the stand-in for a client session token.
    pub async fn devices_status(&self, client_session_token: &str) -> u16 {
        self.http
            .post(format!("{}/devices/list", self.seam.url()))
            .bearer_auth(client_session_token)
            .send_json(&json!({}))
            .await
            .expect("stand-in answers")
            .status()
            .as_u16()
    }

    /// As `handshake`, for a user named by an owned string (handy in `join_all`).
    pub async fn handshake_owned(&self, user: String) -> Reply {
        self.handshake(&user).await
    }

    /// `/devices/list` on the stand-in with a client session token: device names it shows.
    pub async fn devices_seen_with(&self, client_session_token: &str) -> Vec<String> {
        let mut response = self
            .http
            .post(format!("{}/devices/list", self.seam.url()))
            .bearer_auth(client_session_token)
            .send_json(&json!({}))
            .await
            .expect("stand-in answers");
        assert_eq!(response.status().as_u16(), 200);
        let body: Value = response.json().await.expect("json");
        let mut names: Vec<String> = body["devices"]
            .as_array()
            .expect("devices")
            .iter()
            .map(|d| d["display_name"].as_str().expect("name").to_owned())
            .collect();
        names.sort();
        names
    }
}

pub async fn read(mut response: awc::ClientResponse) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.body().await.expect("body");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

pub fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// The `expires_at` of a session `app` asks Seam for now: `sessions.ttl_secs` ahead by its
/// clock, which the stand-in grants as asked, to the microsecond (Seam's precision).
pub fn asked_expiry(app: &TestApp) -> OffsetDateTime {
    let at = app.clock.now() + time::Duration::seconds(TTL_SECS);
    at.replace_microsecond(at.microsecond())
        .expect("a microsecond of its own second")
}

/// The standard claims of a valid login for `user`, to modify in negative tests. Each call has
/// its own `jti`, so that no two tokens signed from them are alike (`iat` and `exp` have
/// whole seconds): a test that means the same token again keeps one and sends it again.
pub fn claims(user: &str) -> Value {
    claims_at(user, now())
}

/// `claims`, issued at `now` (Unix seconds).
fn claims_at(user: &str, now: i64) -> Value {
    json!({
        "sub": user,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

pub fn sign(claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("token encodes")
}

/// A freshly signed, valid login for `user`: never the same text twice (see `claims`).
pub fn login(user: &str) -> String {
    sign(&claims(user))
}

/// A well-formed, current login for `user` signed with a key the service does not trust: it
/// fails only at its signature.
pub fn forged(user: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims(user),
        &EncodingKey::from_secret(b"not-the-secret-0123456789abcdef-0123456789"),
    )
    .expect("encodes")
}

/// A login for `user` issued after every logout so far, as a sign-in after a logout is. `iat`
/// counts whole seconds and a logout may end the logins issued in its own second too (a login
/// without a new `sid` after a back-channel logout), so this one says it was issued a minute
/// from now.
pub fn later_login(user: &str) -> String {
    sign(&later_claims(user, now()))
}

/// `claims_at(user, now)`, with an `iat` a minute later.
fn later_claims(user: &str, now: i64) -> Value {
    let mut claims = claims_at(user, now);
    claims["iat"] = json!(now + 60);
    claims
}

/// The claims of a valid back-channel logout token (OIDC Back-Channel Logout 1.0 §2.4) for
/// `sub` and/or `sid`, to modify in negative tests; each call has its own `jti`.
pub fn logout_claims(sub: Option<&str>, sid: Option<&str>) -> Value {
    let mut claims = json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now(),
        "exp": now() + 120,
        "jti": uuid::Uuid::new_v4().to_string(),
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
    });
    if let Some(sub) = sub {
        claims["sub"] = json!(sub);
    }
    if let Some(sid) = sid {
        claims["sid"] = json!(sid);
    }
    claims
}

/// A logout token signed like the test logins, typed `logout+jwt`.
pub fn logout_token(claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("logout+jwt".into());
    encode(
        &header,
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("token encodes")
}

pub fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The admin token of apps started with `SEAM_BFF__ADMIN__TOKEN` set to it.
pub const ADMIN_TOKEN: &str = "admin-token-0123456789abcdef-0123456789";

/// A call to the admin API on `app`'s management listener.
pub async fn admin(app: &TestApp, method: &str, path: &str, token: Option<&str>) -> Reply {
    let method = actix_web::http::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = app
        .http
        .request(method, format!("{}{path}", app.management));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    read(request.send().await.expect("sent")).await
}

/// A `Retry-After` a client can act on: whole seconds, at least 1 and at most a minute.
pub fn assert_retry_after(value: Option<&str>) {
    let wait: u64 = value
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&wait), "{wait}");
}

/// Seam calls may be held at the stand-in (`StandIn::hold`) for as long as a test needs, a
/// minute, before any timeout ends them: `.with(patient)`.
pub fn patient(s: &mut Settings) {
    s.seam.timeout_ms = 60_000;
    s.seam.deadline_ms = 60_000;
    s.server.request_timeout_ms = 70_000;
}

/// Until `app` has admitted `n` logins (each a verified or a remembered token): a request
/// admitted goes on to the caches without waiting on anything else, so a Seam call held at the
/// stand-in meanwhile is in flight while every one of them is under way.
pub async fn logins_admitted(app: &TestApp, n: u32) {
    for _ in 0..10_000 {
        let text = app.metrics().await;
        let admitted = ["hit", "miss"]
            .map(|outcome| {
                let name =
                    format!(r#"seam_bff_cache_lookups_total{{cache="login",outcome="{outcome}"}}"#);
                series(&text, &name)
            })
            .iter()
            .sum::<f64>();
        if admitted >= f64::from(n) {
            return;
        }
    }
    panic!("{n} logins were never admitted");
}

/// The value of one series in the Prometheus text, 0 when absent.
pub fn series(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or(0.0)
}
