use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::run;

/// Python packages the end-to-end tests use: pyarrow and DuckDB prove the Parquet files are
/// readable by the tools users query them with; Schemathesis fuzzes the control-plane API from
/// its OpenAPI document (pinned: the test's check hooks use its plugin API); moto is the S3
/// server the storage suite runs against.
const PYTHON_PACKAGES: &[(&str, &str)] = &[
    ("pyarrow", "pyarrow"),
    ("duckdb", "duckdb"),
    ("schemathesis", "schemathesis==4.32.5"),
    // A real S3 server for the storage suite and the query service's S3 tests.
    ("moto.server", "moto[server]"),
];

/// MaxMind's own test databases ship in the source package of their Python reader; the
/// version is pinned so the expected cities in tests do not move.
const MAXMIND_TEST_PACKAGE: &str = "maxminddb==3.2.0";
const GEOIP_TEST_FILES: &[&str] = &["GeoIP2-City-Test.mmdb", "GeoLite2-ASN-Test.mmdb"];

/// Where the GeoIP tests find MaxMind's test databases, relative to the workspace root.
pub const GEOIP_TEST_DIR: &str = ".test-data/geoip";

/// Installs what the test suite needs and is missing. Idempotent and quiet when all is there.
pub fn test_dependencies(root: &Path) -> Result<()> {
    ensure_nextest()?;
    ensure_debian_packages()?;
    ensure_python_packages()?;
    ensure_geoip_test_databases(root)?;
    ensure_public_captures(root)?;
    Ok(())
}

fn ensure_geoip_test_databases(root: &Path) -> Result<()> {
    let dir = root.join(GEOIP_TEST_DIR);
    if GEOIP_TEST_FILES.iter().all(|f| dir.join(f).is_file()) {
        return Ok(());
    }
    let python = find_python()?;
    let download = dir.join("download");
    std::fs::create_dir_all(&download)
        .with_context(|| format!("cannot create {}", download.display()))?;
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-binary",
            ":all:",
            MAXMIND_TEST_PACKAGE,
            "-d",
        ])
        .arg(&download))
    .context("cannot download MaxMind's test databases from PyPI")?;
    let archive = std::fs::read_dir(&download)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| path.to_string_lossy().ends_with(".tar.gz"))
        .context("pip download left no source archive")?;
    let mut tar = Command::new("tar");
    tar.arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&dir)
        .args(["--strip-components=4", "--wildcards"]);
    for file in GEOIP_TEST_FILES {
        tar.arg(format!("*/tests/data/test-data/{file}"));
    }
    run(&mut tar).context("cannot unpack MaxMind's test databases")?;
    let missing: Vec<_> = GEOIP_TEST_FILES
        .iter()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if !missing.is_empty() {
        bail!("{MAXMIND_TEST_PACKAGE} no longer carries {missing:?}");
    }
    Ok(())
}

/// Debian packages the tests drive, as (a program the package installs, package): chromium and
/// chromedriver for the dashboard's browser tests; tshark, nfcapd and nfdump as the reference
/// decoders the flow decoder is compared with. Installed with apt-get when running as root;
/// otherwise the missing ones are named.
const DEBIAN_PACKAGES: &[(&str, &str)] = &[
    ("/usr/bin/chromium", "chromium"),
    ("/usr/bin/chromedriver", "chromium-driver"),
    ("/usr/bin/tshark", "tshark"),
    ("/usr/bin/nfcapd", "nfdump"),
    ("/usr/bin/nfdump", "nfdump"),
];

/// Installing a package must not start its daemon (the nfdump package ships an nfcapd
/// service): while apt runs, this policy tells invoke-rc.d that no service may start.
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

fn ensure_debian_packages() -> Result<()> {
    let mut missing: Vec<&str> = DEBIAN_PACKAGES
        .iter()
        .filter(|(program, _)| !Path::new(program).exists())
        .map(|(_, package)| *package)
        .collect();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.starts_with(b"0\n"));
    if !is_root {
        bail!(
            "the tests need Debian packages {missing:?}: run `sudo apt-get install {}` \
             or run `cargo xtask install-test-deps` as root",
            missing.join(" ")
        );
    }
    // tshark's package asks whether non-root users may capture; answer no without a prompt.
    let mut debconf = Command::new("debconf-set-selections")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .context("cannot run debconf-set-selections")?;
    debconf
        .stdin
        .take()
        .context("no stdin for debconf-set-selections")?
        .write_all(b"wireshark-common wireshark-common/install-setuid boolean false\n")?;
    if !debconf.wait()?.success() {
        bail!("debconf-set-selections refused the wireshark-common answer");
    }
    // Replace any policy there for the duration of the install, then put it back.
    let previous_policy = std::fs::read(POLICY_RC_D).ok();
    std::fs::write(POLICY_RC_D, "#!/bin/sh\nexit 101\n")
        .with_context(|| format!("cannot write {POLICY_RC_D}"))?;
    std::fs::set_permissions(POLICY_RC_D, std::fs::Permissions::from_mode(0o755))?;
    let installed = apt_get_install(&missing);
    match previous_policy {
        Some(bytes) => std::fs::write(POLICY_RC_D, bytes),
        None => std::fs::remove_file(POLICY_RC_D),
    }
    .with_context(|| format!("cannot restore {POLICY_RC_D}"))?;
    installed
}

fn apt_get_install(packages: &[&str]) -> Result<()> {
    run(Command::new("apt-get")
        .args(["update", "-q"])
        .env("DEBIAN_FRONTEND", "noninteractive"))
    .context("apt-get update failed")?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))
    .with_context(|| format!("cannot install {packages:?} with apt-get"))
}

fn ensure_nextest() -> Result<()> {
    let present = Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !present {
        run(Command::new("cargo").args(["install", "cargo-nextest", "--locked"]))
            .context("cannot install cargo-nextest")?;
    }
    Ok(())
}

fn ensure_python_packages() -> Result<()> {
    let python = find_python().context(
        "python3 is required by the end-to-end tests (pyarrow, DuckDB and Schemathesis); \
         install it with `apt-get install python3 python3-pip`",
    )?;
    let missing: Vec<&str> = PYTHON_PACKAGES
        .iter()
        .filter(|(module, _)| {
            !Command::new(&python)
                .args(["-c", &format!("import {module}")])
                .output()
                .is_ok_and(|output| output.status.success())
        })
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut pip = Command::new(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]);
    if is_externally_managed(&python) {
        pip.arg("--break-system-packages");
    }
    pip.args(&missing);
    run(&mut pip).with_context(|| format!("cannot install Python packages {missing:?}"))
}

fn find_python() -> Result<String> {
    for candidate in ["python3", "python"] {
        if Command::new(candidate)
            .arg("--version")
            .output()
            .is_ok_and(|output| output.status.success())
        {
            return Ok(candidate.to_owned());
        }
    }
    bail!("no python3 on PATH")
}

fn is_externally_managed(python: &str) -> bool {
    Command::new(python)
        .args([
            "-c",
            "import sysconfig, os, sys; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()['stdlib'], 'EXTERNALLY-MANAGED')) else 1)",
        ])
        .status()
        .is_ok_and(|status| status.success())
}

/// Where the flow decoder's real-device tests (`dataplane/decode-flow/tests/real_devices.rs`)
/// find public captures, relative to the workspace root. They are third-party files under
/// their own licences, so they are fetched here instead of being committed.
pub const CAPTURES_DIR: &str = ".test-data/captures";

/// The registry a capture comes from, which also says how to fetch it.
#[derive(Clone, Copy)]
enum Registry {
    /// crates.io: a `.crate` file (a gzipped tar) at `static.crates.io`.
    CratesIo {
        name: &'static str,
        version: &'static str,
    },
    /// Debian: a `.deb` fetched with `apt-get download`.
    Debian {
        package: &'static str,
        version: &'static str,
    },
    /// npm: a package tarball fetched with `npm pack`.
    Npm {
        name: &'static str,
        version: &'static str,
    },
}

/// How a file of the package becomes files in [`CAPTURES_DIR`].
#[derive(Clone, Copy)]
enum Extract {
    /// The file as it is, under a new name.
    Copy {
        from: &'static str,
        to: &'static str,
    },
    /// A Go `var <name> = []byte{0x.., ...}` in the file, written as bytes; an Ethernet frame
    /// (IPv4, UDP) is cut down to its UDP payload, so every `.bin` is one datagram.
    GoBytes {
        from: &'static str,
        var: &'static str,
        to: &'static str,
    },
    /// A JavaScript `var <name> = '<hex>'` in the file, written as bytes.
    JsHex {
        from: &'static str,
        var: &'static str,
        to: &'static str,
    },
}

impl Extract {
    fn to(self) -> &'static str {
        match self {
            Extract::Copy { to, .. } | Extract::GoBytes { to, .. } | Extract::JsHex { to, .. } => {
                to
            }
        }
    }

    fn from(self) -> &'static str {
        match self {
            Extract::Copy { from, .. }
            | Extract::GoBytes { from, .. }
            | Extract::JsHex { from, .. } => from,
        }
    }
}

/// One package carrying captures, pinned by version and by the sha256 of what is fetched.
struct CaptureSource {
    registry: Registry,
    sha256: &'static str,
    files: &'static [Extract],
}

const GOPACKET_SFLOW_TEST: &str =
    "usr/share/gocode/src/github.com/google/gopacket/layers/sflow_test.go";

const CAPTURE_SOURCES: &[CaptureSource] = &[
    // MIT/Apache-2.0. Two Cisco IOS-XE ISR4000 routers exporting IPFIX with AVC/NBAR2.
    CaptureSource {
        registry: Registry::CratesIo {
            name: "netflow_parser",
            version: "1.0.6",
        },
        sha256: "3bc1f33c09ed241b0a84429832caead3433804223a02a3cd97500b5d59e23bd2",
        files: &[Extract::Copy {
            from: "netflow_parser-1.0.6/pcaps/IPFIX.pcap",
            to: "cisco-iosxe-avc-ipfix.pcap",
        }],
    },
    // Apache-2.0. Cisco IOS-XR IPFIX over IPv6 (pmacct's test 502) and netgauze's decode of it.
    CaptureSource {
        registry: Registry::CratesIo {
            name: "netgauze-pcap-decoder",
            version: "0.13.0",
        },
        sha256: "5a25b8faec8691d3d13c2a958e0e138d6a4cbb76f32a0e2bbbc40a4bf339f704",
        files: &[
            Extract::Copy {
                from: "netgauze-pcap-decoder-0.13.0/tests/data/502-IPFIXv10-BGP-IPv6-CISCO-SRv6-lcomms.pcap",
                to: "cisco-iosxr-srv6-ipfix.pcap",
            },
            Extract::Copy {
                from: "netgauze-pcap-decoder-0.13.0/tests/data/502-IPFIXv10-BGP-IPv6-CISCO-SRv6-lcomms-flow.jsonl",
                to: "cisco-iosxr-srv6-ipfix-netgauze.jsonl",
            },
        ],
    },
    // BSD-3-Clause. gopacket's sFlow test datagrams: one from a live hardware switch, one of
    // sampled Ethernet frame records.
    CaptureSource {
        registry: Registry::Debian {
            package: "golang-github-google-gopacket-dev",
            version: "1.1.19-3",
        },
        sha256: "a70e11de3ae9232eceb2c623cfedb903d25acb1e2f480213745ac49e5dfa36bd",
        files: &[
            Extract::GoBytes {
                from: GOPACKET_SFLOW_TEST,
                var: "SFlowTestPacket1",
                to: "gopacket-sflow-switch.bin",
            },
            Extract::GoBytes {
                from: GOPACKET_SFLOW_TEST,
                var: "SFlowEthernetFramePacket",
                to: "gopacket-sflow-ethernet.bin",
            },
        ],
    },
    // GPL-2.0. A VyOS router's pmacct nfprobe NetFlow v9 export.
    CaptureSource {
        registry: Registry::Npm {
            name: "node-netflowv9",
            version: "0.2.16",
        },
        sha256: "b4b384167db1f2f5bfa1dbb12848d293fbf67cc59052c2eaee6d2a862043ccd4",
        files: &[Extract::JsHex {
            from: "package/test/test.decoding.js",
            var: "VYOS_PACKET",
            to: "vyos-nfprobe-v9.bin",
        }],
    },
    // GPL-2.0. A VyOS router's pmacct sfprobe sFlow v5 export.
    CaptureSource {
        registry: Registry::Npm {
            name: "node-sflow",
            version: "0.0.3",
        },
        sha256: "de2d44e4a04b47c04570d761180e31eadd61b12be46a4d86098c4597f85f0dbf",
        files: &[
            Extract::JsHex {
                from: "package/test/packet.test.js",
                var: "VYOS_PACKET1",
                to: "vyos-sfprobe-1.bin",
            },
            Extract::JsHex {
                from: "package/test/packet.test.js",
                var: "VYOS_PACKET2",
                to: "vyos-sfprobe-2.bin",
            },
            Extract::JsHex {
                from: "package/test/packet.test.js",
                var: "VYOS_PACKET3",
                to: "vyos-sfprobe-3.bin",
            },
        ],
    },
];

/// Fetches the public captures of real devices the flow decoder is tested on, for those not
/// already in [`CAPTURES_DIR`]. Each package is checked against its pinned sha256.
fn ensure_public_captures(root: &Path) -> Result<()> {
    let dir = root.join(CAPTURES_DIR);
    for source in CAPTURE_SOURCES {
        if source
            .files
            .iter()
            .all(|file| dir.join(file.to()).is_file())
        {
            continue;
        }
        fetch_captures(source, &dir).with_context(|| {
            format!(
                "cannot fetch the public flow captures in {} (the decode-flow real-device \
                 tests need them)",
                source.registry.describe()
            )
        })?;
    }
    Ok(())
}

impl Registry {
    fn describe(self) -> String {
        match self {
            Registry::CratesIo { name, version } => {
                format!("crate {name} {version} from crates.io")
            }
            Registry::Debian { package, version } => {
                format!("Debian package {package} {version} (apt-get download)")
            }
            Registry::Npm { name, version } => {
                format!("npm package {name}@{version} from the npm registry")
            }
        }
    }

    /// Downloads the package into `dir`; returns the path of the file fetched.
    fn download(self, dir: &Path) -> Result<std::path::PathBuf> {
        match self {
            Registry::CratesIo { name, version } => {
                let file = dir.join(format!("{name}-{version}.crate"));
                run(Command::new("curl")
                    .args([
                        "--silent",
                        "--show-error",
                        "--fail",
                        "--location",
                        "--output",
                    ])
                    .arg(&file)
                    .arg(format!(
                        "https://static.crates.io/crates/{name}/{name}-{version}.crate"
                    )))?;
                Ok(file)
            }
            Registry::Debian { package, version } => {
                run(Command::new("apt-get")
                    .args(["download", "-q", &format!("{package}={version}")])
                    .current_dir(dir))
                .context("is the package in apt's lists? run `apt-get update` first")?;
                find_file(dir, ".deb")
            }
            Registry::Npm { name, version } => {
                run(Command::new("npm")
                    .args([
                        "pack",
                        "--silent",
                        &format!("{name}@{version}"),
                        "--pack-destination",
                    ])
                    .arg(dir))?;
                find_file(dir, ".tgz")
            }
        }
    }

    /// Unpacks `archive` into `dir`.
    fn unpack(self, archive: &Path, dir: &Path) -> Result<()> {
        match self {
            Registry::CratesIo { .. } | Registry::Npm { .. } => run(Command::new("tar")
                .arg("-xzf")
                .arg(archive)
                .arg("-C")
                .arg(dir)),
            Registry::Debian { .. } => run(Command::new("dpkg-deb")
                .arg("--extract")
                .arg(archive)
                .arg(dir)),
        }
    }
}

fn find_file(dir: &Path, suffix: &str) -> Result<std::path::PathBuf> {
    std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| path.to_string_lossy().ends_with(suffix))
        .with_context(|| format!("the download left no {suffix} file in {}", dir.display()))
}

fn fetch_captures(source: &CaptureSource, dir: &Path) -> Result<()> {
    let download = dir.join("download");
    let _ = std::fs::remove_dir_all(&download);
    std::fs::create_dir_all(&download)
        .with_context(|| format!("cannot create {}", download.display()))?;
    let archive = source.registry.download(&download)?;
    let digest = sha256(&archive)?;
    if digest != source.sha256 {
        bail!(
            "{} has sha256 {digest}, not the pinned {}: the registry serves different bytes",
            archive.display(),
            source.sha256
        );
    }
    let unpacked = download.join("unpacked");
    std::fs::create_dir_all(&unpacked)?;
    source.registry.unpack(&archive, &unpacked)?;
    for file in source.files {
        let from = unpacked.join(file.from());
        let bytes =
            std::fs::read(&from).with_context(|| format!("the package has no {}", file.from()))?;
        let output = match *file {
            Extract::Copy { .. } => bytes,
            Extract::GoBytes { var, .. } => {
                let frame = go_byte_array(&String::from_utf8_lossy(&bytes), var)?;
                udp_payload(&frame).map_or(frame.clone(), <[u8]>::to_vec)
            }
            Extract::JsHex { var, .. } => js_hex_string(&String::from_utf8_lossy(&bytes), var)?,
        };
        // Written under a temporary name and renamed, so a half-written file is never taken
        // for a fetched one.
        let target = dir.join(file.to());
        let partial = dir.join(format!("{}.partial", file.to()));
        std::fs::write(&partial, &output)
            .and_then(|()| std::fs::rename(&partial, &target))
            .with_context(|| format!("cannot write {}", target.display()))?;
    }
    std::fs::remove_dir_all(&download)
        .with_context(|| format!("cannot remove {}", download.display()))
}

fn sha256(path: &Path) -> Result<String> {
    let output = Command::new("sha256sum")
        .arg(path)
        .output()
        .context("cannot run sha256sum (coreutils)")?;
    if !output.status.success() {
        bail!("sha256sum {} failed", path.display());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned())
}

/// The bytes of Go's `var <name> = []byte{ 0x.., ... }` (comments inside are skipped).
fn go_byte_array(source: &str, name: &str) -> Result<Vec<u8>> {
    let start = format!("var {name} = []byte{{");
    let body = source
        .split_once(&start)
        .and_then(|(_, rest)| rest.split_once('}'))
        .map(|(body, _)| body)
        .with_context(|| format!("no `{start}` in the Go source"))?;
    body.lines()
        .map(|line| line.split_once("//").map_or(line, |(code, _)| code))
        .flat_map(|code| code.split(','))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .map(|token| {
            let digits = token
                .strip_prefix("0x")
                .with_context(|| format!("`{token}` in {name} is not a 0x byte"))?;
            u8::from_str_radix(digits, 16).with_context(|| format!("`{token}` in {name}"))
        })
        .collect()
}

/// The bytes of JavaScript's `var <name> = '<hex>'`.
fn js_hex_string(source: &str, name: &str) -> Result<Vec<u8>> {
    let start = format!("var {name} = '");
    let hex = source
        .split_once(&start)
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(hex, _)| hex)
        .with_context(|| format!("no `{start}...'` in the JavaScript source"))?;
    if hex.len() % 2 != 0 {
        bail!("{name} has an odd number of hex digits");
    }
    (0..hex.len())
        .step_by(2)
        .map(|at| {
            u8::from_str_radix(&hex[at..at + 2], 16)
                .with_context(|| format!("{name}: `{}` is not hex", &hex[at..at + 2]))
        })
        .collect()
}

/// The UDP payload of an Ethernet frame carrying IPv4 and UDP; `None` for anything else (a
/// datagram already).
fn udp_payload(frame: &[u8]) -> Option<&[u8]> {
    if frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let ip = frame.get(14..)?;
    let header_len = usize::from(ip.first()? & 0x0f) * 4;
    if ip.first()? >> 4 != 4 || *ip.get(9)? != 17 {
        return None;
    }
    let udp = ip.get(header_len..)?;
    let udp_len = usize::from(u16::from_be_bytes([*udp.get(4)?, *udp.get(5)?]));
    udp.get(8..udp_len)
}
