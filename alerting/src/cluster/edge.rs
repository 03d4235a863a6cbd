//! The edge node's side: every violation its rules confirm is written to the [`Spool`], then
//! published (MQTT v5, QoS 1) to `{prefix}/violations/{node}`, one at a time, and removed from the
//! spool only when the broker acknowledges it with *success*. A broker that is away, or one that
//! answers "no matching subscribers" (no center has ever subscribed: the message would be dropped),
//! leaves the message in the spool to be sent again.

use std::{path::Path, time::Duration};

use prometheus::{IntCounter, IntGauge, Registry};
use rumqttc::v5::{
    AsyncClient, Event, EventLoop,
    mqttbytes::{
        QoS,
        v5::{Packet, PubAckReason},
    },
};
use sharpeyes_ingest::mqtt::MqttSettings;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::mqtt::{client_options, signed_properties};
use super::spool::Spool;
use crate::rules::wire;
use crate::{Result, rules::Violation};

/// How long to wait for an acknowledgement before sending the message again.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait before sending again a message no center was subscribed for.
const NO_SUBSCRIBER_RETRY: Duration = Duration::from_secs(2);
/// After the violations end (shutdown), how long the spool may still be emptied before the exit.
const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// Counters of the edge relay.
#[derive(Clone, Debug)]
pub struct EdgeMetrics {
    spooled: IntCounter,
    published: IntCounter,
    waiting: IntGauge,
    connected: IntGauge,
}

impl EdgeMetrics {
    /// Registers `sharpeyes_edge_*` in `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let spooled = IntCounter::new("sharpeyes_edge_violations_spooled_total", "Violations written to the spool")?;
        let published = IntCounter::new(
            "sharpeyes_edge_violations_published_total",
            "Violations the broker acknowledged (removed from the spool)",
        )?;
        let waiting =
            IntGauge::new("sharpeyes_edge_spool_violations", "Violations in the spool, not yet acknowledged")?;
        let connected = IntGauge::new("sharpeyes_edge_broker_connected", "1 while connected to the broker")?;
        registry.register(Box::new(spooled.clone()))?;
        registry.register(Box::new(published.clone()))?;
        registry.register(Box::new(waiting.clone()))?;
        registry.register(Box::new(connected.clone()))?;
        Ok(Self { spooled, published, waiting, connected })
    }
}

/// Spools and publishes the violations of one edge node.
pub struct EdgeRelay {
    client: AsyncClient,
    /// Taken by [`EdgeRelay::run`]'s connection task.
    eventloop: Option<EventLoop>,
    spool: Spool,
    topic: String,
    node: String,
    settings: MqttSettings,
    metrics: EdgeMetrics,
    /// Signs each message when set (see [`wire::sign`]).
    key: Option<Vec<u8>>,
}

/// The message on its way to the broker.
struct InFlight {
    sequence: u64,
    /// Packet ids it was sent under (a copy sent again after a timeout gets a new one).
    packets: Vec<u16>,
    sent_at: tokio::time::Instant,
}

impl EdgeRelay {
    /// A relay for `node`, its spool in `spool_dir` (what an earlier run left there is sent first).
    pub fn new(settings: MqttSettings, node: &str, spool_dir: &Path, metrics: EdgeMetrics) -> Result<Self> {
        let spool = Spool::open(spool_dir)?;
        let (waiting, bytes) = spool.backlog();
        if waiting > 0 {
            info!(waiting, bytes, "violations left in the spool by the last run will be sent");
        }
        metrics.waiting.set(waiting as i64);
        let mut options = client_options(&settings, format!("{}-violations", settings.client_id))?;
        options.set_clean_start(true).set_max_packet_size(Some(64 * 1024 * 1024));
        let (client, eventloop) = AsyncClient::new(options, 16);
        let topic = format!("{}/violations/{node}", settings.prefix);
        Ok(Self {
            client,
            eventloop: Some(eventloop),
            spool,
            topic,
            node: node.to_owned(),
            settings,
            metrics,
            key: None,
        })
    }

    /// Signs every message with `key` (the centers hold the same key and file nothing unsigned).
    pub fn with_signing_key(mut self, key: Option<Vec<u8>>) -> Self {
        self.key = key;
        self
    }

    /// Runs until `violations` closes and the spool is empty (or [`DRAIN_GRACE`] has passed since;
    /// what is left is sent by the next start).
    pub async fn run(mut self, mut violations: mpsc::Receiver<Violation>) {
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let eventloop = self.eventloop.take().expect("run once");
        let connection = tokio::spawn(poll(eventloop, events_tx, self.settings.clone(), self.metrics.clone()));
        let mut connected = false;
        let mut in_flight: Option<InFlight> = None;
        let mut hold_until = tokio::time::Instant::now();
        let mut open = true;
        let mut drain_deadline = None;
        loop {
            if connected
                && in_flight.is_none()
                && tokio::time::Instant::now() >= hold_until
                && let Some(sequence) = self.send_oldest().await
            {
                in_flight = Some(InFlight { sequence, packets: Vec::new(), sent_at: tokio::time::Instant::now() });
            }
            if !open && self.spool.backlog().0 == 0 {
                break;
            }
            let deadline = match &in_flight {
                Some(flight) => flight.sent_at + ACK_TIMEOUT,
                None if !connected => tokio::time::Instant::now() + Duration::from_secs(3600),
                None => hold_until.max(tokio::time::Instant::now() + Duration::from_millis(200)),
            };
            let deadline = drain_deadline.map_or(deadline, |d: tokio::time::Instant| d.min(deadline));
            tokio::select! {
                violation = violations.recv(), if open => match violation {
                    Some(violation) => self.spool_violation(violation).await,
                    None => {
                        open = false;
                        drain_deadline = Some(tokio::time::Instant::now() + DRAIN_GRACE);
                    }
                },
                event = events.recv() => match event {
                    Some(ConnectionEvent::Connected) => {
                        connected = true;
                        // Whatever was in flight on the old connection is sent again.
                        in_flight = None;
                    }
                    Some(ConnectionEvent::Lost) => connected = false,
                    Some(ConnectionEvent::Sent(packet)) => {
                        if let Some(flight) = &mut in_flight {
                            flight.packets.push(packet);
                        }
                    }
                    Some(ConnectionEvent::Acknowledged(packet, reason)) => {
                        if let Some(flight) = in_flight.take_if(|f| f.packets.contains(&packet)) {
                            if reason == PubAckReason::Success {
                                self.acknowledged(flight.sequence);
                            } else {
                                warn!(?reason, "the broker took a violation for no center; keeping it to send again");
                                hold_until = tokio::time::Instant::now() + NO_SUBSCRIBER_RETRY;
                            }
                        }
                    }
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => {
                    if drain_deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                        break;
                    }
                    if in_flight.as_ref().is_some_and(|f| f.sent_at.elapsed() >= ACK_TIMEOUT) {
                        in_flight = None;
                    }
                }
            }
        }
        let (waiting, _) = self.spool.backlog();
        info!(
            spooled = self.metrics.spooled.get(),
            published = self.metrics.published.get(),
            waiting,
            "violation relay stopped (what waits stays in the spool for the next start)"
        );
        let _ = self.client.disconnect().await;
        connection.abort();
    }

    /// Encodes and spools `violation`; then drops it, which acknowledges the sensor message behind
    /// it (the spool holds it now).
    async fn spool_violation(&mut self, violation: Violation) {
        let node = self.node.clone();
        let id = violation.stable_id();
        let encoded = tokio::task::spawn_blocking(move || wire::encode(&violation, &node).map(|m| (m, violation)))
            .await
            .expect("encoding does not panic");
        let message = match encoded {
            Ok((message, _violation)) => message,
            Err(error) => {
                warn!(id, %error, "a violation's frames could not be encoded; dropped");
                return;
            }
        };
        // A full or failing disk blocks the relay (and so the rules) instead of losing violations.
        let mut delays = sharpeyes_ingest::backoff::retry_delays(Duration::from_millis(500), Duration::from_secs(30));
        loop {
            match self.spool.push(&message) {
                Ok(_) => break,
                Err(error) => {
                    let delay = delays.next().unwrap_or(Duration::from_secs(30));
                    warn!(id, %error, retry_in_ms = delay.as_millis() as u64, "cannot write the spool; retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
        self.metrics.spooled.inc();
        self.metrics.waiting.set(self.spool.backlog().0 as i64);
    }

    /// Publishes the oldest spooled message; its sequence number, or `None` when there is none.
    async fn send_oldest(&mut self) -> Option<u64> {
        let (sequence, message) = match self.spool.oldest() {
            Ok(oldest) => oldest?,
            Err(error) => {
                warn!(%error, "cannot read the spool");
                return None;
            }
        };
        let properties = signed_properties(self.key.as_deref(), &message);
        let sent =
            self.client.publish_with_properties(self.topic.clone(), QoS::AtLeastOnce, false, message, properties);
        match sent.await {
            Ok(()) => Some(sequence),
            Err(error) => {
                warn!(%error, "cannot hand a violation to the MQTT client");
                None
            }
        }
    }

    fn acknowledged(&mut self, sequence: u64) {
        if let Err(error) = self.spool.remove(sequence) {
            warn!(%error, "cannot remove an acknowledged violation from the spool; it will be sent again");
        }
        self.metrics.published.inc();
        self.metrics.waiting.set(self.spool.backlog().0 as i64);
    }
}

/// What the connection task reports.
enum ConnectionEvent {
    Connected,
    Lost,
    Sent(u16),
    Acknowledged(u16, PubAckReason),
}

/// Drives the connection (reconnecting with backoff) and reports what happens on it.
async fn poll(
    mut eventloop: EventLoop,
    events: mpsc::UnboundedSender<ConnectionEvent>,
    settings: MqttSettings,
    metrics: EdgeMetrics,
) {
    let mut delays = sharpeyes_ingest::backoff::retry_delays(settings.backoff_min, settings.backoff_max);
    loop {
        let event = match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                info!(broker = %settings.host, "violation relay connected");
                metrics.connected.set(1);
                delays = sharpeyes_ingest::backoff::retry_delays(settings.backoff_min, settings.backoff_max);
                ConnectionEvent::Connected
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => ConnectionEvent::Acknowledged(ack.pkid, ack.reason),
            Ok(Event::Outgoing(rumqttc::Outgoing::Publish(packet))) => ConnectionEvent::Sent(packet),
            Ok(_) => continue,
            Err(error) => {
                metrics.connected.set(0);
                let delay = delays.next().unwrap_or(settings.backoff_max);
                warn!(%error, retry_in_ms = delay.as_millis() as u64, "violation relay lost the broker");
                if events.send(ConnectionEvent::Lost).is_err() {
                    return;
                }
                tokio::time::sleep(delay).await;
                continue;
            }
        };
        if events.send(event).is_err() {
            return;
        }
    }
}
