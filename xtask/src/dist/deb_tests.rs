//! The package as dpkg sees it: its files, modes and conffiles, then a real `dpkg --install`
//! into a scratch root (maintainer scripts run chrootless with DPKG_ROOT), which must create
//! the service user and its folder, keep the configurations private, and enable no unit; and
//! deploy/install.sh, the tarball's installer for hosts without dpkg, into a scratch root too.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use super::*;

fn output_of(command: &mut Command) -> String {
    let output = command.output().expect("run dpkg");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// An empty root dpkg can install into: its database and the account files useradd edits.
fn scratch_root(root: &Path) {
    for folder in [
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
        "var/lib/dpkg/triggers",
        "etc",
    ] {
        std::fs::create_dir_all(root.join(folder)).unwrap();
    }
    for file in ["var/lib/dpkg/status", "var/lib/dpkg/available"] {
        std::fs::write(root.join(file), "").unwrap();
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    for (file, line) in [
        ("etc/shadow", "root:*:19000:0:99999:7:::\n"),
        ("etc/gshadow", "root:*::\n"),
    ] {
        std::fs::write(root.join(file), line).unwrap();
        std::fs::set_permissions(root.join(file), std::fs::Permissions::from_mode(0o640)).unwrap();
    }
}

#[test]
fn the_package_installs_its_files_user_and_folders_and_enables_nothing() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("bytefreezer");
    std::fs::copy("/bin/true", &binary).unwrap();
    let package = build_deb(
        &DebInputs {
            root: workspace,
            binary: &binary,
            version: "0.0.0~test",
            completions: None,
            man_pages: None,
        },
        dir.path(),
    )
    .unwrap();

    let info = output_of(Command::new("dpkg-deb").arg("--info").arg(&package));
    assert!(info.contains("Package: bytefreezer"), "{info}");
    assert!(info.contains("Version: 0.0.0~test"), "{info}");
    let contents = output_of(Command::new("dpkg-deb").arg("--contents").arg(&package));
    for (mode, path) in [
        ("-rwxr-xr-x root/root", "./usr/bin/bytefreezer"),
        ("-rw-r----- root/root", "./etc/bytefreezer/proxy.toml"),
        (
            "-rw-r--r-- root/root",
            "./lib/systemd/system/bytefreezer-proxy.service",
        ),
        (
            "-rw-r--r-- root/root",
            "./usr/share/bytefreezer/grafana/bytefreezer.json",
        ),
        (
            "-rw-r--r-- root/root",
            "./usr/share/doc/bytefreezer/deploy.md",
        ),
    ] {
        assert!(
            contents
                .lines()
                .any(|line| line.starts_with(mode) && line.ends_with(path)),
            "{mode} {path} in\n{contents}"
        );
    }
    let conffiles = output_of(
        Command::new("dpkg-deb")
            .args(["--info"])
            .arg(&package)
            .arg("conffiles"),
    );
    assert!(
        conffiles.contains("/etc/bytefreezer/proxy.toml"),
        "{conffiles}"
    );

    let root = dir.path().join("root");
    scratch_root(&root);
    output_of(
        Command::new("dpkg")
            .arg(format!("--root={}", root.display()))
            .args([
                "--force-script-chrootless",
                "--force-depends",
                "--log=/dev/null",
                "--install",
            ])
            .arg(&package),
    );
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    let user = passwd
        .lines()
        .find(|line| line.starts_with("bytefreezer:"))
        .unwrap_or_else(|| panic!("no bytefreezer user in\n{passwd}"));
    assert!(
        user.ends_with(":/var/lib/bytefreezer:/usr/sbin/nologin"),
        "{user}"
    );
    let uid: u32 = user.split(':').nth(2).unwrap().parse().unwrap();
    let state = std::fs::metadata(root.join("var/lib/bytefreezer")).unwrap();
    assert_eq!((state.uid(), state.mode() & 0o777), (uid, 0o750));
    let config = std::fs::metadata(root.join("etc/bytefreezer/proxy.toml")).unwrap();
    assert_eq!(config.mode() & 0o777, 0o640);
    assert_ne!(
        config.gid(),
        0,
        "the service's group may read its configuration"
    );
    let unit =
        std::fs::read_to_string(root.join("lib/systemd/system/bytefreezer-proxy.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/bin/bytefreezer proxy"),
        "{unit}"
    );
    assert!(
        !root
            .join("etc/systemd/system/multi-user.target.wants")
            .exists(),
        "no unit is enabled by the install"
    );
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn install(unpacked: &Path, root: &Path) {
    let output = Command::new("sh")
        .arg(unpacked.join("install.sh"))
        .arg("--root")
        .arg(root)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "install.sh: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_script_installs_files_user_and_folders_and_keeps_edited_configurations() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let unpacked = dir.path().join("bytefreezer-test");
    std::fs::create_dir_all(unpacked.join("bin")).unwrap();
    std::fs::copy("/bin/true", unpacked.join("bin/bytefreezer")).unwrap();
    copy_folder(&workspace.join("deploy/config"), &unpacked.join("config"));
    copy_folder(&workspace.join("deploy/systemd"), &unpacked.join("systemd"));
    std::fs::copy(
        workspace.join("deploy/install.sh"),
        unpacked.join("install.sh"),
    )
    .unwrap();
    let root = dir.path().join("root");
    scratch_root(&root);

    install(&unpacked, &root);
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    let user = passwd
        .lines()
        .find(|line| line.starts_with("bytefreezer:"))
        .unwrap_or_else(|| panic!("{passwd}"));
    let uid: u32 = user.split(':').nth(2).unwrap().parse().unwrap();
    let binary = std::fs::metadata(root.join("usr/local/bin/bytefreezer")).unwrap();
    assert_eq!(binary.mode() & 0o777, 0o755);
    let config = root.join("etc/bytefreezer/proxy.toml");
    let metadata = std::fs::metadata(&config).unwrap();
    assert_eq!(metadata.mode() & 0o777, 0o640);
    assert_ne!(metadata.gid(), 0);
    let state = std::fs::metadata(root.join("var/lib/bytefreezer")).unwrap();
    assert_eq!((state.uid(), state.mode() & 0o777), (uid, 0o750));
    let unit =
        std::fs::read_to_string(root.join("etc/systemd/system/bytefreezer-proxy.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/bytefreezer proxy"));

    std::fs::write(&config, "# edited by the operator\n").unwrap();
    install(&unpacked, &root);
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        "# edited by the operator\n"
    );
    assert!(root.join("etc/bytefreezer/proxy.toml.new").exists());
    assert_eq!(
        std::fs::read_to_string(root.join("etc/passwd"))
            .unwrap()
            .lines()
            .filter(|line| line.starts_with("bytefreezer:"))
            .count(),
        1,
        "the user is created once"
    );
}
