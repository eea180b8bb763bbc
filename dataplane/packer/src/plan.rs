use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The inputs one Parquet file is made of, written before the file so a crash can be replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub tenant_id: String,
    pub dataset_id: String,
    /// `year=YYYY/month=MM/day=DD/hour=HH`.
    pub hour: String,
    pub file_id: String,
    pub inputs: Vec<String>,
}

/// A file name derived from the input set: the same inputs always give the same name, and the
/// first batch id (time-ordered) keeps files sorted by arrival.
pub fn file_id(first_batch_id: &str, sorted_inputs: &[String]) -> String {
    let mut hash = Sha256::new();
    for input in sorted_inputs {
        hash.update(input.as_bytes());
        hash.update([0]);
    }
    let digest = hex::encode(hash.finalize());
    let prefix: String = first_batch_id.chars().take(40).collect();
    format!("{prefix}-{}", &digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_ids_depend_on_the_input_set_only_and_are_valid_identifiers() {
        let inputs = vec!["a".to_owned(), "b".to_owned()];
        let id = file_id("0196f0c2-7b6e-7c3a-9a51-000000000001", &inputs);
        assert_eq!(id, file_id("0196f0c2-7b6e-7c3a-9a51-000000000001", &inputs));
        assert_ne!(
            id,
            file_id("0196f0c2-7b6e-7c3a-9a51-000000000001", &inputs[..1])
        );
        bytefreezer_layout::validate_identifier("file", &id).unwrap();
    }
}
