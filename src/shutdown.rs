//! How a run learns that the user wants it to stop.
//!
//! The first Ctrl-C (or SIGTERM, what `docker stop` and CI runners send) does not kill the process:
//! it completes [`signalled`], and `run/` then stops publishing, has every member leave the group
//! and disconnect, and prints a partial report, so an interrupted run still says what arrived.
//! A second Ctrl-C exits at once, for when a broker stops answering.
//!
//! Exiting at once means `std::process::exit`, which runs no destructors: a temporary directory
//! (`--demo` keeps its throw-away private key in one) would stay behind. So whoever makes one
//! registers it with [`remove_on_forced_exit`], and the second Ctrl-C removes it before exiting.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::exit::Exit;

/// Directories to remove before a forced exit.
static REMOVE_ON_FORCED_EXIT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Completes on the first Ctrl-C or SIGTERM; a second Ctrl-C exits the process immediately.
pub async fn signalled() {
    first_signal().await;
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted twice: exiting now");
            remove_registered();
            std::process::exit(i32::from(Exit::Interrupted.code()));
        }
    });
}

/// Removes `dir` (and everything in it) if the process is forced to exit while the returned
/// guard lives. Dropping the guard forgets `dir`: by then its owner has removed it.
#[must_use = "the directory is forgotten again when the guard is dropped"]
#[cfg_attr(not(feature = "demo"), allow(dead_code))] // only --demo makes one
pub fn remove_on_forced_exit(dir: &Path) -> ForcedExitGuard {
    if let Ok(mut dirs) = REMOVE_ON_FORCED_EXIT.lock() {
        dirs.push(dir.to_path_buf());
    }
    ForcedExitGuard(dir.to_path_buf())
}

/// Keeps a directory registered with [`remove_on_forced_exit`].
#[derive(Debug)]
#[cfg_attr(not(feature = "demo"), allow(dead_code))]
pub struct ForcedExitGuard(PathBuf);

impl Drop for ForcedExitGuard {
    fn drop(&mut self) {
        if let Ok(mut dirs) = REMOVE_ON_FORCED_EXIT.lock() {
            dirs.retain(|dir| *dir != self.0);
        }
    }
}

/// Removes every registered directory; a failure changes nothing about exiting.
fn remove_registered() {
    let dirs = match REMOVE_ON_FORCED_EXIT.lock() {
        Ok(dirs) => dirs.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forced_exit_removes_what_is_registered_and_nothing_else() {
        let base = std::env::temp_dir().join(format!("forced-exit-{}", std::process::id()));
        let (kept, released) = (base.join("kept"), base.join("released"));
        for dir in [&kept, &released] {
            std::fs::create_dir_all(dir.join("inside")).expect("test dir");
        }
        let guard = remove_on_forced_exit(&kept);
        drop(remove_on_forced_exit(&released));
        remove_registered();
        assert!(!kept.exists(), "a registered directory stays behind");
        assert!(
            released.exists(),
            "a released guard still removed its directory"
        );
        drop(guard);
        let _ = std::fs::remove_dir_all(&base);
    }
}
