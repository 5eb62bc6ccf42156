//! Middleware of the public listener, outermost first as `startup` wraps them: the request log,
//! CORS (with the browser rules for cookie logins), and the bounds on a request (body size,
//! time, and the rate limits of the handshake).

pub(crate) mod cors;
pub(crate) mod ratelimit;
pub(crate) mod request_bounds;
pub(crate) mod request_log;
