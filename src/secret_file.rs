//! Secrets kept out of configuration files: a setting may name a file holding its value
//! (`api_key_file`), as Docker and Kubernetes mount secrets, so the TOML itself can be shared,
//! versioned and shown without exposing a key.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// Reads `file`, when given, into `value` (surrounding whitespace and the final newline that
/// editors and `echo` add are not part of a key). Setting both is an error: which one wins
/// would be a guess.
pub fn read_into(value: &mut String, file: Option<&Path>, setting: &str) -> Result<()> {
    let Some(file) = file else {
        return Ok(());
    };
    if !value.trim().is_empty() {
        bail!("{setting} and {setting}_file are both set: keep one");
    }
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("{setting}_file: cannot read {}", file.display()))?;
    let key = text.trim();
    if key.is_empty() {
        bail!("{setting}_file: {} is empty", file.display());
    }
    *value = key.to_owned();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_read_trimmed_and_conflicts_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "bf_secret\n").unwrap();
        let mut value = String::new();
        read_into(&mut value, Some(&path), "[proxy] api_key").unwrap();
        assert_eq!(value, "bf_secret");

        let error = read_into(&mut value, Some(&path), "[proxy] api_key").unwrap_err();
        assert!(error.to_string().contains("both set"), "{error}");

        std::fs::write(&path, "\n").unwrap();
        let error = read_into(&mut String::new(), Some(&path), "[datasets] api_key").unwrap_err();
        assert!(error.to_string().contains("is empty"), "{error}");

        let missing = dir.path().join("absent");
        let error =
            read_into(&mut String::new(), Some(&missing), "[datasets] api_key").unwrap_err();
        assert!(format!("{error:#}").contains("cannot read"), "{error:#}");

        let mut untouched = "bf_inline".to_owned();
        read_into(&mut untouched, None, "[proxy] api_key").unwrap();
        assert_eq!(untouched, "bf_inline");
    }
}
