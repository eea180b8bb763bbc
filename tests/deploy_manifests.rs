//! deploy/compose and deploy/k8s checked as a deployment tool checks them, without a Docker
//! engine or a cluster: the Compose file against the Compose Specification's schema (the copy
//! check-jsonschema bundles), every Kubernetes manifest strictly against the Kubernetes API
//! schemas (kubernetes-validate), each check shown to refuse a broken copy; and the references
//! between the files: every configuration a role runs with is mounted, every manifest applied.
//! The role configurations themselves are loaded by the binary's own parser in
//! `role_config::tests`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path)
}

/// `python3 -m MODULE ARGS`, failing with how to install the module when it is missing.
fn python_module(module: &str, args: &[&Path], extra: &[&str]) -> Output {
    let output = Command::new("python3")
        .args(["-m", module])
        .args(extra)
        .args(args)
        .output()
        .expect("python3");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("No module named"),
        "{module} is missing: `cargo xtask test` installs it (pip install kubernetes-validate \
         check-jsonschema)\n{stderr}"
    );
    output
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn validate_kubernetes(paths: &[&Path]) -> Output {
    python_module("kubernetes_validate", paths, &["--strict"])
}

fn validate_compose(path: &Path) -> Output {
    python_module(
        "check_jsonschema",
        &[path],
        &["--builtin-schema", "vendor.compose-spec"],
    )
}

fn manifests() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(deploy("k8s"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension().is_some_and(|e| e == "yaml")
                && path.file_name().is_some_and(|n| n != "kustomization.yaml")
        })
        .collect();
    paths.sort();
    paths
}

/// A copy of `source` with `from` replaced by `to`, in `dir`.
fn broken_copy(dir: &Path, source: &Path, from: &str, to: &str) -> PathBuf {
    let original = std::fs::read_to_string(source).unwrap();
    assert!(
        original.contains(from),
        "{from:?} not in {}",
        source.display()
    );
    let path = dir.join(source.file_name().unwrap());
    std::fs::write(&path, original.replacen(from, to, 1)).unwrap();
    path
}

#[test]
fn the_kubernetes_manifests_pass_the_api_schemas_strictly_and_are_all_applied() {
    let manifests = manifests();
    assert!(manifests.len() >= 7, "{manifests:?}");
    let paths: Vec<&Path> = manifests.iter().map(PathBuf::as_path).collect();
    let checked = validate_kubernetes(&paths);
    assert!(checked.status.success(), "{}", text(&checked));
    // Every resource was checked against a schema, none skipped as unknown.
    let report = text(&checked);
    for kind in ["daemonset/proxy", "deployment/control", "service/receiver"] {
        assert!(report.contains(kind), "{kind} not validated:\n{report}");
    }

    let dir = tempfile::tempdir().unwrap();
    let broken = broken_copy(
        dir.path(),
        &deploy("k8s/proxy.yaml"),
        "hostNetwork: true",
        "hostNetwork: true\n      hostNetwrok: true",
    );
    let refused = validate_kubernetes(&[&broken]);
    assert!(
        !refused.status.success(),
        "a misspelt field passed:\n{}",
        text(&refused)
    );

    let kustomization = std::fs::read_to_string(deploy("k8s/kustomization.yaml")).unwrap();
    for manifest in &manifests {
        let name = manifest.file_name().unwrap().to_str().unwrap();
        assert!(
            kustomization.contains(&format!("  - {name}\n")),
            "kustomization.yaml does not apply {name}"
        );
    }
    for line in kustomization.lines() {
        if let Some(file) = line.trim().strip_prefix("- config/") {
            assert!(deploy("k8s/config").join(file).is_file(), "{file} missing");
        }
    }
    for role in ["receiver", "piper", "packer", "query", "proxy"] {
        let manifest = std::fs::read_to_string(deploy(&format!("k8s/{role}.yaml"))).unwrap();
        assert!(
            manifest.contains(&format!("/etc/bytefreezer/{role}.toml"))
                && kustomization.contains(&format!("- config/{role}.toml")),
            "{role} runs with a configuration the ConfigMap does not hold"
        );
    }
}

#[test]
fn the_compose_file_passes_the_compose_specification_and_mounts_what_roles_read() {
    let compose = deploy("compose/compose.yaml");
    let checked = validate_compose(&compose);
    assert!(checked.status.success(), "{}", text(&checked));

    let dir = tempfile::tempdir().unwrap();
    let broken = broken_copy(
        dir.path(),
        &compose,
        "  control:\n",
        "  control:\n    imagee: x\n",
    );
    let refused = validate_compose(&broken);
    assert!(
        !refused.status.success(),
        "a misspelt key passed:\n{}",
        text(&refused)
    );

    let text = std::fs::read_to_string(&compose).unwrap();
    for role in ["receiver", "piper", "packer", "query", "proxy"] {
        let runs = format!("command: [{role}, --config, /etc/bytefreezer/{role}.toml]");
        let mounts = format!("./config/{role}.toml:/etc/bytefreezer/{role}.toml:ro");
        assert!(text.contains(&runs), "{role} does not run with its file");
        assert!(text.contains(&mounts), "{role}'s file is not mounted");
        assert!(deploy(&format!("compose/config/{role}.toml")).is_file());
    }
}
