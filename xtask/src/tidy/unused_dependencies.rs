//! Every dependency a crate declares is named by that crate's sources, and every entry of the
//! workspace's `[workspace.dependencies]` table is used by some crate. A dependency nobody
//! names still costs build time, and it hides the true graph from readers of Cargo.toml.
//!
//! "Named" means the crate's identifier (the key in Cargo.toml, `-` as `_`) in code outside
//! comments as a path (`tokio::spawn`, `#[tokio::main]`, `"hex::serde"` in a serde attribute),
//! or in `use name;`, `use name as other;` or `extern crate name`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::workspace_crates::{DependencyKind, WorkspaceCrate};

/// Dependencies that no source names on purpose: (crate, dependency identifier, why). Each is
/// declared only for its effect on the build, such as turning on a feature of a crate that is
/// used through another. Keep it short; a dependency that is merely unused is removed instead.
const NOT_NAMED_ON_PURPOSE: &[(&str, &str, &str)] = &[];

pub fn problems(root: &Path, crates: &[WorkspaceCrate]) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for krate in crates {
        let mut files = Vec::new();
        crate_sources(&root.join(&krate.folder), true, &mut files)?;
        // Test support shared between crates is included with `#[path]`; it counts for each
        // crate that includes it, so follow those attributes (from the files they add, too).
        let mut index = 0;
        while index < files.len() {
            let text = fs::read_to_string(&files[index])
                .with_context(|| format!("cannot read {}", files[index].display()))?;
            let folder = files[index].parent().unwrap_or(Path::new("")).to_path_buf();
            for included in path_attributes(&text) {
                let file = normalized(&folder.join(included));
                if !files.contains(&file) && file.is_file() {
                    files.push(file);
                }
            }
            index += 1;
        }
        let mut sources = Vec::new();
        for file in &files {
            sources.push(
                fs::read_to_string(file)
                    .with_context(|| format!("cannot read {}", file.display()))?,
            );
        }
        for dependency in &krate.dependencies {
            let on_purpose = NOT_NAMED_ON_PURPOSE.iter().any(|(name, identifier, _)| {
                *name == krate.name && *identifier == dependency.identifier
            });
            if on_purpose
                || sources
                    .iter()
                    .any(|source| names_crate(source, &dependency.identifier))
            {
                continue;
            }
            problems.push(format!(
                "{}: {} `{}` is named by no source of crate `{}`: remove it (or, if it is there only to turn on a feature, list it with the reason in NOT_NAMED_ON_PURPOSE in xtask/src/tidy/unused_dependencies.rs)",
                krate.manifest(),
                dependency.kind.section(),
                dependency.package,
                krate.name
            ));
        }
        for dev in krate
            .dependencies
            .iter()
            .filter(|dependency| dependency.kind == DependencyKind::Dev)
        {
            let repeats_normal = krate.dependencies.iter().any(|normal| {
                normal.kind == DependencyKind::Normal
                    && normal.identifier == dev.identifier
                    && normal.package == dev.package
                    && normal.settings == dev.settings
            });
            if repeats_normal {
                problems.push(format!(
                    "{}: [dev-dependencies] `{}` repeats its [dependencies] entry, which tests already use: remove the [dev-dependencies] line",
                    krate.manifest(),
                    dev.package
                ));
            }
        }
    }
    let manifest = fs::read_to_string(root.join("Cargo.toml")).context("cannot read Cargo.toml")?;
    for key in workspace_table_keys(&manifest) {
        let identifier = key.replace('-', "_");
        let used = crates.iter().any(|krate| {
            krate
                .dependencies
                .iter()
                .any(|dependency| dependency.identifier == identifier)
        });
        if !used {
            problems.push(format!(
                "Cargo.toml: [workspace.dependencies] `{key}` is used by no workspace crate: remove it"
            ));
        }
    }
    Ok(problems)
}

/// Whether `source` names the crate `identifier` in code (comments do not count).
pub fn names_crate(source: &str, identifier: &str) -> bool {
    source.lines().any(|line| {
        let code = without_comment(line);
        code.match_indices(identifier).any(|(at, _)| {
            let before = &code[..at];
            let after = &code[at + identifier.len()..];
            let starts_word = !before.ends_with(|c: char| c.is_alphanumeric() || c == '_');
            if !starts_word {
                return false;
            }
            if after.starts_with("::") {
                return true;
            }
            let ends_word = !after.starts_with(|c: char| c.is_alphanumeric() || c == '_');
            let before = before.trim_end();
            ends_word
                && (before.ends_with("use") && !before.ends_with("_use")
                    || before.ends_with("extern crate"))
        })
    })
}

/// The files named by `#[path = "…"]` attributes in `source`, as written.
pub fn path_attributes(source: &str) -> Vec<&str> {
    source
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("#[path"))
        .filter_map(|rest| rest.trim_start().strip_prefix('='))
        .filter_map(|rest| rest.trim_start().strip_prefix('"'))
        .filter_map(|rest| rest.split('"').next())
        .collect()
}

/// `path` with `.` and `folder/..` pairs removed, so one file has one name.
fn normalized(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The line without a `//` comment. A `//` inside a string (`"a // b"`) cuts it short too,
/// which can only make a dependency look unnamed, never hide an unused one.
fn without_comment(line: &str) -> &str {
    let mut from = 0;
    while let Some(at) = line[from..].find("//") {
        let at = from + at;
        if at == 0 || line[..at].ends_with(char::is_whitespace) {
            return &line[..at];
        }
        from = at + 2;
    }
    line
}

/// The keys of the `[workspace.dependencies]` table of a root Cargo.toml.
pub fn workspace_table_keys(manifest: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut in_table = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_table = line == "[workspace.dependencies]";
            continue;
        }
        if !in_table || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key: String = line
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        if !key.is_empty() {
            keys.push(key);
        }
    }
    keys
}

/// The Rust files of the crate in `folder`: every `.rs` below it except in nested crates
/// (a folder with its own Cargo.toml, such as `fuzz/`), build output, data and hidden folders.
fn crate_sources(folder: &Path, is_crate_root: bool, out: &mut Vec<PathBuf>) -> Result<()> {
    if !is_crate_root && folder.join("Cargo.toml").exists() {
        return Ok(());
    }
    for entry in
        fs::read_dir(folder).with_context(|| format!("cannot list {}", folder.display()))?
    {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // As in `collect_rust_files`: hidden folders, build output, `up`'s data folder.
        if name.starts_with('.') || name == "target" || name == "bytefreezer-data" {
            continue;
        }
        if entry.file_type()?.is_dir() {
            crate_sources(&entry.path(), false, out)?;
        } else if name.ends_with(".rs") {
            out.push(entry.path());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_uses_and_attributes_name_a_crate() {
        assert!(names_crate("use tokio::sync::mpsc;", "tokio"));
        assert!(names_crate("#[tokio::main]\nasync fn main() {}", "tokio"));
        assert!(names_crate(
            "    let x = serde_json::json!({});",
            "serde_json"
        ));
        assert!(names_crate("use mimalloc;", "mimalloc"));
        assert!(names_crate("pub use rand as random;", "rand"));
        assert!(names_crate("extern crate libc;", "libc"));
        assert!(names_crate("#[serde(with = \"hex::serde\")]", "hex"));
    }

    #[test]
    fn comments_prefixes_and_other_crates_do_not() {
        assert!(!names_crate("// tokio::spawn would block here", "tokio"));
        assert!(!names_crate("/// see [`tokio::spawn`]", "tokio"));
        assert!(!names_crate("let x = 1; // tokio::spawn", "tokio"));
        assert!(!names_crate("use tokio_util::codec;", "tokio"));
        assert!(!names_crate("use my_tokio::codec;", "tokio"));
        assert!(!names_crate("let tokio = 3;", "tokio"));
        assert!(!names_crate("fn reuse(rand: u8) {}", "rand"));
        assert!(names_crate(
            &format!(
                "let url = \"{}x\"; url::Url::parse(x)",
                concat!("http", "://")
            ),
            "url"
        ));
    }

    #[test]
    fn path_attributes_are_read_and_paths_normalized() {
        let source = "#[path = \"../../store/tests/support/backends.rs\"]\nmod backends;\n    #[path=\"support/up.rs\"]\nmod up;\n// #[path = \"no.rs\"]\n";
        assert_eq!(
            path_attributes(source),
            ["../../store/tests/support/backends.rs", "support/up.rs"]
        );
        assert_eq!(
            normalized(Path::new("/w/server/tests/./../../store/tests/a.rs")),
            Path::new("/w/store/tests/a.rs")
        );
    }

    #[test]
    fn the_workspace_table_keys_are_read_and_nothing_else() {
        let manifest = "[workspace]\nmembers = [\"a\"]\n\n[workspace.dependencies]\n# why\narrow = { version = \"59\" }\nbytefreezer-schema = { path = \"dataplane/schema\" }\ntokio = \"1\"\n\n[package]\nname = \"x\"\n\n[dependencies]\nserde.workspace = true\n";
        assert_eq!(
            workspace_table_keys(manifest),
            ["arrow", "bytefreezer-schema", "tokio"]
        );
    }

    #[test]
    fn an_unnamed_dependency_is_reported_with_its_section_and_fix() {
        let root = std::env::temp_dir().join(format!("tidy-unused-{}", std::process::id()));
        let crate_folder = root.join("dataplane/proxy");
        fs::create_dir_all(crate_folder.join("src")).expect("folders");
        fs::create_dir_all(crate_folder.join("fuzz/src")).expect("folders");
        fs::write(
            root.join("Cargo.toml"),
            "[workspace.dependencies]\ntokio = \"1\"\ncc = \"1\"\nstale = \"1\"\n",
        )
        .expect("manifest");
        fs::write(
            crate_folder.join("src/lib.rs"),
            "//! x\n#[path = \"../../shared_support.rs\"]\nmod shared;\n",
        )
        .expect("lib");
        // Included from outside the crate's folder, so found only through `#[path]`.
        fs::write(
            root.join("dataplane/shared_support.rs"),
            "use tokio::spawn;\n",
        )
        .expect("shared");
        // A nested crate's sources do not count for the crate around it.
        fs::write(crate_folder.join("fuzz/Cargo.toml"), "").expect("fuzz manifest");
        fs::write(crate_folder.join("fuzz/src/main.rs"), "use cc::Build;\n").expect("fuzz");
        let metadata = serde_json::json!({
            "workspace_root": root.display().to_string(),
            "packages": [{
                "name": "bytefreezer-proxy",
                "manifest_path": crate_folder.join("Cargo.toml").display().to_string(),
                "dependencies": [
                    {"name": "tokio", "kind": null, "rename": null},
                    {"name": "cc", "kind": "build", "rename": null},
                    {"name": "tokio", "kind": "dev", "rename": null},
                    {"name": "tokio", "kind": "dev", "rename": null, "features": ["test-util"]},
                ],
            }],
        });
        let crates = super::super::workspace_crates::from_metadata(&metadata).expect("crates");
        let found = problems(&root, &crates).expect("checked");
        let _ = fs::remove_dir_all(&root);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].starts_with(
            "dataplane/proxy/Cargo.toml: [build-dependencies] `cc` is named by no source of crate `proxy`: remove it"
        ));
        // The first dev entry repeats [dependencies]; the second adds a feature, so it stays.
        assert_eq!(
            found[1],
            "dataplane/proxy/Cargo.toml: [dev-dependencies] `tokio` repeats its [dependencies] entry, which tests already use: remove the [dev-dependencies] line"
        );
        assert_eq!(
            found[2],
            "Cargo.toml: [workspace.dependencies] `stale` is used by no workspace crate: remove it"
        );
    }
}
