use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "bytefreezer",
    version,
    about = "Edge telemetry collector: syslog and flows in, partitioned Parquet out"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the whole pipeline in one process on embedded defaults (SQLite, local folder).
    Up(UpArgs),
    /// Receive from exporters, decode to Arrow, spool and ship batches to a receiver.
    Proxy(ProxyArgs),
    /// Accept batches over HTTP(S) and write them to the intake bucket.
    Receiver(RoleArgs),
    /// Apply each dataset's transformations: intake bucket to piper bucket.
    Piper(RoleArgs),
    /// Accumulate piper objects into partitioned Parquet files in the packer bucket.
    Packer(RoleArgs),
    /// Run SQL over datasets' Parquet (DataFusion) for the dashboard's Query page and scripts.
    Query(RoleArgs),
    /// Run the control plane: datasets, API keys, status page.
    Control(ControlArgs),
    /// Send generated firewall-style events to a syslog input.
    Fakedata(FakedataArgs),
    /// Watch this host with eBPF (TCP connections, UDP and ICMP flows, processes, DNS) and
    /// send the records to a proxy's `ebpf` input. Needs root, or CAP_BPF, CAP_PERFMON and
    /// CAP_NET_RAW.
    Agent(AgentArgs),
    /// Print an intake or piper object (Arrow IPC) or a Parquet file as NDJSON.
    Cat(CatArgs),
    /// Decode the UDP payloads of a pcap or pcapng capture into Parquet files, offline.
    Replay(ReplayArgs),
    /// Work with transformation pipelines.
    #[command(subcommand)]
    Transform(TransformCommand),
    /// Drive a control plane's REST API from scripts: tenants, datasets, dead letters, API
    /// keys, audit.
    Ctl(CtlArgs),
    /// List or replay, straight in the buckets, what piper or packer moved to a dataset's
    /// dead-letter prefix (`ctl dead-letters` does it through the control plane).
    DeadLetter(DeadLetterArgs),
    /// Check this host for what a role needs (io_uring, socket buffers, ports, spool disk,
    /// storage, control plane, clock) and say how to fix each miss; exit status 1 on a failure.
    Doctor(DoctorArgs),
    /// Print shell completions for bash, zsh or fish.
    #[command(hide = true)]
    Completions {
        #[arg(value_parser = ["bash", "zsh", "fish"])]
        shell: String,
    },
    /// Write a man page per command into a folder.
    #[command(hide = true)]
    Manpages {
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the version.
    Version,
}

#[derive(Args)]
pub struct DoctorArgs {
    /// A role's configuration file (proxy.toml, receiver.toml, ...); none: `bytefreezer up`'s
    /// defaults in the current folder.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The findings as JSON, for automation.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ReplayArgs {
    /// A pcap or pcapng capture.
    #[arg(long)]
    pub pcap: PathBuf,
    /// How to decode the datagrams: netflow (v5/v9/IPFIX), ipfix, sflow or syslog.
    #[arg(long, value_parser = ["netflow", "ipfix", "sflow", "syslog"])]
    pub plugin: String,
    /// Folder for the Parquet files, partitioned `year=/month=/day=/hour=` like the packer's.
    #[arg(long)]
    pub out: PathBuf,
    /// Only datagrams sent to this UDP port (default: every UDP datagram in the capture).
    #[arg(long)]
    pub port: Option<u16>,
}

#[derive(Subcommand)]
pub enum TransformCommand {
    /// Run a pipeline over sample events and print the output and what each filter did.
    Test(TransformTestArgs),
}

#[derive(Args)]
pub struct TransformTestArgs {
    /// The pipeline, `{"filters": [...]}`.
    #[arg(long)]
    pub pipeline: PathBuf,
    /// Sample events, one JSON object per line.
    #[arg(long)]
    pub input: PathBuf,
    #[command(flatten)]
    pub geoip: GeoIpArgs,
}

/// MaxMind databases for `geoip` filters.
#[derive(Args, Clone, Default)]
pub struct GeoIpArgs {
    /// A GeoIP2/GeoLite2 City database; `geoip` filters are refused without one.
    #[arg(long, env = "BYTEFREEZER_GEOIP_CITY_DB")]
    pub geoip_city_db: Option<PathBuf>,
    /// A GeoLite2/GeoIP2 ASN database, adding `<field>_geo_asn` and `<field>_geo_as_org`.
    #[arg(long, env = "BYTEFREEZER_GEOIP_ASN_DB")]
    pub geoip_asn_db: Option<PathBuf>,
}

impl GeoIpArgs {
    pub fn settings(&self) -> bytefreezer_transform::GeoIpSettings {
        bytefreezer_transform::GeoIpSettings {
            city_database: self.geoip_city_db.clone(),
            asn_database: self.geoip_asn_db.clone(),
        }
    }

    pub fn open(&self) -> Result<bytefreezer_transform::GeoIp, bytefreezer_transform::GeoIpError> {
        self.settings().open()
    }
}

#[derive(Args)]
pub struct UpArgs {
    /// Folder for the control store, the spool and the buckets.
    #[arg(long, default_value = "bytefreezer-data")]
    pub data_dir: PathBuf,
    /// Address of the dashboard, the ingest API and /healthz, /readyz, /metrics.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub http: SocketAddr,
    /// UDP address of the demo syslog dataset.
    #[arg(long, default_value = "0.0.0.0:5514")]
    pub syslog_bind: SocketAddr,
    /// TCP address of the demo syslog-over-TCP dataset (RFC 6587: octet counting or newlines).
    #[arg(long, default_value = "0.0.0.0:5514")]
    pub syslog_tcp_bind: SocketAddr,
    /// UDP address of the demo NetFlow v5/v9 dataset.
    #[arg(long, default_value = "0.0.0.0:2055")]
    pub netflow_bind: SocketAddr,
    /// UDP address of the demo IPFIX dataset.
    #[arg(long, default_value = "0.0.0.0:4739")]
    pub ipfix_bind: SocketAddr,
    /// UDP address of the demo sFlow v5 dataset.
    #[arg(long, default_value = "0.0.0.0:6343")]
    pub sflow_bind: SocketAddr,
    /// TCP address of the demo http dataset (POST JSON, NDJSON or text lines to /events).
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub events_bind: SocketAddr,
    /// UDP address of the demo ebpf dataset (NDJSON datagrams from `bytefreezer agent`).
    #[arg(long, default_value = "0.0.0.0:2056")]
    pub ebpf_bind: SocketAddr,
    /// Also run the eBPF agent for this host, sending to the demo ebpf dataset (needs root, or
    /// CAP_BPF, CAP_PERFMON and CAP_NET_RAW; without them `up` runs on and says why).
    #[arg(long)]
    pub agent: bool,
    /// Do not feed the demo dataset with generated events.
    #[arg(long)]
    pub no_fakedata: bool,
    /// Events per second the built-in fakedata sends.
    #[arg(long, default_value_t = 200)]
    pub fakedata_rate: u64,
    /// UDP receive path: auto (io_uring where it works, recvmmsg otherwise), uring or recvmmsg.
    #[arg(long, default_value = "auto", value_parser = ["auto", "uring", "recvmmsg"])]
    pub io: String,
    /// A host name the dashboard also answers to when --http is a loopback address (it answers
    /// only to localhost, 127.0.0.1 and [::1] otherwise, against DNS rebinding). Repeatable.
    #[arg(long = "allowed-host", value_name = "NAME")]
    pub allowed_hosts: Vec<String>,
    #[command(flatten)]
    pub geoip: GeoIpArgs,
}

#[derive(Args)]
pub struct ProxyArgs {
    #[command(flatten)]
    pub role: RoleArgs,
    /// UDP receive path, overriding `[proxy] io`: auto, uring or recvmmsg.
    #[arg(long, value_parser = ["auto", "uring", "recvmmsg"])]
    pub io: Option<String>,
    /// Before starting, move the batches in `spool_dir/rejected` back into the spool so they
    /// are sent again (after fixing what the receiver refused them for).
    #[arg(long)]
    pub replay_rejected: bool,
}

#[derive(Args)]
pub struct RoleArgs {
    /// The role's TOML configuration; see deploy/config/ for documented examples.
    #[arg(long, short)]
    pub config: PathBuf,
}

#[derive(Args)]
pub struct ControlArgs {
    /// `sqlite://PATH` or `postgres://USER@HOST/DB`.
    #[arg(
        long,
        env = "BYTEFREEZER_DATABASE_URL",
        default_value = "sqlite://bytefreezer-data/control.db"
    )]
    pub database_url: String,
    /// Address of the status page and API.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    /// The same databases as piper's `[piper.geoip]`, so pipelines with `geoip` validate here.
    #[command(flatten)]
    pub geoip: GeoIpArgs,
    /// Create this admin user when the store has no user yet, with the password from
    /// `BYTEFREEZER_ADMIN_PASSWORD` (at least 10 characters).
    #[arg(long, env = "BYTEFREEZER_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    /// The secret (at least 32 characters) for the dashboard's short-lived query tokens; the
    /// query service's `[query] token_secret_file` names the same file. Without it the Query
    /// page cannot reach the data side.
    #[arg(long, env = "BYTEFREEZER_QUERY_TOKEN_SECRET_FILE")]
    pub query_token_secret_file: Option<PathBuf>,
    /// The query service browsers use (its `public_url`). Without it the dashboard uses a
    /// healthy query service registered by the tenant's own account.
    #[arg(long, env = "BYTEFREEZER_QUERY_URL")]
    pub query_url: Option<String>,
}

#[derive(Args)]
pub struct AgentArgs {
    /// The proxy's `ebpf` input: `udp://HOST:PORT`.
    #[arg(long, default_value = "udp://127.0.0.1:2056")]
    pub proxy: String,
    /// Serve `/metrics` and `/healthz` on this `IP:PORT`; `none` for no listener.
    #[arg(long, default_value = "127.0.0.1:9466")]
    pub metrics_listen: String,
    /// The `host` of every record; this host's name when absent.
    #[arg(long)]
    pub host: Option<String>,
    /// Seconds between reads of the kernel's UDP and ICMP flow counters.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub flow_interval_secs: u64,
    /// Largest datagram sent, in bytes (1472 fits an Ethernet MTU).
    #[arg(long, default_value_t = 1472, value_parser = clap::value_parser!(u16).range(512..))]
    pub datagram_bytes: u16,
}

#[derive(Args)]
pub struct FakedataArgs {
    /// Where to send: `udp://HOST:PORT` (a syslog input), `tcp://HOST:PORT` or
    /// `tls://HOST:PORT` (a syslog tcp or tls input: one connection, framed messages),
    /// `http://HOST:PORT/PATH` (an `http` input: events posted 500 per request, one per line),
    /// `kafka://HOST:PORT/TOPIC` (a `kafka` input) or `nats://HOST:PORT/SUBJECT` (a `nats`
    /// input, core or a JetStream stream bound to the subject): one event per message.
    #[arg(long, default_value = "udp://127.0.0.1:5514")]
    pub target: String,
    /// tcp and tls targets: `octet-counting` (`LEN SP MSG`, RFC 6587 and 5425) or `newline`.
    #[arg(long, default_value = "octet-counting", value_parser = ["octet-counting", "newline"])]
    pub framing: String,
    /// tls targets: trust the CA certificates in this PEM file instead of the system's.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// The `http` input's token, sent as `Authorization: Bearer <token>`.
    #[arg(long, env = "BYTEFREEZER_HTTP_TOKEN")]
    pub token: Option<String>,
    /// `rfc5424`, `rfc3164` or `json`.
    #[arg(long, default_value = "rfc5424")]
    pub format: String,
    /// Events per second; unlimited when absent.
    #[arg(long)]
    pub rate: Option<u64>,
    /// Stop after this many events; run until Ctrl-C when absent.
    #[arg(long)]
    pub count: Option<u64>,
    /// Seed of the generator: the same seed sends the same events.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Args)]
pub struct CatArgs {
    /// Path of an `.arrows` intake or piper object, or of a `.parquet` file.
    pub object: PathBuf,
}

#[derive(Args)]
pub struct CtlArgs {
    /// The control plane, e.g. `https://control.example.com`. Default: the address of the
    /// session saved by `ctl login`, else http://127.0.0.1:8000.
    #[arg(long, env = "BYTEFREEZER_URL", global = true)]
    pub url: Option<String>,
    /// Authenticate with this API key instead of the session saved by `ctl login`.
    #[arg(
        long,
        env = "BYTEFREEZER_API_KEY",
        hide_env_values = true,
        global = true
    )]
    pub api_key: Option<String>,
    /// Print the server's JSON instead of a table or summary.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Subcommand)]
pub enum CtlCommand {
    /// Log in with the password read from the first line of stdin; saves a session in
    /// `$BYTEFREEZER_CTL_SESSION` or `~/.config/bytefreezer/ctl-session.json` (mode 0600).
    Login {
        #[arg(long)]
        email: String,
    },
    /// End the saved session and delete its file.
    Logout,
    /// Show who the API key or session acts as.
    Whoami,
    /// Accounts (creating them is for admins).
    #[command(subcommand)]
    Accounts(CtlAccountsCommand),
    /// Tenants of an account.
    #[command(subcommand)]
    Tenants(CtlTenantsCommand),
    /// Datasets: what each proxy listens for and how it is processed.
    #[command(subcommand)]
    Datasets(CtlDatasetsCommand),
    /// API keys.
    #[command(subcommand)]
    Keys(CtlKeysCommand),
    /// A dataset's dead letters: how many wait, and replays through piper and packer.
    #[command(subcommand)]
    DeadLetters(CtlDeadLettersCommand),
    /// Services that report to the control plane, with their health.
    Services,
    /// The audit log, newest first.
    Audit(CtlAuditArgs),
}

/// A dataset, named by flags, whose dead letters are listed or replayed.
#[derive(Args)]
pub struct CtlDeadLetterRef {
    #[arg(long)]
    pub tenant: String,
    #[arg(long)]
    pub dataset: String,
}

#[derive(Subcommand)]
pub enum CtlDeadLettersCommand {
    /// Dead letters waiting per stage (as the stages last reported) and the replay requests.
    List(CtlDeadLetterRef),
    /// Ask piper and packer to move the dataset's dead letters back to their input, for
    /// example after fixing the pipeline; needs the right to change the pipeline.
    Replay {
        #[command(flatten)]
        dataset: CtlDeadLetterRef,
        /// Only this batch (see `bytefreezer dead-letter list`).
        #[arg(long)]
        batch: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum CtlAccountsCommand {
    /// List the accounts you can see.
    List,
    /// Create an account.
    Create {
        /// Display name of the account.
        name: String,
    },
}

#[derive(Subcommand)]
pub enum CtlTenantsCommand {
    /// List the tenants you can see.
    List,
    /// Create a tenant.
    Create {
        /// Lowercase letters, digits, `-` and `_`; part of every object path.
        id: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// The account id (required for admins, who belong to no account).
        #[arg(long)]
        account: Option<String>,
    },
    /// Delete a tenant that has no datasets.
    Delete {
        /// The tenant id.
        id: String,
    },
}

/// A dataset, named by its tenant and id.
#[derive(Args)]
pub struct CtlDatasetRef {
    /// The tenant id.
    pub tenant: String,
    /// The dataset id: lowercase letters, digits, `-` and `_`.
    pub dataset: String,
}

#[derive(Subcommand)]
pub enum CtlDatasetsCommand {
    /// List datasets, of every tenant you can see or of one.
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Show one dataset.
    Show(CtlDatasetRef),
    /// Create a dataset.
    Create(CtlDatasetCreateArgs),
    /// Change the given fields of a dataset; the others keep their values.
    Update(CtlDatasetUpdateArgs),
    /// Pause: the dataset leaves every proxy's configuration and its port closes.
    Pause(CtlDatasetRef),
    /// Resume a paused dataset.
    Resume(CtlDatasetRef),
    /// Run the dataset on one proxy instance, or on every proxy again with `--unassign`.
    Assign(CtlAssignArgs),
    /// Delete a dataset.
    Delete(CtlDatasetRef),
}

#[derive(Args)]
pub struct CtlDatasetCreateArgs {
    #[command(flatten)]
    pub dataset: CtlDatasetRef,
    /// The input plugin.
    #[arg(long, value_parser = ["syslog", "netflow", "ipfix", "sflow", "http", "nats", "sqs", "kafka", "ebpf"])]
    pub plugin: String,
    /// Address the proxy listens on, `IP:PORT` (every plugin but nats, sqs and kafka, which connect out).
    #[arg(long)]
    pub bind: Option<SocketAddr>,
    /// The plugin's other settings, a JSON object over their defaults (`GET /api/v1/plugins`
    /// lists them), e.g. `'{"mode":"jetstream","stream":"EVENTS","consumer":"bf"}'`.
    #[arg(long)]
    pub settings: Option<String>,
    #[command(flatten)]
    pub options: CtlDatasetOptions,
}

#[derive(Args)]
pub struct CtlDatasetUpdateArgs {
    #[command(flatten)]
    pub dataset: CtlDatasetRef,
    /// A new input plugin; its settings start over with only `bind` and `--settings`.
    #[arg(long, value_parser = ["syslog", "netflow", "ipfix", "sflow", "http", "nats", "sqs", "kafka", "ebpf"])]
    pub plugin: Option<String>,
    /// A new listen address, `IP:PORT`.
    #[arg(long)]
    pub bind: Option<SocketAddr>,
    /// Settings to change, a JSON object; the others keep their values.
    #[arg(long)]
    pub settings: Option<String>,
    #[command(flatten)]
    pub options: CtlDatasetOptions,
}

#[derive(Args)]
pub struct CtlDatasetOptions {
    /// Display name (default: the dataset id).
    #[arg(long)]
    pub name: Option<String>,
    /// Testing mode: packer flushes every cycle. `--testing=false` turns it off.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub testing: Option<bool>,
    /// Paused: no proxy listens for it. `--paused=false` makes it active.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub paused: Option<bool>,
    /// The transformation pipeline, a JSON file `{"filters": [...]}`.
    #[arg(long)]
    pub pipeline: Option<PathBuf>,
}

#[derive(Args)]
#[command(group(ArgGroup::new("assignment").required(true).args(["proxy", "unassign"])))]
pub struct CtlAssignArgs {
    #[command(flatten)]
    pub dataset: CtlDatasetRef,
    /// The proxy's instance id (see `ctl services`).
    #[arg(long)]
    pub proxy: Option<String>,
    /// Run the dataset on every proxy of its scope again.
    #[arg(long)]
    pub unassign: bool,
}

#[derive(Subcommand)]
pub enum CtlKeysCommand {
    /// List API keys, revoked ones included.
    List,
    /// Create a key; its plaintext is printed this once only.
    Create {
        /// A name that says where the key is used; audit entries name it `key:<name>`.
        #[arg(long)]
        name: String,
        /// Limit the key to this tenant (default: the whole account).
        #[arg(long)]
        tenant: Option<String>,
        /// With `--tenant`: an ingest key for this one dataset.
        #[arg(long, requires = "tenant")]
        dataset: Option<String>,
        /// The account of an account-wide key (admins).
        #[arg(long, conflicts_with = "tenant")]
        account: Option<String>,
    },
    /// Revoke a key: it stops working at once.
    Revoke {
        /// The key's id (see `ctl keys list`), not the key itself.
        id: String,
    },
}

#[derive(Args)]
pub struct CtlAuditArgs {
    /// A user email or `key:<name>`; matches as a prefix.
    #[arg(long)]
    pub actor: Option<String>,
    /// For example `dataset.update` or `api_key.revoke`.
    #[arg(long)]
    pub action: Option<String>,
    /// For example `dataset/acme/fw-logs`; matches as a prefix.
    #[arg(long)]
    pub target: Option<String>,
    /// RFC 3339 time, or an age such as `30m`, `12h`, `7d`.
    #[arg(long)]
    pub since: Option<String>,
    /// RFC 3339 time, or an age such as `30m`, `12h`, `7d`.
    #[arg(long)]
    pub until: Option<String>,
    /// Entries per page (the server's default is 50, at most 500).
    #[arg(long)]
    pub limit: Option<u32>,
    /// Follow the pages to the oldest matching entry.
    #[arg(long)]
    pub all: bool,
}

#[derive(Args)]
pub struct DeadLetterArgs {
    #[command(subcommand)]
    pub command: DeadLetterCommand,
}

#[derive(Subcommand)]
pub enum DeadLetterCommand {
    /// One line per dead letter: dataset, batch, object or rows, row count, reason, message.
    List(DeadLetterScope),
    /// Move dead letters back to the stage's input (rows without their reason column), for
    /// it to process again, for example after fixing the pipeline.
    Replay {
        #[command(flatten)]
        scope: DeadLetterScope,
        /// Only this batch (see `list`).
        #[arg(long)]
        batch: Option<String>,
    },
}

#[derive(Args)]
pub struct DeadLetterScope {
    /// The configuration of the stage's role (piper or packer), whose `[storage]` names the
    /// buckets.
    #[arg(long, short, conflicts_with = "data_dir")]
    pub config: Option<PathBuf>,
    /// Or the data folder of `bytefreezer up`.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The stage that gave up.
    #[arg(long, default_value = "piper", value_parser = ["piper", "packer"])]
    pub stage: String,
    #[arg(long)]
    pub tenant: Option<String>,
    #[arg(long)]
    pub dataset: Option<String>,
}
