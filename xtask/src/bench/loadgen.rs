//! The load generator: one thread pinned to core 1 sending pre-built datagrams with
//! `sendmmsg`, either paced to a rate (batches released on a schedule) or as fast as it can,
//! for a duration or a datagram count. It rewrites each export's sequence number on the way.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::sys;
use super::traffic::{Sequence, Traffic};

/// The core the sender runs on; collectors get the other one.
pub const SENDER_CORE: usize = 1;
const BATCH: usize = 64;

#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// Datagrams per second.
    Rate(f64),
    Unlimited,
}

#[derive(Debug, Clone, Copy)]
pub enum Until {
    Elapsed(Duration),
    Datagrams(u64),
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Sent {
    pub datagrams: u64,
    pub events: u64,
    pub elapsed: Duration,
}

impl Sent {
    pub fn datagrams_per_second(&self) -> f64 {
        self.datagrams as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Sends to one port; keeps the export sequence across calls so collectors see no gaps.
pub struct LoadGenerator {
    traffic: Arc<Traffic>,
    destination: SocketAddrV4,
    position: usize,
    sequence: u32,
}

impl LoadGenerator {
    pub fn new(traffic: Arc<Traffic>, port: u16) -> LoadGenerator {
        LoadGenerator {
            traffic,
            destination: SocketAddrV4::new(Ipv4Addr::LOCALHOST, port),
            position: 0,
            sequence: 1,
        }
    }

    pub fn traffic(&self) -> &Traffic {
        &self.traffic
    }

    /// Sends the setup datagrams (templates) twice, 50 ms apart, so a collector has them
    /// before data; returns the events they carried.
    pub fn send_setup(&mut self) -> Result<Sent> {
        let sender = sys::Sender::new(self.destination)?;
        let mut sent = Sent::default();
        let started = Instant::now();
        for _ in 0..2 {
            for datagram in &self.traffic.setup {
                if sender.send_batch(&[datagram.as_slice()]) == 1 {
                    sent.datagrams += 1;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Only the records of setup datagrams that went out count.
        let per_round = self.traffic.setup.len().max(1) as u64;
        sent.events = self.traffic.setup_events * sent.datagrams / per_round;
        sent.elapsed = started.elapsed();
        Ok(sent)
    }

    /// Runs one sending phase on a thread pinned to the sender core, and waits for it.
    pub fn send(&mut self, pace: Pace, until: Until) -> Result<Sent> {
        let phase = self.start(pace, until);
        self.wait(phase)
    }

    /// Starts a sending phase; the caller samples the collector meanwhile, then calls `wait`.
    pub fn start(&mut self, pace: Pace, until: Until) -> Phase {
        let traffic = self.traffic.clone();
        let destination = self.destination;
        let (position, sequence) = (self.position, self.sequence);
        Phase(std::thread::spawn(move || -> Result<(Sent, usize, u32)> {
            sys::pin_current_thread(SENDER_CORE)?;
            let sender = sys::Sender::new(destination)?;
            Ok(run(&traffic, &sender, pace, until, position, sequence))
        }))
    }

    pub fn wait(&mut self, phase: Phase) -> Result<Sent> {
        let (sent, position, sequence) = phase
            .0
            .join()
            .map_err(|_| anyhow::anyhow!("the load generator thread panicked"))?
            .context("load generator")?;
        self.position = position;
        self.sequence = sequence;
        Ok(sent)
    }
}

/// A sending phase in progress.
pub struct Phase(std::thread::JoinHandle<Result<(Sent, usize, u32)>>);

impl Phase {
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

fn run(
    traffic: &Traffic,
    sender: &sys::Sender,
    pace: Pace,
    until: Until,
    mut position: usize,
    mut sequence: u32,
) -> (Sent, usize, u32) {
    // The sender's own copy, so sequence numbers can be written in place.
    let mut pool: Vec<Vec<u8>> = traffic.stream.clone();
    let started = Instant::now();
    let mut sent = Sent::default();
    loop {
        let elapsed = started.elapsed();
        let mut want = BATCH as u64;
        match until {
            Until::Elapsed(limit) if elapsed >= limit => break,
            Until::Datagrams(limit) if sent.datagrams >= limit => break,
            Until::Datagrams(limit) => want = want.min(limit - sent.datagrams),
            Until::Elapsed(_) => {}
        }
        if let Pace::Rate(rate) = pace {
            let due = (rate * elapsed.as_secs_f64()) as u64;
            if due <= sent.datagrams {
                let next = Duration::from_secs_f64((sent.datagrams + 1) as f64 / rate);
                sys::pause(next.saturating_sub(elapsed));
                continue;
            }
            want = want.min(due - sent.datagrams);
        }
        let count = (want as usize).min(pool.len() - position);
        for datagram in &mut pool[position..position + count] {
            match traffic.sequence {
                Sequence::None => {}
                Sequence::PerDatagram { offset } => {
                    datagram[offset..offset + 4].copy_from_slice(&sequence.to_be_bytes());
                    sequence = sequence.wrapping_add(1);
                }
                Sequence::PerRecord { offset } => {
                    datagram[offset..offset + 4].copy_from_slice(&sequence.to_be_bytes());
                    sequence = sequence.wrapping_add(traffic.events_per_datagram as u32);
                }
            }
        }
        let batch: Vec<&[u8]> = pool[position..position + count]
            .iter()
            .map(Vec::as_slice)
            .collect();
        let accepted = sender.send_batch(&batch);
        if accepted < count {
            // Roll back the sequence of datagrams that did not leave.
            let unsent = (count - accepted) as u32;
            sequence = match traffic.sequence {
                Sequence::None => sequence,
                Sequence::PerDatagram { .. } => sequence.wrapping_sub(unsent),
                Sequence::PerRecord { .. } => {
                    sequence.wrapping_sub(unsent * traffic.events_per_datagram as u32)
                }
            };
        }
        sent.datagrams += accepted as u64;
        position = (position + accepted) % pool.len();
    }
    sent.elapsed = started.elapsed();
    sent.events = sent.datagrams * traffic.events_per_datagram;
    (sent, position, sequence)
}
