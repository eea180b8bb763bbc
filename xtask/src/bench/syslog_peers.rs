//! The syslog peers, each receiving UDP on one port with the same large receive buffer as ours
//! and writing every message as one line to a file: rsyslog (imudp, which reads batches with
//! recvmmsg, into omfile) tuned for throughput as its documentation recommends and on its
//! default queue and file format, and syslog-ng (a `syslog()` UDP source into `file()`).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use super::collector::{COLLECTOR_CORE, Collector, Daemon, LineCounter, version_of};
use super::packages::SyslogNg;

/// How rsyslog is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsyslogSetup {
    /// imudp batches, a FixedArray main queue dequeued in large batches, the raw message
    /// template and omfile's asynchronous double-buffered writing: the throughput settings of
    /// rsyslog's own documentation (imudp, queues, omfile).
    Tuned,
    /// The main queue and `RSYSLOG_FileFormat` as shipped.
    Default,
}

pub struct LineWriter {
    name: &'static str,
    config: String,
    version: String,
    port: u16,
    daemon: Daemon,
    lines: LineCounter,
}

impl LineWriter {
    pub fn rsyslog(
        binary: &Path,
        dir: &Path,
        port: u16,
        receive_buffer: usize,
        setup: RsyslogSetup,
    ) -> Result<LineWriter> {
        let output = dir.join("messages.log");
        let config = dir.join("rsyslog.conf");
        let global = format!(
            "global(workDirectory=\"{dir}\" maxMessageSize=\"8k\")\n\
             module(load=\"imudp\" batchSize=\"128\")\n\
             input(type=\"imudp\" address=\"127.0.0.1\" port=\"{port}\" rcvbufSize=\"{receive_buffer}\")\n",
            dir = dir.display(),
        );
        let output_path = output.display();
        let text = match setup {
            RsyslogSetup::Tuned => format!(
                "{global}\
                 main_queue(queue.type=\"FixedArray\" queue.size=\"262144\" queue.dequeueBatchSize=\"1024\")\n\
                 template(name=\"raw\" type=\"string\" string=\"%rawmsg%\\n\")\n\
                 *.* action(type=\"omfile\" file=\"{output_path}\" template=\"raw\" \
                 asyncWriting=\"on\" flushOnTXEnd=\"off\" ioBufferSize=\"256k\" flushInterval=\"1\")\n"
            ),
            RsyslogSetup::Default => format!(
                "{global}\
                 *.* action(type=\"omfile\" file=\"{output_path}\" template=\"RSYSLOG_FileFormat\")\n"
            ),
        };
        write(&config, &text)?;
        let args = vec![
            "-n".into(),
            "-f".into(),
            config.display().to_string(),
            "-i".into(),
            dir.join("rsyslogd.pid").display().to_string(),
        ];
        let mut daemon = Daemon::start(
            "rsyslogd",
            COLLECTOR_CORE,
            binary,
            &args,
            &[],
            dir.join("rsyslogd.log"),
        )?;
        daemon.wait_for_port(port, Duration::from_secs(15))?;
        Ok(LineWriter {
            name: match setup {
                RsyslogSetup::Tuned => "rsyslog",
                RsyslogSetup::Default => "rsyslog-default",
            },
            config: format!("rsyslog.conf:\n{text}"),
            version: version_of(binary, &["-v"], &[]),
            port,
            daemon,
            lines: LineCounter::new(output),
        })
    }

    pub fn syslog_ng(
        syslog_ng: &SyslogNg,
        dir: &Path,
        port: u16,
        receive_buffer: usize,
    ) -> Result<LineWriter> {
        let output = dir.join("messages.log");
        let config = dir.join("syslog-ng.conf");
        let text = format!(
            "@version: 3.38\n\
                 options {{ stats_freq(0); use-dns(no); dns-cache(no); keep-hostname(yes); \
                 chain-hostnames(no); log-fifo-size(100000); }};\n\
                 source s_udp {{ syslog(transport(\"udp\") ip(\"127.0.0.1\") port({port}) \
                 so-rcvbuf({receive_buffer})); }};\n\
                 destination d_file {{ file(\"{output}\"); }};\n\
                 log {{ source(s_udp); destination(d_file); }};\n",
            output = output.display()
        );
        write(&config, &text)?;
        let args = vec![
            "-F".into(),
            "--no-caps".into(),
            "-f".into(),
            config.display().to_string(),
            "-R".into(),
            dir.join("syslog-ng.persist").display().to_string(),
            "-p".into(),
            dir.join("syslog-ng.pid").display().to_string(),
            "-c".into(),
            dir.join("syslog-ng.ctl").display().to_string(),
            format!("--module-path={}", syslog_ng.module_path.display()),
        ];
        let mut daemon = Daemon::start(
            "syslog-ng",
            COLLECTOR_CORE,
            &syslog_ng.binary,
            &args,
            &syslog_ng.environment,
            dir.join("syslog-ng.log"),
        )?;
        daemon.wait_for_port(port, Duration::from_secs(15))?;
        Ok(LineWriter {
            name: "syslog-ng",
            config: format!("syslog-ng.conf:\n{text}"),
            version: version_of(&syslog_ng.binary, &["--version"], &syslog_ng.environment),
            port,
            daemon,
            lines: LineCounter::new(output),
        })
    }
}

impl Collector for LineWriter {
    fn name(&self) -> &str {
        self.name
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
        Some(self.lines.count())
    }

    fn finish(&mut self) -> Result<Option<u64>> {
        self.daemon.stop(Duration::from_secs(10));
        Ok(Some(self.lines.count()))
    }
}

pub fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
