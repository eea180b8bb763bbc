//! Test data and tools come through the package tools (cargo, apt-get, pip, npm), which honour
//! the user's mirror and source-replacement settings; an address written into the repository
//! would bypass them and break builds behind a mirror.

/// Built at compile time so this file does not flag itself.
const SCHEMES: [&str; 2] = [concat!("http", "://"), concat!("https", "://")];

/// Where the package registries serve downloads from. None may appear in the repository.
const REGISTRY_HOSTS: [&str; 6] = [
    concat!("static.", "crates.io"),
    concat!("index.", "crates.io"),
    concat!("registry.", "npmjs.org"),
    concat!("files.", "pythonhosted.org"),
    concat!("pypi.", "org"),
    concat!("deb.", "debian.org"),
];

/// Addresses xtask may write: its own services on this host.
const LOCAL_HOSTS: [&str; 5] = ["127.", "localhost", "[::1]", "0.0.0.0", "{"];

/// A web address in a code line of xtask whose host is not this machine.
pub fn remote_address(line: &str) -> Option<&str> {
    if line.trim_start().starts_with("//") {
        return None;
    }
    SCHEMES.iter().find_map(|scheme| {
        line.match_indices(scheme).find_map(|(at, _)| {
            let rest = &line[at + scheme.len()..];
            let end = rest
                .find(|c: char| c == '"' || c == '\'' || c.is_whitespace())
                .unwrap_or(rest.len());
            let address = &line[at..at + scheme.len() + end];
            (!LOCAL_HOSTS.iter().any(|host| rest.starts_with(host))).then_some(address)
        })
    })
}

/// A registry download host named anywhere in `text`.
pub fn registry_host(text: &str) -> Option<&'static str> {
    REGISTRY_HOSTS.into_iter().find(|host| text.contains(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_addresses_in_code_are_found_and_local_ones_pass() {
        let remote = format!("let url = \"{}example.net/a.crate\";", SCHEMES[1]);
        assert_eq!(
            remote_address(&remote),
            Some(format!("{}example.net/a.crate", SCHEMES[1]).as_str())
        );
        let local = format!("receiver_url = \\\"{}{{RECEIVER_LISTEN}}\\\"", SCHEMES[0]);
        assert_eq!(remote_address(&local), None);
        let loopback = format!("get(\"{}127.0.0.1:8000/healthz\")", SCHEMES[0]);
        assert_eq!(remote_address(&loopback), None);
        let comment = format!("    /// see {}example.net/spec", SCHEMES[1]);
        assert_eq!(remote_address(&comment), None);
        assert_eq!(remote_address("frontend https-in backend"), None);
    }

    #[test]
    fn registry_hosts_are_found_in_any_text() {
        let text = format!(
            "curl {}{}/crates/x/x-1.crate",
            SCHEMES[1], REGISTRY_HOSTS[0]
        );
        assert_eq!(registry_host(&text), Some(REGISTRY_HOSTS[0]));
        assert_eq!(registry_host("the crates.io package netflow_parser"), None);
    }
}
