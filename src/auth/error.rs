//! Why a login was refused (`AuthError`), and the size past which a token is not read at all.
//! Every file of `auth` refuses with it, so it sits below them all.

/// Tokens longer than this are refused before any parsing: no identity provider issues them,
/// and parsing attacker-sized input is a cost we need not pay.
pub(crate) const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Why a login was refused. The display text is for logs; it never includes the token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum AuthError {
    #[error("no bearer token or login cookie")]
    Missing,
    #[error("authorization header is not `Bearer <token>`")]
    Malformed,
    #[error("token longer than {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet")]
    NotYetValid,
    #[error("token rejected: {0}")]
    Rejected(String),
    /// The one refusal that cost a signature check (or a key-set fetch for an unknown `kid`):
    /// what the per-client budget counts.
    #[error("signature check failed: {0}")]
    BadSignature(&'static str),
    #[error("token has no usable `{0}` claim")]
    BadClaim(String),
    #[error("cookie login refused: {0}")]
    Csrf(&'static str),
    /// Never "the first one wins": a cookie planted on a parent domain must not choose whose
    /// login a request carries.
    #[error("more than one login: {0}")]
    Ambiguous(&'static str),
}
