use std::sync::Arc;

use rumqttc::{AsyncClient, QoS};
use tracing::warn;

use crate::camera::CameraStatus;

/// Publishes a camera's status to `{prefix}/cameras/{camera}/status` (JSON, QoS 1, retained, so a
/// dashboard that subscribes later sees the current state at once) now and every time its state
/// changes. Returns when the MQTT client is gone.
pub async fn publish_camera_status(client: AsyncClient, prefix: String, status: Arc<CameraStatus>) {
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
