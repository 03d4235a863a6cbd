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
    pub grid: Arc<str>,
    /// `[longitude, latitude]`, when known.
    pub location: Option<[f64; 2]>,
    /// When it was measured: the sensor's own timestamp, else the arrival time.
    pub at: DateTime<Utc>,
    /// The reading.
    pub reading: SensorReading,
}

/// A valid reading, with the receipt that acknowledges its message to the broker.
#[derive(Debug)]
pub struct SensorMessage {
    /// The reading.
    pub event: SensorEvent,
    /// Acknowledges the message when the last clone is dropped.
    pub receipt: Receipt,
}

/// Acknowledges one QoS 1 message to the broker when its last clone is dropped. Whoever acts on the
/// message holds it until what the message caused is stored (a violation until its case is filed),
/// so a crash before that leaves the message unacknowledged and the broker delivers it again.
#[derive(Clone, Debug)]
pub struct Receipt {
    /// Held only for its drop.
    _message: Arc<dyn std::fmt::Debug + Send + Sync>,
}

/// A message not yet acknowledged: handed to `acks` when dropped.
#[derive(Debug)]
struct Unacknowledged<P: std::fmt::Debug + Send + 'static> {
    /// The message, without its payload (an acknowledgement needs its packet id).
    publish: Option<P>,
    acks: mpsc::UnboundedSender<P>,
}

impl Receipt {
    fn new(publish: &Publish, acks: &mpsc::UnboundedSender<Publish>) -> Self {
        let mut publish = publish.clone();
        publish.payload = bytes::Bytes::new();
        Self::for_message(publish, acks.clone())
    }

    /// A receipt for `message` (of any MQTT client): the message goes to `acks` when the last clone is
    /// dropped, where the client's task acknowledges it. Once that task has stopped the message stays
    /// unacknowledged and the broker delivers it again.
    pub fn for_message<P: std::fmt::Debug + Send + Sync + 'static>(message: P, acks: mpsc::UnboundedSender<P>) -> Self {
        Self { _message: Arc::new(Unacknowledged { publish: Some(message), acks }) }
    }
}

impl<P: std::fmt::Debug + Send + 'static> Drop for Unacknowledged<P> {
    fn drop(&mut self) {
        if let Some(publish) = self.publish.take() {
            // Gone only when the source has stopped: the broker delivers the message again.
            let _ = self.acks.send(publish);
        }
    }
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
    /// The payload's size in bytes.
    size: usize,
    /// The payload, unless it was refused for its size.
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
/// A message is acknowledged to the broker only once it has been dead-lettered, or once the last
/// holder of its [`Receipt`] is done with it (the rules, or the case engine once the violation it
/// caused is stored), so a crash never loses one: the broker delivers it again. A message whose sensor
/// timestamp was already seen from the same device is such a redelivery and is not passed on twice.
pub struct SensorSource {
    handler: Handler,
    client: AsyncClient,
    eventloop: EventLoop,
    acks_rx: mpsc::UnboundedReceiver<Publish>,
}

/// Validates messages and hands them on; kept apart from the client and the event loop so that the
/// loop can be polled while a message is handled.
struct Handler {
    /// `metrics.accepted_total` by kind, resolved once (indexed by `SensorKind as usize`).
    accepted: Vec<IntCounter>,
    settings: MqttSettings,
    registry: DeviceRegistry,
    events_tx: mpsc::Sender<SensorMessage>,
    metrics: SensorMetrics,
    recent: RecentReadings,
    /// Where dropped receipts send their acknowledgements.
    acks_tx: mpsc::UnboundedSender<Publish>,
    /// The devices this source evaluates, when not all of the registry's (an edge node's share).
    owned: Option<std::collections::HashSet<String>>,
}

/// How long a connection must hold before a later failure starts the reconnection backoff afresh.
const STABLE_CONNECTION: Duration = Duration::from_secs(10);

impl SensorSource {
    /// A source handing valid events to `events_tx` (sending waits when the rules are behind). Fails
    /// only when the TLS CA file cannot be read; the connection is made by [`SensorSource::run`].
    pub fn new(
        settings: MqttSettings,
        registry: DeviceRegistry,
        events_tx: mpsc::Sender<SensorMessage>,
        metrics: SensorMetrics,
    ) -> crate::Result<Self> {
        let mut options = MqttOptions::new(&settings.client_id, &settings.host, settings.port);
        options.set_clean_session(false).set_keep_alive(Duration::from_secs(15)).set_manual_acks(true);
        options.set_transport(settings.transport()?);
        // Every packet the broker may send is read (max_packet is above the broker's limit): our own
        // limit (max_payload) is applied per message, so an oversized payload is refused, acknowledged
        // and dead-lettered rather than breaking the connection and coming back on every reconnect.
        options.set_max_packet_size(settings.max_packet, settings.max_packet);
        if let Some((user, password)) = &settings.credentials {
            options.set_credentials(user, password);
        }
        let (client, eventloop) = AsyncClient::new(options, 256);
        let accepted =
            SensorKind::ALL.iter().map(|k| metrics.accepted_total.with_label_values(&[k.as_str()])).collect();
        let (acks_tx, acks_rx) = mpsc::unbounded_channel();
        let recent = RecentReadings::default();
        let handler = Handler { accepted, settings, registry, events_tx, metrics, recent, acks_tx, owned: None };
        Ok(Self { handler, client, eventloop, acks_rx })
    }

    /// Evaluates only `devices` (an edge node's share): subscribes to their topics alone, and
    /// acknowledges without evaluating any other registered device's message that an older
    /// subscription of the session still brings (its owner evaluates it).
    pub fn only_devices(mut self, devices: impl IntoIterator<Item = String>) -> Self {
        self.handler.owned = Some(devices.into_iter().collect());
        self
    }

    /// The topic filters this source subscribes to.
    fn filters(&self) -> Vec<String> {
        let prefix = &self.handler.settings.prefix;
        match &self.handler.owned {
            // Every level below `sensors/`, so that a topic with a level too many or too few arrives, is
            // counted and dead-lettered, instead of being dropped unseen by the broker.
            None => vec![format!("{prefix}/sensors/#")],
            Some(devices) => devices.iter().map(|device| format!("{prefix}/sensors/{device}/#")).collect(),
        }
    }

    /// The client, to publish on the same connection (camera status). Publishes made while the broker
    /// is away wait in the client's queue.
    pub fn client(&self) -> AsyncClient {
        self.client.clone()
    }

    /// Runs until `shutdown` completes or the event receiver is dropped.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let filters = self.filters();
        let Self { mut handler, client, mut eventloop, mut acks_rx } = self;
        let settings = handler.settings.clone();
        let mut outbox = Outbox::default();
        tokio::pin!(shutdown);
        let mut delays = crate::backoff::retry_delays(settings.backoff_min, settings.backoff_max);
        let mut connected_at: Option<std::time::Instant> = None;
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                Some(publish) = acks_rx.recv() => outbox.push(Outgoing::Ack(publish)),
                polled = eventloop.poll() => match polled {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        connected_at = Some(std::time::Instant::now());
                        info!(broker = %settings.host, port = settings.port, tls = settings.tls, session_present = ack.session_present, "MQTT connected");
                        let subscriptions = filters.iter().map(|f| rumqttc::SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
                        if !filters.is_empty() && let Err(err) = client.try_subscribe_many(subscriptions) {
                            warn!(topics = filters.len(), error = %err, "MQTT subscribe failed");
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        if !handler.handle(&publish, &mut outbox).await {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(err) => {
                        // Only a connection that held for a while starts the backoff afresh: one that
                        // breaks at once (a broker that keeps refusing us) backs off further each time.
                        if connected_at.take().is_some_and(|at| at.elapsed() >= STABLE_CONNECTION) {
                            delays = crate::backoff::retry_delays(settings.backoff_min, settings.backoff_max);
                        }
                        let delay = delays.next().unwrap_or(settings.backoff_max);
                        warn!(broker = %settings.host, port = settings.port, error = %err, retry_in_ms = delay.as_millis() as u64, "MQTT connection failed; retrying");
                        tokio::select! {
                            () = &mut shutdown => break,
                            () = tokio::time::sleep(delay) => {}
                        }
                    }
                },
            }
            while let Ok(publish) = acks_rx.try_recv() {
                outbox.push(Outgoing::Ack(publish));
            }
            outbox.flush(&client);
        }
        // Send the last acknowledgements and the DISCONNECT, for at most a second.
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while !outbox.is_empty() {
                outbox.flush(&client);
                if eventloop.poll().await.is_err() {
                    return;
                }
            }
            let _ = client.try_disconnect();
            while let Ok(event) = eventloop.poll().await {
                if matches!(event, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
                    break;
                }
            }
        })
        .await;
        info!("MQTT sensor ingest stopped");
    }
}

/// A request to the broker made while handling a message.
enum Outgoing {
    /// Acknowledge a QoS 1 message.
    Ack(Publish),
    /// Publish a dead letter.
    DeadLetter { topic: String, body: Vec<u8> },
}

/// Requests handed to the client without ever waiting: the client's queue is emptied only by the
/// event loop, which must never wait on it. What does not fit stays here, in order, until the next
/// turn of the loop.
#[derive(Default)]
struct Outbox {
    pending: VecDeque<Outgoing>,
}

impl Outbox {
    fn push(&mut self, outgoing: Outgoing) {
        self.pending.push_back(outgoing);
    }

    fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Hands the client what its queue has room for.
    fn flush(&mut self, client: &AsyncClient) {
        while let Some(next) = self.pending.front() {
            let sent = match next {
                Outgoing::Ack(publish) => client.try_ack(publish),
                Outgoing::DeadLetter { topic, body } => {
                    client.try_publish(topic, QoS::AtLeastOnce, false, body.clone())
                }
            };
            if sent.is_err() {
                return;
            }
            self.pending.pop_front();
        }
    }
}

impl Handler {
    /// Validates one message; returns `false` when the rules are gone and the source should stop.
    async fn handle(&mut self, publish: &Publish, outbox: &mut Outbox) -> bool {
        if let (Some(owned), Some((device, _))) = (&self.owned, self.split_topic(&publish.topic))
            && self.registry.get(device).is_some()
            && !owned.contains(device)
        {
            debug!(device, "another node's sensor; acknowledged without evaluation");
            outbox.push(Outgoing::Ack(publish.clone()));
            return true;
        }
        match self.event(publish) {
            Ok((event, sensor_timestamp)) => {
                if sensor_timestamp && !self.recent.first_time(&event.device, event.at) {
                    self.metrics.duplicates_total.inc();
                    debug!(device = %event.device, at = %event.at, "sensor message delivered again; ignored");
                    outbox.push(Outgoing::Ack(publish.clone()));
                    return true;
                }
                let kind = event.reading.kind();
                self.accepted[kind as usize].inc();
                debug!(device = %event.device, kind = kind.as_str(), "sensor event");
                let receipt = Receipt::new(publish, &self.acks_tx);
                self.events_tx.send(SensorMessage { event, receipt }).await.is_ok()
            }
            Err(rejection) => {
                self.metrics.rejected_total.with_label_values(&[rejection.reason()]).inc();
                outbox.push(self.dead_letter(publish, &rejection));
                outbox.push(Outgoing::Ack(publish.clone()));
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

    fn dead_letter(&self, publish: &Publish, rejection: &Rejection) -> Outgoing {
        let device = self.split_topic(&publish.topic).map_or("_unknown", |(device, _)| device);
        let letter = DeadLetter {
            reason: rejection.reason(),
            detail: rejection.to_string(),
            topic: &publish.topic,
            received_at: Utc::now(),
            size: publish.payload.len(),
            payload_base64: match rejection {
                Rejection::Oversized { .. } => String::new(),
                _ => base64::engine::general_purpose::STANDARD.encode(&publish.payload),
            },
        };
        let topic = format!("{}/deadletter/{device}", self.settings.prefix);
        warn!(topic = %publish.topic, reason = rejection.reason(), detail = %rejection, "sensor message refused; dead-lettered");
        let body = serde_json::to_vec(&letter).expect("a dead letter serialises");
        Outgoing::DeadLetter { topic, body }
    }
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
