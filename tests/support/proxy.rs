//! A TCP proxy between the tool and mosquitto that breaks the path on demand.
//!
//! Killing and restarting mosquitto is one network fault, and the easiest one to notice: the
//! broker closes every socket on its way down. Two other faults matter as much, and the broker
//! alone cannot make them:
//!
//! - a *cut*: the connection drops while the broker keeps running, and reconnecting fails for a
//!   while, as when a router reboots;
//! - a *stall*: both sockets stay open and nothing flows, as on a dead network path. No FIN or
//!   RST ever arrives, so the client's TCP stack sees nothing wrong; only MQTT keep-alive (a
//!   PINGREQ that is never answered) can notice.
//!
//! Only something sitting between client and broker can make these happen, and at the moment a
//! test chooses. So fault tests point the tool at a [`FaultProxy`] that forwards to mosquitto, and
//! call [`FaultProxy::cut_for`] or [`FaultProxy::stall`] when they want the path to break.
//!
//! It is plain threads and blocking sockets: a test proxy carries a handful of connections, and
//! two copy threads per connection are easier to reason about than anything cleverer. Everything
//! is on loopback, so the only faults in play are the ones a test asks for.

use std::io::{self, Read, Write};
use std::mem;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long the accept loop sleeps when no one is connecting: short enough that neither a client's
/// connect nor dropping the proxy is held up noticeably.
const ACCEPT_POLL: Duration = Duration::from_millis(10);

/// Larger than any MQTT packet the tests send, so one read usually forwards a whole packet.
const BUFFER: usize = 16 * 1024;

/// mosquitto on loopback accepts or refuses at once; this only bounds the accept loop's wait if
/// something is badly wrong.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A fault-injecting TCP proxy on 127.0.0.1; see the module documentation.
pub struct FaultProxy {
    port: u16,
    shared: Arc<Shared>,
    /// Joined on drop, so the listening port is closed by the time `drop` returns.
    accept_thread: Option<JoinHandle<()>>,
}

/// What the test's handle, the accept thread and every copy thread share.
struct Shared {
    state: Mutex<State>,
    /// Signalled whenever a copy thread held by a stall may have to move on: on resume, when
    /// connections are closed, and on drop.
    changed: Condvar,
}

struct State {
    stalled: bool,
    /// New connections are refused until then; a deadline rather than a flag, so a cut ends by
    /// itself without a timer thread.
    refuse_until: Option<Instant>,
    stopped: bool,
    accepted: usize,
    /// When each connection was accepted, refused ones included: one per attempt of a client.
    accepted_at: Vec<Instant>,
    next_id: u64,
    /// Connections still open. The rule that keeps closing simple: whoever takes a connection out
    /// of this list shuts it down, and a connection not in the list is closed.
    open: Vec<Connection>,
}

/// Handles on both sockets of one proxied connection, kept so that a cut can close the connection
/// from outside: its copy threads are usually blocked in `read`, where only a shutdown of the
/// socket reaches them.
struct Connection {
    id: u64,
    client: TcpStream,
    upstream: TcpStream,
}

impl FaultProxy {
    /// Listens on 127.0.0.1:<free port>, forwards every accepted connection to
    /// 127.0.0.1:`upstream`.
    ///
    /// Panics if it cannot listen: a test that cannot set up its proxy has nothing to test.
    pub fn start(upstream: u16) -> FaultProxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .expect("fault proxy: cannot listen on 127.0.0.1");
        let port = listener
            .local_addr()
            .expect("fault proxy: cannot read its listening address")
            .port();
        // A blocking accept would wait forever for a client that may never come, and the proxy
        // could never be stopped; polling lets the loop look up now and then.
        listener
            .set_nonblocking(true)
            .expect("fault proxy: cannot make the listener non-blocking");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                stalled: false,
                refuse_until: None,
                stopped: false,
                accepted: 0,
                accepted_at: Vec::new(),
                next_id: 0,
                open: Vec::new(),
            }),
            changed: Condvar::new(),
        });
        let upstream = SocketAddr::from((Ipv4Addr::LOCALHOST, upstream));
        let accept_thread = thread::Builder::new()
            .name("fault-proxy-accept".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || accept_loop(&listener, upstream, &shared)
            })
            .expect("fault proxy: cannot start its accept thread");
        FaultProxy {
            port,
            shared,
            accept_thread: Some(accept_thread),
        }
    }

    /// The port clients should connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Cuts: closes every open connection now, both sides (the client sees its connection drop,
    /// mosquitto sees the client gone), and for `duration` refuses new ones (accept and close at
    /// once, so the client's attempt fails fast).
    ///
    /// Returns at once; the cut ends by itself when `duration` has passed.
    pub fn cut_for(&self, duration: Duration) {
        let until = Instant::now() + duration;
        let cut = {
            let mut state = self.shared.lock();
            // A shorter cut called during a longer one must not end the longer one early.
            state.refuse_until = Some(state.refuse_until.map_or(until, |old| old.max(until)));
            mem::take(&mut state.open)
        };
        for connection in &cut {
            connection.shut_down();
        }
        // Copy threads held by a stall must wake up to see that their connection is gone.
        self.shared.changed.notify_all();
    }

    /// Stalls: from now on nothing is forwarded in either direction on open connections, and
    /// connections accepted while stalled forward nothing either; no socket is closed, no byte is
    /// lost (bytes read before the stall was noticed are held and written after resume).
    pub fn stall(&self) {
        self.shared.lock().stalled = true;
    }

    /// Ends a stall: held and new bytes flow again on every connection still open.
    pub fn resume(&self) {
        self.shared.lock().stalled = false;
        self.shared.changed.notify_all();
    }

    /// How many connections it has accepted so far, refused ones included: each is one attempt
    /// by a client.
    pub fn accepted(&self) -> usize {
        self.shared.lock().accepted
    }

    /// When it accepted each connection so far, refused ones included, in order (to within the
    /// accept loop's poll of 10 ms).
    pub fn accepted_at(&self) -> Vec<Instant> {
        self.shared.lock().accepted_at.clone()
    }
}

impl Drop for FaultProxy {
    /// Stops the accept loop and closes every connection; copy threads then end by themselves.
    fn drop(&mut self) {
        let open = {
            let mut state = self.shared.lock();
            state.stopped = true;
            mem::take(&mut state.open)
        };
        for connection in &open {
            connection.shut_down();
        }
        self.shared.changed.notify_all();
        if let Some(accept_thread) = self.accept_thread.take() {
            // It notices `stopped` within one poll (or one upstream connect); a panic in it has
            // already been printed, and re-raising it in a drop would only abort the test.
            let _ = accept_thread.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change to `State` is a single assignment or a single `Vec` operation, so a thread
        // that panicked while holding the lock cannot have left it half-updated.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts an accepted connection and says whether a cut is refusing it.
    fn count_and_check_refusing(&self) -> bool {
        let mut state = self.lock();
        state.accepted += 1;
        state.accepted_at.push(Instant::now());
        state.refusing()
    }

    /// Adds a connection to the open list and returns its id, or `None` if a cut or a drop came
    /// first. Checking under the same lock that `cut_for` takes is what keeps a connection being
    /// set up just then from slipping through the cut.
    fn register(&self, client: TcpStream, upstream: TcpStream) -> Option<u64> {
        let mut state = self.lock();
        if state.stopped || state.refusing() {
            return None;
        }
        let id = state.next_id;
        state.next_id += 1;
        state.open.push(Connection {
            id,
            client,
            upstream,
        });
        Some(id)
    }

    /// Closes connection `id` if it is still open; a no-op if a cut, a drop or its other copy
    /// thread closed it already.
    fn close(&self, id: u64) {
        let closed = {
            let mut state = self.lock();
            let index = state.open.iter().position(|c| c.id == id);
            index.map(|index| state.open.swap_remove(index))
        };
        if let Some(connection) = closed {
            connection.shut_down();
            // The other copy thread may be held by a stall; it must wake up to exit.
            self.changed.notify_all();
        }
    }

    /// Waits while the proxy is stalled. Returns whether connection `id` is still open, that is,
    /// whether the copy thread should carry on.
    fn wait_while_stalled(&self, id: u64) -> bool {
        let state = self.lock();
        let state = self
            .changed
            .wait_while(state, |state| state.stalled && state.is_open(id))
            .unwrap_or_else(PoisonError::into_inner);
        state.is_open(id)
    }
}

impl State {
    fn refusing(&self) -> bool {
        self.refuse_until
            .is_some_and(|until| Instant::now() < until)
    }

    fn is_open(&self, id: u64) -> bool {
        self.open.iter().any(|c| c.id == id)
    }
}

impl Connection {
    fn shut_down(&self) {
        // Shutting down a socket, unlike dropping one handle of it, reaches every handle: the copy
        // threads' blocked reads return and their writes fail, so they exit. An error here means
        // the socket is already shut down or gone, which is what we want anyway.
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.upstream.shutdown(Shutdown::Both);
    }
}

fn accept_loop(listener: &TcpListener, upstream: SocketAddr, shared: &Arc<Shared>) {
    while !shared.lock().stopped {
        match listener.accept() {
            Ok((client, _)) => serve(shared, client, upstream),
            // `WouldBlock` is the usual "no one is connecting"; anything else (out of file
            // descriptors, a client that gave up before we accepted) is no reason to stop
            // proxying, so every error means: wait a little and look again.
            Err(_) => thread::sleep(ACCEPT_POLL),
        }
    }
}

/// Handles one accepted connection: refuses it during a cut, forwards it otherwise.
fn serve(shared: &Arc<Shared>, client: TcpStream, upstream: SocketAddr) {
    if shared.count_and_check_refusing() {
        // Closing at once, rather than leaving the client waiting, is what makes its attempt fail
        // fast, like a connection refused while the path is down.
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    // If setting up fails, every socket made so far is dropped, and so closed: to the client it
    // looks like a broker that would not take the connection, which is the truth.
    let _ = forward(shared, client, upstream);
}

/// Connects to the broker and starts the two copy threads of one connection.
fn forward(shared: &Arc<Shared>, client: TcpStream, upstream: SocketAddr) -> io::Result<()> {
    // Some platforms hand out accepted sockets non-blocking like their listener; the copy threads
    // need blocking ones.
    client.set_nonblocking(false)?;
    let upstream = TcpStream::connect_timeout(&upstream, UPSTREAM_CONNECT_TIMEOUT)?;
    // MQTT packets are small; Nagle's algorithm would hold them back waiting for more, adding
    // delay that the direct path does not have.
    client.set_nodelay(true)?;
    upstream.set_nodelay(true)?;

    let kept = (client.try_clone()?, upstream.try_clone()?);
    let to_broker = (client.try_clone()?, upstream.try_clone()?);
    let to_client = (upstream, client);
    let Some(id) = shared.register(kept.0, kept.1) else {
        // Cut or dropped while connecting: dropping the sockets closes the connection.
        return Ok(());
    };

    for (name, (from, to)) in [("to-broker", to_broker), ("to-client", to_client)] {
        let spawned = thread::Builder::new()
            .name(format!("fault-proxy-{name}-{id}"))
            .spawn({
                let shared = Arc::clone(shared);
                move || copy(&shared, id, from, to)
            });
        if let Err(error) = spawned {
            // Half a connection is worse than none: close it, which also ends a copy thread
            // already started.
            shared.close(id);
            return Err(error);
        }
    }
    Ok(())
}

/// Copies bytes one way until either side closes, holding them while the proxy is stalled.
fn copy(shared: &Shared, id: u64, mut from: TcpStream, mut to: TcpStream) {
    let mut buffer = vec![0; BUFFER];
    loop {
        // Waiting *before* reading is what makes a stall a dead path rather than a slow one:
        // unread bytes fill the kernel's buffers, the sender's TCP window closes, and the sender
        // sees no error at all, just silence.
        if !shared.wait_while_stalled(id) {
            break;
        }
        let read = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        // The stall may have begun while this thread was blocked in `read`: hold what it got
        // rather than let it slip through, and write it once the stall ends.
        if !shared.wait_while_stalled(id) {
            break;
        }
        if to.write_all(&buffer[..read]).is_err() {
            break;
        }
    }
    // MQTT never half-closes a connection, so the end of one direction is the end of both; closing
    // the whole connection is also what lets the other copy thread exit.
    shared.close(id);
}
