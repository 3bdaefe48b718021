//! `miniapp new NAME --kind bot|web-app|app`: a new app crate on the SDK
//! that answers `/start` (or serves a page) when published unchanged, with
//! a `miniapp.toml` listing every capability, a README and a unit test.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// What kind of app to scaffold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum Kind {
    /// Answers chat events.
    Bot,
    /// Serves pages inside the chat client.
    WebApp,
    /// Both in one component.
    App,
}

impl Kind {
    fn manifest_name(self) -> &'static str {
        match self {
            Kind::Bot => "bot",
            Kind::WebApp => "web-app",
            Kind::App => "app",
        }
    }
    fn bot(self) -> bool {
        self != Kind::WebApp
    }
    fn web(self) -> bool {
        self != Kind::Bot
    }
}

/// Every grant with the line `miniapp.toml` explains it with. A unit test
/// checks the list against the host's own catalogue, and that each line is
/// valid TOML once uncommented.
const GRANTS: &[(&str, &str)] = &[
    (
        "messaging.send",
        "send, edit and delete messages (with buttons) in chats the app is in",
    ),
    (
        "messaging.read",
        "get every message of the chat, not only commands and mentions",
    ),
    ("identity.basic", "the current user's app-scoped id and display name"),
    ("identity.profile", "the user's profile, once they consent"),
    ("identity.phone", "the user's phone number, once they consent"),
    ("identity.sign", "ask users to sign documents and files with their key"),
    ("storage", "key-value storage: app, user and chat buckets"),
    ("payments", "invoices users pay in the chat, refunds"),
    ("payments.payout", "transfers from the app's merchant account"),
    ("schedule", "timers, and the [schedules] below"),
    ("notify", "write to a user privately, once they allow it"),
    ("pages", "push updates to the app's open pages"),
    ("files", "read the chat's attachments, create and send files"),
    ("config", "read the settings and secrets its developer sets"),
    ("webhook", "public endpoints for outside services, the [webhooks] below"),
    ("http:", "outbound HTTP to one host, named after `http:`"),
];

/// Writes the app `name` of `kind` into `dir/name` with the SDK at `sdk`;
/// returns the new directory.
pub(super) fn scaffold(name: &str, kind: Kind, dir: &Path, sdk: &str) -> anyhow::Result<PathBuf> {
    check_name(name)?;
    let root = dir.join(name);
    if root.exists() {
        bail!("{} already exists; choose another name or directory", root.display());
    }
    std::fs::create_dir_all(root.join("src")).with_context(|| format!("creating {}", root.display()))?;
    let files = [
        ("Cargo.toml", cargo_toml(name, sdk)),
        ("miniapp.toml", manifest(name, kind)),
        ("src/lib.rs", source(name, kind)),
        ("README.md", readme(name, kind)),
        (".gitignore", "/target\n".to_string()),
    ];
    for (path, text) in files {
        std::fs::write(root.join(path), text).with_context(|| format!("writing {path}"))?;
    }
    Ok(root)
}

/// The SDK to depend on: `--sdk`, `MINIAPP_SDK`, or the one this binary was
/// built from when it is still there.
pub(super) fn find_sdk(given: Option<String>) -> anyhow::Result<String> {
    if let Some(sdk) = given.or_else(|| std::env::var("MINIAPP_SDK").ok()) {
        if sdk.starts_with("https://") || sdk.starts_with("git@") {
            return Ok(sdk);
        }
        // A path as the new crate's Cargo.toml must see it, from anywhere.
        let path = std::fs::canonicalize(&sdk).with_context(|| format!("no SDK at {sdk}"))?;
        if !path.join("Cargo.toml").exists() {
            bail!(
                "{} holds no Cargo.toml: pass the SDK's folder (`sdk` in a miniapp checkout)",
                path.display()
            );
        }
        return Ok(path.display().to_string());
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
    match std::fs::canonicalize(&built_from) {
        Ok(path) if path.join("Cargo.toml").exists() => Ok(path.display().to_string()),
        _ => bail!(
            "where is the miniapp SDK? pass --sdk PATH (the `sdk` folder of a miniapp checkout) \
             or set MINIAPP_SDK"
        ),
    }
}

/// Names as the manifest takes them.
fn check_name(name: &str) -> anyhow::Result<()> {
    use crate::registry::manifest::{APP_NAME_RULE, is_app_name};
    if !is_app_name(name) {
        bail!("{name:?} is no app name: {APP_NAME_RULE}");
    }
    Ok(())
}

fn cargo_toml(name: &str, sdk: &str) -> String {
    let dependency = if sdk.starts_with("https://") || sdk.starts_with("git@") {
        format!("{{ git = {sdk:?}, package = \"miniapp-sdk\" }}")
    } else {
        format!("{{ path = {sdk:?} }}")
    };
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
# The component the host runs (`cargo test` still runs the unit tests
# natively, with the SDK's test harness).
crate-type = ["cdylib"]

[dependencies]
miniapp-sdk = {dependency}

# Its own workspace, even inside another checkout.
[workspace]

# Small components that load fast.
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
strip = true
panic = "abort"
"#
    )
}

fn manifest(name: &str, kind: Kind) -> String {
    let mut text = format!(
        "name = \"{name}\"            # unique on the host: lowercase letters, digits, '-'\n\
         version = \"0.1.0\"          # semver; every upload needs a new one\n\
         kind = \"{}\"\n\
         description = \"{}\"\n\n\
         # What the app may do, each with the reason the operator and the users\n\
         # see. Ask only for what it uses: the operator grants these one by one.\n\
         [capabilities]\n",
        kind.manifest_name(),
        match kind {
            Kind::Bot => "Answers /start.",
            Kind::WebApp => "A page inside the chat.",
            Kind::App => "Answers /start and serves a page.",
        }
    );
    for (grant, what) in GRANTS {
        let used = kind.bot() && *grant == "messaging.send";
        let key = if *grant == "http:" {
            "http:api.example.com"
        } else {
            grant
        };
        let line = format!("{} = {}", toml_string(key), toml_string(what));
        if used {
            text.push_str(&format!("{line}\n"));
        } else {
            text.push_str(&format!("# {line}\n"));
        }
    }
    text.push_str(
        "\n# Recurring schedules (5-field cron, UTC; needs \"schedule\"): each runs\n\
         # the bot with a timer event of that name.\n\
         # [schedules]\n\
         # daily = \"0 9 * * *\"\n\
         \n\
         # Public endpoints /hooks/{app}/{name} (needs \"webhook\").\n\
         # [webhooks]\n\
         # orders = \"what the shop sends when an order changes\"\n",
    );
    text
}

/// `text` as a TOML basic string: quoted, with `"`, `\` and control
/// characters escaped.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn source(name: &str, kind: Kind) -> String {
    let mut text = format!("//! {name}: a miniapp {}.\n\n", kind.manifest_name());
    if kind.bot() {
        text.push_str(&format!(
            r#"use miniapp_sdk::{{Bot, Message, messaging}};

/// The bot.
pub struct App;

impl Bot for App {{
    fn on_message(msg: Message) -> miniapp_sdk::Result {{
        if msg.command("/start").is_some() {{
            messaging::send(&msg.chat, "Hello from {name}! Edit src/lib.rs to change this answer.")?;
        }}
        Ok(())
    }}
}}

miniapp_sdk::bot!(App);
"#
        ));
    }
    if kind.web() {
        if kind.bot() {
            text.push('\n');
        }
        text.push_str(&format!(
            r#"use miniapp_sdk::web::{{Request, Response, WebApp, escape}};

/// The web app.
pub struct Page;

impl WebApp for Page {{
    fn serve(request: Request) -> Response {{
        Response::html(format!(
            "<!doctype html><title>{name}</title><h1>Hello from {name}</h1><p>You asked for {{}}.</p>",
            escape(&request.path)
        ))
    }}
}}

miniapp_sdk::web_app!(Page);
"#
        ));
    }
    text.push_str(&tests(name, kind));
    text
}

/// The crate's unit tests: the handler run natively against the SDK's
/// test harness (`cargo test`, no host, no wasm).
fn tests(name: &str, kind: Kind) -> String {
    let mut text = String::from("\n#[cfg(test)]\nmod tests {\n    use miniapp_sdk::testing::Harness;\n");
    if kind.bot() {
        text.push_str(&format!(
            r#"
    #[test]
    fn start_is_answered() {{
        // The grants of miniapp.toml.
        let mut t = Harness::new().named("{name}").grant("messaging.send");
        t.message::<super::App>("chat-1", "alice", "/start").unwrap();
        assert!(t.last_sent().unwrap().text.starts_with("Hello from {name}!"));
    }}
"#
        ));
    }
    if kind.web() {
        text.push_str(
            r#"
    #[test]
    fn the_page_answers() {
        let mut t = Harness::new();
        let page = t.request::<super::Page>("chat-1", "alice", miniapp_sdk::web::Request::get("/hello"));
        assert_eq!(page.status, 200);
    }
"#,
        );
    }
    text.push_str("}\n");
    text
}

fn readme(name: &str, kind: Kind) -> String {
    format!(
        r#"# {name}

A miniapp {kind}, made with `miniapp new`.

- `src/lib.rs`: the app, and its unit tests.
- `miniapp.toml`: its name, version and the capabilities it asks for.

```sh
cargo test                        # the handler, natively, against the SDK's test harness
miniapp dev                       # a throwaway host, a chat in the terminal, reload on save
miniapp build                     # the component, for wasm32-wasip2
miniapp publish --server URL --token YOUR_TOKEN
miniapp logs {name} --follow --server URL --token YOUR_TOKEN
```

The operator approves the version (`miniapp review approve {name} 0.1.0`);
then add it to a chat and send `/start`. Every upload needs a new `version`.
"#,
        kind = kind.manifest_name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_grant_the_host_knows_is_listed_once() {
        let listed: Vec<&str> = GRANTS.iter().map(|(g, _)| *g).collect();
        let known: Vec<&str> = crate::capabilities::grants::known_grants().collect();
        for grant in &known {
            assert!(listed.contains(grant), "{grant} is not in miniapp new's manifest");
        }
        assert_eq!(listed.len(), known.len(), "{listed:?} vs {known:?}");
    }

    #[test]
    fn the_manifest_parses_and_asks_only_for_what_the_template_uses() {
        for kind in [Kind::Bot, Kind::WebApp, Kind::App] {
            let text = manifest("my-app", kind);
            let parsed = crate::registry::Manifest::parse(&text).expect("the scaffold's manifest parses");
            assert_eq!(parsed.requests("messaging.send"), kind.bot(), "{kind:?}");
            assert!(!parsed.requests("storage"), "{kind:?}");
        }
    }

    #[test]
    fn every_commented_setting_is_valid_toml_when_uncommented() {
        for kind in [Kind::Bot, Kind::WebApp, Kind::App] {
            // Each `# "grant" = "why"`, `# [table]` and `# key = value`
            // line, uncommented; prose comments stay.
            let text: String = manifest("my-app", kind)
                .lines()
                .map(|line| match line.strip_prefix("# ") {
                    Some(setting) if setting.starts_with(['"', '[']) || setting.contains(" = ") => {
                        format!("{setting}\n")
                    }
                    _ => format!("{line}\n"),
                })
                .collect();
            let parsed = crate::registry::Manifest::parse(&text).unwrap_or_else(|e| panic!("{kind:?}: {e}\n{text}"));
            for (grant, _) in GRANTS {
                let asked = if *grant == "http:" {
                    "http:api.example.com"
                } else {
                    grant
                };
                assert!(parsed.requests(asked), "{kind:?}: {asked} once uncommented");
            }
            assert_eq!(parsed.capabilities.len(), GRANTS.len(), "{kind:?}");
            assert_eq!(parsed.schedules.len(), 1, "{kind:?}");
            assert_eq!(parsed.webhooks.len(), 1, "{kind:?}");
        }
    }

    #[test]
    fn toml_strings_read_back_as_written() {
        for text in ["plain", r#"e.g. "http:api.example.com""#, r"a \ b", "tab\tand\nline"] {
            let line = format!("k = {}", toml_string(text));
            let read: std::collections::BTreeMap<String, String> =
                toml::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(read["k"], text, "{line}");
        }
    }

    #[test]
    fn names_are_checked_and_a_directory_is_never_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(scaffold("My App", Kind::Bot, dir.path(), "/sdk").is_err());
        assert!(
            scaffold("a", Kind::Bot, dir.path(), "/sdk").is_err(),
            "the host takes 2 to 64"
        );
        let made = scaffold("my-app", Kind::App, dir.path(), "/sdk").expect("scaffolds");
        assert!(made.join("src/lib.rs").exists());
        let again = scaffold("my-app", Kind::Bot, dir.path(), "/sdk").expect_err("exists");
        assert!(again.to_string().contains("already exists"), "{again}");
    }
}
