//! Middleware: what wraps every request of a listener, outermost first as `startup` wraps
//! them: the request log, the JSON envelope of errors actix answers itself, CORS (with the
//! browser rules for cookie logins), and the bounds on a request (body size and time).

pub(crate) mod cors;
pub(crate) mod json_envelope;
pub(crate) mod request_bounds;
pub(crate) mod request_log;
