//! Building the application from settings: every component checks its own keys here, once,
//! then both listeners are bound (port 0 works) and the servers assembled.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web::Data};
use futures_util::future::{join_all, try_join};

use crate::auth::{IdpClient, MIN_SECRET_BYTES, Verifier};
use crate::clock::{Clock, SystemClock};
use crate::cluster::Cluster;
use crate::config::{AccountSourceKind, ConfigError, Settings, secret_from};
use crate::error::json_envelope;
use crate::metrics::Metrics;
use crate::middleware::cors::{self, BrowserRules};
use crate::middleware::ratelimit::RateLimits;
use crate::middleware::request_bounds::{self, RequestBounds};
use crate::middleware::request_log::log_request;
use crate::routes::{self, HANDSHAKE_ROUTE, admin::AdminToken};
use crate::seam::{ApiKeyCheck, SeamClient, SeamConfig, WebhookVerifier};
use crate::sessions::Sessions;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {address} ({key}): {source}")]
    Bind {
        key: &'static str,
        address: String,
        source: std::io::Error,
    },
}

/// Everything the handlers share, built and validated from settings.
struct Components {
    metrics: Data<Metrics>,
    bounds: Data<RequestBounds>,
    verifier: Data<Verifier>,
    browser: Data<BrowserRules>,
    limits: Data<RateLimits>,
    sessions: Data<Sessions>,
    key_check: Data<ApiKeyCheck>,
    admin: Option<Data<AdminToken>>,
    /// With `seam.webhook_secret`: Seam's webhook deliveries are checked with it.
    webhook: Option<Data<WebhookVerifier>>,
    /// Fleet mode; its events are listened to once the application runs.
    cluster: Option<Arc<Cluster>>,
    seam: SeamConfig,
}

impl Components {
    /// Every component, built and checked; every problem found, not only the first, when one
    /// fails (components that depend on a failed one are not checked).
    fn from_settings(settings: &Settings, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        let mut errors = Vec::new();
        if settings.seam.deadline_ms >= settings.server.request_timeout_ms {
            errors.push(ConfigError::new(
                "seam.deadline_ms",
                "must be below server.request_timeout_ms, so that a failing Seam call ends \
                 before the request does",
            ));
        }
        keep(
            &mut errors,
            bind_address("server.bind", &settings.server.bind),
        );
        keep(
            &mut errors,
            bind_address("management.bind", &settings.management.bind),
        );
        let metrics = Arc::new(Metrics::new(HANDSHAKE_ROUTE));
        let cluster = keep(
            &mut errors,
            Cluster::from_settings(&settings.cluster, &metrics),
        )
        .map(|cluster| cluster.map(Arc::new));
        let accounts_claim = (settings.accounts.source == AccountSourceKind::Claim)
            .then_some(settings.accounts.claim.as_deref())
            .flatten();
        let bounds = keep(&mut errors, RequestBounds::from_settings(&settings.server));
        let verifier = keep(
            &mut errors,
            Verifier::from_settings(
                &settings.auth,
                &settings.identity.claim,
                accounts_claim,
                clock.clone(),
                metrics.clone(),
            ),
        );
        let browser = keep(
            &mut errors,
            BrowserRules::from_settings(&settings.auth, &settings.cors),
        );
        let seam = keep(
            &mut errors,
            SeamConfig::from_settings(&settings.seam, clock.clone(), metrics.clone()),
        );
        let admin = keep(&mut errors, admin_token(settings));
        let webhook = keep(&mut errors, WebhookVerifier::from_settings(&settings.seam));
        let (limits, sessions) = match &cluster {
            Some(cluster) => {
                let limits = keep(
                    &mut errors,
                    RateLimits::from_settings(
                        &settings.rate_limit,
                        &settings.server,
                        &metrics,
                        cluster.clone(),
                    ),
                );
                let sessions = keep(
                    &mut errors,
                    Sessions::from_settings(settings, clock.clone(), &metrics, cluster.clone()),
                );
                (limits, sessions)
            }
            None => (None, None),
        };
        ConfigError::all(errors)?;
        let built = || ConfigError::new("", "a component failed without saying why");
        let cluster = cluster.ok_or_else(built)?;
        Ok(Self {
            bounds: Data::new(bounds.ok_or_else(built)?),
            verifier: Data::new(verifier.ok_or_else(built)?),
            browser: Data::new(browser.ok_or_else(built)?),
            limits: Data::new(limits.ok_or_else(built)?),
            seam: seam.ok_or_else(built)?,
            sessions: Data::new(sessions.ok_or_else(built)?),
            cluster,
            key_check: Data::new(ApiKeyCheck::new(
                settings.health.readiness_cache_secs,
                settings.identity.key_hmac_secret.is_some()
                    || settings.identity.key_hmac_secret_file.is_some(),
                clock,
                &metrics,
            )),
            metrics: Data::from(metrics),
            admin: admin.ok_or_else(built)?.map(Data::new),
            webhook: webhook.ok_or_else(built)?.map(Data::new),
        })
    }
}

/// `result`'s value, or `None` with its error kept for the report.
fn keep<T>(errors: &mut Vec<ConfigError>, result: Result<T, ConfigError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

/// A listener's address: `host:port` with a port number (0 for any free one).
fn bind_address(key: &'static str, address: &str) -> Result<(), ConfigError> {
    let port = address
        .rsplit_once(':')
        .filter(|(host, _)| !host.is_empty());
    match port.map(|(_, port)| port.parse::<u16>()) {
        Some(Ok(_)) => Ok(()),
        _ => Err(ConfigError::new(
            key,
            "must be host:port with a port from 0 to 65535, e.g. \"0.0.0.0:8080\" or \"127.0.0.1:9090\"",
        )),
    }
}

fn admin_token(settings: &Settings) -> Result<Option<AdminToken>, ConfigError> {
    let token = secret_from(
        "admin.token",
        settings.admin.token.as_ref(),
        settings.admin.token_file.as_deref(),
    )?;
    match token {
        Some(token) if secrecy::ExposeSecret::expose_secret(&token).len() < MIN_SECRET_BYTES => {
            Err(ConfigError::new(
                "admin.token",
                format!("is shorter than {MIN_SECRET_BYTES} bytes: use a longer random token"),
            ))
        }
        token => Ok(token.map(AdminToken)),
    }
}

/// Checks every setting as start-up would, without binding or calling anything.
pub fn check_settings(settings: &Settings) -> Result<(), ConfigError> {
    Components::from_settings(settings, Arc::new(SystemClock)).map(drop)
}

pub struct Application {
    address: SocketAddr,
    management_address: SocketAddr,
    public: Server,
    management: Server,
    cluster: Option<Arc<Cluster>>,
    key_check: Data<ApiKeyCheck>,
    seam: SeamConfig,
}

fn bind(key: &'static str, address: &str) -> Result<(TcpListener, SocketAddr), StartupError> {
    let error = |source| StartupError::Bind {
        key,
        address: address.to_owned(),
        source,
    };
    let listener = TcpListener::bind(address).map_err(error)?;
    let bound = listener.local_addr().map_err(error)?;
    Ok((listener, bound))
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
        let c = Arc::new(Components::from_settings(settings, clock)?);
        if let Some(cluster) = &c.cluster {
            actix_web::rt::spawn(cluster.clone().run_events(c.sessions.clone().into_inner()));
        }
        let (public_listener, address) = bind("server.bind", &settings.server.bind)?;
        let (management_listener, management_address) =
            bind("management.bind", &settings.management.bind)?;
        let workers = match settings.server.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let shutdown = settings.server.shutdown_timeout_secs;

        let cluster = c.cluster.clone();
        let (key_check, seam) = (c.key_check.clone(), c.seam.clone());
        let shared = c.clone();
        let cors_settings = settings.cors.clone();
        let backchannel_logout = settings.auth.backchannel_logout;
        let seam_webhook = c.webhook.is_some();
        let public = HttpServer::new(move || {
            let c = &shared;
            App::new()
                // Outermost last. A refused body gets CORS headers like any answer; the
                // credentials rule sees what actix-cors added.
                .wrap(from_fn(request_bounds::limit_body))
                .wrap(cors::middleware(&cors_settings))
                .wrap(from_fn(cors::credentials_only_with_origin))
                .wrap(from_fn(json_envelope))
                .wrap(from_fn(log_request))
                .app_data(c.metrics.clone())
                .app_data(c.bounds.clone())
                .app_data(c.verifier.clone())
                .app_data(c.browser.clone())
                .app_data(c.limits.clone())
                .app_data(c.sessions.clone())
                .app_data(c.key_check.clone())
                // One client each per worker: awc is not `Send`.
                .app_data(Data::new(SeamClient::new(c.seam.clone())))
                .app_data(Data::new(IdpClient::new()))
                .configure(|cfg| {
                    if let Some(webhook) = &c.webhook {
                        cfg.app_data(webhook.clone());
                    }
                    routes::public(cfg, backchannel_logout, seam_webhook);
                })
        });
        // Signals are handled once for both listeners (see `shutdown_on_signal`): actix's own
        // handling would let the idle management server stop the whole runtime while the
        // public one is still finishing requests.
        let public = public
            .workers(workers)
            .disable_signals()
            .shutdown_timeout(shutdown)
            .listen(public_listener)
            .map_err(|source| StartupError::Bind {
                key: "server.bind",
                address: settings.server.bind.clone(),
                source,
            })?
            .run();

        let management = HttpServer::new(move || {
            let mut app = App::new()
                .wrap(from_fn(json_envelope))
                .wrap(from_fn(log_request))
                .app_data(c.metrics.clone())
                .app_data(c.sessions.clone())
                .app_data(Data::new(SeamClient::new(c.seam.clone())));
            if let Some(token) = &c.admin {
                app = app.app_data(token.clone());
            }
            let with_admin = c.admin.is_some();
            app.configure(|cfg| routes::management(cfg, with_admin))
        })
        // Operators' traffic is light; one worker keeps it off the public workers' cores.
        .workers(1)
        .disable_signals()
        .shutdown_timeout(shutdown)
        .listen(management_listener)
        .map_err(|source| StartupError::Bind {
            key: "management.bind",
            address: settings.management.bind.clone(),
            source,
        })?
        .run();

        Ok(Self {
            address,
            management_address,
            public,
            management,
            cluster,
            key_check,
            seam,
        })
    }

    /// Asks Seam about the workspace in the background, so that start-up logs what it is (and
    /// warns about publishable keys); readiness reuses the answer. A Seam that cannot be
    /// reached does not hold up the start: its failure is logged, and `/readyz` says it.
    pub fn check_seam(&self) {
        let (key_check, seam) = (self.key_check.clone(), self.seam.clone());
        actix_web::rt::spawn(async move {
            let _ = key_check.check(&SeamClient::new(seam)).await;
        });
    }

    /// What start-up can only learn from Redis itself: fleet mode refuses a Redis Cluster.
    /// Redis being down is no reason not to start (see `cluster`).
    pub async fn check_redis(&self) -> Result<(), StartupError> {
        match &self.cluster {
            Some(cluster) => Ok(cluster.refuse_redis_cluster().await?),
            None => Ok(()),
        }
    }

    /// The public listener's address (the real port when `server.bind` asked for port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The management listener's address.
    pub fn management_address(&self) -> SocketAddr {
        self.management_address
    }

    /// Serves until stopped (see `shutdown_on_signal`).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        try_join(self.public, self.management).await.map(drop)
    }

    /// Makes SIGTERM and Ctrl-C stop both listeners gracefully: no new connections, in-flight
    /// requests finish within `server.shutdown_timeout_secs`. For the binary; tests stop their
    /// instances with the runtime instead, and leave the process's signals alone.
    ///
    /// The handlers are installed before this returns, so a signal that comes as soon as the
    /// service answers is never taken by the default action (immediate exit).
    pub fn shutdown_on_signal(&self) -> std::io::Result<()> {
        use actix_web::rt::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let servers = [self.public.handle(), self.management.handle()];
        actix_web::rt::spawn(async move {
            let reason = tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = interrupt.recv() => "SIGINT",
            };
            tracing::info!(
                signal = reason,
                "graceful shutdown: finishing in-flight requests"
            );
            join_all(servers.iter().map(|server| server.stop(true))).await;
        });
        Ok(())
    }
}
