use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::Duration,
};

use base64::Engine;
use chrono::{DateTime, Utc};
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, Publish, QoS};
use serde::Serialize;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::{DeviceRegistry, MqttSettings, Rejection, SensorKind, SensorReading, schema::validate};

/// A valid reading of a registered sensor.
#[derive(Clone, Debug, PartialEq)]
pub struct SensorEvent {
    /// Device id.
    pub device: Arc<str>,
    /// Grid the device stands in.
    pub grid: String,
    /// `[longitude, latitude]`, when known.
    pub location: Option<[f64; 2]>,
    /// When it was measured: the sensor's own timestamp, else the arrival time.
    pub at: DateTime<Utc>,
    /// The reading.
    pub reading: SensorReading,
}

/// Counters of the sensor ingest (bounded labels: kind, reason).
#[derive(Clone, Debug)]
pub struct SensorMetrics {
    /// Valid messages by sensor kind.
    pub accepted_total: IntCounterVec,
    /// Refused messages by reason (each also dead-lettered).
    pub rejected_total: IntCounterVec,
    /// Valid messages delivered again (same device and measurement time), not passed on twice.
    pub duplicates_total: IntCounter,
}

impl SensorMetrics {
    /// Creates the counters (every label pre-set to 0) and registers them.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let metrics = Self {
            accepted_total: IntCounterVec::new(
                Opts::new("sharpeyes_sensor_messages_total", "Valid sensor messages by kind"),
                &["kind"],
            )?,
            rejected_total: IntCounterVec::new(
                Opts::new("sharpeyes_sensor_rejected_total", "Refused sensor messages by reason (dead-lettered)"),
                &["reason"],
            )?,
            duplicates_total: IntCounter::new(
                "sharpeyes_sensor_duplicates_total",
                "Sensor messages delivered again (same device and timestamp) and not evaluated twice",
            )?,
        };
        for kind in SensorKind::ALL {
            metrics.accepted_total.with_label_values(&[kind.as_str()]);
        }
        for reason in Rejection::REASONS {
            metrics.rejected_total.with_label_values(&[reason]);
        }
        registry.register(Box::new(metrics.accepted_total.clone()))?;
        registry.register(Box::new(metrics.rejected_total.clone()))?;
        registry.register(Box::new(metrics.duplicates_total.clone()))?;
        Ok(metrics)
    }
}

/// What is republished to `{prefix}/deadletter/{device_id}` for a refused message.
#[derive(Debug, Serialize)]
struct DeadLetter<'a> {
    reason: &'static str,
    detail: String,
    topic: &'a str,
    received_at: DateTime<Utc>,
    payload_base64: String,
}

/// Measurement times recently passed on per device, to recognise a QoS 1 redelivery.
#[derive(Debug, Default)]
struct RecentReadings {
    by_device: HashMap<Arc<str>, VecDeque<DateTime<Utc>>>,
}

impl RecentReadings {
    /// Timestamps remembered per device.
    const DEPTH: usize = 64;

    /// Records `at` for `device`; `false` when it was already there (a duplicate).
    fn first_time(&mut self, device: &Arc<str>, at: DateTime<Utc>) -> bool {
        let recent = self.by_device.entry(device.clone()).or_default();
        if recent.contains(&at) {
            return false;
        }
        if recent.len() == Self::DEPTH {
            recent.pop_front();
        }
        recent.push_back(at);
        true
    }
}

/// The MQTT sensor source: one client, QoS 1, persistent session, reconnecting with backoff.
///
/// A message is acknowledged to the broker only once it has been handed to the rules (or
/// dead-lettered), so a crash never loses one: the broker delivers it again. A message whose sensor
/// timestamp was already seen from the same device is such a redelivery and is not passed on twice.
pub struct SensorSource {
    handler: Handler,
    client: AsyncClient,
    eventloop: EventLoop,
}

/// Validates messages and hands them on (kept apart from the event loop, which is not `Sync`).
struct Handler {
    settings: MqttSettings,
    registry: DeviceRegistry,
    events_tx: mpsc::Sender<SensorEvent>,
    metrics: SensorMetrics,
    recent: RecentReadings,
}

impl SensorSource {
    /// A source handing valid events to `events_tx` (sending waits when the rules are behind). Fails
    /// only when the TLS CA file cannot be read; the connection is made by [`SensorSource::run`].
    pub fn new(
        settings: MqttSettings,
        registry: DeviceRegistry,
        events_tx: mpsc::Sender<SensorEvent>,
        metrics: SensorMetrics,
    ) -> crate::Result<Self> {
        let mut options = MqttOptions::new(&settings.client_id, &settings.host, settings.port);
        options.set_clean_session(false).set_keep_alive(Duration::from_secs(15)).set_manual_acks(true);
        options.set_transport(settings.transport()?);
        // The broker's packets may be large; our own limit (max_payload) is applied per message so that
        // an oversized payload is refused and dead-lettered rather than dropping the connection.
        options.set_max_packet_size(16 * 1024 * 1024, 16 * 1024 * 1024);
        if let Some((user, password)) = &settings.credentials {
            options.set_credentials(user, password);
        }
        let (client, eventloop) = AsyncClient::new(options, 256);
        let handler = Handler { settings, registry, events_tx, metrics, recent: RecentReadings::default() };
        Ok(Self { handler, client, eventloop })
    }

    /// The client, to publish on the same connection (camera status, dead letters). Publishes made
    /// while the broker is away wait in the client's queue.
    pub fn client(&self) -> AsyncClient {
        self.client.clone()
    }

    /// Runs until `shutdown` completes or the event receiver is dropped.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let Self { handler, client, mut eventloop } = self;
        let settings = handler.settings.clone();
        // The event loop is only ever polled here and never waits on anything else: the worker
        // validates, hands on and acknowledges, and its acknowledgements go out through this loop.
        // The queue between the two is unbounded, but holds no more than the broker lets be
        // unacknowledged (its in-flight window), since acknowledging is the worker's last step.
        let (incoming_tx, incoming_rx) = mpsc::unbounded_channel();
        let mut worker = tokio::spawn(handler.work(client.clone(), incoming_rx));
        tokio::pin!(shutdown);
        let mut delays = crate::retry_delays(settings.backoff_min, settings.backoff_max);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                polled = eventloop.poll() => match polled {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        delays = crate::retry_delays(settings.backoff_min, settings.backoff_max);
                        info!(broker = %settings.host, port = settings.port, tls = settings.tls, session_present = ack.session_present, "MQTT connected");
                        let topic = format!("{}/sensors/+/+", settings.prefix);
                        if let Err(err) = client.try_subscribe(&topic, QoS::AtLeastOnce) {
                            warn!(topic, error = %err, "MQTT subscribe failed");
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        if incoming_tx.send(publish).is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(err) => {
                        let delay = delays.next().unwrap_or(settings.backoff_max);
                        warn!(broker = %settings.host, port = settings.port, error = %err, retry_in_ms = delay.as_millis() as u64, "MQTT connection failed; retrying");
                        tokio::select! {
                            () = &mut shutdown => break,
                            () = tokio::time::sleep(delay) => {}
                        }
                    }
                },
            }
        }
        // Let the worker finish what it received, while its acknowledgements are sent.
        drop(incoming_tx);
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            loop {
                tokio::select! {
                    _ = &mut worker => break,
                    polled = eventloop.poll() => if polled.is_err() { break },
                }
            }
        })
        .await;
        let _ = client.disconnect().await;
        drain(&mut eventloop).await;
        info!("MQTT sensor ingest stopped");
    }
}

impl Handler {
    /// Handles the received messages in order, acknowledging each once it is handed on.
    async fn work(mut self, client: AsyncClient, mut incoming: mpsc::UnboundedReceiver<Publish>) {
        while let Some(publish) = incoming.recv().await {
            if !self.handle(&client, &publish).await {
                return;
            }
            if let Err(err) = client.ack(&publish).await {
                warn!(topic = %publish.topic, error = %err, "MQTT acknowledgement not sent");
            }
        }
    }

    /// Validates one message; returns `false` when the rules are gone and the source should stop.
    async fn handle(&mut self, client: &AsyncClient, publish: &Publish) -> bool {
        match self.event(publish) {
            Ok((event, sensor_timestamp)) => {
                if sensor_timestamp && !self.recent.first_time(&event.device, event.at) {
                    self.metrics.duplicates_total.inc();
                    debug!(device = %event.device, at = %event.at, "sensor message delivered again; ignored");
                    return true;
                }
                let kind = event.reading.kind();
                self.metrics.accepted_total.with_label_values(&[kind.as_str()]).inc();
                debug!(device = %event.device, kind = kind.as_str(), "sensor event");
                self.events_tx.send(event).await.is_ok()
            }
            Err(rejection) => {
                self.metrics.rejected_total.with_label_values(&[rejection.reason()]).inc();
                self.dead_letter(client, publish, &rejection).await;
                true
            }
        }
    }

    /// The event of a valid message, and whether its time is the sensor's own timestamp.
    fn event(&self, publish: &Publish) -> Result<(SensorEvent, bool), Rejection> {
        let (device_id, kind) =
            self.split_topic(&publish.topic).ok_or_else(|| Rejection::BadTopic(publish.topic.clone()))?;
        if publish.payload.len() > self.settings.max_payload {
            return Err(Rejection::Oversized { size: publish.payload.len(), limit: self.settings.max_payload });
        }
        let device = self.registry.get(device_id).ok_or_else(|| Rejection::UnknownDevice(device_id.to_owned()))?;
        if device.kind.as_str() != kind {
            return Err(Rejection::KindMismatch {
                device: device_id.to_owned(),
                registered: device.kind.as_str(),
                topic: kind.to_owned(),
            });
        }
        let (reading, measured_at) = validate(device.kind, &publish.payload)?;
        let event = SensorEvent {
            device: device.id.clone(),
            grid: device.grid.clone(),
            location: device.location,
            at: measured_at.unwrap_or_else(Utc::now),
            reading,
        };
        Ok((event, measured_at.is_some()))
    }

    /// `(device_id, kind)` of a `{prefix}/sensors/{device_id}/{kind}` topic.
    fn split_topic<'t>(&self, topic: &'t str) -> Option<(&'t str, &'t str)> {
        topic
            .strip_prefix(self.settings.prefix.as_str())?
            .strip_prefix("/sensors/")?
            .split_once('/')
            .filter(|(device, kind)| !device.is_empty() && !kind.contains('/'))
    }

    async fn dead_letter(&self, client: &AsyncClient, publish: &Publish, rejection: &Rejection) {
        let device = self.split_topic(&publish.topic).map_or("_unknown", |(device, _)| device);
        let letter = DeadLetter {
            reason: rejection.reason(),
            detail: rejection.to_string(),
            topic: &publish.topic,
            received_at: Utc::now(),
            payload_base64: base64::engine::general_purpose::STANDARD.encode(&publish.payload),
        };
        let topic = format!("{}/deadletter/{device}", self.settings.prefix);
        warn!(topic = %publish.topic, reason = rejection.reason(), detail = %rejection, "sensor message refused; dead-lettered");
        let body = serde_json::to_vec(&letter).expect("a dead letter serialises");
        if let Err(err) = client.publish(&topic, QoS::AtLeastOnce, false, body).await {
            warn!(topic, error = %err, "dead letter not published");
        }
    }
}

/// Lets the event loop send the pending publishes and the DISCONNECT, for at most a second.
async fn drain(eventloop: &mut EventLoop) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while let Ok(event) = eventloop.poll().await {
            if matches!(event, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
                break;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_seen_again_is_a_duplicate_per_device() {
        let mut recent = RecentReadings::default();
        let (a, b): (Arc<str>, Arc<str>) = ("mh-1".into(), "mh-2".into());
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert!(recent.first_time(&a, t0));
        assert!(!recent.first_time(&a, t0), "redelivered");
        assert!(recent.first_time(&b, t0), "another device");
        for i in 1..=RecentReadings::DEPTH as i64 {
            assert!(recent.first_time(&a, t0 + chrono::TimeDelta::seconds(i)));
        }
        assert!(recent.first_time(&a, t0), "forgotten after DEPTH newer readings");
    }
}
