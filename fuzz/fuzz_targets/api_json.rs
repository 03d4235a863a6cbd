//! JSON the API and the cluster take from outside: the request bodies of the case API, and the
//! violation messages centers take from the broker. Parsed or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sharpeyes_alerting::{api, rules::wire};

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<api::ActionRequest>(data);
    let _ = serde_json::from_slice::<api::AcknowledgeRequest>(data);
    let _ = serde_json::from_slice::<api::HandOverRequest>(data);
    let _ = serde_json::from_slice::<api::WhistleRequest>(data);
    let _ = serde_json::from_slice::<api::ReportInRequest>(data);
    let _ = serde_json::from_slice::<api::SilenceRequest>(data);
    if let Ok((violation, message)) = wire::decode(data) {
        assert_eq!(violation.stable_id(), message.id, "an accepted message's id matches its content");
    }
});
