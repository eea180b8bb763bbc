//! What a service does. The names are the wire format: the `role` of every heartbeat and of the
//! service registry, the stages the dashboard lists, the prefix of each role's metrics.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One kind of service: a process of its own, or one part of `bytefreezer up`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Control,
    Proxy,
    Receiver,
    Piper,
    Packer,
    Query,
}

impl Role {
    /// Every role, in the order `bytefreezer up` starts them.
    pub const ALL: [Role; 6] = [
        Role::Control,
        Role::Proxy,
        Role::Receiver,
        Role::Piper,
        Role::Packer,
        Role::Query,
    ];

    /// The stages data passes through, and the query service that reads the result: the roles
    /// a dataset's statistics say are installed or not.
    pub const DATA_SIDE: [Role; 5] = [
        Role::Proxy,
        Role::Receiver,
        Role::Piper,
        Role::Packer,
        Role::Query,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Control => "control",
            Role::Proxy => "proxy",
            Role::Receiver => "receiver",
            Role::Piper => "piper",
            Role::Packer => "packer",
            Role::Query => "query",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name this build does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a role: must be {known}", known = known_roles())]
pub struct UnknownRole(pub String);

/// "control, proxy, … or query", from [`Role::ALL`] so the message cannot miss a role.
fn known_roles() -> String {
    let names: Vec<&str> = Role::ALL.iter().map(|role| role.as_str()).collect();
    match names.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(name: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == name)
            .ok_or_else(|| UnknownRole(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_reads_back_from_its_name_as_text_and_as_json() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{role}\""));
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), role);
        }
        assert_eq!(
            "shipper".parse::<Role>().unwrap_err().to_string(),
            "\"shipper\" is not a role: must be control, proxy, receiver, piper, packer or query"
        );
        assert!(serde_json::from_str::<Role>("\"Proxy\"").is_err());
    }
}
