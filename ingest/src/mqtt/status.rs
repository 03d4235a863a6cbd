use std::{collections::HashMap, sync::Arc};

use rumqttc::{AsyncClient, QoS};
use tracing::warn;

use crate::camera::{CameraBoard, CameraStatus};

/// Publishes a camera's status to `{prefix}/cameras/{camera}/status` (JSON, QoS 1, retained, so a
/// dashboard that subscribes later sees the current state at once) now and every time its state
/// changes. Returns when the MQTT client is gone.
async fn publish_camera_status(client: AsyncClient, prefix: String, status: Arc<CameraStatus>) {
    let mut changes = status.watch();
    loop {
        let snapshot = changes.borrow_and_update().clone();
        let topic = format!("{prefix}/cameras/{}/status", snapshot.id);
        let body = serde_json::to_vec(&snapshot).expect("a camera status serialises");
        if let Err(err) = client.publish(&topic, QoS::AtLeastOnce, true, body).await {
            warn!(topic, error = %err, "camera status not published; the MQTT client stopped");
            return;
        }
        if changes.changed().await.is_err() {
            return;
        }
    }
}

/// Publishes the status of every camera on `board` as [`publish_camera_status`] does, following the
/// cameras added and removed at runtime: a removed camera's retained status is cleared (an empty
/// retained message), so that a dashboard subscribing later does not see a camera that is gone.
/// Returns when the board's last handle is dropped or the MQTT client is gone.
pub async fn publish_board_statuses(client: AsyncClient, prefix: String, board: CameraBoard) {
    let mut changes = board.watch();
    let mut publishers: HashMap<String, (Arc<CameraStatus>, tokio::task::JoinHandle<()>)> = HashMap::new();
    loop {
        let statuses = changes.borrow_and_update().clone();
        let gone: Vec<String> =
            publishers.keys().filter(|id| !statuses.iter().any(|status| status.id() == id.as_str())).cloned().collect();
        for id in gone {
            if let Some((_, publisher)) = publishers.remove(&id) {
                publisher.abort();
            }
            let topic = format!("{prefix}/cameras/{id}/status");
            if let Err(err) = client.publish(&topic, QoS::AtLeastOnce, true, Vec::new()).await {
                warn!(topic, error = %err, "a removed camera's status not cleared; the MQTT client stopped");
                break;
            }
        }
        for status in statuses {
            let started = publishers.get(status.id()).is_some_and(|(known, _)| Arc::ptr_eq(known, &status));
            if !started {
                let publisher = tokio::spawn(publish_camera_status(client.clone(), prefix.clone(), status.clone()));
                if let Some((_, replaced)) = publishers.insert(status.id().to_owned(), (status, publisher)) {
                    replaced.abort();
                }
            }
        }
        if changes.changed().await.is_err() {
            break;
        }
    }
    publishers.values().for_each(|(_, publisher)| publisher.abort());
}
