//! SIGINT / SIGTERM: the first asks for a graceful stop, a second exits at once.

use tokio::signal::unix::{SignalKind, signal};
use tracing::{info, warn};

/// Waits for SIGINT or SIGTERM; after it, a second one exits the process immediately (code 130).
pub async fn first_signal() {
    let (mut interrupt, mut terminate) = match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(interrupt), Ok(terminate)) => (interrupt, terminate),
        _ => {
            warn!("cannot install signal handlers; stop with SIGKILL");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = interrupt.recv() => info!("SIGINT: stopping (again to exit at once)"),
        _ = terminate.recv() => info!("SIGTERM: stopping (again to exit at once)"),
    }
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        warn!("second signal: exiting now");
        std::process::exit(130);
    });
}
