//! The filter types a pipeline may name, defined once: piper compiles by them, the catalog
//! describes each, and the control plane redacts secrets by them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! filter_types {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        /// One filter type, named in a pipeline as `{"type": "<name>"}`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum FilterType {
            $(#[serde(rename = $name)] $variant),+
        }

        impl FilterType {
            /// Every filter type, in the order the catalog lists them.
            pub const ALL: &[FilterType] = &[$(FilterType::$variant),+];

            /// The name a pipeline uses for this type.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(FilterType::$variant => $name),+
                }
            }
        }
    };
}

filter_types! {
    RenameField => "rename_field",
    CopyField => "copy_field",
    AddField => "add_field",
    RemoveField => "remove_field",
    Drop => "drop",
    Keep => "keep",
    Lowercase => "lowercase",
    Uppercase => "uppercase",
    Trim => "trim",
    Mask => "mask",
    Hash => "hash",
    RegexReplace => "regex_replace",
    RegexExtract => "regex_extract",
    Kv => "kv",
    JsonParse => "json_parse",
    JsonFlatten => "json_flatten",
    Convert => "convert",
    DateParse => "date_parse",
    Geoip => "geoip",
    Sample => "sample",
}

impl fmt::Display for FilterType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pipeline named a filter type that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown filter type {name:?}; known types: {}", known_names())]
pub struct UnknownFilterType {
    pub name: String,
}

fn known_names() -> String {
    let names: Vec<&str> = FilterType::ALL.iter().map(|kind| kind.as_str()).collect();
    names.join(", ")
}

impl FromStr for FilterType {
    type Err = UnknownFilterType;

    fn from_str(name: &str) -> Result<FilterType, UnknownFilterType> {
        FilterType::ALL
            .iter()
            .copied()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| UnknownFilterType {
                name: name.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_serialize_as_the_pipeline_writes_them() {
        for kind in FilterType::ALL {
            assert_eq!(kind.as_str().parse::<FilterType>(), Ok(*kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::String(kind.as_str().to_owned())
            );
        }
        let error = "rename".parse::<FilterType>().unwrap_err().to_string();
        assert!(
            error.starts_with(
                "unknown filter type \"rename\"; known types: rename_field, copy_field"
            ),
            "{error}"
        );
    }
}
