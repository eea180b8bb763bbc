//! A TCP gate in front of a real server, to cut the network between the pipeline and it: open,
//! it forwards bytes both ways; closed, it resets every connection and refuses new ones, as a
//! store behind a failed link or a dead load balancer would look. Included with `#[path]`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Gate {
    pub address: SocketAddr,
    open: Arc<AtomicBool>,
    /// Both ends of every forwarded connection, by connection number.
    live: Arc<Mutex<Vec<(u64, TcpStream)>>>,
}

impl Gate {
    pub fn new(target: SocketAddr) -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let gate = Gate {
            address: listener.local_addr().unwrap(),
            open: Arc::new(AtomicBool::new(true)),
            live: Arc::default(),
        };
        let (open, live) = (gate.open.clone(), gate.live.clone());
        std::thread::spawn(move || {
            for (id, client) in (0u64..).zip(listener.incoming()) {
                let Ok(client) = client else { continue };
                if !open.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(5)) else {
                    continue;
                };
                let (Ok(client_end), Ok(server_end)) = (client.try_clone(), server.try_clone())
                else {
                    continue;
                };
                live.lock()
                    .unwrap()
                    .extend([(id, client_end), (id, server_end)]);
                let (Ok(client_reader), Ok(server_writer)) =
                    (client.try_clone(), server.try_clone())
                else {
                    continue;
                };
                pipe(client_reader, server_writer, id, live.clone());
                pipe(server, client, id, live.clone());
            }
        });
        gate
    }

    /// Cuts every connection and refuses new ones until [`Gate::open`].
    pub fn close(&self) {
        self.open.store(false, Ordering::SeqCst);
        for (_, stream) in self.live.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    pub fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

/// Copies one direction; when it ends, the connection's entries leave `live` (their sockets
/// close once both directions are done).
fn pipe(mut from: TcpStream, mut to: TcpStream, id: u64, live: Arc<Mutex<Vec<(u64, TcpStream)>>>) {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 64 * 1024];
        loop {
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
        live.lock().unwrap().retain(|(entry, _)| *entry != id);
    });
}
