//! The authenticated-user extractor: handlers take a `login::Login`, never a raw header.
//!
//! The login comes from `Authorization: Bearer <token>`, or, when there is no such header, from
//! the login cookie under the browser rules (`middleware::cors`). A token that verified before
//! is recalled from the user cache; any other is inspected, then, within the client's budget of
//! failed signature checks (`limits`), verified (`auth`) and admitted (`login`).

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::{Either, LocalBoxFuture};
use std::borrow::Cow;
use std::future::{Ready, ready};

use super::state::State;
use crate::auth::AuthError;
use crate::error::ApiError;
use crate::login::{Login, Recalled};
use crate::middleware::cors::BrowserRules;

impl FromRequest for Login {
    type Error = ApiError;
    type Future =
        Either<Ready<Result<Self, ApiError>>, LocalBoxFuture<'static, Result<Self, ApiError>>>;

    /// A token that verified before is answered at once: a repeat handshake allocates no
    /// future here, and no limit applies. Only the first sight of a token waits (for its
    /// signature check and, with a JWKS, for keys), and only once it passed every check that
    /// needs no signature work, and while the client address has failed checks to spare.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = State::of(req);
        let (admission, verifier) = (&state.admission, &state.verifier);
        let recalled = credential(req, &state.browser)
            .and_then(|token| Ok((admission.recall(&token, verifier)?, token)));
        let (unseen, token) = match recalled {
            Ok((Recalled::Known(login), _)) => return Either::Left(ready(Ok(login))),
            Ok((Recalled::Unseen(unseen), token)) => (unseen, token.into_owned()),
            Err(error) => return Either::Left(ready(Err(error.into()))),
        };
        let inspected = match verifier.inspect(token) {
            Ok(inspected) => inspected,
            Err(error) => return Either::Left(ready(Err(error.into()))),
        };
        let turn = state.limits.signature_turn(req);
        let (admission, verifier) = (admission.clone(), verifier.clone());
        let http = state.idp.clone();
        Either::Right(Box::pin(async move {
            turn.room().await?;
            let claims = match verifier.verify(inspected, &http).await {
                Ok(claims) => claims,
                Err(error) => {
                    if matches!(error, AuthError::BadSignature(_)) {
                        turn.failed().await;
                    }
                    return Err(error.into());
                }
            };
            Ok(admission.admit(claims, unseen).await?)
        }))
    }
}

/// The login token of this request: the bearer header, else the login cookie.
fn credential<'r>(req: &'r HttpRequest, rules: &BrowserRules) -> Result<Cow<'r, str>, AuthError> {
    let mut headers = req.headers().get_all(AUTHORIZATION);
    if let Some(header) = headers.next() {
        if headers.next().is_some() {
            return Err(AuthError::Ambiguous("two `Authorization` headers"));
        }
        let value = header.to_str().map_err(|_| AuthError::Malformed)?;
        let (scheme, token) = value.split_once(' ').ok_or(AuthError::Malformed)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(AuthError::Malformed);
        }
        return Ok(Cow::Borrowed(token));
    }
    rules
        .login_cookie(req)?
        .map(Cow::Owned)
        .ok_or(AuthError::Missing)
}
