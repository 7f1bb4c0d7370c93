//! A TLS-terminating proxy that makes mosquitto answer as AWS IoT Core does, in two bits.
//!
//! AWS IoT Core differs from mosquitto in two ways that change what a run must work out for
//! itself (AWS IoT Core developer guide, page "MQTT"):
//!
//! - it does not support the DUP flag ("AWS IoT differences from MQTT specifications"): a
//!   message it sends again to a member whose session it kept arrives looking new, where
//!   mosquitto sets DUP;
//! - its list of PUBACK reason codes ("MQTT reason codes") has no 0x10 *no matching
//!   subscribers*: a message published while no member is subscribed is acknowledged as a
//!   success, where mosquitto answers 0x10.
//!
//! No broker here behaves like that, so the tests put this proxy between the tool and mosquitto.
//! It terminates the tool's mutual TLS with the test PKI's server certificate (checking the
//! client certificate against the test CA, as AWS and our mosquitto do), speaks plain MQTT to a
//! mosquitto on loopback, and reads the packets mosquitto sends: it clears the DUP bit of every
//! PUBLISH ([`Rewrites::clear_dup`]) and turns PUBACK 0x10 into 0x00
//! ([`Rewrites::hide_no_matching_subscribers`]). Everything else passes as it came: it is a
//! scripted peer only in these two bits, and everything the run depends on (sessions,
//! subscriptions, routing, queues) is mosquitto's own.
//!
//! It also reads each client's CONNECT, to know whose connection is whose: a test cuts the
//! connections of some clients only ([`AwsLikeProxy::cut_for`]), e.g. the members and not the
//! publisher, which is what leaves a group without a member while the publisher goes on.
//!
//! It runs on a tokio runtime of its own, so a blocking test drives it like `proxy.rs`'s
//! [`FaultProxy`](super::proxy::FaultProxy); dropping it closes every connection.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use mqtt5_shared_subscription::pki::PkiFiles;
use rumqttc::tokio_rustls::TlsAcceptor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::task::AbortHandle;

/// What the proxy changes in what mosquitto sends.
#[derive(Debug, Clone, Copy)]
pub struct Rewrites {
    /// Clear the DUP bit of every PUBLISH, as AWS IoT Core never sets it.
    pub clear_dup: bool,
    /// Answer PUBACK 0x10 (no matching subscribers) as 0x00 (success), as AWS IoT Core does.
    pub hide_no_matching_subscribers: bool,
}

impl Rewrites {
    /// Both: mosquitto as AWS IoT Core would answer.
    pub const AWS: Rewrites = Rewrites {
        clear_dup: true,
        hide_no_matching_subscribers: true,
    };
}

/// The TLS-terminating, bit-rewriting proxy; see the module documentation.
pub struct AwsLikeProxy {
    port: u16,
    shared: Arc<Shared>,
    runtime: Option<Runtime>,
}

/// What the test's handle and every connection's task share.
struct Shared {
    rewrites: Rewrites,
    state: Mutex<State>,
    dup_cleared: AtomicUsize,
    no_matching_hidden: AtomicUsize,
}

#[derive(Default)]
struct State {
    next_id: u64,
    open: Vec<Open>,
    /// Client ids containing the text are refused (their connection closed once their CONNECT
    /// is read) until the instant.
    refusing: Vec<(String, Instant)>,
}

/// One proxied connection: its client id once its CONNECT came, and its task, which a cut
/// aborts (dropping both sockets, which closes them).
struct Open {
    id: u64,
    client_id: Option<String>,
    task: AbortHandle,
}

impl AwsLikeProxy {
    /// Listens on 127.0.0.1:<free port> with the server certificate of `files` (and its CA for
    /// client certificates), and forwards every connection to plain MQTT on
    /// 127.0.0.1:`upstream`, rewriting as `rewrites` says.
    pub fn start(files: &PkiFiles, upstream: u16, rewrites: Rewrites) -> AwsLikeProxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("aws-like proxy: a runtime");
        let acceptor = TlsAcceptor::from(Arc::new(server_config(files)));
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .expect("aws-like proxy: cannot listen on 127.0.0.1");
        let port = listener
            .local_addr()
            .expect("aws-like proxy: address")
            .port();
        listener
            .set_nonblocking(true)
            .expect("aws-like proxy: non-blocking listener");
        let shared = Arc::new(Shared {
            rewrites,
            state: Mutex::default(),
            dup_cleared: AtomicUsize::new(0),
            no_matching_hidden: AtomicUsize::new(0),
        });
        let upstream = SocketAddr::from((Ipv4Addr::LOCALHOST, upstream));
        {
            let _inside = runtime.enter();
            let listener = TcpListener::from_std(listener).expect("aws-like proxy: listener");
            runtime.spawn(accept_loop(listener, acceptor, upstream, shared.clone()));
        }
        AwsLikeProxy {
            port,
            shared,
            runtime: Some(runtime),
        }
    }

    /// The port the tool should connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Closes now the connection of every client whose id contains `client_ids`, as a network
    /// cut would (no DISCONNECT either way), and for `duration` closes theirs again as soon as
    /// their CONNECT arrives. Returns how many it closed.
    pub fn cut_for(&self, client_ids: &str, duration: Duration) -> usize {
        let mut state = self.shared.lock();
        state
            .refusing
            .push((client_ids.to_owned(), Instant::now() + duration));
        let (cut, kept): (Vec<Open>, Vec<Open>) = std::mem::take(&mut state.open)
            .into_iter()
            .partition(|open| {
                open.client_id
                    .as_deref()
                    .is_some_and(|id| id.contains(client_ids))
            });
        state.open = kept;
        for open in &cut {
            open.task.abort();
        }
        cut.len()
    }

    /// PUBLISH packets whose DUP bit it cleared so far.
    pub fn dup_cleared(&self) -> usize {
        self.shared.dup_cleared.load(Ordering::SeqCst)
    }

    /// PUBACKs 0x10 it answered as 0x00 so far.
    pub fn no_matching_hidden(&self) -> usize {
        self.shared.no_matching_hidden.load(Ordering::SeqCst)
    }
}

impl Drop for AwsLikeProxy {
    /// Stops every task: each connection's sockets are dropped, and so closed.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change is one push, one retain or one field: a panic cannot leave it half done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Names connection `id` after its CONNECT; false if that client is refused right now (or
    /// the connection was cut meanwhile).
    fn name(&self, id: u64, client_id: &str) -> bool {
        let mut state = self.lock();
        let now = Instant::now();
        state.refusing.retain(|(_, until)| *until > now);
        let refused = state
            .refusing
            .iter()
            .any(|(part, _)| client_id.contains(part.as_str()));
        let Some(open) = state.open.iter_mut().find(|open| open.id == id) else {
            return false;
        };
        open.client_id = Some(client_id.to_owned());
        !refused
    }

    fn forget(&self, id: u64) {
        self.lock().open.retain(|open| open.id != id);
    }

    /// Changes what `packet` (from mosquitto) says, as the rewrites ask.
    fn rewrite(&self, packet: &mut [u8], header: usize) {
        match packet[0] >> 4 {
            // PUBLISH: DUP is bit 3 of the fixed header (MQTT 5 §3.3.1.1).
            3 if self.rewrites.clear_dup && packet[0] & 0x08 != 0 => {
                packet[0] &= !0x08;
                self.dup_cleared.fetch_add(1, Ordering::SeqCst);
            }
            // PUBACK: packet id, then the reason code (MQTT 5 §3.4.2.1).
            4 if self.rewrites.hide_no_matching_subscribers => {
                if let Some(reason) = packet.get_mut(header + 2) {
                    if *reason == 0x10 {
                        *reason = 0x00;
                        self.no_matching_hidden.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The test PKI's server certificate, and client certificates checked against its CA.
fn server_config(files: &PkiFiles) -> rustls::ServerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(&files.ca).expect("CA") {
        roots.add(ca.expect("CA certificate")).expect("add CA");
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .expect("client verifier");
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(certificates(&files.server_cert), key(&files.server_key))
        .expect("server config")
}

fn certificates(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .expect("server certificate")
        .collect::<Result<_, _>>()
        .expect("server certificate")
}

fn key(path: &Path) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_file(path).expect("server key")
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    upstream: SocketAddr,
    shared: Arc<Shared>,
) {
    while let Ok((socket, _)) = listener.accept().await {
        // Registered before it runs, under the lock, so that a cut sees every connection.
        let mut state = shared.lock();
        let id = state.next_id;
        state.next_id += 1;
        let task = tokio::spawn({
            let (acceptor, shared) = (acceptor.clone(), shared.clone());
            async move {
                let _ = proxy(socket, &acceptor, upstream, &shared, id).await;
                shared.forget(id);
            }
        });
        state.open.push(Open {
            id,
            client_id: None,
            task: task.abort_handle(),
        });
    }
}

/// One connection: TLS from the tool, its CONNECT read for the client id, then both ways until
/// either side closes (MQTT never half-closes a connection).
async fn proxy(
    socket: TcpStream,
    acceptor: &TlsAcceptor,
    upstream: SocketAddr,
    shared: &Shared,
    id: u64,
) -> io::Result<()> {
    socket.set_nodelay(true)?;
    let tls = acceptor.accept(socket).await?;
    let (from_client, mut to_client) = tokio::io::split(tls);
    let mut from_client = BufReader::new(from_client);
    let Some((connect, header)) = read_packet(&mut from_client).await? else {
        return Ok(());
    };
    if !shared.name(id, &client_id(&connect, header).unwrap_or_default()) {
        return Ok(()); // refused: closing it is all a cut path does
    }
    let broker = TcpStream::connect(upstream).await?;
    broker.set_nodelay(true)?;
    let (from_broker, mut to_broker) = broker.into_split();
    to_broker.write_all(&connect).await?;
    let mut from_broker = BufReader::new(from_broker);
    let to_broker_side = async {
        tokio::io::copy(&mut from_client, &mut to_broker).await?;
        io::Result::Ok(())
    };
    let to_client_side = async {
        while let Some((mut packet, header)) = read_packet(&mut from_broker).await? {
            shared.rewrite(&mut packet, header);
            to_client.write_all(&packet).await?;
            if from_broker.buffer().is_empty() {
                to_client.flush().await?;
            }
        }
        io::Result::Ok(())
    };
    tokio::select! {
        ended = to_broker_side => ended,
        ended = to_client_side => ended,
    }
}

/// One whole MQTT packet and the length of its fixed header; `None` at a clean end of stream.
async fn read_packet(from: &mut (impl AsyncRead + Unpin)) -> io::Result<Option<(Vec<u8>, usize)>> {
    let mut packet = vec![0u8];
    match from.read_exact(&mut packet[..1]).await {
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    // Remaining Length: a variable byte integer of up to four bytes (MQTT 5 §1.5.5).
    let mut remaining = 0usize;
    for shift in [0, 7, 14, 21] {
        let byte = from.read_u8().await?;
        packet.push(byte);
        remaining |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
    }
    let header = packet.len();
    packet.resize(header + remaining, 0);
    from.read_exact(&mut packet[header..]).await?;
    Ok(Some((packet, header)))
}

/// The client id of a CONNECT packet (MQTT 5 §3.1.2–3.1.3; 3.1.1 has no properties).
fn client_id(connect: &[u8], header: usize) -> Option<String> {
    let body = connect.get(header..)?;
    let name_len = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    let level_at = 2 + name_len;
    let level = *body.get(level_at)?;
    // Level, flags, keep alive; then (MQTT 5) the properties, their length first.
    let mut at = level_at + 4;
    if level == 5 {
        let (length, bytes) = variable_int(body.get(at..)?)?;
        at += bytes + length;
    }
    let id_len = usize::from(u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]));
    let id = body.get(at + 2..at + 2 + id_len)?;
    String::from_utf8(id.to_vec()).ok()
}

/// A variable byte integer: its value and how many bytes it took.
fn variable_int(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0usize;
    for (k, byte) in bytes.iter().take(4).enumerate() {
        value |= usize::from(byte & 0x7f) << (7 * k);
        if byte & 0x80 == 0 {
            return Some((value, k + 1));
        }
    }
    None
}
