//! How long to wait before trying again: one schedule for cameras, MQTT clients, the relay and the case
//! store, from the `backon` crate.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// Delays between reconnection attempts: exponential from `min` (doubling) up to `max`, each with up to
/// 100 % random jitter so that many cameras or clients failing together do not retry in lockstep.
pub fn retry_delays(min: Duration, max: Duration) -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default().with_min_delay(min).with_max_delay(max).with_jitter().without_max_times().build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_with_jitter_up_to_the_maximum() {
        let delays: Vec<Duration> = retry_delays(Duration::from_secs(1), Duration::from_secs(8)).take(6).collect();
        for (attempt, delay) in delays.iter().enumerate() {
            let base = Duration::from_secs(1 << attempt.min(3));
            assert!(*delay >= base && *delay <= base * 2, "attempt {attempt}: {delay:?}");
        }
    }
}
