//! The set of capabilities an operator granted one app version, and the
//! catalogue of grant names the platform knows.

use std::collections::BTreeSet;

/// Grant names the platform understands (besides `http:<host[:port]>`).
pub const KNOWN_GRANTS: &[&str] = &[
    "messaging.send",
    "messaging.read",
    "identity.basic",
    "identity.profile",
    "identity.phone",
    "identity.sign",
    "storage",
    "payments",
    "payments.payout",
    "config",
];

/// Whether `name` is a grant the platform knows.
pub fn is_known_grant(name: &str) -> bool {
    KNOWN_GRANTS.contains(&name) || name.strip_prefix("http:").is_some_and(is_valid_http_target)
}

fn is_valid_http_target(target: &str) -> bool {
    let (host, port) = match target.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (target, None),
    };
    !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0))
}

/// What one app version was granted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants(BTreeSet<String>);

impl Grants {
    /// Grants exactly `names`.
    pub fn new(names: impl IntoIterator<Item = String>) -> Grants {
        Grants(names.into_iter().collect())
    }

    /// Whether `name` was granted.
    pub fn has(&self, name: &str) -> bool {
        self.0.contains(name)
    }

    /// The granted names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

/// What a component must have requested to import an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportRule {
    /// Always allowed: shared types, logging, and WASI linked with nothing granted.
    Always,
    /// One of these grants (`http:` matches any `http:<host>`) must be requested.
    NeedsOneOf(&'static [&'static str]),
    /// Not an interface this platform provides.
    Unknown,
}

/// The rule for one import name (versions are ignored).
pub fn grants_for_import(import: &str) -> ImportRule {
    let unversioned = import.split('@').next().unwrap_or(import);
    match unversioned {
        "miniapp:platform/types" | "miniapp:platform/log" => ImportRule::Always,
        "miniapp:platform/messaging" => ImportRule::NeedsOneOf(&["messaging.send", "messaging.read"]),
        "miniapp:platform/identity" => {
            ImportRule::NeedsOneOf(&["identity.basic", "identity.profile", "identity.phone", "identity.sign"])
        }
        "miniapp:platform/storage" => ImportRule::NeedsOneOf(&["storage"]),
        "miniapp:platform/payments" => ImportRule::NeedsOneOf(&["payments", "payments.payout"]),
        "wasi:config/store" => ImportRule::NeedsOneOf(&["config"]),
        "wasi:http/outgoing-handler" => ImportRule::NeedsOneOf(&["http:"]),
        other => {
            let wasi_ungranted = [
                "wasi:cli/",
                "wasi:io/",
                "wasi:clocks/",
                "wasi:random/",
                "wasi:filesystem/",
                "wasi:sockets/",
                "wasi:http/types",
            ];
            if wasi_ungranted.iter().any(|p| other.starts_with(p)) {
                ImportRule::Always
            } else {
                ImportRule::Unknown
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_grants_include_http_hosts_but_not_garbage() {
        assert!(is_known_grant("storage"));
        assert!(is_known_grant("http:api.example.com"));
        assert!(is_known_grant("http:127.0.0.1:8080"));
        assert!(!is_known_grant("http:"));
        assert!(!is_known_grant("http:exa mple.com"));
        assert!(!is_known_grant("http:example.com:0"));
        assert!(!is_known_grant("root"));
    }

    #[test]
    fn imports_map_to_the_grants_that_unlock_them() {
        assert_eq!(grants_for_import("miniapp:platform/log@0.1.0"), ImportRule::Always);
        assert_eq!(
            grants_for_import("miniapp:platform/storage@0.1.0"),
            ImportRule::NeedsOneOf(&["storage"])
        );
        assert_eq!(grants_for_import("wasi:cli/stdout@0.2.6"), ImportRule::Always);
        assert_eq!(grants_for_import("evil:pkg/backdoor"), ImportRule::Unknown);
    }
}
