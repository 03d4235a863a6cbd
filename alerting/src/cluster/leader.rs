//! One center at a time runs the passes that must not run twice — routing and sending notifications,
//! reminders, supervision of overdue cases, escalation — chosen by the database (see
//! [`Store::try_lead`]): whoever holds the lock leads; when its process dies or loses the database,
//! the lock is freed and another center takes over within [`LOOK_EVERY`].

use std::time::Duration;

use tokio::{sync::oneshot, task::JoinHandle};
use tracing::{info, warn};

use crate::store::Store;

/// How often a follower tries to lead, and a leader checks that it still does.
pub const LOOK_EVERY: Duration = Duration::from_secs(2);

/// Runs the leader's work while this process leads, until `shutdown` completes. `start` begins the
/// work and returns its task, which must end soon after its stop signal fires.
pub async fn lead(
    store: Store,
    mut start: impl FnMut(oneshot::Receiver<()>) -> JoinHandle<()>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut looks = tokio::time::interval(LOOK_EVERY);
    loop {
        let leadership = tokio::select! {
            () = &mut shutdown => return,
            _ = looks.tick() => match store.try_lead().await {
                Ok(leadership) => leadership,
                Err(error) => {
                    warn!(%error, "cannot ask the database who leads; trying again");
                    None
                }
            },
        };
        let Some(mut leadership) = leadership else {
            continue;
        };
        info!("leading: this process runs notifications, supervision and escalation");
        let (stop_tx, stop_rx) = oneshot::channel();
        let mut work = start(stop_rx);
        let stopping = loop {
            tokio::select! {
                () = &mut shutdown => break true,
                _ = looks.tick() => {
                    if !leadership.is_held().await {
                        warn!("lost the lead (the database connection broke); stopping the leader's work");
                        break false;
                    }
                }
                _ = &mut work => {
                    warn!("the leader's work ended by itself; giving up the lead");
                    break false;
                }
            }
        };
        let _ = stop_tx.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut work).await;
        work.abort();
        drop(leadership);
        if stopping {
            return;
        }
    }
}
