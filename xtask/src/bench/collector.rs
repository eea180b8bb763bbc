//! One shape for every collector under test, ours and the peers: a process tree pinned to core
//! 0 listening on one UDP port, with an optional live count of what it has written out.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{procfs, sys};

/// The core collectors run on (the load generator has the other).
pub const COLLECTOR_CORE: &str = "0";

pub trait Collector {
    fn name(&self) -> &str;
    fn version(&self) -> String;
    /// How it was configured (config file or command line), printed beside the results.
    fn config(&self) -> String;
    fn port(&self) -> u16;
    /// The process that reads the socket; stopped and continued in drain mode.
    fn pid(&self) -> u32;
    /// Processes whose CPU and memory count (the collector's tree, not ours' receiver).
    fn measured_pids(&self) -> Vec<u32> {
        procfs::process_tree(self.pid())
    }
    /// Datagrams taken off the socket, when the collector counts them (ours does).
    fn datagrams_received(&mut self) -> Option<u64> {
        None
    }
    /// Events written to the collector's output so far, when visible while it runs.
    fn events_written(&mut self) -> Option<u64>;
    /// Stops the collector (letting it flush) and counts every event it wrote.
    fn finish(&mut self) -> Result<Option<u64>>;
}

/// A child process started through `taskset`, its output in a log file, stopped on drop.
pub struct Daemon {
    pub name: String,
    child: Child,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `program args` pinned to `core` (a `taskset -c` list).
    pub fn start(
        name: &str,
        core: &str,
        program: &Path,
        args: &[String],
        environment: &[(&str, String)],
        log: PathBuf,
    ) -> Result<Daemon> {
        let output = File::create(&log)
            .with_context(|| format!("cannot create the log {}", log.display()))?;
        let errors = output.try_clone()?;
        let child = Command::new("taskset")
            .args(["-c", core])
            .arg(program)
            .args(args)
            .envs(environment.iter().map(|(k, v)| (*k, v)))
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors)
            .spawn()
            .with_context(|| format!("cannot start {name} ({}) with taskset", program.display()))?;
        Ok(Daemon {
            name: name.to_owned(),
            child,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails with the end of the log when the process has exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Ok(Some(status)) = self.child.try_wait() {
            bail!(
                "{} exited ({status}); last lines of {}:\n{}",
                self.name,
                self.log.display(),
                tail(&self.log, 15)
            );
        }
        Ok(())
    }

    /// Waits until the process listens on the UDP port.
    pub fn wait_for_port(&mut self, port: u16, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while procfs::udp_port(port).sockets == 0 {
            self.check_running()?;
            if Instant::now() > deadline {
                bail!(
                    "{} did not open udp port {port} within {}s; last lines of {}:\n{}",
                    self.name,
                    timeout.as_secs(),
                    self.log.display(),
                    tail(&self.log, 15)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// SIGTERM, then SIGKILL to the process and its children after `grace` (pmacct's core
    /// ignores SIGTERM while its plugins run).
    pub fn stop(&mut self, grace: Duration) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let tree = procfs::process_tree(self.pid());
        for pid in &tree {
            // A stopped process cannot act on SIGTERM.
            let _ = sys::signal(*pid, sys::Signal::Continue);
        }
        let _ = sys::signal(self.pid(), sys::Signal::Terminate);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for pid in tree.iter().filter(|pid| **pid != self.pid()) {
            if procfs::is_alive(*pid) {
                let _ = sys::signal(*pid, sys::Signal::Kill);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Counts lines appended to a file, reading only what is new.
pub struct LineCounter {
    path: PathBuf,
    offset: u64,
    lines: u64,
}

impl LineCounter {
    pub fn new(path: PathBuf) -> LineCounter {
        LineCounter {
            path,
            offset: 0,
            lines: 0,
        }
    }

    pub fn count(&mut self) -> u64 {
        let Ok(mut file) = File::open(&self.path) else {
            return self.lines;
        };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return self.lines;
        }
        let mut buffer = vec![0u8; 1 << 20];
        while let Ok(read) = file.read(&mut buffer) {
            if read == 0 {
                break;
            }
            self.offset += read as u64;
            self.lines += buffer[..read].iter().filter(|b| **b == b'\n').count() as u64;
        }
        self.lines
    }
}

/// First line of `program --version`-style output, for the report.
pub fn version_of(program: &Path, args: &[&str], environment: &[(&str, String)]) -> String {
    let Ok(output) = Command::new(program)
        .args(args)
        .envs(environment.iter().map(|(k, v)| (*k, v)))
        .output()
    else {
        return "unknown".into();
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("unknown")
        .split(" compiled with")
        .next()
        .unwrap_or("unknown")
        .trim()
        .chars()
        .take(60)
        .collect()
}

/// A fresh working folder for one collector run.
pub fn work_dir(base: &Path, name: &str) -> Result<PathBuf> {
    let dir = base.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Removes what a finished run wrote (spools, buckets, peers' output folders: tens of GB over a
/// run), keeping its configuration and logs at the top of the folder.
pub fn discard_run_data(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else if path
            .extension()
            .is_some_and(|e| e == "log" || e == "toml" || e == "conf")
        {
            Ok(())
        } else {
            std::fs::remove_file(&path)
        };
        if let Err(error) = removed {
            eprintln!("xtask: cannot remove {}: {error}", path.display());
        }
    }
}
