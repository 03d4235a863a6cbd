//! URLs of cameras, brokers and databases as they may be shown: credentials never reach a log, an error
//! or the API.

/// The URL with any user name and password replaced by `***`, fit for logs and the API.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            // Setting credentials only fails on URLs that cannot have them, which these just had.
            let _ = parsed.set_username("***");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "<unparsable url>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_survive_redaction() {
        let redacted = redact_url("rtsp://admin:s3cret@10.0.0.7:554/Streaming/Channels/101");
        assert_eq!(redacted, "rtsp://***@10.0.0.7:554/Streaming/Channels/101");
        assert!(!redacted.contains("s3cret") && !redacted.contains("admin"));
        assert_eq!(redact_url("rtsp://127.0.0.1:8554/street"), "rtsp://127.0.0.1:8554/street");
        assert_eq!(redact_url("not a url"), "<unparsable url>");
    }
}
