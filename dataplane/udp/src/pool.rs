use std::io;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};

use crate::backend::{self, IoBackend, IoMode};
use crate::mmsg::MmsgReceiver;
use crate::pin::{allowed_cpus, pin_current_thread};
use crate::sink::DatagramSink;
use crate::socket::BoundGroup;
use crate::uring::UringReceiver;

/// Names one attached group of sockets (one dataset's port) across the workers.
pub type SocketId = u64;

#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Worker threads; 0 means one per CPU this process may run on.
    pub workers: usize,
    pub io: IoMode,
    /// How often sinks get `tick` (and how long a worker waits for datagrams at most).
    pub tick: Duration,
    /// Pin each worker to its own CPU.
    pub pin: bool,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            workers: 0,
            io: IoMode::Auto,
            tick: Duration::from_millis(25),
            pin: true,
        }
    }
}

pub(crate) enum Command {
    Attach {
        id: SocketId,
        socket: UdpSocket,
        sink: Box<dyn DatagramSink>,
    },
    Detach {
        id: SocketId,
        done: Sender<()>,
    },
    Stop,
}

/// One receive path driven by a worker: attach and detach sockets, wait for datagrams and
/// hand them to sinks.
pub(crate) trait Receive {
    fn attach(&mut self, id: SocketId, socket: UdpSocket, sink: Box<dyn DatagramSink>);
    /// Stops receiving on the socket; `done` gets a message once its sink is closed.
    fn detach(&mut self, id: SocketId, done: Sender<()>);
    /// Waits at most `timeout` for datagrams and delivers what arrived.
    fn receive(&mut self, timeout: Duration);
    fn tick(&mut self, now: Instant);
    fn attached(&self) -> Vec<SocketId>;
    fn is_empty(&self) -> bool;
}

/// The worker threads. Dropping the pool closes every socket (each sink gets `close`) and
/// joins the threads.
pub struct ReceivePool {
    workers: Vec<Worker>,
    backend: IoBackend,
    next_id: AtomicU64,
}

struct Worker {
    commands: Sender<Command>,
    thread: Option<JoinHandle<()>>,
}

impl ReceivePool {
    /// Starts the workers; fails when `io = uring` was asked for and io_uring cannot run here.
    pub fn start(config: &PoolConfig) -> io::Result<ReceivePool> {
        let (backend, fallback) = backend::choose(config.io)?;
        if let Some(reason) = fallback {
            tracing::warn!("io_uring is not usable here ({reason}); receiving with recvmmsg");
        }
        let cpus = allowed_cpus();
        let count = if config.workers == 0 {
            cpus.len()
        } else {
            config.workers
        };
        let mut pool = ReceivePool {
            workers: Vec::with_capacity(count),
            backend,
            next_id: AtomicU64::new(1),
        };
        for index in 0..count {
            let cpu = cpus[index % cpus.len()];
            let (commands, inbox) = crossbeam_channel::unbounded();
            let (ready, started) = crossbeam_channel::bounded::<io::Result<()>>(1);
            let (pin, tick) = (config.pin, config.tick.max(Duration::from_millis(1)));
            let thread = std::thread::Builder::new()
                .name(format!("udp-worker-{index}"))
                .spawn(move || {
                    if pin && let Err(error) = pin_current_thread(cpu) {
                        tracing::warn!("udp worker {index}: cannot pin to CPU {cpu}: {error}");
                    }
                    match backend {
                        IoBackend::Uring => match UringReceiver::new() {
                            Ok(receiver) => {
                                let _ = ready.send(Ok(()));
                                run(receiver, &inbox, tick);
                            }
                            Err(error) => {
                                let _ = ready.send(Err(error));
                            }
                        },
                        IoBackend::Recvmmsg => {
                            let _ = ready.send(Ok(()));
                            run(MmsgReceiver::new(), &inbox, tick);
                        }
                    }
                })?;
            pool.workers.push(Worker {
                commands,
                thread: Some(thread),
            });
            match started.recv() {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(error),
                Err(_) => return Err(io::Error::other("a udp worker stopped while starting")),
            }
        }
        tracing::info!(
            "udp receive: {count} worker(s) on {backend}{}",
            if config.pin { ", pinned" } else { "" }
        );
        Ok(pool)
    }

    pub fn backend(&self) -> IoBackend {
        self.backend
    }

    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Hands one socket of the group (bound with `workers()` sockets) to each worker, with the
    /// sink `sink_for_worker(index)` builds for it.
    pub fn attach(
        &self,
        group: BoundGroup,
        mut sink_for_worker: impl FnMut(usize) -> Box<dyn DatagramSink>,
    ) -> io::Result<SocketId> {
        if group.sockets.len() != self.workers.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} sockets for {} udp workers: bind one per worker",
                    group.sockets.len(),
                    self.workers.len()
                ),
            ));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        for (index, (socket, worker)) in group.sockets.into_iter().zip(&self.workers).enumerate() {
            let sink = sink_for_worker(index);
            worker
                .commands
                .send(Command::Attach { id, socket, sink })
                .map_err(|_| io::Error::other("udp worker stopped"))?;
        }
        Ok(id)
    }

    /// Asks every worker to close its socket of `id`; wait on the result until each sink
    /// has been closed (and so has handed over what it held).
    pub fn detach(&self, id: SocketId) -> Detaching {
        let waiting = self
            .workers
            .iter()
            .filter_map(|worker| {
                let (done, finished) = crossbeam_channel::bounded(1);
                worker
                    .commands
                    .send(Command::Detach { id, done })
                    .ok()
                    .map(|()| finished)
            })
            .collect();
        Detaching { waiting }
    }
}

/// A detach in progress.
#[must_use = "wait() until the sinks are closed"]
pub struct Detaching {
    waiting: Vec<Receiver<()>>,
}

impl Detaching {
    /// Blocks until every worker closed its socket (a worker that is gone counts as done).
    pub fn wait(self) {
        for finished in self.waiting {
            let _ = finished.recv();
        }
    }
}

impl Drop for ReceivePool {
    fn drop(&mut self) {
        for worker in &self.workers {
            let _ = worker.commands.send(Command::Stop);
        }
        for worker in &mut self.workers {
            if let Some(thread) = worker.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

fn run(mut receiver: impl Receive, inbox: &Receiver<Command>, tick: Duration) {
    let mut next_tick = Instant::now() + tick;
    let mut stopping = false;
    loop {
        loop {
            match inbox.try_recv() {
                Ok(Command::Attach { id, socket, sink }) => receiver.attach(id, socket, sink),
                Ok(Command::Detach { id, done }) => receiver.detach(id, done),
                Ok(Command::Stop) | Err(TryRecvError::Disconnected) => {
                    if !stopping {
                        stopping = true;
                        for id in receiver.attached() {
                            let (done, _) = crossbeam_channel::bounded(1);
                            receiver.detach(id, done);
                        }
                    }
                    break;
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        if stopping && receiver.is_empty() {
            return;
        }
        let wait = next_tick.saturating_duration_since(Instant::now());
        receiver.receive(wait);
        let now = Instant::now();
        if now >= next_tick {
            receiver.tick(now);
            next_tick = now + tick;
        }
    }
}

/// Wall-clock microseconds since the Unix epoch, read once per receive batch.
pub(crate) fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_micros() as i64)
}
