//! Room for every connection: the process's limit on open files.
//!
//! Every client of a run is a TCP socket, and every socket a file descriptor; with `--demo` the
//! broker's end of each connection lives in this process too. Linux starts a process with a soft
//! limit of 1,024 open files (`ulimit -n`), below what 1,000 members need, and a hard limit that
//! is usually far higher (524,288 under systemd). Any process may raise its soft limit up to the
//! hard one (getrlimit(2), "RLIMIT_NOFILE"), so a run raises it to what it needs, and says so
//! when the hard limit is too low, before the connections fail one by one with "Too many open
//! files".

/// Descriptors besides the connections: stdio, the runtime's, certificate files, the log.
const SPARE: u64 = 64;

/// Raises the soft limit on open files to hold `connections` sockets, if it is lower. Warns, and
/// goes on, when the hard limit does not allow it.
#[cfg(unix)]
pub fn make_room_for(connections: u64) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

    let needed = connections + SPARE;
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current.unwrap_or(u64::MAX);
    if current >= needed {
        return;
    }
    let hard = limit.maximum.unwrap_or(u64::MAX);
    let raised = Rlimit {
        current: Some(needed.min(hard)),
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) if needed <= hard => {
            tracing::debug!(
                "open-file limit raised from {current} to {needed} for {connections} connections"
            );
        }
        _ => tracing::warn!(
            "this run needs about {needed} open files ({connections} connections) but the system \
             allows {} (`ulimit -Hn`): connections beyond it will fail; raise the hard limit, or \
             run fewer --subscribers",
            needed.min(hard).max(current)
        ),
    }
}

/// Elsewhere the limit is the system's business.
#[cfg(not(unix))]
pub fn make_room_for(_connections: u64) {}
