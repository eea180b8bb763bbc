use std::path::Path;

use anyhow::{Context, Result};

/// The stable identity of this service instance, kept in its data folder so that after a
/// restart it takes back its own leases at once instead of waiting for them to expire.
pub fn instance_id(data_dir: &Path, role: &str) -> Result<String> {
    let path = data_dir.join(format!("{role}.instance-id"));
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim();
        if bytefreezer_layout::validate_identifier("instance id", existing).is_ok() {
            return Ok(existing.to_owned());
        }
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data folder {}", data_dir.display()))?;
    let id = format!("{role}-{}", uuid::Uuid::new_v4().simple());
    std::fs::write(&path, &id).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(id)
}
