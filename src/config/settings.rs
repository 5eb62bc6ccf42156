//! The settings' shapes: one struct per section, unknown keys refused, durations named
//! `*_secs` / `*_ms`, secrets wrapped so that `Debug` prints `[REDACTED]`.

use std::collections::HashMap;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub log: LogSettings,
    pub seam: SeamSettings,
    pub auth: AuthSettings,
    pub identity: IdentitySettings,
    pub accounts: AccountsSettings,
    pub sessions: SessionsSettings,
    pub health: HealthSettings,
    pub cors: CorsSettings,
    pub rate_limit: RateLimitSettings,
    pub management: ManagementSettings,
    pub admin: AdminSettings,
    pub cluster: ClusterSettings,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub bind: String,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    pub shutdown_timeout_secs: u64,
    pub request_timeout_ms: u64,
    pub max_body_bytes: usize,
    /// Peers (addresses or CIDR ranges) whose `forwarded_header` is believed.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub trusted_proxies: Vec<String>,
    /// The header the trusted proxies write the client's address into; the other is ignored.
    pub forwarded_header: ForwardedHeader,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    XForwardedFor,
    /// RFC 7239.
    Forwarded,
}

impl ForwardedHeader {
    pub fn name(self) -> &'static str {
        match self {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeamSettings {
    pub endpoint: String,
    pub api_key: Option<SecretString>,
    pub api_key_file: Option<PathBuf>,
    /// One attempt, connect to last byte.
    pub timeout_ms: u64,
    /// One call, all attempts and waits between them.
    pub deadline_ms: u64,
    pub max_attempts: u32,
    pub retry_base_ms: u64,
    pub max_response_bytes: usize,
    pub max_concurrent_requests: usize,
    pub breaker_failures: u32,
    pub breaker_cooldown_secs: u64,
    /// The signing secret (`whsec_…`) of the endpoint registered in Seam's console for
    /// `POST /v1/seam-webhook`; the route is served only when one is set.
    pub webhook_secret: Option<SecretString>,
    pub webhook_secret_file: Option<PathBuf>,
    /// The workspace the API key must belong to (as `/workspaces/get` names it); unset: any.
    pub workspace_id: Option<String>,
    /// Whether that workspace must be a sandbox (`true`) or not (`false`); unset: either.
    pub sandbox: Option<bool>,
}

impl SeamSettings {
    /// Whether Seam's webhooks are on: a signing secret is set, inline or as a file.
    pub fn webhooks_on(&self) -> bool {
        self.webhook_secret.is_some() || self.webhook_secret_file.is_some()
    }
}

/// Login verification. The top-level `issuer` … `jwks_url` keys describe one trusted issuer
/// (the simple form); `[[auth.issuers]]` adds more, each with its own keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// A TOML list, or a comma-separated string from the environment. Unset (empty): RS256,
    /// or with `discovery` the ones the provider's document names.
    #[serde(default, deserialize_with = "list_or_comma_separated")]
    pub algorithms: Vec<String>,
    pub hs256_secret: Option<SecretString>,
    pub hs256_secret_file: Option<PathBuf>,
    pub public_key_file: Option<PathBuf>,
    pub jwks_url: Option<String>,
    /// Find the key set (and, unless listed, the algorithms) through the issuer's OpenID
    /// discovery document.
    pub discovery: bool,
    pub leeway_secs: u64,
    /// Longest a login may live: `exp` at most this far from now, and from `iat`.
    pub max_token_lifetime_secs: u64,
    /// When set, a token's `typ` header must equal it (e.g. "at+jwt", RFC 9068).
    pub required_typ: Option<String>,
    /// Cookie that may carry the login when there is no `Authorization` header.
    pub cookie_name: Option<String>,
    /// Tokens remembered per user after one verification (0: verify every request).
    pub verified_tokens_per_user: usize,
    /// Serve `POST /v1/backchannel-logout` (OpenID Connect Back-Channel Logout 1.0).
    pub backchannel_logout: bool,
    /// The `aud` of the simple form's logout tokens (its client id), when not `audience`.
    pub logout_audience: Option<String>,
    #[serde(default)]
    pub issuers: Vec<IssuerSettings>,
}

impl AuthSettings {
    /// The longest a login may stay valid: `max_token_lifetime_secs` plus the leeway. What
    /// remembers a logout (a revocation here or in the fleet) keeps it this long.
    pub fn longest_login(&self) -> std::time::Duration {
        std::time::Duration::from_secs(
            self.max_token_lifetime_secs
                .saturating_add(self.leeway_secs),
        )
    }
}

/// One more trusted issuer, chosen when a token's `iss` equals `issuer`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSettings {
    pub issuer: String,
    pub audience: Option<String>,
    /// As `AuthSettings::algorithms`.
    #[serde(default, deserialize_with = "list_or_comma_separated")]
    pub algorithms: Vec<String>,
    pub hs256_secret: Option<SecretString>,
    pub hs256_secret_file: Option<PathBuf>,
    pub public_key_file: Option<PathBuf>,
    pub jwks_url: Option<String>,
    /// As `AuthSettings::discovery`.
    #[serde(default)]
    pub discovery: bool,
    /// The `aud` of this issuer's logout tokens (its client id), when not `audience`.
    pub logout_audience: Option<String>,
    /// This issuer's users' key prefix (default `identity.key_prefix`): the same prefix as
    /// another issuer's makes them one user, which needs `identity.issuers_share_users`.
    pub key_prefix: Option<String>,
    /// For `accounts.source = "seam_metadata"`: the custom metadata key that holds this
    /// issuer's user ids (default `accounts.metadata_key`).
    pub accounts_metadata_key: Option<String>,
    /// For `accounts.source = "static"`: this issuer's users' accounts (default none).
    pub accounts_static: Option<HashMap<String, Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySettings {
    pub claim: String,
    pub key_prefix: String,
    /// When set, `user_identifier_key` = prefix + hex(HMAC-SHA256(secret, user id)).
    pub key_hmac_secret: Option<SecretString>,
    pub key_hmac_secret_file: Option<PathBuf>,
    /// Issuers with the same effective key prefix issue the same users on purpose (an
    /// identity-provider migration that kept user ids); otherwise start-up refuses them.
    pub issuers_share_users: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountsSettings {
    pub source: AccountSourceKind,
    pub metadata_key: Option<String>,
    /// For `source = "seam_metadata"`: what the metadata value is matched against.
    pub metadata_value: MetadataValue,
    pub claim: Option<String>,
    pub cache_ttl_secs: u64,
    pub serve_stale_secs: u64,
    /// User id to connected account ids, for `source = "static"`.
    #[serde(rename = "static", default)]
    pub static_accounts: HashMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountSourceKind {
    Seam,
    SeamMetadata,
    Claim,
    Static,
}

impl AccountSourceKind {
    /// The value as a config file writes it.
    pub fn config_name(self) -> &'static str {
        match self {
            AccountSourceKind::Seam => "seam",
            AccountSourceKind::SeamMetadata => "seam_metadata",
            AccountSourceKind::Claim => "claim",
            AccountSourceKind::Static => "static",
        }
    }
}

/// What `accounts.metadata_key`'s value holds for the account's owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetadataValue {
    /// The app's user id (the login's `identity.claim`).
    UserId,
    /// The user's Seam `user_identifier_key` (what Seam Components writes as
    /// `custom_metadata.user_identifier_key`); with `identity.key_hmac_secret` no browser can
    /// guess another user's.
    UserKey,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsSettings {
    pub ttl_secs: u64,
    pub min_remaining_secs: u64,
    pub refresh_ahead_secs: u64,
    /// While Seam fails, a session due for renewal is still handed out with this long left.
    pub stale_min_remaining_secs: u64,
    pub max_entries: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthSettings {
    /// How long a `/workspaces/get` result answers readiness probes.
    pub readiness_cache_secs: u64,
}

fn list_or_comma_separated<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    // Environment values are plain strings; without config's `try_parsing` (see `load`) they
    // are not split into lists, so this field splits them itself.
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrText {
        List(Vec<String>),
        Text(String),
    }
    Ok(match ListOrText::deserialize(deserializer)? {
        ListOrText::List(items) => items,
        ListOrText::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsSettings {
    /// Exact origins (scheme://host[:port]) allowed to call from a browser.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub allowed_origins: Vec<String>,
    pub max_age_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    pub enabled: bool,
    pub user_per_minute: u32,
    pub user_burst: u32,
    pub client_per_minute: u32,
    pub client_burst: u32,
    /// IPv6 clients count by this prefix (one host usually holds a /64).
    pub ipv6_prefix_len: u8,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagementSettings {
    pub bind: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    pub token: Option<SecretString>,
    pub token_file: Option<PathBuf>,
}

/// Fleet mode: state shared through Redis (see `cluster`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// `redis://` or `rediss://`, perhaps with a username and password: a secret.
    pub redis_url: Option<SecretString>,
    pub redis_url_file: Option<PathBuf>,
    /// PEM certificates to trust for `rediss://` instead of the public roots (a private CA).
    pub tls_ca_file: Option<PathBuf>,
    /// The longest any request waits on Redis.
    pub timeout_ms: u64,
    /// Prefixes every key and channel, so that deployments can share one Redis.
    pub key_prefix: String,
    /// 32 random bytes as 64 hex digits: seals what is written to Redis.
    pub encryption_key: Option<SecretString>,
    pub encryption_key_file: Option<PathBuf>,
}
