//! The center's side: a persistent MQTT v5 session subscribed to
//! `$share/{group}/{prefix}/violations/#`, so that the broker hands each violation to one of the
//! centers of the group. A message is acknowledged only when its violation is filed (its
//! [`Receipt`](sharpeyes_ingest::mqtt::Receipt) is dropped by the case engine): a center killed before
//! that leaves it unacknowledged in its session, and the broker delivers it again when the center is
//! back (under the same client id). A message that is not a violation is counted, republished to
//! `{prefix}/deadletter/violations` with the reason, and acknowledged.

use std::time::Duration;

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use rumqttc::v5::{
    AsyncClient, Event, EventLoop,
    mqttbytes::{
        QoS,
        v5::{ConnectProperties, Packet, Publish},
    },
};
use sharpeyes_ingest::mqtt::{MqttSettings, Receipt};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::mqtt::{client_options, signature_of};
use crate::rules::wire;
use crate::{Result, rules::Violation};

/// How long the broker keeps a center's session (its subscription and unacknowledged messages)
/// while the center is away.
const SESSION_EXPIRY_S: u32 = 7 * 24 * 3600;
/// Most unacknowledged violations the broker sends one center at a time.
const RECEIVE_MAXIMUM: u16 = 64;
/// On shutdown, how long the violations already handed to the engine may take to be filed.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Counters of the violation consumer.
#[derive(Clone, Debug)]
pub struct CenterMetrics {
    received: IntCounter,
    rejected: IntCounterVec,
}

impl CenterMetrics {
    /// Registers `sharpeyes_center_*` in `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let received =
            IntCounter::new("sharpeyes_center_violations_received_total", "Violation messages taken from the broker")?;
        let rejected = IntCounterVec::new(
            Opts::new(
                "sharpeyes_center_violations_rejected_total",
                "Violation messages that were not valid violations (dead-lettered), by reason",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(received.clone()))?;
        registry.register(Box::new(rejected.clone()))?;
        Ok(Self { received, rejected })
    }
}

/// Takes the violations of the edge nodes from the broker and hands them to the case engine.
pub struct ViolationConsumer {
    eventloop: EventLoop,
    filter: String,
    settings: MqttSettings,
    handler: Handler,
}

/// What is done with each message (apart from the connection, so that it can be shared across awaits).
struct Handler {
    client: AsyncClient,
    deadletter: String,
    metrics: CenterMetrics,
    /// When set, only messages signed with it are taken (see [`wire::sign`]).
    key: Option<Vec<u8>>,
}

impl ViolationConsumer {
    /// A consumer in share group `group`, its session named by `settings.client_id` (keep it stable
    /// across restarts: the broker holds the unacknowledged messages under it).
    pub fn new(settings: MqttSettings, group: &str, metrics: CenterMetrics) -> Result<Self> {
        let mut options = client_options(&settings, settings.client_id.clone())?;
        let mut properties = ConnectProperties::new();
        properties.session_expiry_interval = Some(SESSION_EXPIRY_S);
        properties.receive_maximum = Some(RECEIVE_MAXIMUM);
        properties.max_packet_size = Some(64 * 1024 * 1024);
        options.set_clean_start(false).set_manual_acks(true).set_connect_properties(properties);
        let (client, eventloop) = AsyncClient::new(options, 256);
        let filter = format!("$share/{group}/{}/violations/#", settings.prefix);
        let deadletter = format!("{}/deadletter/violations", settings.prefix);
        Ok(Self { eventloop, filter, settings, handler: Handler { client, deadletter, metrics, key: None } })
    }

    /// Takes only messages signed with `key` (the edge nodes' key); others are dead-lettered.
    pub fn with_signing_key(mut self, key: Option<Vec<u8>>) -> Self {
        self.handler.key = key;
        self
    }

    /// Runs until `stop` completes (or the engine is gone). Then it hands the engine nothing more —
    /// dropping its sender lets the engine drain — but keeps the connection until every violation
    /// already handed over is filed and acknowledged (at most [`DRAIN_LIMIT`]), and disconnects. What
    /// the broker sends after `stop` stays unacknowledged in the session for the next start.
    pub async fn run(mut self, violations: mpsc::Sender<Violation>, stop: impl std::future::Future<Output = ()>) {
        let (acks_tx, mut acks_rx) = mpsc::unbounded_channel::<Publish>();
        // Ends when the last receipt is gone (and this sender with it).
        let mut acker = {
            let client = self.handler.client.clone();
            tokio::spawn(async move {
                while let Some(publish) = acks_rx.recv().await {
                    if let Err(error) = client.ack(&publish).await {
                        warn!(%error, "cannot acknowledge a filed violation; the broker will send it again");
                    }
                }
            })
        };
        let mut taking = Some((violations, acks_tx));
        tokio::pin!(stop);
        let far = || tokio::time::Instant::now() + Duration::from_secs(365 * 24 * 3600);
        let mut drain_until = far();
        let mut retry_at: Option<tokio::time::Instant> = None;
        let mut delays = sharpeyes_ingest::backoff::retry_delays(self.settings.backoff_min, self.settings.backoff_max);
        loop {
            let event = tokio::select! {
                () = &mut stop, if taking.is_some() => {
                    info!("violation consumer stopping: filing what it was handed");
                    taking = None;
                    drain_until = tokio::time::Instant::now() + DRAIN_LIMIT;
                    continue;
                }
                _ = &mut acker, if taking.is_none() => break,
                () = tokio::time::sleep_until(drain_until), if taking.is_none() => {
                    warn!("violations still unfiled at the end of the drain stay with the broker");
                    break;
                }
                () = tokio::time::sleep_until(retry_at.unwrap_or_else(far)), if retry_at.is_some() => {
                    retry_at = None;
                    continue;
                }
                event = self.eventloop.poll(), if retry_at.is_none() => event,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(connack))) => {
                    delays =
                        sharpeyes_ingest::backoff::retry_delays(self.settings.backoff_min, self.settings.backoff_max);
                    info!(session_present = connack.session_present, filter = %self.filter, "violation consumer connected");
                    if let Err(error) = self.handler.client.subscribe(self.filter.clone(), QoS::AtLeastOnce).await {
                        warn!(%error, "cannot subscribe to the violations");
                    }
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    if let Some((violations, acks)) = &taking
                        && !self.handler.take(publish, violations, acks).await
                    {
                        break;
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    let delay = delays.next().unwrap_or(self.settings.backoff_max);
                    warn!(%error, retry_in_ms = delay.as_millis() as u64, "violation consumer lost the broker");
                    retry_at = Some(tokio::time::Instant::now() + delay);
                }
            }
        }
        acker.abort();
        let _ = self.handler.client.disconnect().await;
        // Sends the last acknowledgements and the disconnect; the session stays with the broker.
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Ok(event) = self.eventloop.poll().await {
                if matches!(event, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
                    break;
                }
            }
        })
        .await;
        info!("violation consumer stopped");
    }
}

impl Handler {
    /// Decodes one message and hands its violation on (false when the engine is gone).
    async fn take(
        &self,
        mut publish: Publish,
        violations: &mpsc::Sender<Violation>,
        acks: &mpsc::UnboundedSender<Publish>,
    ) -> bool {
        self.metrics.received.inc();
        let payload = std::mem::take(&mut publish.payload);
        let signature = signature_of(&publish).map(str::to_owned);
        let decoded = {
            let (payload, key) = (payload.clone(), self.key.clone());
            tokio::task::spawn_blocking(move || {
                if let Some(key) = key {
                    wire::verify(&key, &payload, signature.as_deref())?;
                }
                wire::decode(&payload)
            })
            .await
            .expect("decoding does not panic")
        };
        match decoded {
            Ok((mut violation, message)) => {
                let receipt = Receipt::for_message(publish, acks.clone());
                match &mut violation {
                    Violation::Camera(v) => v.receipt = Some(receipt),
                    Violation::Sensor(v) => v.receipt = Some(receipt),
                    Violation::Cleared(v) => v.receipt = Some(receipt),
                }
                tracing::debug!(id = message.id, node = message.node, "violation received");
                violations.send(violation).await.is_ok()
            }
            Err(error) => {
                let reason = match &error {
                    wire::WireError::Json(_) => "json",
                    wire::WireError::Id { .. } => "id",
                    wire::WireError::Frame { .. } => "frame",
                    wire::WireError::Invalid { .. } => "invalid",
                    wire::WireError::Signature(_) => "signature",
                };
                self.metrics.rejected.with_label_values(&[reason]).inc();
                let topic = String::from_utf8_lossy(&publish.topic).into_owned();
                warn!(%topic, %error, "not a violation; dead-lettered");
                let record = serde_json::json!({
                    "topic": topic,
                    "reason": error.to_string(),
                    "payload": String::from_utf8_lossy(&payload[..payload.len().min(64 * 1024)]),
                });
                let _ = self.client.try_publish(self.deadletter.clone(), QoS::AtLeastOnce, false, record.to_string());
                let _ = acks.send(publish);
                true
            }
        }
    }
}
