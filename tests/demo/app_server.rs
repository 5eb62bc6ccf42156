//! The app the example frontend belongs to: it serves the page, tells it where the service and
//! Seam are, and plays the app's identity provider: `POST /login` signs a demo user in with a
//! login token (returned for bearer mode, and set as the login cookie for cookie mode).

use std::net::TcpListener;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use seam_bff::config::Settings;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::DEMO_USERS;

const INDEX_HTML: &str = include_str!("frontend/index.html");
const APP_JS: &str = include_str!("frontend/app.js");
/// Seam's JS SDK, bundled for the browser (`tests/browser/build.mjs`).
const SEAM_HTTP_JS: &str = include_str!("frontend/vendor/seam-http.js");
const COMPONENTS_HTML: &str = include_str!("frontend/components.html");
/// The Seam Components page's bundle: built by `npm run build --prefix tests/browser` (it
/// holds React and Seam Components, a megabyte, so it is not committed); read when asked for.
const COMPONENTS_DIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/dist");

/// Mints demo logins the way the app's identity provider would.
#[derive(Clone)]
pub(crate) struct Logins {
    secret: SecretString,
    issuer: Option<String>,
    audience: Option<String>,
    cookie_name: String,
}

impl Logins {
    pub(crate) fn from_settings(settings: &Settings) -> Self {
        let auth = &settings.auth;
        Self {
            secret: auth
                .hs256_secret
                .clone()
                .expect("demo.toml sets auth.hs256_secret"),
            issuer: auth.issuer.clone(),
            audience: auth.audience.clone(),
            cookie_name: auth
                .cookie_name
                .clone()
                .expect("demo.toml sets auth.cookie_name"),
        }
    }

    /// A login token for `user`, valid for 24 hours.
    pub(crate) fn mint(&self, user: &str) -> String {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = json!({
            "sub": user,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + 24 * 3600,
        });
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(self.secret.expose_secret().as_bytes()),
        )
        .expect("demo token encodes")
    }
}

/// Where the page finds the service and Seam (`bff`, `seam`), and the OpenID provider it may
/// sign in at (`oidc`: `issuer` and `client_id`, or null).
struct Endpoints(Value);

#[derive(Deserialize)]
struct SignIn {
    user: String,
    mode: Mode,
}

/// How the page will present the login to the service.
#[derive(Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Mode {
    /// The page gets the token and sends it as `Authorization: Bearer`.
    Bearer,
    /// The token goes into an HttpOnly cookie that the page's script never sees.
    Cookie,
}

/// Starts the app server on `listener`; it stops with the returned handle.
pub(crate) fn serve(
    listener: TcpListener,
    logins: Logins,
    endpoints: Value,
) -> std::io::Result<ServerHandle> {
    let endpoints = web::Data::new(Endpoints(endpoints));
    let logins = web::Data::new(logins);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(endpoints.clone())
            .app_data(logins.clone())
            .route("/", web::get().to(index))
            .route("/app.js", web::get().to(app_js))
            .route("/vendor/seam-http.js", web::get().to(seam_http_js))
            .route("/components", web::get().to(components))
            .route("/components/{file}", web::get().to(components_file))
            .route("/config.json", web::get().to(config))
            .route("/login", web::post().to(login))
            .route("/logout", web::post().to(logout))
    })
    .workers(1)
    // Signals stop the service; the demo then stops this server.
    .disable_signals()
    .listen(listener)?
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Ok(handle)
}

async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(INDEX_HTML)
}

async fn app_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .body(APP_JS)
}

async fn seam_http_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .body(SEAM_HTTP_JS)
}

async fn components() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(COMPONENTS_HTML)
}

/// `components.js` or `components.css`, when they have been built.
async fn components_file(file: web::Path<String>) -> HttpResponse {
    let content_type = match file.as_str() {
        "components.js" => "text/javascript; charset=utf-8",
        "components.css" => "text/css; charset=utf-8",
        _ => return HttpResponse::NotFound().finish(),
    };
    match std::fs::read(format!("{COMPONENTS_DIST}/{file}")) {
        Ok(body) => HttpResponse::Ok().content_type(content_type).body(body),
        Err(_) => HttpResponse::NotFound().content_type("text/plain").body(
            "The Seam Components page is not built: npm ci --prefix tests/browser && npm run build --prefix tests/browser",
        ),
    }
}

async fn config(endpoints: web::Data<Endpoints>) -> HttpResponse {
    HttpResponse::Ok().json(&endpoints.0)
}

/// Signs a demo user in. The cookie is host-only, so the browser also sends it to the service
/// on another port of this host (same site, another origin), as it would to
/// `bff.example.com` from `app.example.com` with `Domain=example.com`.
async fn login(logins: web::Data<Logins>, body: web::Json<SignIn>) -> HttpResponse {
    if !DEMO_USERS.iter().any(|(user, _)| *user == body.user) {
        return HttpResponse::NotFound().json(json!({"error": "no such demo user"}));
    }
    let token = logins.mint(&body.user);
    let mut reply = HttpResponse::Ok();
    reply.insert_header(("Cache-Control", "no-store"));
    if body.mode == Mode::Bearer {
        return reply.json(json!({ "token": token }));
    }
    let cookie = Cookie::build(logins.cookie_name.clone(), token)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .finish();
    reply.cookie(cookie).json(json!({}))
}

async fn logout(logins: web::Data<Logins>) -> HttpResponse {
    let mut cookie = Cookie::build(logins.cookie_name.clone(), "")
        .path("/")
        .finish();
    cookie.make_removal();
    HttpResponse::NoContent().cookie(cookie).finish()
}
