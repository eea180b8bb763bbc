use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    Proxy(RoleArgs),
    /// Accept batches over HTTP(S) and write them to the intake bucket.
    Receiver(RoleArgs),
    /// Apply each dataset's transformations: intake bucket to piper bucket.
    Piper(RoleArgs),
    /// Accumulate piper objects into partitioned Parquet files in the packer bucket.
    Packer(RoleArgs),
    /// Run the control plane: datasets, API keys, status page.
    Control(ControlArgs),
    /// Send generated firewall-style events to a syslog input.
    Fakedata(FakedataArgs),
    /// Print an intake or piper object (Arrow IPC) or a Parquet file as NDJSON.
    Cat(CatArgs),
    /// Decode the UDP payloads of a pcap or pcapng capture into Parquet files, offline.
    Replay(ReplayArgs),
    /// Work with transformation pipelines.
    #[command(subcommand)]
    Transform(TransformCommand),
    /// Print the version.
    Version,
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

    pub fn open(&self) -> Result<bytefreezer_transform::GeoIp, String> {
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
    /// UDP address of the demo NetFlow v5/v9 dataset.
    #[arg(long, default_value = "0.0.0.0:2055")]
    pub netflow_bind: SocketAddr,
    /// UDP address of the demo IPFIX dataset.
    #[arg(long, default_value = "0.0.0.0:4739")]
    pub ipfix_bind: SocketAddr,
    /// UDP address of the demo sFlow v5 dataset.
    #[arg(long, default_value = "0.0.0.0:6343")]
    pub sflow_bind: SocketAddr,
    /// Do not feed the demo dataset with generated events.
    #[arg(long)]
    pub no_fakedata: bool,
    /// Events per second the built-in fakedata sends.
    #[arg(long, default_value_t = 200)]
    pub fakedata_rate: u64,
    #[command(flatten)]
    pub geoip: GeoIpArgs,
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
}

#[derive(Args)]
pub struct FakedataArgs {
    /// Where to send, `udp://HOST:PORT`.
    #[arg(long, default_value = "udp://127.0.0.1:5514")]
    pub target: String,
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
