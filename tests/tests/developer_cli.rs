//! The developer's CLI as a newcomer uses it: `miniapp new` → `publish` →
//! the operator approves by name → the bot answers in a chat → edit the
//! source, bump the version, publish again → the new answer; publishing a
//! version twice is refused before anything is built; a crate that builds
//! no component is refused before it is built; `miniapp logs` filters and
//! follows an app's log.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use miniapp_tests::{OPERATOR_TOKEN, TestHost, guests, host_bin, manifest_of, published_app};

/// One target directory for the apps these tests build, kept between runs
/// (`miniapp build` honours `CARGO_TARGET_DIR`).
fn apps_target() -> String {
    format!("{}/developer-cli-apps", env!("CARGO_TARGET_TMPDIR"))
}

#[tokio::test(flavor = "multi_thread")]
async fn new_publish_approve_by_name_answers_then_an_edited_version_answers_anew() {
    let host = TestHost::start(host_bin!()).expect("host starts");
    let dev = host.signup("Dev").await;
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path().display().to_string();
    let target = apps_target();
    let env = [("CARGO_TARGET_DIR", target.as_str())];
    let cli = |args: &[&str]| host.cli_with_env(args, &env).expect("the cli runs");

    let (ok, out, err) = cli(&["new", "hello-bot", "--kind", "bot", "--dir", &dir]);
    assert!(ok, "{out}\n{err}");
    let app_dir = work.path().join("hello-bot");
    let manifest = std::fs::read_to_string(app_dir.join("miniapp.toml")).expect("miniapp.toml");
    assert!(manifest.contains("\n\"messaging.send\" = "), "{manifest}");
    assert!(
        manifest.contains("\n# \"storage\" = "),
        "every other capability listed, commented: {manifest}"
    );
    let app_path = app_dir.display().to_string();

    let publish = |path: &str| cli(&["publish", path, "--server", &host.base, "--token", &dev.token]);
    let (ok, out, err) = publish(&app_path);
    assert!(ok, "publish failed: {out}\n{err}");
    assert!(out.contains("published and compiled, waiting for review"), "{out}");
    let app = published_app(&out);

    // The same version again: refused before cargo runs.
    let (ok, out, err) = publish(&app_path);
    assert!(!ok, "{out}");
    assert!(
        err.contains("already uploaded") && err.contains("bump `version`"),
        "{err}"
    );
    assert!(!err.contains("Finished"), "nothing was built: {err}");

    // The operator approves by the app's name.
    let approve = |version: &str| {
        cli(&[
            "review",
            "approve",
            "hello-bot",
            version,
            "--server",
            &host.base,
            "--token",
            OPERATOR_TOKEN,
        ])
    };
    let (ok, out, err) = approve("0.1.0");
    assert!(ok && out.contains("approved"), "{out}\n{err}");

    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;
    host.install(&alice, &chat, &app).await;
    let m = host.say(&alice, &chat, "/start").await;
    assert_eq!(
        host.bot_reply(&alice, &chat, &m, &app).await,
        "Hello from hello-bot! Edit src/lib.rs to change this answer."
    );

    // Edit the answer, bump the version, publish and approve: the new answer.
    let lib = app_dir.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).expect("lib.rs");
    std::fs::write(
        &lib,
        source.replace("Edit src/lib.rs to change this answer.", "Edited."),
    )
    .expect("edit");
    std::fs::write(
        app_dir.join("miniapp.toml"),
        manifest.replace("version = \"0.1.0\"", "version = \"0.2.0\""),
    )
    .expect("bump");
    let (ok, out, err) = publish(&app_path);
    assert!(ok, "{out}\n{err}");
    let (ok, out, err) = approve("0.2.0");
    assert!(ok, "{out}\n{err}");
    let m = host.say(&alice, &chat, "/start").await;
    assert_eq!(
        host.bot_reply(&alice, &chat, &m, &app).await,
        "Hello from hello-bot! Edited."
    );

    // A rejected version: `miniapp status` gives the operator's reason.
    std::fs::write(
        app_dir.join("miniapp.toml"),
        manifest.replace("version = \"0.1.0\"", "version = \"0.3.0\""),
    )
    .expect("bump");
    let (ok, out, err) = publish(&app_path);
    assert!(ok, "{out}\n{err}");
    let (ok, out, err) = cli(&[
        "review",
        "reject",
        "hello-bot",
        "0.3.0",
        "--reason",
        "says hello too often",
        "--server",
        &host.base,
        "--token",
        OPERATOR_TOKEN,
    ]);
    assert!(ok, "{out}\n{err}");
    let (ok, out, err) = cli(&["status", "hello-bot", "--server", &host.base, "--token", &dev.token]);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("hello-bot: 0.2.0 in every chat"), "{out}");
    assert!(
        out.contains("0.3.0 rejected (compile: compiled): says hello too often"),
        "{out}"
    );

    // A crate that is no cdylib builds no component: refused before cargo builds.
    let cargo_toml = app_dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&cargo_toml).expect("Cargo.toml");
    std::fs::write(&cargo_toml, text.replace("crate-type = [\"cdylib\"]", "")).expect("write");
    let (ok, out, err) = cli(&["build", &app_path]);
    assert!(!ok, "{out}");
    assert!(err.contains("builds no component") && err.contains("cdylib"), "{err}");
    assert!(!out.contains(".wasm"), "no stale component is printed: {out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_are_filtered_by_level_user_and_time_and_followed() {
    // One attempt per event: a failed event does not hold its lane for retries.
    let host = TestHost::start_with(host_bin!(), &["--job-max-attempts", "1"]).expect("host starts");
    let dev = host.signup("Dev").await;
    let app = host
        .publish_approved(&dev, &manifest_of(guests::PANIC_BOT_DIR), guests::PANIC_BOT_WASM, None)
        .await;
    let alice = host.signup("Alice").await;
    let chat = host.chat(&alice, &[]).await;
    host.install(&alice, &chat, &app).await;
    host.say(&alice, &chat, "/first").await; // a command: without messaging.read a bot gets no other text
    // The panic's line is written once the event was handled.
    let lines = miniapp_tests::eventually("the panic is logged", Duration::from_secs(20), || async {
        let lines = host.app_logs(&dev, &app).await;
        (!lines.is_empty()).then_some(lines)
    })
    .await;
    let user = lines
        .iter()
        .find_map(|l| l["user_id"].as_str())
        .unwrap_or_else(|| panic!("the invocation's user is on its lines: {lines:?}"))
        .to_string();
    assert!(user.starts_with("u_"), "the app-scoped id, not the account: {user}");
    assert_ne!(user, alice.id);

    let logs = |extra: &[&str]| {
        let mut args = vec!["logs", "panic-bot", "--server", &host.base, "--token", &dev.token];
        args.extend_from_slice(extra);
        let (ok, out, err) = host.cli(&args).expect("the cli runs");
        assert!(ok, "{out}\n{err}");
        out
    };
    // The trap is an error; the panic's message went to stderr (warn).
    let errors = logs(&["--level", "error"]);
    assert!(
        errors.contains("guest trapped") && errors.contains(&format!("user={user}")),
        "{errors}"
    );
    assert!(!errors.contains("deliberate panic"), "stderr is below error: {errors}");
    let warnings = logs(&["--level", "warn"]);
    assert!(
        warnings.contains("deliberate panic") && warnings.contains("guest trapped"),
        "{warnings}"
    );
    assert!(logs(&["--user", "u_nobody"]).trim().is_empty());
    assert!(logs(&["--since", "2000-01-01T00:00:00Z"]).contains("deliberate panic"));
    assert!(logs(&["--since", "2999-01-01T00:00:00Z"]).trim().is_empty());
    let (ok, _, err) = host
        .cli(&["logs", "panic-bot", "--since", "yesterday", "--token", &dev.token])
        .expect("the cli runs");
    assert!(!ok && err.contains("RFC 3339"), "{err}");

    // --follow prints a line written after it started.
    let mut follow = Command::new(host_bin!())
        .args([
            "logs",
            "panic-bot",
            "--follow",
            "--server",
            &host.base,
            "--token",
            &dev.token,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("logs --follow starts");
    let stdout = follow.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The lines from before come first.
    let first = rx.recv_timeout(Duration::from_secs(20)).expect("the earlier lines");
    assert!(first.contains(&format!("user={user}")), "{first}");
    host.say(&alice, &chat, "/second").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("/second") => break,
            Ok(line) => seen.push(line),
            Err(_) => panic!("--follow printed no line of the second message within 30 s: {seen:?}"),
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
}

/// Lines a child process printed, read on a thread of their own.
struct Lines {
    rx: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Lines {
    fn of(stdout: std::process::ChildStdout) -> Lines {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines { rx, seen: Vec::new() }
    }

    /// The next line containing `needle`, within `within`.
    fn wait_for(&mut self, needle: &str, within: Duration) -> String {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("no line with {needle:?} within {within:?}; printed: {:#?}", self.seen),
            }
        }
    }
}

#[test]
fn new_then_dev_answers_in_the_terminal_and_reloads_an_edit_keeping_the_chat() {
    use std::io::Write as _;
    let work = tempfile::tempdir().expect("tempdir");
    let target = apps_target();
    let made = Command::new(host_bin!())
        .args(["new", "dev-bot", "--dir"])
        .arg(work.path())
        .output()
        .expect("new runs");
    assert!(made.status.success(), "{made:?}");
    let app_dir = work.path().join("dev-bot");

    // The scaffold's own unit test passes natively, with the SDK's harness.
    let tested = Command::new(env!("CARGO"))
        .arg("test")
        .current_dir(&app_dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("cargo test runs");
    assert!(
        tested.status.success() && String::from_utf8_lossy(&tested.stdout).contains("start_is_answered ... ok"),
        "{}\n{}",
        String::from_utf8_lossy(&tested.stdout),
        String::from_utf8_lossy(&tested.stderr)
    );

    let mut dev = Command::new(host_bin!())
        .arg("dev")
        .arg(&app_dir)
        .args(["--listen", "127.0.0.1:0"])
        .env("CARGO_TARGET_DIR", &target)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dev starts");
    let mut out = Lines::of(dev.stdout.take().expect("stdout"));
    let mut stdin = dev.stdin.take().expect("stdin");
    let url = out.wait_for("signed in as Alice", Duration::from_secs(300));
    assert!(url.contains("/#token="), "{url}");
    out.wait_for("type a message", Duration::from_secs(10));

    writeln!(stdin, "/start").expect("type");
    out.wait_for(
        "dev-bot: Hello from dev-bot! Edit src/lib.rs to change this answer.",
        Duration::from_secs(30),
    );

    // Edit and save: rebuilt and reloaded in place.
    let lib = app_dir.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).expect("lib.rs");
    std::fs::write(
        &lib,
        source.replace("Edit src/lib.rs to change this answer.", "Reloaded."),
    )
    .expect("edit");
    let reloaded = out.wait_for("reloaded:", Duration::from_secs(300));
    assert!(reloaded.contains("0.1.0-dev.2"), "{reloaded}");
    writeln!(stdin, "/start").expect("type");
    out.wait_for("dev-bot: Hello from dev-bot! Reloaded.", Duration::from_secs(30));

    // A build that fails keeps the running version and says why. (The next
    // reload is this one: reading files, as each reload does, starts none.)
    std::fs::write(&lib, "this is not rust").expect("break it");
    let next = out.wait_for("reload", Duration::from_secs(300));
    assert!(
        next.contains("reload failed, the previous version keeps running"),
        "{next}"
    );
    writeln!(stdin, "/start").expect("type");
    out.wait_for("dev-bot: Hello from dev-bot! Reloaded.", Duration::from_secs(30));

    let _ = dev.kill();
    let _ = dev.wait();
}
