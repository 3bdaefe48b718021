//! `miniapp.toml`: what an app is and what it asks for.

use std::collections::BTreeMap;

use crate::capabilities::grants::is_known_grant;

pub use crate::store::status::AppKind;

/// A parsed, validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Unique app name: lowercase letters, digits and `-`.
    pub name: String,
    /// Semver version.
    pub version: semver::Version,
    /// Bot, web app or both.
    pub kind: AppKind,
    /// Shown to operators and users.
    pub description: String,
    /// Requested capability → the reason shown to the operator and the user.
    pub capabilities: BTreeMap<String, String>,
    /// Recurring schedules: name → 5-field cron expression (UTC). Each
    /// runs the app with a `timer` event named after it; needs the
    /// `schedule` capability.
    pub schedules: BTreeMap<String, String>,
    /// Inbound webhooks: name → what the endpoint `/hooks/{app}/{name}` is
    /// for (shown to the operator). Each delivery runs the app with a
    /// `webhook` event; needs the `webhook` capability.
    pub webhooks: BTreeMap<String, String>,
}

/// The keys a manifest may have, in the order the docs list them.
const FIELDS: [&str; 7] = [
    "name",
    "version",
    "kind",
    "description",
    "capabilities",
    "schedules",
    "webhooks",
];

/// The words `kind` may be.
const KINDS: [AppKind; 3] = [AppKind::Bot, AppKind::WebApp, AppKind::App];

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
    /// Not TOML: where (line, column and the key on that line) and why.
    #[error("manifest is not valid TOML: {0}")]
    Syntax(String),
    /// A key the manifest format does not have.
    #[error(
        "manifest field `{0}` is unknown: a manifest has name, version, kind, description, \
         [capabilities], [schedules] and [webhooks]"
    )]
    Unknown(String),
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
    ///
    /// # Errors
    ///
    /// [`ManifestError::Syntax`] for text that is not TOML (naming the
    /// line, column and key), [`ManifestError::Unknown`] for a key the
    /// format lacks, [`ManifestError::Field`] naming the field (and the
    /// entry of a table) that is missing, of the wrong type or out of range.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let table: toml::Table = text.parse().map_err(|e| syntax(text, &e))?;
        let manifest = Manifest::from_table(table)?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Takes each field out of `table` with an error naming it; checks the
    /// shape only ([`Manifest::validate`] checks the values).
    fn from_table(mut table: toml::Table) -> Result<Manifest, ManifestError> {
        if let Some(unknown) = table.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(ManifestError::Unknown(unknown.clone()));
        }
        let name = string(&mut table, "name", "the app's name, e.g. name = \"echo-bot\"")?;
        let version = string(&mut table, "version", "a semantic version, e.g. version = \"1.2.3\"")?;
        let version = semver::Version::parse(&version).map_err(|e| ManifestError::Field {
            field: "version",
            problem: format!("must be a semantic version like 1.2.3, not {version:?} ({e})"),
        })?;
        let kind = string(&mut table, "kind", "one of kind = \"bot\", \"web-app\" or \"app\"")?;
        let kind = KINDS
            .into_iter()
            .find(|k| k.as_str() == kind)
            .ok_or_else(|| ManifestError::Field {
                field: "kind",
                problem: format!("must be one of \"bot\", \"web-app\" or \"app\", not {kind:?}"),
            })?;
        let description = match table.remove("description") {
            None => String::new(),
            Some(toml::Value::String(s)) => s,
            Some(other) => {
                return Err(ManifestError::Field {
                    field: "description",
                    problem: format!("must be a string, not {}", a_type(&other)),
                });
            }
        };
        Ok(Manifest {
            name,
            version,
            kind,
            description,
            capabilities: string_table(&mut table, "capabilities", "the reason shown to the operator and users")?,
            schedules: string_table(&mut table, "schedules", "a 5-field cron expression")?,
            webhooks: string_table(&mut table, "webhooks", "what the endpoint is for")?,
        })
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

/// A TOML syntax error, naming the line, the column and (when the line
/// has one) the key being set.
fn syntax(text: &str, e: &toml::de::Error) -> ManifestError {
    let message = e.message().trim_end();
    let Some(at) = e.span().map(|s| s.start.min(text.len())) else {
        return ManifestError::Syntax(message.to_string());
    };
    let before = text.get(..at).unwrap_or(text);
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    let line = text[line_start..].lines().next().unwrap_or_default();
    let key = line
        .split_once('=')
        .map(|(key, _)| key.trim())
        .filter(|key| !key.is_empty() && !key.starts_with('[') && !key.starts_with('#') && key.len() <= 64);
    match key {
        Some(key) => ManifestError::Syntax(format!("line {line_no}, column {column} (`{key}`): {message}")),
        None => ManifestError::Syntax(format!("line {line_no}, column {column}: {message}")),
    }
}

/// "a string", "an integer", … for a TOML value.
fn a_type(value: &toml::Value) -> String {
    let word = value.type_str();
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {word}")
    } else {
        format!("a {word}")
    }
}

/// The required string `field` of `table`; `like` says what it holds.
fn string(table: &mut toml::Table, field: &'static str, like: &str) -> Result<String, ManifestError> {
    match table.remove(field) {
        Some(toml::Value::String(s)) => Ok(s),
        None => Err(ManifestError::Field {
            field,
            problem: format!("is missing: add {like}"),
        }),
        Some(other) => Err(ManifestError::Field {
            field,
            problem: format!("must be a string ({like}), not {}", a_type(&other)),
        }),
    }
}

/// The optional table `field` of `table` whose values are strings
/// (`value` says what each holds).
fn string_table(
    table: &mut toml::Table,
    field: &'static str,
    value: &str,
) -> Result<BTreeMap<String, String>, ManifestError> {
    let entries = match table.remove(field) {
        None => return Ok(BTreeMap::new()),
        Some(toml::Value::Table(entries)) => entries,
        Some(other) => {
            return Err(ManifestError::Field {
                field,
                problem: format!(
                    "must be a table ([{field}] with \"name\" = \"{value}\" lines), not {}",
                    a_type(&other)
                ),
            });
        }
    };
    entries
        .into_iter()
        .map(|(key, v)| match v {
            toml::Value::String(s) => Ok((key, s)),
            other => Err(ManifestError::Field {
                field,
                problem: format!("{key:?} must be a string ({value}), not {}", a_type(&other)),
            }),
        })
        .collect()
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

    #[test]
    fn every_refusal_names_its_field_and_what_it_accepts() {
        let head = |version: &str, kind: &str| format!("name = \"echo\"\nversion = {version}\nkind = {kind}\n");
        for (text, says) in [
            (
                head("\"0.1.0\"", "\"robot\""),
                &["`kind`", "\"bot\", \"web-app\" or \"app\"", "\"robot\""][..],
            ),
            (
                head("\"v1\"", "\"bot\""),
                &["`version`", "semantic version like 1.2.3", "\"v1\""],
            ),
            (head("1", "\"bot\""), &["`version`", "must be a string", "an integer"]),
            (head("\"0.1.0\"", "[\"bot\"]"), &["`kind`", "an array"]),
            (
                "version = \"0.1.0\"\nkind = \"bot\"\n".into(),
                &["`name`", "is missing"],
            ),
            (
                format!("{}surprise = 1\n", head("\"0.1.0\"", "\"bot\"")),
                &["`surprise`", "[capabilities]"],
            ),
            (
                format!("{}description = 5\n", head("\"0.1.0\"", "\"bot\"")),
                &["`description`", "must be a string"],
            ),
            (
                format!("{}[capabilities]\n\"storage\" = true\n", head("\"0.1.0\"", "\"bot\"")),
                &["`capabilities`", "\"storage\"", "a boolean"],
            ),
            (
                format!("{}capabilities = \"storage\"\n", head("\"0.1.0\"", "\"bot\"")),
                &["`capabilities`", "must be a table"],
            ),
            (
                format!("{}[schedules]\ndigest = 9\n", head("\"0.1.0\"", "\"bot\"")),
                &["`schedules`", "\"digest\"", "cron"],
            ),
            // Not TOML: the line, the column and the key being set.
            (head("v1", "\"bot\""), &["line 2", "column", "`version`"]),
        ] {
            let err = Manifest::parse(&text).expect_err(&text).to_string();
            for word in says {
                assert!(err.contains(word), "{text:?}: {err:?} lacks {word:?}");
            }
            assert!(!err.contains("unknown variant"), "{err}");
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
