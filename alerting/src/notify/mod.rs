//! Notifications: every step of every case's timeline is routed to receivers through an outbox in the
//! store, then sent until delivered.
//!
//! An entry that a silence matches, that comes from a camera in its maintenance window, or that is
//! inhibited (normal urgency, in a grid where an urgent whistle is out) is recorded as `silenced`
//! for each of its receivers and never sent.
//!
//! The timeline entry is committed with the case change itself; the notifier routes each entry once
//! ([`routes::Route`]) into one delivery per receiver, in one transaction with the entry's routing mark,
//! and sends the due deliveries. A failed attempt is retried with exponential backoff; after
//! `max_attempts` the delivery is dead and waits in `GET /api/v1/deliveries?state=dead` for an
//! operator to retry it. A crash at any point loses nothing: an entry not marked routed is routed again
//! (a delivery already added is not added twice), a delivery not marked delivered is sent again with the
//! same delivery id, which receivers deduplicate by.

mod config;
pub mod escalation;
pub mod mqtt;
pub mod routes;
pub mod webhook;

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use chrono::{DateTime, FixedOffset, NaiveTime, TimeDelta, Utc};
use futures_util::{StreamExt, stream};
use tracing::{debug, info, warn};

use crate::{
    AlertingMetrics, Result,
    calendar::in_window,
    cases::{taxonomy::Urgency, timeline::Step},
    clock::{self, SharedClock},
    store::{Delivery, NewDelivery, Silence, Store, TimelineEntry},
};
pub use config::{NotifyConfig, ReceiverConfig, ReceiverKind};
pub use escalation::{Escalation, EscalationStep};
pub use mqtt::MqttPublisher;
pub use routes::{Grouping, Route, Target};
pub use webhook::Webhook;

/// Timeline entries routed per database round trip.
const ROUTE_BATCH: i64 = 100;
/// Deliveries taken per round.
const DELIVERY_BATCH: i64 = 64;
/// Deliveries in flight at once.
const CONCURRENT_SENDS: usize = 16;
/// Longest sleep between two looks at the store (another process may have written to it).
const IDLE_LOOK: Duration = Duration::from_secs(1);
/// Least time between two looks for cases to remind receivers of.
const REMINDER_LOOK: TimeDelta = TimeDelta::seconds(1);
/// Reminder candidates read per look.
const REMINDER_BATCH: i64 = 1000;

/// Where a delivery goes.
#[derive(Clone, Debug)]
pub enum Receiver {
    /// A signed HTTP POST.
    Webhook(Webhook),
    /// A QoS 1 publish to `{prefix}/cases/{grid}/{category}`, with the delivery id in the message.
    Mqtt(MqttPublisher),
}

/// How deliveries are retried.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts before a delivery is dead.
    pub max_attempts: u32,
    /// Wait after the first failure; doubles (with jitter) up to `max_delay`.
    pub min_delay: Duration,
    /// Longest wait between attempts.
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// When to try again after `attempts` failed attempts, or `None` when they are used up.
    fn retry_in(&self, attempts: u32) -> Option<Duration> {
        (attempts < self.max_attempts)
            .then(|| sharpeyes_ingest::backoff::retry_delays(self.min_delay, self.max_delay).nth(attempts as usize - 1))
            .flatten()
    }
}

/// Each camera's daily maintenance windows (local time), changed as cameras are added, changed and
/// removed at runtime; cloned wherever they are read, every clone seeing each change at once.
#[derive(Clone, Debug, Default)]
pub struct MaintenanceWindows(Arc<RwLock<WindowsByCamera>>);

/// Daily windows (start, end in local time) by camera id.
type WindowsByCamera = HashMap<String, Vec<(NaiveTime, NaiveTime)>>;

impl From<WindowsByCamera> for MaintenanceWindows {
    fn from(windows: WindowsByCamera) -> Self {
        Self(Arc::new(RwLock::new(windows)))
    }
}

impl MaintenanceWindows {
    /// Makes `windows` `camera`'s (none: the camera is never in maintenance).
    pub fn set(&self, camera: &str, windows: Vec<(NaiveTime, NaiveTime)>) {
        let mut all = self.0.write().expect("maintenance windows lock");
        if windows.is_empty() {
            all.remove(camera);
        } else {
            all.insert(camera.to_owned(), windows);
        }
    }

    /// Whether `camera` is in one of its maintenance windows at `at`, in the city's `utc_offset`.
    fn covers(&self, camera: &str, at: DateTime<Utc>, utc_offset: FixedOffset) -> bool {
        let all = self.0.read().expect("maintenance windows lock");
        all.get(camera).is_some_and(|windows| windows.iter().any(|window| in_window(at, utc_offset, *window)))
    }
}

/// What mutes entries besides silences (which live in the store).
#[derive(Clone, Debug)]
pub struct Mutes {
    /// Daily maintenance windows (local time) by camera id: its entries are not sent during them.
    pub maintenance: MaintenanceWindows,
    /// The city's offset from UTC.
    pub utc_offset: FixedOffset,
}

/// Routes timeline entries into deliveries and sends them.
pub struct Notifier {
    store: Store,
    route: Route,
    escalation: Escalation,
    mutes: Mutes,
    receivers: HashMap<String, Receiver>,
    retry: RetryPolicy,
    client: reqwest::Client,
    metrics: AlertingMetrics,
    last_reminder_look: std::sync::Mutex<Option<DateTime<Utc>>>,
    clock: SharedClock,
}

impl Notifier {
    /// A notifier over `store` sending along `route` to `receivers` (by id).
    pub fn new(
        store: Store,
        (route, mutes): (Route, Mutes),
        receivers: HashMap<String, Receiver>,
        retry: RetryPolicy,
        metrics: AlertingMetrics,
    ) -> Self {
        let client = reqwest::Client::builder().user_agent(concat!("sharpeyes/", env!("CARGO_PKG_VERSION"))).build();
        let client = client.expect("an HTTP client without custom TLS settings builds");
        Self {
            store,
            route,
            escalation: Escalation::default(),
            mutes,
            receivers,
            retry,
            client,
            metrics,
            last_reminder_look: std::sync::Mutex::new(None),
            clock: clock::system(),
        }
    }

    /// Reads the time from `clock` (a simulated one in tests) instead of the system's.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Sends each escalation step's entries to the step's receivers too.
    pub fn with_escalation(mut self, escalation: Escalation) -> Self {
        self.escalation = escalation;
        self
    }

    /// Runs until `shutdown` completes: after every committed timeline change, and at least every
    /// second, routes what is new and sends what is due.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let mut changes = self.store.timeline_changes();
        tokio::pin!(shutdown);
        info!(receivers = self.receivers.len(), "notifier started");
        loop {
            let wait = match self.round().await {
                Ok(wait) => wait,
                Err(error) => {
                    warn!(error = %error, "notifier cannot reach the case store; retrying");
                    IDLE_LOOK
                }
            };
            tokio::select! {
                () = &mut shutdown => break,
                _ = changes.changed() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
        info!("notifier stopped");
    }

    /// One round: routes the new entries, reminds, sends the groups and deliveries that are due; returns
    /// how long to wait for the next due one. [`Notifier::run`] calls it after every change; tests call
    /// it directly, moving a simulated clock in between.
    pub async fn round(&self) -> Result<Duration> {
        loop {
            let entries = self.store.unrouted_entries(ROUTE_BATCH).await?;
            if entries.is_empty() {
                break;
            }
            let silences = self.store.silences(self.clock.now()).await?;
            for entry in &entries {
                self.route_entry(entry, &silences).await?;
            }
            if (entries.len() as i64) < ROUTE_BATCH {
                break;
            }
        }
        self.remind_quiet_cases().await?;
        self.flush_due_groups().await?;
        loop {
            let due = self.store.due_deliveries(self.clock.now(), DELIVERY_BATCH).await?;
            let taken = due.len() as i64;
            let results: Vec<Result<()>> = stream::iter(due)
                .map(|delivery| self.attempt(delivery))
                .buffer_unordered(CONCURRENT_SENDS)
                .collect()
                .await;
            results.into_iter().collect::<Result<()>>()?;
            if taken < DELIVERY_BATCH {
                break;
            }
        }
        let next = self.store.next_delivery_due().await?;
        Ok(next.map_or(IDLE_LOOK, |at| (at - self.clock.now()).to_std().unwrap_or_default().min(IDLE_LOOK)))
    }

    /// Reminds each receiver of the open cases it was last told of a repeat interval ago (its route's
    /// `repeat_interval_s`): a `remind` entry per case and receiver, sent like any other. Looks at most
    /// every [`REMINDER_LOOK`].
    async fn remind_quiet_cases(&self) -> Result<()> {
        let Some(shortest) = self.route.shortest_repeat() else {
            return Ok(());
        };
        let now = self.clock.now();
        {
            let mut last = self.last_reminder_look.lock().unwrap_or_else(|poison| poison.into_inner());
            if last.is_some_and(|at| now - at < REMINDER_LOOK) {
                return Ok(());
            }
            *last = Some(now);
        }
        for quiet in self.store.quiet_open_cases(now - shortest, REMINDER_BATCH).await? {
            let Some(entry) = self.store.latest_entry_of(quiet.case_id).await? else {
                continue;
            };
            let repeat = self.route.target_of(&entry, &quiet.receiver).and_then(|t| t.repeat);
            if let Some(repeat) = repeat.filter(|repeat| quiet.last_told + *repeat <= now) {
                let note = format!("still {} after {} min", entry.to_status, (now - quiet.last_told).num_minutes());
                self.store.remind(quiet.case_id, &quiet.receiver, note, now).await?;
                debug!(case = quiet.case_id, receiver = %quiet.receiver, repeat_s = repeat.num_seconds(), "reminded");
            }
        }
        Ok(())
    }

    /// Sends every group of held deliveries that is due: one delivery carrying its entries. A group
    /// whose route no longer groups (the configuration changed) is sent at once.
    async fn flush_due_groups(&self) -> Result<()> {
        let now = self.clock.now();
        for group in self.store.held_groups().await? {
            let first: serde_json::Value = serde_json::from_str(&group.first_body).unwrap_or_default();
            let grouping = serde_json::from_value::<TimelineEntry>(first["entry"].clone())
                .ok()
                .and_then(|entry| self.route.target_of(&entry, &group.receiver)?.grouping);
            let due = grouping.map_or(now, |grouping| grouping.due(group.first_held, group.last_flush));
            if due <= now
                && let Some((carrier, entries)) = self.store.flush_group(&group.receiver, &group.group_key, now).await?
            {
                debug!(delivery = carrier, receiver = %group.receiver, group = %group.group_key, entries, "group sent");
            }
        }
        Ok(())
    }

    /// Why `entry` is muted, if it is: its camera's maintenance window, an active silence matching
    /// it, or inhibition (a normal-urgency entry of a grid where an open case has an urgent whistle).
    async fn muted(&self, entry: &TimelineEntry, silences: &[Silence]) -> Result<Option<String>> {
        let now = self.clock.now();
        if self.mutes.maintenance.covers(&entry.camera, entry.at, self.mutes.utc_offset) {
            return Ok(Some(format!("camera {} in its maintenance window", entry.camera)));
        }
        if let Some(silence) = silences.iter().find(|s| s.is_active_at(now) && s.matchers.matches(entry)) {
            return Ok(Some(format!("silence {}", silence.id)));
        }
        if entry.urgency == Urgency::Normal
            && let Some(case) = self.store.urgent_whistle_in_grid(&entry.grid, entry.case_id).await?
        {
            return Ok(Some(format!("inhibited: urgent whistle on case {case} in grid {}", entry.grid)));
        }
        Ok(None)
    }

    async fn route_entry(&self, entry: &TimelineEntry, silences: &[Silence]) -> Result<()> {
        let muted = self.muted(entry, silences).await?;
        // A reminder goes to the receiver it reminds, and to no one else.
        let reminded = (entry.action == Step::Remind).then(|| entry.actor.strip_prefix("reminder:")).flatten();
        let mut targets = match reminded {
            Some(receiver) => vec![Target { receiver: receiver.to_owned(), grouping: None, repeat: None }],
            None => self.route.targets(entry),
        };
        for receiver in self.escalation.receivers_of(entry) {
            if !targets.iter().any(|t| t.receiver == *receiver) {
                // An escalation step is never held back in a group.
                targets.push(Target { receiver: receiver.clone(), grouping: None, repeat: None });
            }
        }
        let deliveries: Vec<NewDelivery> = targets
            .into_iter()
            .filter(|target| self.receivers.contains_key(&target.receiver))
            .map(|Target { receiver, grouping, .. }| {
                let body = serde_json::json!({ "receiver": receiver, "entry": entry }).to_string();
                let group = grouping.map(|grouping| grouping.key(entry));
                NewDelivery { receiver, body, muted: muted.clone(), group }
            })
            .collect();
        debug!(entry = entry.id, case = entry.case_id, action = %entry.action, receivers = deliveries.len(), muted = ?muted, "routed");
        self.store.route_entry(entry, &deliveries, self.clock.now()).await
    }

    /// One attempt of one delivery, recorded.
    async fn attempt(&self, delivery: Delivery) -> Result<()> {
        let mut body: serde_json::Value = serde_json::from_str(&delivery.body).unwrap_or_default();
        let outcome = match self.receivers.get(&delivery.receiver) {
            Some(Receiver::Webhook(webhook)) => {
                let action = body["entry"]["action"].as_str().unwrap_or_default();
                webhook.send(&self.client, delivery.id, action, &delivery.body).await
            }
            Some(Receiver::Mqtt(publisher)) => {
                let entry = &body["entry"];
                let topic = publisher
                    .topic(entry["grid"].as_str().unwrap_or_default(), entry["category"].as_str().unwrap_or_default());
                body["delivery"] = delivery.id.into();
                publisher.send(topic, body.to_string().into_bytes()).await
            }
            None => Err(format!("receiver '{}' is no longer configured", delivery.receiver)),
        };
        let attempts = delivery.attempts as u32 + 1;
        let now = self.clock.now();
        let counter = |outcome: &str| self.metrics.deliveries_total.with_label_values(&[&delivery.receiver, outcome]);
        match &outcome {
            Ok(()) => {
                counter("delivered").inc();
                debug!(delivery = delivery.id, receiver = %delivery.receiver, attempts, "delivered");
                self.store.record_attempt(delivery.id, Ok(()), None, now).await
            }
            Err(error) => {
                let retry_in = self.retry.retry_in(attempts);
                let retry_at = retry_in.map(|delay| now + chrono::TimeDelta::from_std(delay).unwrap_or_default());
                match retry_in {
                    Some(delay) => {
                        counter("failed").inc();
                        warn!(delivery = delivery.id, receiver = %delivery.receiver, attempts, error = %error, retry_in_ms = delay.as_millis() as u64, "delivery failed; will retry");
                    }
                    None => {
                        counter("dead").inc();
                        warn!(delivery = delivery.id, receiver = %delivery.receiver, attempts, error = %error, "delivery failed for the last time; dead-lettered");
                    }
                }
                self.store.record_attempt(delivery.id, Err(error), retry_at, now).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_camera_changed_at_runtime_is_muted_by_its_new_windows_at_once() {
        let windows = MaintenanceWindows::default();
        let notifier_copy = windows.clone();
        let beijing = FixedOffset::east_opt(8 * 3600).unwrap();
        let at =
            |hour: u32| DateTime::parse_from_rfc3339(&format!("2026-12-02T{hour:02}:30:00+08:00")).unwrap().to_utc();
        let night = (NaiveTime::from_hms_opt(2, 0, 0).unwrap(), NaiveTime::from_hms_opt(4, 0, 0).unwrap());
        assert!(!notifier_copy.covers("dock", at(3), beijing), "an unknown camera is never in maintenance");
        windows.set("dock", vec![night]);
        assert!(notifier_copy.covers("dock", at(3), beijing));
        assert!(!notifier_copy.covers("dock", at(5), beijing), "outside its window");
        assert!(!notifier_copy.covers("gate", at(3), beijing), "another camera's window");
        windows.set("dock", Vec::new());
        assert!(!notifier_copy.covers("dock", at(3), beijing), "its windows removed");
    }

    #[test]
    fn retries_back_off_and_stop_at_the_last_attempt() {
        let retry =
            RetryPolicy { max_attempts: 4, min_delay: Duration::from_secs(1), max_delay: Duration::from_secs(3) };
        let delays: Vec<Option<Duration>> = (1..=4).map(|attempts| retry.retry_in(attempts)).collect();
        assert!(delays[0].is_some_and(|d| d >= Duration::from_secs(1) && d <= Duration::from_secs(2)));
        assert!(delays[1].is_some_and(|d| d >= Duration::from_secs(2) && d <= Duration::from_secs(4)));
        assert!(delays[2].is_some_and(|d| d >= Duration::from_secs(3) && d <= Duration::from_secs(6)));
        assert_eq!(delays[3], None, "the fourth failure is the last");
    }
}
