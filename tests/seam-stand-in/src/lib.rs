//! A small, stateful, in-process stand-in for the Seam HTTP API, for seam-bff's black-box tests
//! and its demo: the real paths, JSON shapes (every field Seam's schemas require, checked by its
//! own tests against `tests/fixtures/seam-schemas.json`), error envelope, `seam-request-id`
//! header and semantics (sessions, customers, Connect Webviews, disconnected accounts), plus
//! controls to count calls, add latency, inject faults and steer the behaviours Seam leaves
//! undocumented. What it does not model it refuses (400 `invalid_input` naming the parameter)
//! rather than ignore. It binds loopback only.

mod delivery;
mod error;
mod extract;
mod faults;
mod gate;
mod params;
mod routes;
mod state;
mod wire;

use std::{
    net::{SocketAddr, TcpListener},
    sync::{Arc, Mutex},
    time::Duration,
};

use actix_web::{
    App, HttpServer,
    body::MessageBody,
    dev::{ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse},
    middleware::from_fn,
    web,
};

pub use delivery::WebhookDelivery;
pub use faults::{Fault, Hold};
pub use state::{
    AccountSpec, AccountsOnExisting, RevokedSessions, SessionView, WorkspaceSpec,
    new_webhook_secret, sign_webhook,
};

use state::{Shared, State};

/// A running stand-in. Dropping it stops the server.
pub struct StandIn {
    state: Shared,
    addr: SocketAddr,
    /// `None` while the stand-in is down (see `go_down`).
    server: Mutex<Option<ServerHandle>>,
}

/// The application the server runs; unit tests drive the same one through `actix_web::test`.
pub(crate) fn app(
    state: Shared,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::from(state))
        .configure(routes::configure)
        .default_service(web::to(routes::not_found))
        .wrap(from_fn(gate::gate))
        // Outside the gate: preflights are answered without a key and are not counted as calls.
        .wrap(browser_access())
}

/// Browsers call Seam directly with a client session token, from any origin. Seam's API (and
/// its own fake) reflects the origin, allows credentials (the JS SDK sends them) and a broad
/// list of headers, the SDK's among them; the list is the fake's.
fn browser_access() -> actix_cors::Cors {
    actix_cors::Cors::default()
        .allowed_origin_fn(|_, _| true)
        .supports_credentials()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
        .allowed_headers([
            "x-csrf-token",
            "x-requested-with",
            "accept",
            "accept-version",
            "content-length",
            "content-md5",
            "content-type",
            "date",
            "x-api-version",
            "seam-workspace",
            "authorization",
            "user-agent",
            "seam-lts-version",
            "seam-sdk-version",
            "seam-sdk-name",
            "seam-publishable-key",
            "seam-client-session-token",
            "client-session-token",
            "seam-api-key",
            "seam-user-identifier-key",
        ])
        .expose_headers(["seam-request-id"])
}

impl StandIn {
    /// Binds 127.0.0.1 on a free port with one worker and spawns the server on the current actix
    /// runtime. Returns once the port is bound, so the URL is usable immediately.
    ///
    /// # Panics
    /// If loopback cannot be bound: a test cannot run without it.
    pub async fn start() -> StandIn {
        let state: Shared = Arc::new(Mutex::new(State::new()));
        let listener = TcpListener::bind("127.0.0.1:0").expect("the stand-in binds 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("a bound listener has a local address");
        let handle = serve(&state, listener);
        StandIn {
            state,
            addr,
            server: Mutex::new(Some(handle)),
        }
    }

    /// Stops serving: connections to the address are refused until `come_back`. State is kept.
    pub async fn go_down(&self) {
        let handle = self.server.lock().expect("server handle").take();
        if let Some(handle) = handle {
            handle.stop(false).await;
        }
    }

    /// Serves again on the same address, with the same state.
    ///
    /// # Panics
    /// If the address cannot be bound again.
    pub async fn come_back(&self) {
        // std's bind does not set SO_REUSEADDR; the closed connections of the first server may
        // still hold the port in TIME_WAIT, so bind the way actix does.
        let listener = actix_web::rt::net::TcpSocket::new_v4()
            .and_then(|socket| {
                socket.set_reuseaddr(true)?;
                socket.bind(self.addr)?;
                socket.listen(1024)?.into_std()
            })
            .expect("the stand-in binds its address again");
        let handle = serve(&self.state, listener);
        *self.server.lock().expect("server handle") = Some(handle);
    }

    /// Waits until `endpoint` has been called at least `n` times: for tests that wait for the
    /// service's background work, woken by each call rather than by polling.
    pub async fn calls_reach(&self, endpoint: &str, n: usize) {
        let changed = self.state().calls_changed.clone();
        loop {
            let notified = changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.calls(endpoint) >= n {
                return;
            }
            notified.await;
        }
    }

    /// The most requests the stand-in was ever handling at once.
    pub fn max_in_flight(&self) -> usize {
        self.state().max_in_flight
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        state::lock(&self.state)
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The API key accepted now.
    pub fn api_key(&self) -> String {
        self.state().api_key.clone()
    }

    /// Accepts a new key from now on; the old one gets 401. Returns the new key.
    pub fn rotate_api_key(&self) -> String {
        let key = state::new_api_key();
        self.state().api_key = key.clone();
        key
    }

    /// Returns the new account's `connected_account_id`.
    pub fn add_connected_account(&self, account: AccountSpec) -> String {
        self.state().add_account(account)
    }

    /// Deletes the account and its devices (`connected_account.deleted`, the account gone).
    /// Sessions keep the id in their list, as Seam keeps a stale id, but it no longer yields
    /// devices.
    pub fn remove_connected_account(&self, connected_account_id: &str) {
        self.state().remove_account(connected_account_id);
    }

    /// The provider's link broke (`connected_account.disconnected`). Disconnected is not
    /// deleted: the account stays, listed for its owner, in its sessions, with its devices, and
    /// carries an `account_disconnected` entry in `errors` until `reconnect_connected_account`.
    ///
    /// # Panics
    /// If there is no such account, or it is disconnected already: mistakes in the test.
    pub fn disconnect_connected_account(&self, connected_account_id: &str) {
        (self.state().disconnect_account(connected_account_id))
            .unwrap_or_else(|e| panic!("disconnect_connected_account: {e}"));
    }

    /// Its owner signed in to the provider again: the account is reconnected in place (same
    /// id, its `errors` cleared) and `connected_account.connected` is emitted again.
    ///
    /// # Panics
    /// If there is no such account, or it is not disconnected: mistakes in the test.
    pub fn reconnect_connected_account(&self, connected_account_id: &str) {
        (self.state().reconnect_account(connected_account_id))
            .unwrap_or_else(|e| panic!("reconnect_connected_account: {e}"));
    }

    /// Returns the new device's `device_id`.
    ///
    /// # Panics
    /// If the account does not exist: that is a mistake in the test, not a behaviour to model.
    pub fn add_device(&self, connected_account_id: &str, name: &str) -> String {
        self.state()
            .add_device(connected_account_id, name)
            .unwrap_or_else(|| panic!("add_device: no connected account {connected_account_id}"))
    }

    /// Requests received for this path, including those a fault or a bad key answered.
    pub fn calls(&self, endpoint: &str) -> usize {
        self.state().calls(endpoint)
    }

    pub fn total_calls(&self) -> usize {
        self.state().total_calls()
    }

    /// Added before answering every request.
    pub fn set_latency(&self, latency: Duration) {
        self.state().latency = latency;
    }

    /// The next `times` requests to `endpoint` (`"*"`: any path) get `fault`. Faults are served
    /// in the order they were injected.
    pub fn inject(&self, endpoint: &str, fault: Fault, times: usize) {
        self.state().faults.push(endpoint, fault, times);
    }

    /// The next request to `endpoint` is answered (Seam acts on it), but the answer is kept
    /// from its caller until the returned hold is released.
    pub fn hold(&self, endpoint: &str) -> Hold {
        let hold = Hold::default();
        self.state().faults.hold(endpoint, hold.clone());
        hold
    }

    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// Caps the page size of the paginated lists, `/connected_accounts/list` and
    /// `/connect_webviews/list` (default 100; 0 counts as 1).
    pub fn set_page_size(&self, n: usize) {
        self.state().cursors.set_page_size(n);
    }

    /// What `get_or_create` does with `connected_account_ids` when the session already exists.
    pub fn set_accounts_on_existing(&self, mode: AccountsOnExisting) {
        self.state().accounts_on_existing = mode;
    }

    /// Whether `get_or_create` hands a key's revoked session back.
    pub fn set_revoked_sessions(&self, mode: RevokedSessions) {
        self.state().revoked_sessions = mode;
    }

    /// The id of the stand-in's one workspace, as `/workspaces/get` and every event name it.
    pub fn workspace_id(&self) -> String {
        self.state().workspace_id.clone()
    }

    /// What `/workspaces/get` says about the workspace.
    pub fn set_workspace(&self, spec: WorkspaceSpec) {
        self.state().workspace = spec;
    }

    /// The user finished the Connect Webview: the new account (returned) is filed under the
    /// key of the session that made the webview, carries its `custom_metadata` and
    /// `customer_key`, joins that session, and has one device, `device_name`.
    ///
    /// # Panics
    /// If there is no such pending webview: a mistake in the test.
    pub fn complete_connect_webview(&self, connect_webview_id: &str, device_name: &str) -> String {
        let mut state = self.state();
        let account = state
            .complete_webview(connect_webview_id)
            .unwrap_or_else(|e| panic!("complete_connect_webview: {e}"));
        let _ = state.add_device(&account, device_name);
        account
    }

    /// Caps `expires_at` at now + `max`; `None` honours whatever is asked.
    pub fn set_max_session_lifetime(&self, max: Option<Duration>) {
        self.state().max_session_lifetime = max;
    }

    /// The key's current session: the newest live one, else the newest revoked or expired one
    /// that has not been deleted.
    pub fn session_for(&self, user_identifier_key: &str) -> Option<SessionView> {
        let state = self.state();
        state
            .current_session_index(user_identifier_key)
            .map(|i| state.sessions[i].view())
    }

    /// Every session not deleted, oldest first.
    pub fn sessions(&self) -> Vec<SessionView> {
        self.state().sessions.iter().map(|s| s.view()).collect()
    }
}

/// Starts a server for `state` on `listener`, on the current actix runtime.
fn serve(state: &Shared, listener: TcpListener) -> ServerHandle {
    let for_server = Arc::clone(state);
    let server = HttpServer::new(move || app(Arc::clone(&for_server)))
        .workers(1)
        // The process's signals belong to the test harness or the demo, not to the stand-in.
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .expect("actix accepts a bound listener")
        .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    handle
}

impl Drop for StandIn {
    fn drop(&mut self) {
        // The stop command is sent when `stop` is called; nothing needs to await its completion,
        // and a graceful stop would wait on requests parked by `Fault::Hang`.
        if let Some(handle) = self.server.get_mut().ok().and_then(Option::take) {
            drop(handle.stop(false));
        }
    }
}

#[cfg(test)]
mod tests;
