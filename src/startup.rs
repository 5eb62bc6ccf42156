//! Building the application from settings: every component checks its own keys here, once,
//! then both listeners are bound (port 0 works) and the servers assembled.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web::Data};
use futures_util::future::{join_all, try_join};

use crate::auth::{MIN_SECRET_BYTES, Verifier};
use crate::clock::{Clock, SystemClock};
use crate::cluster::Cluster;
use crate::config::{AccountSourceKind, ConfigError, Settings, secret_from};
use crate::events::SeamEvents;
use crate::fleet::Fleet;
use crate::handshake::{self, AccountSource, Handshake, Holders, Provenance, Users};
use crate::limits::RateLimits;
use crate::login::{Admission, Identity};
use crate::metrics::Metrics;
use crate::middleware::cors::{self, BrowserRules};
use crate::middleware::json_envelope::json_envelope;
use crate::middleware::request_bounds::{self, RequestBounds};
use crate::middleware::request_log::log_request;
use crate::replicas::Replicas;
use crate::routes::{self, AdminToken, HANDSHAKE_ROUTE, Services, State};
use crate::seam::{ApiKeyCheck, SeamClient, SeamConfig, WebhookVerifier};

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

/// Everything the application is made of, built and validated from settings.
struct Components {
    services: Arc<Services>,
    bounds: Data<RequestBounds>,
    /// Fleet mode's Redis, and what this replica does with the others' events.
    cluster: Option<(Arc<Cluster>, Arc<Replicas>)>,
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
        if settings.sessions.max_entries == 0 {
            errors.push(ConfigError::new("sessions.max_entries", "must be above 0"));
        }
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
        let identity = keep(&mut errors, Identity::from_settings(settings))
            .map(|(identity, sources)| (identity, Arc::<[AccountSource]>::from(sources)));
        let users = Arc::new(Users::new(settings.sessions.max_entries, &metrics));
        let holders = settings
            .seam
            .webhooks_on()
            .then(|| Arc::new(Holders::default()));
        let fleet = cluster.as_ref().map(|cluster| {
            cluster.as_ref().map(|cluster| {
                Arc::new(Fleet::new(
                    cluster.clone(),
                    settings.auth.longest_login(),
                    Duration::from_millis(settings.seam.deadline_ms),
                ))
            })
        });
        let provenance = fleet.clone().map(|fleet| {
            Arc::new(Provenance::new(
                settings.sessions.max_entries,
                fleet,
                &metrics,
            ))
        });
        let limits = cluster.as_ref().and_then(|cluster| {
            keep(
                &mut errors,
                RateLimits::from_settings(
                    &settings.rate_limit,
                    &settings.server,
                    &metrics,
                    cluster.clone(),
                ),
            )
        });
        let handshake = match (&identity, &fleet, &provenance) {
            (Some((identity, sources)), Some(fleet), Some(provenance)) => {
                let shared = handshake::Shared {
                    users: users.clone(),
                    sources: sources.clone(),
                    user_ids_at: (0..sources.len()).map(|n| identity.user_id_at(n)).collect(),
                    fleet: fleet.clone(),
                    holders: holders.clone(),
                    provenance: provenance.clone(),
                };
                keep(
                    &mut errors,
                    Handshake::from_settings(settings, shared, clock.clone(), &metrics),
                )
            }
            _ => None,
        };
        ConfigError::all(errors)?;
        let built = || ConfigError::new("", "a component failed without saying why");
        let (cluster, fleet) = (cluster.ok_or_else(built)?, fleet.ok_or_else(built)?);
        let (identity, sources) = identity.ok_or_else(built)?;
        let identity = Arc::new(identity);
        let admission = Arc::new(Admission::new(
            settings,
            users.clone(),
            identity.clone(),
            fleet.clone(),
            provenance.ok_or_else(built)?,
            clock.clone(),
            &metrics,
        ));
        let events = match (webhook.ok_or_else(built)?, holders) {
            (Some(webhook), Some(holders)) => {
                let events =
                    SeamEvents::new(users.clone(), identity, sources, holders, fleet.clone());
                Some((Arc::new(webhook), Arc::new(events)))
            }
            _ => None,
        };
        let cluster = cluster.map(|cluster| {
            let replicas = Replicas {
                admission: admission.clone(),
                users,
                events: events.as_ref().map(|(_, events)| events.clone()),
                fleet: fleet.clone(),
            };
            (cluster, Arc::new(replicas))
        });
        let services = Services {
            verifier: Arc::new(verifier.ok_or_else(built)?),
            browser: Arc::new(browser.ok_or_else(built)?),
            limits: Arc::new(limits.ok_or_else(built)?),
            admission,
            handshake: Arc::new(handshake.ok_or_else(built)?),
            events,
            key_check: Arc::new(ApiKeyCheck::new(
                settings.health.readiness_cache_secs,
                settings.identity.key_hmac_secret.is_some()
                    || settings.identity.key_hmac_secret_file.is_some(),
                clock.clone(),
                &metrics,
            )),
            fleet,
            admin: admin.ok_or_else(built)?,
            clock,
            seam_config: seam.ok_or_else(built)?,
            metrics,
        };
        Ok(Self {
            services: Arc::new(services),
            bounds: Data::new(bounds.ok_or_else(built)?),
            cluster,
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

/// Checks every setting as start-up would, without binding or calling anything: what is
/// valid but probably not meant, as warnings (which never quote a secret).
pub fn check_settings(settings: &Settings) -> Result<Vec<String>, ConfigError> {
    let components = Components::from_settings(settings, Arc::new(SystemClock))?;
    let seam = &components.services.seam_config;
    Ok(seam.warnings().iter().map(|w| (*w).to_owned()).collect())
}

pub struct Application {
    address: SocketAddr,
    management_address: SocketAddr,
    public: Server,
    management: Server,
    services: Arc<Services>,
    cluster: Option<Arc<Cluster>>,
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
        let Components {
            services,
            bounds,
            cluster,
        } = Components::from_settings(settings, clock)?;
        let cluster = cluster.map(|(cluster, replicas)| {
            actix_web::rt::spawn(cluster.clone().run_events(replicas));
            cluster
        });
        let (public_listener, address) = bind("server.bind", &settings.server.bind)?;
        let (management_listener, management_address) =
            bind("management.bind", &settings.management.bind)?;
        let workers = match settings.server.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let shutdown = settings.server.shutdown_timeout_secs;

        let shared = services.clone();
        let cors_settings = settings.cors.clone();
        let backchannel_logout = settings.auth.backchannel_logout;
        let seam_webhook = services.events.is_some();
        let public = HttpServer::new(move || {
            App::new()
                // Outermost last. A refused body gets CORS headers like any answer; the
                // credentials rule sees what actix-cors added.
                .wrap(from_fn(request_bounds::limit_body))
                .wrap(cors::middleware(&cors_settings))
                .wrap(from_fn(cors::credentials_only_with_origin))
                .wrap(from_fn(json_envelope))
                .wrap(from_fn(log_request))
                // What the middleware reads; the handlers read the state.
                .app_data(Data::from(shared.metrics.clone()))
                .app_data(bounds.clone())
                .app_data(State::new(&shared))
                .configure(|cfg| routes::public(cfg, backchannel_logout, seam_webhook))
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

        let shared = services.clone();
        let management = HttpServer::new(move || {
            let with_admin = shared.admin.is_some();
            App::new()
                .wrap(from_fn(json_envelope))
                .wrap(from_fn(log_request))
                .app_data(Data::from(shared.metrics.clone()))
                .app_data(State::new(&shared))
                .configure(|cfg| routes::management(cfg, with_admin))
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
            services,
            cluster,
        })
    }

    /// Asks Seam about the workspace in the background, so that start-up logs what it is (and
    /// warns about publishable keys); readiness reuses the answer. A Seam that cannot be
    /// reached does not hold up the start: its failure is logged, and `/readyz` says it.
    pub fn check_seam(&self) {
        let services = self.services.clone();
        actix_web::rt::spawn(async move {
            let seam = SeamClient::new(services.seam_config.clone());
            let _ = services.key_check.check(&seam).await;
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
