//! Checks the test proxy itself (`support::proxy`), so that fault tests built on it can be trusted.
//!
//! A fault test that passes because its proxy never really cut or stalled anything would prove
//! nothing. So here the proxy sits in front of a tiny echo server, where every effect can be seen
//! directly: bytes come back or do not, sockets close or stay open.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use support::proxy::FaultProxy;

/// How long to wait for something that must happen; on loopback it takes milliseconds.
const PATIENCE: Duration = Duration::from_secs(2);
/// How long silence must last to count as "nothing came through".
const SILENCE: Duration = Duration::from_millis(300);

/// Starts an echo server on a free loopback port. The receiver gets one message each time one of
/// its connections ends, which is how a test sees the broker's side of a connection close.
fn echo_server() -> (u16, Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("echo server: cannot listen");
    let port = listener
        .local_addr()
        .expect("echo server: no address")
        .port();
    let (report_close, closes) = mpsc::channel();
    // Lives until the test process ends: it holds nothing but a port.
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let report_close = report_close.clone();
            thread::spawn(move || {
                if let Ok(mut reader) = stream.try_clone() {
                    let mut writer = stream;
                    let _ = std::io::copy(&mut reader, &mut writer);
                }
                let _ = report_close.send(());
            });
        }
    });
    (port, closes)
}

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("cannot connect to the proxy");
    stream
        .set_read_timeout(Some(PATIENCE))
        .expect("cannot set a read timeout");
    stream
}

fn assert_echo(stream: &mut TcpStream, bytes: &[u8]) {
    stream.write_all(bytes).expect("write through the proxy");
    assert_arrives(stream, bytes);
}

fn assert_arrives(stream: &mut TcpStream, bytes: &[u8]) {
    let mut got = vec![0; bytes.len()];
    stream
        .read_exact(&mut got)
        .expect("the echo should come back through the proxy");
    assert_eq!(got, bytes);
}

/// Asserts that nothing arrives for `SILENCE` and that the connection stays open meanwhile.
fn assert_silent(stream: &mut TcpStream) {
    stream.set_read_timeout(Some(SILENCE)).expect("timeout");
    let mut byte = [0];
    match stream.read(&mut byte) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        Ok(0) => panic!("a stall must not close the connection"),
        Ok(_) => panic!("a byte came through a stalled proxy"),
        Err(e) => panic!("a stall must not break the connection: {e}"),
    }
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
}

/// Asserts that the connection is closed: a read ends at once with end-of-file or an error, not
/// with a timeout.
fn assert_closed(stream: &mut TcpStream) {
    let started = Instant::now();
    let mut byte = [0];
    match stream.read(&mut byte) {
        Ok(0) => {}
        Ok(_) => panic!("a byte came through a connection that should be closed"),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            panic!("the connection should be closed, but is still open after {PATIENCE:?}")
        }
        Err(_) => {} // a reset is a close too
    }
    assert!(
        started.elapsed() < PATIENCE / 2,
        "closing took {:?}",
        started.elapsed()
    );
}

#[test]
fn forwards_both_ways() {
    let (echo, _) = echo_server();
    let proxy = FaultProxy::start(echo);
    let mut stream = connect(proxy.port());
    assert_echo(&mut stream, b"hello");
    // More than one read's worth, so the copy loop has to go round.
    assert_echo(&mut stream, &vec![7; 100_000]);
    assert_eq!(proxy.accepted(), 1);
}

#[test]
fn stall_holds_bytes_until_resume_without_closing_anything() {
    let (echo, _) = echo_server();
    let proxy = FaultProxy::start(echo);
    let mut before = connect(proxy.port());
    assert_echo(&mut before, b"before");

    proxy.stall();
    before.write_all(b"held").expect("write during a stall");
    // A connection made during a stall must be just as dead as one made before it.
    let mut during = connect(proxy.port());
    during.write_all(b"late").expect("write during a stall");
    assert_silent(&mut before);
    assert_silent(&mut during);

    proxy.resume();
    assert_arrives(&mut before, b"held");
    assert_arrives(&mut during, b"late");
    assert_echo(&mut before, b"after");
}

#[test]
fn cut_closes_both_sides_and_refuses_new_connections_for_a_while() {
    let (echo, echo_closes) = echo_server();
    let proxy = FaultProxy::start(echo);
    let mut before = connect(proxy.port());
    assert_echo(&mut before, b"before");

    let cut = Duration::from_secs(1);
    let cut_at = Instant::now();
    proxy.cut_for(cut);
    assert_closed(&mut before);
    echo_closes
        .recv_timeout(PATIENCE)
        .expect("the broker's side should be closed by the cut too");

    // The kernel completes the TCP handshake before the proxy even sees the connection, so a
    // refused attempt shows as a connection closed at once.
    let mut during = connect(proxy.port());
    assert_closed(&mut during);
    assert!(
        cut_at.elapsed() < cut,
        "too slow to check during the cut: {:?}",
        cut_at.elapsed()
    );

    thread::sleep((cut + Duration::from_millis(100)).saturating_sub(cut_at.elapsed()));
    let mut after = connect(proxy.port());
    assert_echo(&mut after, b"after");
    assert_eq!(proxy.accepted(), 3, "the refused attempt counts too");
}

#[test]
fn drop_closes_connections_and_stops_listening() {
    let (echo, _) = echo_server();
    let proxy = FaultProxy::start(echo);
    let port = proxy.port();
    let mut stream = connect(port);
    assert_echo(&mut stream, b"hello");

    drop(proxy);
    assert_closed(&mut stream);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing should listen on the proxy's port once it is dropped"
    );
}
