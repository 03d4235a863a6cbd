//! Webhook receivers: signed JSON POSTs.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Header with the delivery id: the same on every attempt, for the receiver to deduplicate by.
pub const DELIVERY_HEADER: &str = "x-sharpeyes-delivery";
/// Header with `sha256=<hex HMAC-SHA256 of the body keyed by the receiver's secret>`.
pub const SIGNATURE_HEADER: &str = "x-sharpeyes-signature";
/// Header with the timeline action (`report`, `dispatch`, ...).
pub const EVENT_HEADER: &str = "x-sharpeyes-event";

/// A department's (or a platform's) HTTP endpoint.
#[derive(Clone, Debug)]
pub struct Webhook {
    /// `http://` or `https://` URL.
    pub url: reqwest::Url,
    /// Key of the body's HMAC signature.
    pub secret: String,
    /// Longest wait for the receiver's answer.
    pub timeout: Duration,
}

/// The value of the signature header for `body`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Webhook {
    /// POSTs `body`; any 2xx answer delivers it, anything else is an error to retry.
    pub async fn send(&self, client: &reqwest::Client, delivery: i64, action: &str, body: &str) -> Result<(), String> {
        let response = client
            .post(self.url.clone())
            .timeout(self.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(DELIVERY_HEADER, delivery.to_string())
            .header(EVENT_HEADER, action)
            .header(SIGNATURE_HEADER, signature(&self.secret, body.as_bytes()))
            .body(body.to_owned())
            .send()
            .await
            .map_err(|err| format!("{}: {err}", self.url))?;
        let status = response.status();
        if status.is_success() { Ok(()) } else { Err(format!("{} answered {status}", self.url)) }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_signature_is_the_rfc_4231_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            super::signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
