//! Building the application from settings: every component checks its own keys here, once,
//! then the listener is bound (port 0 works) and the server assembled.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web::Data};

use crate::accounts::AccountDirectory;
use crate::auth::Verifier;
use crate::clock::{Clock, SystemClock};
use crate::config::{ConfigError, Settings};
use crate::identity::Identity;
use crate::readiness::Readiness;
use crate::request_log::log_request;
use crate::seam::{SeamClient, SeamConfig};
use crate::sessions::SessionBroker;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {address} (server.bind): {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
}

/// Everything the handlers share, built and validated from settings.
struct Components {
    verifier: Data<Verifier>,
    identity: Data<Identity>,
    accounts: Data<AccountDirectory>,
    sessions: Data<SessionBroker>,
    readiness: Data<Readiness>,
    seam: SeamConfig,
}

impl Components {
    fn from_settings(settings: &Settings, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        Ok(Self {
            verifier: Data::new(Verifier::from_settings(&settings.auth, &settings.identity)?),
            identity: Data::new(Identity::from_settings(&settings.identity)),
            seam: SeamConfig::from_settings(&settings.seam)?,
            accounts: Data::new(AccountDirectory::from_settings(
                &settings.accounts,
                settings.sessions.max_entries,
                clock.clone(),
            )?),
            sessions: Data::new(SessionBroker::from_settings(
                &settings.sessions,
                clock.clone(),
            )?),
            readiness: Data::new(Readiness::new(settings.health.readiness_cache_secs, clock)),
        })
    }
}

/// Checks every setting as start-up would, without binding or calling anything.
pub fn check_settings(settings: &Settings) -> Result<(), ConfigError> {
    Components::from_settings(settings, Arc::new(SystemClock)).map(drop)
}

pub struct Application {
    address: SocketAddr,
    server: Server,
}

impl Application {
    pub fn build(settings: &Settings) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, Arc::new(SystemClock))
    }

    /// As `build`, with the clock that expiry windows are judged by (tests move it).
    pub fn build_with_clock(
        settings: &Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        // awc's rustls does not choose a crypto provider; without one the first HTTPS call
        // panics. An error only means one is already installed.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let components = Components::from_settings(settings, clock)?;
        let bind_error = |source| StartupError::Bind {
            address: settings.server.bind.clone(),
            source,
        };
        let listener = TcpListener::bind(&settings.server.bind).map_err(bind_error)?;
        let address = listener.local_addr().map_err(bind_error)?;
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(log_request))
                .app_data(components.verifier.clone())
                .app_data(components.identity.clone())
                .app_data(components.accounts.clone())
                .app_data(components.sessions.clone())
                .app_data(components.readiness.clone())
                // One client per worker: awc is not `Send`.
                .app_data(Data::new(SeamClient::new(components.seam.clone())))
                .configure(crate::routes::configure)
        })
        .shutdown_timeout(settings.server.shutdown_timeout_secs);
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server.listen(listener).map_err(bind_error)?.run();
        Ok(Self { address, server })
    }

    /// The bound address (the real port when `server.bind` asked for port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops the server from another task; SIGTERM and Ctrl-C do the same.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped, letting in-flight requests finish within
    /// `server.shutdown_timeout_secs`.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
