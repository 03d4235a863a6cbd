//! Open311 report photos (any bytes a citizen app uploads): decoded within the side and memory limits
//! or refused, never a panic and never an allocation past the limits (libFuzzer's -rss_limit_mb).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sharpeyes_alerting::casework::citizen::decode_photo;

fuzz_target!(|data: &[u8]| {
    if let Ok(image) = decode_photo(data) {
        assert!(image.width() > 0 && image.height() > 0);
    }
});
