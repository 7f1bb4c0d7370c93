//! How a run learns that the user wants it to stop.
//!
//! The first Ctrl-C (or SIGTERM, what `docker stop` and CI runners send) does not kill the process:
//! it completes [`signalled`], and `run.rs` then stops publishing, has every member leave the group
//! and disconnect, and prints a partial report, so an interrupted run still says what arrived.
//! A second Ctrl-C exits at once, for when a broker stops answering.

use crate::failure::EXIT_INTERRUPTED;

/// Completes on the first Ctrl-C or SIGTERM; a second Ctrl-C exits the process immediately.
pub async fn signalled() {
    first_signal().await;
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted twice: exiting now");
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
    });
}

#[cfg(unix)]
async fn first_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn first_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
