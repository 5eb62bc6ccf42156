//! Why an outbound HTTP call (to Seam, or for an identity provider's keys) got no usable answer,
//! by class, so that a log line or `/readyz` says what to look at: the name (`dns`), the route
//! to the host (`connect`), its certificate (`tls`), its speed (`timeout`), what it answered
//! (`status`), or an answer that could not be read (`body`).

use awc::error::{ConnectError, SendRequestError};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Cause {
    Dns,
    Connect,
    Tls,
    Timeout,
    Status,
    Body,
}

impl Cause {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Cause::Dns => "dns",
            Cause::Connect => "connect",
            Cause::Tls => "tls",
            Cause::Timeout => "timeout",
            Cause::Status => "status",
            Cause::Body => "body",
        }
    }

    /// The class of a request that got no response.
    pub(crate) fn of_send(error: &SendRequestError) -> Cause {
        match error {
            SendRequestError::Timeout => Cause::Timeout,
            SendRequestError::Connect(connect) => Cause::of_connect(connect),
            SendRequestError::Url(_) => Cause::Dns,
            SendRequestError::Send(io) if is_tls(io) => Cause::Tls,
            SendRequestError::Response(_) | SendRequestError::Http(_) => Cause::Body,
            _ => Cause::Connect,
        }
    }

    fn of_connect(error: &ConnectError) -> Cause {
        match error {
            ConnectError::Resolver(_) | ConnectError::NoRecords | ConnectError::Unresolved => {
                Cause::Dns
            }
            ConnectError::Timeout => Cause::Timeout,
            ConnectError::SslIsNotSupported => Cause::Tls,
            ConnectError::Io(io) if is_tls(io) => Cause::Tls,
            _ => Cause::Connect,
        }
    }
}

/// Whether an I/O error is rustls refusing the handshake (a certificate, a protocol version).
fn is_tls(error: &std::io::Error) -> bool {
    let mut source = error
        .get_ref()
        .map(|e| e as &(dyn std::error::Error + 'static));
    while let Some(error) = source {
        if error.is::<rustls::Error>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// Why the service is not ready: a stable code for `/readyz` and, when a call failed, its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotReady {
    pub(crate) reason: &'static str,
    pub(crate) cause: Option<Cause>,
}

impl NotReady {
    pub(crate) fn new(reason: &'static str, cause: Option<Cause>) -> Self {
        Self { reason, cause }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_is_named_by_its_class() {
        let dns = SendRequestError::Connect(ConnectError::Resolver(Box::new(
            std::io::Error::other("failed to lookup address information"),
        )));
        assert_eq!(Cause::of_send(&dns), Cause::Dns);
        assert_eq!(
            Cause::of_send(&SendRequestError::Connect(ConnectError::NoRecords)),
            Cause::Dns
        );
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(
            Cause::of_send(&SendRequestError::Connect(ConnectError::Io(refused))),
            Cause::Connect
        );
        let certificate = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(
            Cause::of_send(&SendRequestError::Connect(ConnectError::Io(certificate))),
            Cause::Tls
        );
        assert_eq!(Cause::of_send(&SendRequestError::Timeout), Cause::Timeout);
        assert_eq!(
            Cause::of_send(&SendRequestError::Connect(ConnectError::Timeout)),
            Cause::Timeout
        );
    }
}
