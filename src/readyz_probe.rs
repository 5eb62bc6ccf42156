//! The client side of `seam-bff healthcheck`: asks the local service's `/readyz` (served by
//! `routes::probes`), for container images that have no curl. Exit 0 when ready.

use std::time::Duration;

/// The address to probe for a `server.bind` value: a wildcard bind is reached on loopback.
pub fn local_address(bind: &str) -> String {
    if let Some(port) = bind.strip_prefix("0.0.0.0:") {
        format!("127.0.0.1:{port}")
    } else if let Some(port) = bind.strip_prefix("[::]:") {
        format!("[::1]:{port}")
    } else {
        bind.to_owned()
    }
}

/// `Ok` when `GET http://{address}/readyz` answers 200 within two seconds.
pub async fn probe(address: &str) -> Result<(), String> {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(2))
        .finish();
    let mut response = client
        .get(format!("http://{address}/readyz"))
        .send()
        .await
        .map_err(|e| format!("{address} did not answer: {e}"))?;
    match response.status().as_u16() {
        200 => Ok(()),
        status => {
            // The reason and cause classes the service gave, when it gave them.
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            let field = |name: &str| body[name].as_str().map(str::to_owned);
            let reason = match (field("reason"), field("cause")) {
                (Some(reason), Some(cause)) => format!(": {reason} ({cause})"),
                (Some(reason), None) => format!(": {reason}"),
                _ => String::new(),
            };
            Err(format!("{address}/readyz answered {status}{reason}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::local_address;

    #[test]
    fn wildcard_binds_are_probed_on_loopback() {
        assert_eq!(local_address("0.0.0.0:8080"), "127.0.0.1:8080");
        assert_eq!(local_address("[::]:8080"), "[::1]:8080");
        assert_eq!(local_address("10.0.0.5:80"), "10.0.0.5:80");
    }
}
