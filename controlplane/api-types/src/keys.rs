use sha2::{Digest, Sha256};

/// API keys are stored and compared only as their SHA-256: they are long random secrets, so a
/// fast hash is enough and the plaintext never needs to be kept.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}
