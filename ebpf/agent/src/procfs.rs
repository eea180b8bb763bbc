//! What the kernel records lack and /proc and /etc/passwd tell: a process's command line,
//! its user's name, its container. Read once at exec (the process may be gone by the time a
//! connection closes) and kept while the process lives, within a bound.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Processes remembered at once; beyond it the oldest entries are forgotten.
const MAX_PROCESSES: usize = 65_536;
/// Longest command line kept (bytes); longer ones end in `…`.
pub const MAX_CMDLINE: usize = 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessInfo {
    pub cmdline: Option<String>,
    pub container_id: Option<String>,
    pub exe: Option<String>,
    /// Boot-clock nanoseconds of the exec the agent saw.
    pub started_ns: Option<u64>,
}

pub struct ProcessTable {
    proc_root: PathBuf,
    processes: HashMap<u32, ProcessInfo>,
    users: HashMap<u32, String>,
    /// When /etc/passwd was last read: an unknown uid reads it again at most this often.
    users_read: Option<Instant>,
    passwd: PathBuf,
}

const PASSWD_REREAD: Duration = Duration::from_secs(60);

impl ProcessTable {
    pub fn new() -> ProcessTable {
        ProcessTable::at("/proc".into(), "/etc/passwd".into())
    }

    pub fn at(proc_root: PathBuf, passwd: PathBuf) -> ProcessTable {
        ProcessTable {
            proc_root,
            processes: HashMap::new(),
            users: HashMap::new(),
            users_read: None,
            passwd,
        }
    }

    /// Reads what /proc has on `pid` now (at its exec) and remembers it.
    pub fn exec(&mut self, pid: u32, filename: &str, time_ns: u64) -> ProcessInfo {
        if self.processes.len() >= MAX_PROCESSES {
            self.processes.clear();
        }
        let mut info = self.read(pid);
        if !filename.is_empty() {
            info.exe = Some(filename.to_owned());
        }
        info.started_ns = Some(time_ns);
        self.processes.insert(pid, info.clone());
        info
    }

    /// What is known of `pid`: remembered from its exec, else read from /proc now (a process
    /// started before the agent).
    pub fn lookup(&mut self, pid: u32) -> ProcessInfo {
        if pid == 0 {
            return ProcessInfo::default();
        }
        if let Some(info) = self.processes.get(&pid) {
            return info.clone();
        }
        let info = self.read(pid);
        if info.cmdline.is_some() {
            if self.processes.len() >= MAX_PROCESSES {
                self.processes.clear();
            }
            self.processes.insert(pid, info.clone());
        }
        info
    }

    /// Forgets `pid` at its exit, handing back what was known.
    pub fn exit(&mut self, pid: u32) -> ProcessInfo {
        self.processes
            .remove(&pid)
            .unwrap_or_else(|| self.read(pid))
    }

    pub fn user_name(&mut self, uid: u32) -> Option<String> {
        let stale = self
            .users_read
            .is_none_or(|read| read.elapsed() >= PASSWD_REREAD);
        if stale && !self.users.contains_key(&uid) {
            self.load_users();
        }
        self.users.get(&uid).cloned()
    }

    fn load_users(&mut self) {
        self.users_read = Some(Instant::now());
        let Ok(text) = std::fs::read_to_string(&self.passwd) else {
            return;
        };
        self.users = text
            .lines()
            .filter_map(|line| {
                let mut fields = line.split(':');
                let name = fields.next()?;
                let uid = fields.nth(1)?.parse().ok()?;
                Some((uid, name.to_owned()))
            })
            .collect();
    }

    fn read(&self, pid: u32) -> ProcessInfo {
        let dir = self.proc_root.join(pid.to_string());
        let cmdline = std::fs::read(dir.join("cmdline"))
            .ok()
            .filter(|bytes| !bytes.is_empty())
            .map(|bytes| command_line(&bytes));
        let container_id = std::fs::read_to_string(dir.join("cgroup"))
            .ok()
            .and_then(|text| container_id(&text));
        ProcessInfo {
            cmdline,
            container_id,
            exe: None,
            started_ns: None,
        }
    }
}

impl Default for ProcessTable {
    fn default() -> Self {
        ProcessTable::new()
    }
}

/// /proc/PID/cmdline (arguments separated by NUL) as one line, arguments separated by spaces.
pub fn command_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let joined = text.trim_end_matches('\0').replace('\0', " ");
    if joined.len() <= MAX_CMDLINE {
        return joined;
    }
    let mut end = MAX_CMDLINE;
    while !joined.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &joined[..end])
}

/// The container a process runs in, from its /proc/PID/cgroup: the 64-hex-digit id that
/// Docker, containerd, CRI-O and Podman put in the cgroup path (`docker-<id>.scope`,
/// `/docker/<id>`, `cri-containerd-<id>.scope`, `crio-<id>.scope`, `libpod-<id>.scope`).
pub fn container_id(cgroup: &str) -> Option<String> {
    cgroup.lines().find_map(|line| {
        let path = line.rsplit(':').next()?;
        path.split(['/', '-', '.']).find_map(|part| {
            (part.len() == 64 && part.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| part.to_ascii_lowercase())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4c01db0b339c2d5e3b1e93f1e8e4f8a7b5f4f0d4e2c7a1b3c5d6e7f8091a2b3c";

    #[test]
    fn container_ids_are_found_in_every_runtime_layout() {
        for cgroup in [
            format!("0::/system.slice/docker-{ID}.scope"),
            format!("12:memory:/docker/{ID}"),
            format!("0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-{ID}.scope"),
            format!("0::/machine.slice/libpod-{ID}.scope/container"),
        ] {
            assert_eq!(container_id(&cgroup).as_deref(), Some(ID), "{cgroup}");
        }
        assert_eq!(
            container_id("0::/user.slice/user-0.slice/session-3.scope"),
            None
        );
    }

    #[test]
    fn command_lines_join_arguments_and_stay_bounded() {
        assert_eq!(command_line(b"curl\0-s\0http://x/\0"), "curl -s http://x/");
        let long = vec![b'a'; 5000];
        let line = command_line(&long);
        assert!(line.ends_with('…'));
        assert_eq!(line.len(), MAX_CMDLINE + '…'.len_utf8());
    }

    #[test]
    fn processes_are_read_from_proc_and_users_from_passwd() {
        let dir = std::env::temp_dir().join(format!("bf-procfs-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("proc/77")).unwrap();
        std::fs::write(dir.join("proc/77/cmdline"), b"nginx\0-g\0daemon off;\0").unwrap();
        std::fs::write(dir.join("proc/77/cgroup"), format!("0::/docker/{ID}\n")).unwrap();
        std::fs::write(
            dir.join("passwd"),
            "root:x:0:0::/root:/bin/sh\nwww:x:33:33::/:/bin/false\n",
        )
        .unwrap();
        let mut table = ProcessTable::at(dir.join("proc"), dir.join("passwd"));
        let info = table.exec(77, "/usr/sbin/nginx", 5);
        assert_eq!(info.cmdline.as_deref(), Some("nginx -g daemon off;"));
        assert_eq!(info.container_id.as_deref(), Some(ID));
        std::fs::remove_dir_all(dir.join("proc")).unwrap();
        assert_eq!(table.lookup(77).exe.as_deref(), Some("/usr/sbin/nginx"));
        assert_eq!(table.exit(77).started_ns, Some(5));
        assert_eq!(table.lookup(77), ProcessInfo::default());
        assert_eq!(table.user_name(33).as_deref(), Some("www"));
        assert_eq!(table.user_name(4000), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
