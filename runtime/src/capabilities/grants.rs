//! The set of capabilities an operator granted one app version, and the
//! catalogue of grant names the platform knows.

use std::collections::BTreeSet;

/// Grant names the platform understands, from every unit in
/// [`super::UNITS`]; a name ending in `:` is a prefix (`http:` + target).
pub fn known_grants() -> impl Iterator<Item = &'static str> {
    super::UNITS.iter().flat_map(|unit| unit.grants.iter().copied())
}

/// Whether `name` is a grant the platform knows.
pub fn is_known_grant(name: &str) -> bool {
    known_grants().any(|grant| match grant.strip_suffix(':') {
        Some(_) => name
            .strip_prefix(grant)
            .is_some_and(|target| grant == "http:" && is_valid_http_target(target)),
        None => grant == name,
    })
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

/// The rule for one import name (versions are ignored): the unit that
/// provides the interface says which grants unlock it; WASI's own
/// interfaces are linked with nothing granted.
pub fn grants_for_import(import: &str) -> ImportRule {
    let unversioned = import.split('@').next().unwrap_or(import);
    if let Some(unit) = super::UNITS.iter().find(|u| u.imports.contains(&unversioned)) {
        return if unit.grants.is_empty() {
            ImportRule::Always
        } else {
            ImportRule::NeedsOneOf(unit.grants)
        };
    }
    let wasi_ungranted = [
        "wasi:cli/",
        "wasi:io/",
        "wasi:clocks/",
        "wasi:random/",
        "wasi:filesystem/",
        "wasi:sockets/",
        "wasi:http/types",
    ];
    if wasi_ungranted.iter().any(|p| unversioned.starts_with(p)) {
        ImportRule::Always
    } else {
        ImportRule::Unknown
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
        assert_eq!(
            grants_for_import("wasi:http/outgoing-handler@0.2.6"),
            ImportRule::NeedsOneOf(&["http:"])
        );
        assert_eq!(
            grants_for_import("miniapp:platform/payments"),
            ImportRule::NeedsOneOf(&["payments", "payments.payout"])
        );
    }

    #[test]
    fn the_catalogue_is_every_units_grants() {
        let names: Vec<&str> = known_grants().collect();
        for name in [
            "messaging.send",
            "identity.sign",
            "storage",
            "payments.payout",
            "config",
            "http:",
        ] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
        // Every unit's interfaces are reviewable, and no two units claim one.
        let mut imports: Vec<&str> = super::super::UNITS
            .iter()
            .flat_map(|u| u.imports.iter().copied())
            .collect();
        let all = imports.len();
        imports.sort();
        imports.dedup();
        assert_eq!(imports.len(), all, "an interface is claimed by two units");
    }
}
