//! The flow peers: nfcapd (nfdump's collector, writing binary flow files counted afterwards
//! with `nfdump -I`; uncompressed, or LZ4 with `-y`, nfdump 1.7.1's spelling of `-z=lz4`) and
//! nfacctd (pmacct, a print plugin writing CSV every second; every
//! generated flow has one packet, so the packet column sums to the flow count). Both get the
//! same large receive buffer as ours.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use super::collector::{COLLECTOR_CORE, Collector, Daemon, version_of};
use super::syslog_peers::write;

pub enum Kind {
    Nfcapd { nfdump: PathBuf, lz4: bool },
    Nfacctd,
}

pub struct FlowPeer {
    kind: Kind,
    config: String,
    version: String,
    port: u16,
    daemon: Daemon,
    output: PathBuf,
}

impl FlowPeer {
    pub fn nfcapd(
        binary: &Path,
        nfdump: &Path,
        dir: &Path,
        port: u16,
        receive_buffer: usize,
        lz4: bool,
    ) -> Result<FlowPeer> {
        let output = dir.join("flows");
        std::fs::create_dir_all(&output)?;
        let mut args: Vec<String> = vec![
            "-b".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
            "-w".into(),
            output.display().to_string(),
            "-B".into(),
            receive_buffer.to_string(),
            "-t".into(),
            "60".into(),
            "-P".into(),
            dir.join("nfcapd.pid").display().to_string(),
        ];
        if lz4 {
            args.push("-y".into());
        }
        let mut daemon = Daemon::start(
            "nfcapd",
            COLLECTOR_CORE,
            binary,
            &args,
            &[],
            dir.join("nfcapd.log"),
        )?;
        daemon.wait_for_port(port, Duration::from_secs(15))?;
        Ok(FlowPeer {
            kind: Kind::Nfcapd {
                nfdump: nfdump.to_owned(),
                lz4,
            },
            config: format!("nfcapd {}", args.join(" ")),
            version: version_of(binary, &["-V"], &[]),
            port,
            daemon,
            output,
        })
    }

    pub fn nfacctd(
        binary: &Path,
        dir: &Path,
        port: u16,
        receive_buffer: usize,
    ) -> Result<FlowPeer> {
        let output = dir.join("flows");
        std::fs::create_dir_all(&output)?;
        let config = dir.join("nfacctd.conf");
        let text = format!(
            "daemonize: false\n\
                 nfacctd_ip: 127.0.0.1\n\
                 nfacctd_port: {port}\n\
                 nfacctd_pipe_size: {receive_buffer}\n\
                 plugins: print[flows]\n\
                 plugin_pipe_size[flows]: 268435456\n\
                 plugin_buffer_size[flows]: 102400\n\
                 aggregate[flows]: src_host, dst_host, src_port, dst_port, proto\n\
                 print_output[flows]: csv\n\
                 print_output_file[flows]: {output}/flows-%Y%m%d-%H%M%S.csv\n\
                 print_output_file_append[flows]: true\n\
                 print_refresh_time[flows]: 1\n\
                 print_cache_entries[flows]: 65537\n",
            output = output.display()
        );
        write(&config, &text)?;
        let args = vec!["-f".into(), config.display().to_string()];
        let mut daemon = Daemon::start(
            "nfacctd",
            COLLECTOR_CORE,
            binary,
            &args,
            &[],
            dir.join("nfacctd.log"),
        )?;
        daemon.wait_for_port(port, Duration::from_secs(15))?;
        Ok(FlowPeer {
            kind: Kind::Nfacctd,
            config: format!("nfacctd.conf:\n{text}"),
            version: version_of(binary, &["-V"], &[]),
            port,
            daemon,
            output,
        })
    }

    fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.output)
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
    }
}

impl Collector for FlowPeer {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Nfcapd { lz4: false, .. } => "nfcapd",
            Kind::Nfcapd { lz4: true, .. } => "nfcapd-lz4",
            Kind::Nfacctd => "nfacctd",
        }
    }

    fn version(&self) -> String {
        self.version.clone()
    }

    fn config(&self) -> String {
        self.config.clone()
    }

    fn port(&self) -> u16 {
        self.port
    }

    fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    fn events_written(&mut self) -> Option<u64> {
        // nfcapd writes on rotation and nfacctd every second: neither is live enough.
        None
    }

    fn finish(&mut self) -> Result<Option<u64>> {
        // nfacctd prints every second: let the last interval out, then stop it (it needs
        // SIGKILL); nfcapd writes its last file when it stops.
        std::thread::sleep(Duration::from_millis(2500));
        self.daemon.stop(Duration::from_secs(5));
        let mut total = 0;
        match &self.kind {
            Kind::Nfcapd { nfdump, .. } => {
                for file in self.files() {
                    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    if !name.starts_with("nfcapd.") || name.contains("current") {
                        continue;
                    }
                    let output = Command::new(nfdump)
                        .arg("-r")
                        .arg(&file)
                        .arg("-I")
                        .output()
                        .with_context(|| format!("cannot run {}", nfdump.display()))?;
                    let text = String::from_utf8_lossy(&output.stdout);
                    total += text
                        .lines()
                        .find_map(|l| l.strip_prefix("Flows:")?.trim().parse::<u64>().ok())
                        .with_context(|| {
                            format!("`nfdump -r {} -I` printed no flow count", file.display())
                        })?;
                }
            }
            Kind::Nfacctd => {
                for file in self.files() {
                    let text = std::fs::read_to_string(&file)
                        .with_context(|| format!("cannot read {}", file.display()))?;
                    total += sum_packets(&text);
                }
            }
        }
        Ok(Some(total))
    }
}

/// Sums the PACKETS column of pmacct CSV output (the header may repeat when appending).
fn sum_packets(csv: &str) -> u64 {
    let mut column = None;
    let mut total = 0;
    for line in csv.lines() {
        let fields: Vec<&str> = line.split(',').collect();
        if let Some(index) = fields.iter().position(|f| *f == "PACKETS") {
            column = Some(index);
            continue;
        }
        if let Some(value) = column.and_then(|c| fields.get(c)?.trim().parse::<u64>().ok()) {
            total += value;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_the_packet_column_across_repeated_headers() {
        let csv = "SRC_IP,DST_IP,PACKETS,BYTES\n10.0.0.1,10.0.0.2,1,100\n\
                   SRC_IP,DST_IP,PACKETS,BYTES\n10.0.0.3,10.0.0.2,2,80\n";
        assert_eq!(sum_packets(csv), 3);
    }
}
