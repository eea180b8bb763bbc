//! Keeps a build cache shared by many runs (CI's `CARGO_TARGET_DIR` outside the clone) from
//! filling the disk: every rebuilt test binary leaves its old version behind (hundreds of MB
//! each in a debug build with line tables), and the incremental caches grow with every edit.
//! A full disk failed a run on this machine kind with 77 GB in `debug/`.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// Executables kept per name: a binary and its unit tests, or a test and its last version.
const KEPT_PER_NAME: usize = 2;
/// Below this much free space, every executable goes (they are relinked as needed) and the
/// incremental caches too: one full set of test executables is about 45 GB on this machine
/// kind, and its disk held about 90 GB in all (a run failed linking with 58 GB free of old
/// versions kept two per name).
const LOW_FREE_BYTES: u64 = 60 << 30;

/// Removes the test and binary executables in `debug/deps` but the newest two of each name (a
/// binary and its own unit tests share a name, `bytefreezer-HASH` twice), all of them and
/// `debug/incremental` when the disk is low. Errors are ignored: pruning is a courtesy.
pub fn build_cache(target_dir: &Path) {
    let low = free_bytes(target_dir).is_some_and(|free| free < LOW_FREE_BYTES);
    let kept = if low { 0 } else { KEPT_PER_NAME };
    let deps = target_dir.join("debug/deps");
    let Ok(entries) = std::fs::read_dir(&deps) else {
        return;
    };
    let mut by_stem: HashMap<String, Vec<(SystemTime, PathBuf)>> = HashMap::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = executable_stem(&name) else {
            continue;
        };
        let Ok(metadata) = entry.metadata() else {
            continue;
        };
        if !metadata.is_file() || metadata.permissions().mode() & 0o111 == 0 {
            continue;
        }
        let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        by_stem
            .entry(stem.to_owned())
            .or_default()
            .push((modified, entry.path()));
    }
    let stale = by_stem.into_values().flat_map(|mut versions| {
        versions.sort_unstable_by_key(|(modified, _)| std::cmp::Reverse(*modified));
        versions.into_iter().skip(kept).map(|(_, path)| path)
    });
    let mut freed = 0u64;
    for path in stale {
        freed += path.metadata().map_or(0, |m| m.len());
        let _ = std::fs::remove_file(path);
    }
    if low {
        let _ = std::fs::remove_dir_all(target_dir.join("debug/incremental"));
        eprintln!("xtask: little disk left, removed the incremental build caches");
    }
    if freed > 0 {
        eprintln!(
            "xtask: removed {} MB of superseded test binaries",
            freed >> 20
        );
    }
}

/// `kafka_end_to_end` of `kafka_end_to_end-0123456789abcdef`: executables carry no extension,
/// libraries and metadata do.
fn executable_stem(name: &str) -> Option<&str> {
    let (stem, hash) = name.rsplit_once('-')?;
    (!name.contains('.') && hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(stem)
}

fn free_bytes(path: &Path) -> Option<u64> {
    let output = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .ok()?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .nth(1)?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::executable_stem;

    #[test]
    fn only_hashed_executables_have_a_stem() {
        assert_eq!(
            executable_stem("kafka_end_to_end-0123456789abcdef"),
            Some("kafka_end_to_end")
        );
        assert_eq!(executable_stem("libarrow-0123456789abcdef.rlib"), None);
        assert_eq!(executable_stem("bytefreezer-0123456789abcdef.d"), None);
        assert_eq!(executable_stem("bytefreezer"), None);
        assert_eq!(executable_stem("x-notahash"), None);
    }
}
