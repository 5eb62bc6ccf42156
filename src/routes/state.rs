//! The application state the handlers share: the services `startup` builds once, and the
//! outbound clients each worker has of its own. One typed accessor (`State::of`) for every
//! handler and the extractors.

use std::ops::Deref;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::web::Data;
use secrecy::SecretString;

use crate::auth::{IdpClient, Verifier};
use crate::clock::Clock;
use crate::events::SeamEvents;
use crate::fleet::Fleet;
use crate::handshake::Handshake;
use crate::limits::RateLimits;
use crate::login::Admission;
use crate::metrics::Metrics;
use crate::middleware::cors::BrowserRules;
use crate::seam::{ApiKeyCheck, SeamClient, SeamConfig, WebhookVerifier};

/// The admin bearer token (`admin.token`).
pub(crate) struct AdminToken(pub(crate) SecretString);

/// Everything the handlers share, built once by `startup`.
pub(crate) struct Services {
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) verifier: Arc<Verifier>,
    pub(crate) browser: Arc<BrowserRules>,
    pub(crate) limits: Arc<RateLimits>,
    pub(crate) admission: Arc<Admission>,
    pub(crate) handshake: Arc<Handshake>,
    /// With `seam.webhook_secret`: Seam's webhook deliveries are checked with `webhook` and
    /// applied by `events`.
    pub(crate) events: Option<(Arc<WebhookVerifier>, Arc<SeamEvents>)>,
    pub(crate) key_check: Arc<ApiKeyCheck>,
    /// `None`: a single instance.
    pub(crate) fleet: Option<Arc<Fleet>>,
    pub(crate) admin: Option<AdminToken>,
    pub(crate) clock: Arc<dyn Clock>,
    /// What each worker builds its Seam client from.
    pub(crate) seam_config: SeamConfig,
}

/// The application state of one worker: the shared services, and the outbound clients, one
/// per worker as awc is not `Send`. Handlers borrow it from the request (`State::of`) rather
/// than extract `Data`, whose clone bumps a count every worker shares (it showed in profiles
/// of the cached handshake).
pub(crate) struct State {
    services: Arc<Services>,
    pub(crate) seam: Rc<SeamClient>,
    pub(crate) idp: Rc<IdpClient>,
}

impl State {
    /// A worker's state, registered on its app by `startup`.
    pub(crate) fn new(services: &Arc<Services>) -> Data<Self> {
        Data::new(Self {
            services: services.clone(),
            seam: Rc::new(SeamClient::new(services.seam_config.clone())),
            idp: Rc::new(IdpClient::new()),
        })
    }

    pub(super) fn of(req: &HttpRequest) -> &Self {
        req.app_data::<Data<Self>>()
            .map(Data::get_ref)
            .expect("startup registers the state on every app")
    }
}

impl Deref for State {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}
