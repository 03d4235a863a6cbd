//! MQTT receivers: each case change published with QoS 1 to `{prefix}/cases/{grid}/{category}`.

use std::{
    collections::{HashMap, VecDeque},
    time::Duration,
};

use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use sharpeyes_ingest::mqtt::MqttSettings;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

/// Longest wait for the broker's PUBACK.
const PUBACK_TIMEOUT: Duration = Duration::from_secs(10);
/// Wait before connecting again after the connection failed.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// A message to publish and who waits for its PUBACK.
type Request = (String, Vec<u8>, oneshot::Sender<Result<(), String>>);

/// Publishes on its own connection and reports each message delivered only once the broker has
/// acknowledged it (PUBACK); a message still unacknowledged when the connection fails is reported
/// failed, and the outbox sends it again.
#[derive(Clone, Debug)]
pub struct MqttPublisher {
    requests: mpsc::Sender<Request>,
    prefix: String,
}

impl MqttPublisher {
    /// A publisher to the broker of `settings` as client `{client_id}-notify`, under `settings.prefix`.
    pub fn start(settings: &MqttSettings) -> sharpeyes_ingest::Result<Self> {
        let (requests, requests_rx) = mpsc::channel(256);
        let mut options = MqttOptions::new(format!("{}-notify", settings.client_id), &settings.host, settings.port);
        options.set_keep_alive(Duration::from_secs(15)).set_clean_session(true);
        options.set_transport(settings.transport()?);
        if let Some((user, password)) = &settings.credentials {
            options.set_credentials(user, password);
        }
        tokio::spawn(publish_loop(options, requests_rx));
        Ok(Self { requests, prefix: settings.prefix.clone() })
    }

    /// The topic of a case change in `grid` of `category`.
    pub fn topic(&self, grid: &str, category: &str) -> String {
        format!("{}/cases/{grid}/{category}", self.prefix)
    }

    /// Publishes `body` to `topic`; `Ok` once the broker acknowledged it.
    pub async fn send(&self, topic: String, body: Vec<u8>) -> Result<(), String> {
        let (done_tx, done) = oneshot::channel();
        self.requests.send((topic, body, done_tx)).await.map_err(|_| "MQTT publisher stopped".to_owned())?;
        match tokio::time::timeout(PUBACK_TIMEOUT, done).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err("MQTT connection reset before the broker acknowledged".into()),
            Err(_) => Err(format!("no PUBACK within {PUBACK_TIMEOUT:?}")),
        }
    }
}

/// Owns the connection: a fresh client per connection, so that nothing is replayed behind the
/// waiters' backs; publishes are matched to their packet ids in the order they go out.
async fn publish_loop(options: MqttOptions, mut requests: mpsc::Receiver<Request>) {
    loop {
        let (client, mut eventloop) = AsyncClient::new(options.clone(), 256);
        let mut queued: VecDeque<oneshot::Sender<Result<(), String>>> = VecDeque::new();
        let mut in_flight: HashMap<u16, oneshot::Sender<Result<(), String>>> = HashMap::new();
        let error = loop {
            tokio::select! {
                request = requests.recv() => {
                    let Some((topic, body, done)) = request else { return };
                    match client.try_publish(topic, QoS::AtLeastOnce, false, body) {
                        Ok(()) => queued.push_back(done),
                        Err(err) => { let _ = done.send(Err(err.to_string())); }
                    }
                }
                polled = eventloop.poll() => match polled {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => info!("MQTT notification publisher connected"),
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                        if let Some(done) = queued.pop_front() {
                            in_flight.insert(pkid, done);
                        }
                    }
                    Ok(Event::Incoming(Packet::PubAck(ack))) => {
                        if let Some(done) = in_flight.remove(&ack.pkid) {
                            let _ = done.send(Ok(()));
                        }
                    }
                    Ok(_) => {}
                    Err(err) => break err.to_string(),
                },
            }
        };
        warn!(error = %error, unacknowledged = queued.len() + in_flight.len(), "MQTT notification publisher disconnected; reconnecting");
        for done in queued.into_iter().chain(in_flight.into_values()) {
            let _ = done.send(Err(format!("MQTT connection failed: {error}")));
        }
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}
