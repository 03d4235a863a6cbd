//! The sensor half of the rules stage: valid sensor messages from MQTT ingest are recorded on the
//! API's board and evaluated by the [`SensorRules`]; their violations join the camera violations on
//! their way to the case engine.

use std::{sync::Arc, time::Duration};

use sharpeyes_ingest::mqtt::{SensorBoard, SensorMessage};
use tokio::sync::mpsc;

use super::{SensorRules, Violation};
use crate::clock::SharedClock;

/// How often the rules are evaluated without new messages (for durations).
const TICK: Duration = Duration::from_secs(1);
/// Most messages taken per wake-up.
const BATCH: usize = 256;

/// Runs the sensor rules on the messages of MQTT ingest.
pub struct SensorStage {
    board: Arc<SensorBoard>,
    rules: SensorRules,
    violations_tx: mpsc::Sender<Violation>,
    clock: SharedClock,
}

impl SensorStage {
    /// A stage recording every reading on `board` and sending the violations of `rules` to
    /// `violations_tx` (which blocks when full: nothing is dropped); `clock` times the durations.
    pub fn new(
        board: Arc<SensorBoard>,
        rules: SensorRules,
        violations_tx: mpsc::Sender<Violation>,
        clock: SharedClock,
    ) -> Self {
        Self { board, rules, violations_tx, clock }
    }

    /// Runs until `messages_rx` closes (the source stopped) or the violations' receiver is gone. The
    /// rules are also evaluated every second without messages: a condition that holds long enough
    /// becomes a violation even if the sensor says nothing more.
    pub async fn run(mut self, mut messages_rx: mpsc::Receiver<SensorMessage>) {
        let mut ticks = tokio::time::interval(TICK);
        // Messages are taken as they have arrived, many per wake-up when the sensors are busy.
        let mut messages = Vec::with_capacity(BATCH);
        loop {
            let violations: Vec<_> = tokio::select! {
                taken = messages_rx.recv_many(&mut messages, BATCH) => {
                    if taken == 0 {
                        break;
                    }
                    messages
                        .drain(..)
                        .flat_map(|SensorMessage { event, receipt }| {
                            self.board.record(&event);
                            // A message that confirms a violation is acknowledged once its case is
                            // filed (or, on an edge node, once it is spooled); any other as soon as
                            // it has been evaluated.
                            let mut violations = self.rules.observe(&event);
                            for violation in &mut violations {
                                violation.receipt = Some(receipt.clone());
                            }
                            violations
                        })
                        .collect()
                }
                _ = ticks.tick() => self.rules.tick(self.clock.now()),
            };
            for violation in violations {
                if self.violations_tx.send(Violation::Sensor(violation)).await.is_err() {
                    return;
                }
            }
        }
    }
}
