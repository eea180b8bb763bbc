//! The session `ctl login` saves: which control plane, the session cookie and its CSRF token,
//! in a file only its owner can read.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSession {
    /// The control plane the session belongs to.
    pub url: String,
    /// Who logged in, for `whoami` and `logout` messages.
    pub actor: String,
    /// The `bf_session` cookie.
    pub token: String,
    /// Sent as `X-CSRF-Token` on every change.
    pub csrf_token: String,
}

/// `$BYTEFREEZER_CTL_SESSION`, else `~/.config/bytefreezer/ctl-session.json`.
pub fn path() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("BYTEFREEZER_CTL_SESSION").filter(|p| !p.is_empty()) {
        return Ok(path.into());
    }
    let home = std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .context("no place for the session file: set HOME or BYTEFREEZER_CTL_SESSION")?;
    Ok(PathBuf::from(home).join(".config/bytefreezer/ctl-session.json"))
}

/// The saved session, or `None` when nobody is logged in.
pub fn load(path: &Path) -> Result<Option<SavedSession>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read {}", path.display()));
        }
    };
    serde_json::from_str(&text).map(Some).with_context(|| {
        format!(
            "{} is not a session saved by `bytefreezer ctl login`; delete it and log in again",
            path.display()
        )
    })
}

/// Writes the session readable by its owner only, replacing any earlier one in one step.
pub fn save(path: &Path, session: &SavedSession) -> Result<()> {
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_folder(folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
    }
    let mut staged = path.as_os_str().to_owned();
    staged.push(".tmp");
    let staged = PathBuf::from(staged);
    // A stale staging file would keep its old permissions through the truncating open.
    let _ = std::fs::remove_file(&staged);
    let write = || -> std::io::Result<()> {
        let mut file = owner_only().open(&staged)?;
        file.write_all(&serde_json::to_vec_pretty(session)?)?;
        file.sync_all()?;
        std::fs::rename(&staged, path)
    };
    write().with_context(|| format!("cannot save the session in {}", path.display()))
}

/// Deletes the saved session; false when there was none.
pub fn remove(path: &Path) -> Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error).with_context(|| format!("cannot delete {}", path.display())),
    }
}

fn owner_only() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

fn create_private_folder(folder: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(folder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_session_loads_back_and_only_its_owner_can_read_it() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("nested/ctl-session.json");
        assert_eq!(load(&path).unwrap(), None);
        let session = SavedSession {
            url: "http://127.0.0.1:8000".into(),
            actor: "admin@example.com".into(),
            token: "token".into(),
            csrf_token: "csrf".into(),
        };
        save(&path, &session).unwrap();
        save(&path, &session).unwrap();
        assert_eq!(load(&path).unwrap(), Some(session));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(remove(&path).unwrap());
        assert!(!remove(&path).unwrap());
    }

    #[test]
    fn a_damaged_session_file_says_how_to_recover() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("ctl-session.json");
        std::fs::write(&path, "not json").unwrap();
        let error = load(&path).unwrap_err().to_string();
        assert!(error.contains("log in again"), "{error}");
    }
}
