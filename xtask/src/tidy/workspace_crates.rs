//! The workspace's crates and the dependencies each declares, as `cargo metadata --no-deps`
//! reports them, named the way docs/architecture.md names them: by folder (`proxy` for
//! `dataplane/proxy`), `bytefreezer` for the binary at the root.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

pub struct WorkspaceCrate {
    /// The folder's last component (`proxy`), or the package name for the root package.
    pub name: String,
    pub package: String,
    /// Relative to the workspace root; empty for the root package.
    pub folder: PathBuf,
    pub dependencies: Vec<Dependency>,
}

pub struct Dependency {
    /// The package it names.
    pub package: String,
    /// How sources refer to it: the key in Cargo.toml (`package =` renames), `-` as `_`.
    pub identifier: String,
    pub kind: DependencyKind,
    /// Set when the dependency is another workspace crate: its name in the sense above.
    pub workspace_crate: Option<String>,
    /// Features, default features, optional and target platform as one comparable value, to
    /// tell a `[dev-dependencies]` entry that adds a feature from one that repeats `[dependencies]`.
    pub settings: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DependencyKind {
    Normal,
    Build,
    Dev,
}

impl DependencyKind {
    pub fn section(self) -> &'static str {
        match self {
            DependencyKind::Normal => "[dependencies]",
            DependencyKind::Build => "[build-dependencies]",
            DependencyKind::Dev => "[dev-dependencies]",
        }
    }
}

impl WorkspaceCrate {
    pub fn manifest(&self) -> String {
        self.folder.join("Cargo.toml").display().to_string()
    }
}

/// Runs `cargo metadata` in `root` and reads the workspace's crates from it.
pub fn load(root: &Path) -> Result<Vec<WorkspaceCrate>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let metadata = crate::cargo_metadata(
        Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .current_dir(root),
    )?;
    from_metadata(&metadata)
}

/// The crates of `cargo metadata --format-version 1 --no-deps` output.
pub fn from_metadata(metadata: &Value) -> Result<Vec<WorkspaceCrate>> {
    let root = Path::new(
        metadata["workspace_root"]
            .as_str()
            .context("cargo metadata: no workspace_root")?,
    );
    let packages = metadata["packages"]
        .as_array()
        .context("cargo metadata: no packages")?;
    let mut folders = Vec::new();
    for package in packages {
        let name = text(package, "name")?;
        let manifest = Path::new(text(package, "manifest_path")?);
        let folder = manifest
            .parent()
            .and_then(|folder| folder.strip_prefix(root).ok())
            .with_context(|| format!("{name}: manifest outside the workspace"))?;
        let short = match folder.file_name() {
            Some(last) => last.to_string_lossy().into_owned(),
            None => name.to_owned(),
        };
        folders.push((name.to_owned(), short, folder.to_path_buf()));
    }
    let crate_name = |package: &str| {
        folders
            .iter()
            .find(|(name, _, _)| name == package)
            .map(|(_, short, _)| short.clone())
    };
    let mut crates = Vec::new();
    for (package, (_, short, folder)) in packages.iter().zip(&folders) {
        let mut dependencies = Vec::new();
        for dependency in package["dependencies"].as_array().into_iter().flatten() {
            let name = text(dependency, "name")?;
            let key = dependency["rename"].as_str().unwrap_or(name);
            let kind = match dependency["kind"].as_str() {
                None => DependencyKind::Normal,
                Some("build") => DependencyKind::Build,
                Some("dev") => DependencyKind::Dev,
                Some(other) => bail!("{name}: unknown dependency kind {other}"),
            };
            let in_workspace = dependency["path"].is_string();
            dependencies.push(Dependency {
                package: name.to_owned(),
                identifier: key.replace('-', "_"),
                kind,
                workspace_crate: if in_workspace { crate_name(name) } else { None },
                settings: settings(dependency),
            });
        }
        crates.push(WorkspaceCrate {
            name: short.clone(),
            package: text(package, "name")?.to_owned(),
            folder: folder.clone(),
            dependencies,
        });
    }
    Ok(crates)
}

fn settings(dependency: &Value) -> String {
    let mut features: Vec<&str> = dependency["features"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    features.sort_unstable();
    format!(
        "features {features:?}, default features {}, optional {}, target {}",
        dependency["uses_default_features"], dependency["optional"], dependency["target"]
    )
}

fn text<'a>(value: &'a Value, field: &str) -> Result<&'a str> {
    value[field]
        .as_str()
        .with_context(|| format!("cargo metadata: no `{field}` in {value}"))
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Two crates in the shape `cargo metadata` prints: the root binary and `dataplane/proxy`.
    pub fn fixture() -> Value {
        serde_json::json!({
            "workspace_root": "/w",
            "packages": [
                {
                    "name": "bytefreezer",
                    "manifest_path": "/w/Cargo.toml",
                    "dependencies": [
                        {"name": "bytefreezer-proxy", "kind": null, "rename": null, "path": "/w/dataplane/proxy"},
                        {"name": "tokio", "kind": null, "rename": null},
                        {"name": "tempfile", "kind": "dev", "rename": null},
                    ],
                },
                {
                    "name": "bytefreezer-proxy",
                    "manifest_path": "/w/dataplane/proxy/Cargo.toml",
                    "dependencies": [
                        {"name": "serde-json", "kind": null, "rename": "json-text"},
                        {"name": "cc", "kind": "build", "rename": null},
                    ],
                },
            ],
        })
    }

    #[test]
    fn crates_are_named_by_folder_and_dependencies_by_their_identifier() {
        let crates = from_metadata(&fixture()).expect("parses");
        assert_eq!(crates[0].name, "bytefreezer");
        assert_eq!(crates[0].manifest(), "Cargo.toml");
        assert_eq!(
            crates[0].dependencies[0].workspace_crate.as_deref(),
            Some("proxy")
        );
        assert_eq!(crates[0].dependencies[1].workspace_crate, None);
        assert_eq!(crates[0].dependencies[2].kind, DependencyKind::Dev);
        assert_eq!(crates[1].name, "proxy");
        assert_eq!(crates[1].manifest(), "dataplane/proxy/Cargo.toml");
        assert_eq!(crates[1].dependencies[0].identifier, "json_text");
        assert_eq!(crates[1].dependencies[1].kind, DependencyKind::Build);
    }
}
