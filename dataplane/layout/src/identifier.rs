#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{kind} {value:?} is not a valid identifier: use 1 to 63 characters from a-z, 0-9, '-' and '_', starting with a letter or digit"
)]
pub struct IdentifierError {
    pub kind: &'static str,
    pub value: String,
}

/// Tenant, dataset and batch identifiers become path segments, so they are restricted to
/// characters that are safe in every object store and file system, and can never be `..`,
/// contain `/`, or collide with the internal `_bytefreezer` prefix.
pub fn validate_identifier(kind: &'static str, value: &str) -> Result<(), IdentifierError> {
    let bytes = value.as_bytes();
    let valid = !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_');
    if valid {
        Ok(())
    } else {
        Err(IdentifierError {
            kind,
            value: value.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_path_tricks() {
        for bad in [
            "",
            "..",
            "a/b",
            "_bytefreezer",
            "A",
            "x".repeat(64).as_str(),
            "a b",
        ] {
            assert!(validate_identifier("tenant", bad).is_err(), "{bad:?}");
        }
        for good in [
            "demo",
            "fw-logs",
            "0196f0c2-7b6e-7c3a-9a51-000000000001",
            "a_b",
        ] {
            assert!(validate_identifier("tenant", good).is_ok(), "{good:?}");
        }
    }
}
