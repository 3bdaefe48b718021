//! `miniapp.toml`: what an app is and what it asks for.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::capabilities::grants::is_known_grant;

pub use crate::store::status::AppKind;

/// A parsed, validated manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Unique app name: lowercase letters, digits and `-`.
    pub name: String,
    /// Semver version.
    pub version: semver::Version,
    /// Bot, web app or both.
    pub kind: AppKind,
    /// Shown to operators and users.
    #[serde(default)]
    pub description: String,
    /// Requested capability → the reason shown to the operator and the user.
    #[serde(default)]
    pub capabilities: BTreeMap<String, String>,
    /// Recurring schedules: name → 5-field cron expression (UTC). Each
    /// runs the app with a `timer` event named after it; needs the
    /// `schedule` capability.
    #[serde(default)]
    pub schedules: BTreeMap<String, String>,
    /// Inbound webhooks: name → what the endpoint `/hooks/{app}/{name}` is
    /// for (shown to the operator). Each delivery runs the app with a
    /// `webhook` event; needs the `webhook` capability.
    #[serde(default)]
    pub webhooks: BTreeMap<String, String>,
}

/// Most webhooks one manifest may declare.
pub const MAX_WEBHOOKS: usize = 10;

/// A manifest table of named entries (`[schedules]`, `[webhooks]`): it
/// needs its capability requested, has at most `max` entries, each with a
/// [`plain_name`].
struct NamedTable {
    field: &'static str,
    what: &'static str,
    capability: &'static str,
    max: usize,
}

impl NamedTable {
    /// Checks `entries` of `manifest`, each value with `value` (a problem or `None`).
    fn check(
        &self,
        manifest: &Manifest,
        entries: &BTreeMap<String, String>,
        value: impl Fn(&str, &str) -> Option<String>,
    ) -> Result<(), ManifestError> {
        let problem = |problem: String| ManifestError::Field {
            field: self.field,
            problem,
        };
        if entries.is_empty() {
            return Ok(());
        }
        if !manifest.requests(self.capability) {
            return Err(problem(format!(
                "{} need the `{cap}` capability: add `\"{cap}\" = \"<why>\"` under [capabilities]",
                self.field,
                cap = self.capability
            )));
        }
        if entries.len() > self.max {
            return Err(problem(format!("at most {} entries", self.max)));
        }
        for (name, v) in entries {
            if !plain_name(name) {
                return Err(problem(format!(
                    "{} name {name:?}: 1 to 64 lowercase letters, digits, '-' or '_'",
                    self.what
                )));
            }
            if let Some(p) = value(name, v) {
                return Err(problem(p));
            }
        }
        Ok(())
    }
}

/// What an app's name may be, in words.
pub const APP_NAME_RULE: &str = "2 to 64 characters: lowercase letters, digits and '-', starting with a letter";

/// Whether `name` is a valid app name ([`APP_NAME_RULE`]).
pub fn is_app_name(name: &str) -> bool {
    (2..=64).contains(&name.len())
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A schedule's or webhook's name: 1 to 64 lowercase letters, digits, `-`
/// or `_` (it is a URL path segment for webhooks).
fn plain_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Most schedules one manifest may declare.
pub const MAX_SCHEDULES: usize = 20;

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not TOML or not the expected shape.
    #[error("manifest is not valid: {0}")]
    Syntax(String),
    /// A field is out of range.
    #[error("manifest field `{field}`: {problem}")]
    Field {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
}

impl Manifest {
    /// Parses and validates manifest text.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| ManifestError::Syntax(e.message().to_string()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<(), ManifestError> {
        if !is_app_name(&self.name) {
            return Err(ManifestError::Field {
                field: "name",
                problem: APP_NAME_RULE.into(),
            });
        }
        if self.description.len() > 2_000 {
            return Err(ManifestError::Field {
                field: "description",
                problem: "at most 2000 bytes".into(),
            });
        }
        if !self.description.is_empty()
            && let Err(e) = crate::text::check_visible("description", &self.description)
        {
            return Err(ManifestError::Field {
                field: "description",
                problem: e.to_string(),
            });
        }
        if self.capabilities.len() > 64 {
            return Err(ManifestError::Field {
                field: "capabilities",
                problem: "at most 64 entries".into(),
            });
        }
        for (grant, reason) in &self.capabilities {
            if !is_known_grant(grant) {
                return Err(ManifestError::Field {
                    field: "capabilities",
                    problem: format!("unknown capability {grant:?}"),
                });
            }
            if reason.len() > 500 {
                return Err(ManifestError::Field {
                    field: "capabilities",
                    problem: format!("capability {grant:?} needs a reason of 1 to 500 bytes"),
                });
            }
            if let Err(e) = crate::text::check_line(&format!("the reason for {grant:?}"), reason) {
                return Err(ManifestError::Field {
                    field: "capabilities",
                    problem: e.to_string(),
                });
            }
        }
        self.validate_schedules()?;
        self.validate_webhooks()
    }

    fn validate_webhooks(&self) -> Result<(), ManifestError> {
        let table = NamedTable {
            field: "webhooks",
            what: "webhook",
            capability: "webhook",
            max: MAX_WEBHOOKS,
        };
        table.check(self, &self.webhooks, |name, purpose| {
            (purpose.len() > 500).then(|| format!("webhook {name:?}: a description of at most 500 bytes"))
        })
    }

    fn validate_schedules(&self) -> Result<(), ManifestError> {
        let table = NamedTable {
            field: "schedules",
            what: "schedule",
            capability: "schedule",
            max: MAX_SCHEDULES,
        };
        table.check(self, &self.schedules, |name, expr| {
            match crate::cron::Schedule::parse(expr) {
                Err(e) => Some(format!("schedule {name:?}: {e}")),
                Ok(s) if s.next_after(crate::clock::now_ms()).is_none() => {
                    Some(format!("schedule {name:?}: {expr:?} never matches again"))
                }
                Ok(_) => None,
            }
        })
    }

    /// Whether a grant (or, for `http:`, any grant with that prefix) was requested.
    pub fn requests(&self, grant: &str) -> bool {
        if grant == "http:" {
            self.capabilities.keys().any(|k| k.starts_with("http:"))
        } else {
            self.capabilities.contains_key(grant)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_sample_manifest() {
        let m = Manifest::parse(
            "name = \"echo-bot\"\nversion = \"0.1.0\"\nkind = \"bot\"\n[capabilities]\n\"storage\" = \"counting\"\n",
        )
        .expect("valid");
        assert_eq!(m.name, "echo-bot");
        assert!(m.requests("storage"));
        assert!(!m.requests("messaging.send"));
    }

    #[test]
    fn refuses_bad_names_versions_kinds_and_capabilities() {
        for bad in [
            "name = \"Echo\"\nversion = \"0.1.0\"\nkind = \"bot\"",
            "name = \"echo\"\nversion = \"one\"\nkind = \"bot\"",
            "name = \"echo\"\nversion = \"0.1.0\"\nkind = \"daemon\"",
            "name = \"echo\"\nversion = \"0.1.0\"\nkind = \"bot\"\n[capabilities]\n\"root\" = \"because\"",
            "name = \"echo\"\nversion = \"0.1.0\"\nkind = \"bot\"\n[capabilities]\n\"storage\" = \"\"",
            "name = \"echo\"\nversion = \"0.1.0\"\nkind = \"bot\"\nsurprise = 1",
            "\u{0}\u{1}garbage",
        ] {
            assert!(Manifest::parse(bad).is_err(), "accepted: {bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_is_refused_without_panicking(text in "\\PC{0,400}") {
            let _ = Manifest::parse(&text);
        }

        #[test]
        fn manifests_with_random_fields_are_validated(
            name in "[a-zA-Z0-9_ -]{0,70}",
            version in "[0-9a-z.+-]{0,12}",
            kind in "(bot|web-app|app|daemon|)",
            cap in "[a-z.:0-9]{0,20}",
            reason in "[ -~]{0,30}",
        ) {
            let text = format!(
                "name = {name:?}\nversion = {version:?}\nkind = {kind:?}\n[capabilities]\n{cap:?} = {reason:?}\n"
            );
            if let Ok(m) = Manifest::parse(&text) {
                proptest::prop_assert_eq!(&m.name, &name);
                proptest::prop_assert!(is_known_grant(&cap));
                proptest::prop_assert!(!reason.trim().is_empty());
            }
        }
    }

    #[test]
    fn schedules_need_the_capability_five_fields_and_plain_names() {
        let head = "name = \"rem\"\nversion = \"0.1.0\"\nkind = \"bot\"\n";
        let ok =
            format!("{head}[capabilities]\n\"schedule\" = \"daily digest\"\n[schedules]\ndigest = \"0 9 * * 1-5\"\n");
        let m = Manifest::parse(&ok).expect("valid");
        assert_eq!(m.schedules.get("digest").map(String::as_str), Some("0 9 * * 1-5"));
        for (bad, says) in [
            (
                format!("{head}[schedules]\ndigest = \"0 9 * * *\"\n"),
                "`schedule` capability",
            ),
            (
                format!("{head}[capabilities]\n\"schedule\" = \"x\"\n[schedules]\ndigest = \"0 0 9 * * *\"\n"),
                "5 fields",
            ),
            (
                format!("{head}[capabilities]\n\"schedule\" = \"x\"\n[schedules]\n\"Daily Digest\" = \"0 9 * * *\"\n"),
                "schedule name",
            ),
        ] {
            let err = Manifest::parse(&bad).expect_err(&bad).to_string();
            assert!(err.contains("schedules") && err.contains(says), "{err}");
        }
        let hooks = format!("{head}[webhooks]\ncarrier = \"updates\"\n");
        let err = Manifest::parse(&hooks).expect_err("no capability").to_string();
        assert!(
            err.contains("webhooks") && err.contains("`webhook` capability"),
            "{err}"
        );
        let hooks = format!("{head}[capabilities]\n\"webhook\" = \"x\"\n[webhooks]\n\"a/b\" = \"updates\"\n");
        let err = Manifest::parse(&hooks).expect_err("bad name").to_string();
        assert!(err.contains("webhook name"), "{err}");
        let never = format!("{head}[capabilities]\n\"schedule\" = \"x\"\n[schedules]\nleap = \"0 0 31 2 *\"\n");
        let err = Manifest::parse(&never).expect_err("never matches").to_string();
        assert!(err.contains("never matches again"), "{err}");
    }
}
