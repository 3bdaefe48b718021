//! The test harness keeps the host's rules: grants, consent, limits,
//! quotas, chats, and one transaction per invocation. Each test drives a
//! closure through `Harness::run` (or a small bot) and checks what the
//! host would answer.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use miniapp_sdk::testing::{Bucket, Harness, InvoiceStatus, Limits, SentKind, direct_chat};
use miniapp_sdk::web::{Request, Response, WebApp};
use miniapp_sdk::{Bot, Error, Message, Webhook, config, files, http, identity, limits, messaging, notify, pages};
use miniapp_sdk::{payments, schedule, storage};

fn everything() -> Harness {
    [
        "messaging.send",
        "messaging.read",
        "identity.basic",
        "identity.profile",
        "identity.phone",
        "identity.sign",
        "storage",
        "payments",
        "payments.payout",
        "schedule",
        "notify",
        "pages",
        "files",
        "config",
    ]
    .iter()
    .fold(Harness::new(), |t, g| t.grant(g))
}

// ---- grants ----------------------------------------------------------------

#[test]
fn every_capability_without_its_grant_answers_denied() {
    let mut t = Harness::new();
    t.run(Some("chat-1"), Some("alice"), || {
        assert_eq!(messaging::send("chat-1", "hi"), Err(Error::Denied));
        assert_eq!(messaging::history("chat-1", 10), Err(Error::Denied));
        assert_eq!(identity::current_user(), Err(Error::Denied));
        assert_eq!(identity::display_name(), Err(Error::Denied));
        assert_eq!(identity::request_signature("Deal", b"doc"), Err(Error::Denied));
        assert_eq!(storage::app().get("k"), Err(Error::Denied));
        assert_eq!(storage::chat().increment("k", 1), Err(Error::Denied));
        assert_eq!(payments::balance(), Err(Error::Denied));
        assert_eq!(payments::transfer("alice", 1, "k"), Err(Error::Denied));
        assert_eq!(
            schedule::after("chat-1", Duration::from_secs(1), "", false),
            Err(Error::Denied)
        );
        assert_eq!(notify::send("alice", "hi"), Err(Error::Denied));
        assert_eq!(pages::publish("chat-1", "{}"), Err(Error::Denied));
        assert_eq!(files::create("chat-1", "a.txt", b"a"), Err(Error::Denied));
        assert!(config::get("k").is_err_and(|e| e.starts_with("denied")));
        assert_eq!(
            http::get("https://api.example.com/"),
            Err(http::Error::Denied("HTTP-request-denied".into()))
        );
        // Needs no grant.
        assert_eq!(identity::current_event_attempt(), Some(1));
        Ok(())
    })
    .unwrap();
    assert!(t.logs().iter().any(|l| l.message == "denied: storage (not granted)"));
    assert_eq!(
        t.logs()
            .iter()
            .filter(|l| l.message == "denied: storage (not granted)")
            .count(),
        1,
        "the first denial of a kind is logged, not every one"
    );
}

#[test]
fn payouts_need_their_own_grant() {
    let mut t = Harness::new().grant("payments").install("chat-1", &["alice", "bob"]);
    t.credit(100);
    let answer = t.run(Some("chat-1"), Some("alice"), || Ok(payments::transfer("bob", 10, "k")));
    assert_eq!(answer.unwrap(), Err(Error::Denied));
}

#[test]
#[should_panic(expected = "unknown grant")]
fn an_unknown_grant_is_refused_early() {
    let _ = Harness::new().grant("storage.all");
}

// ---- consent ---------------------------------------------------------------

#[test]
fn profile_and_phone_need_consent_until_given() {
    let mut t = everything().profile("alice", "Alice", Some("+79990001122"));
    let names = |t: &mut Harness| {
        t.run(Some("chat-1"), Some("alice"), || {
            Ok((identity::display_name(), identity::phone()))
        })
        .unwrap()
    };
    assert_eq!(
        names(&mut t),
        (Err(Error::ConsentRequired), Err(Error::ConsentRequired))
    );
    t.give_consent("alice", "identity.profile");
    assert_eq!(names(&mut t), (Ok("Alice".into()), Err(Error::ConsentRequired)));
    t.give_consent("alice", "identity.phone");
    assert_eq!(names(&mut t).1, Ok("+79990001122".into()));
}

#[test]
fn notify_needs_the_users_consent_and_writes_to_their_direct_chat() {
    let mut t = everything();
    let send = |t: &mut Harness| t.run(None, None, || Ok(notify::send("bob", "ping"))).unwrap();
    assert_eq!(send(&mut t), Err(Error::ConsentRequired));
    t.give_consent("bob", "notify");
    assert!(send(&mut t).is_ok());
    let sent = t.last_sent().unwrap();
    assert_eq!(
        (sent.chat, sent.kind),
        (direct_chat("bob"), SentKind::Notify("bob".into()))
    );
}

#[test]
fn notifications_are_bounded_per_user_per_hour() {
    let mut t = everything().consent("bob", "notify");
    for _ in 0..limits::NOTIFICATIONS_PER_USER_PER_HOUR {
        t.run(None, None, || Ok(notify::send("bob", "ping")?)).unwrap();
    }
    let over = t.run(None, None, || Ok(notify::send("bob", "ping"))).unwrap();
    assert_eq!(over, Err(Error::RateLimited));
    t.advance(Duration::from_secs(3_600));
    assert!(t.run(None, None, || Ok(notify::send("bob", "ping"))).unwrap().is_ok());
}

// ---- messaging limits --------------------------------------------------------

#[test]
fn message_text_and_buttons_are_bounded_as_on_the_host() {
    let mut t = everything();
    t.run(Some("chat-1"), Some("alice"), || {
        let long = "x".repeat(limits::MAX_MESSAGE_BYTES + 1);
        assert_eq!(
            messaging::send("chat-1", &long),
            Err(Error::TooLarge(
                "message text is 16385 bytes; the limit is 16384".into()
            ))
        );
        assert!(matches!(
            messaging::send("chat-1", " \u{200B} "),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            messaging::send("chat-1", "evil\u{202E}txt"),
            Err(Error::Invalid(_))
        ));
        let label = "l".repeat(limits::MAX_BUTTON_LABEL_BYTES + 1);
        assert!(matches!(
            messaging::send_with_buttons("chat-1", "pick", &[&[(label.as_str(), "d")]]),
            Err(Error::TooLarge(m)) if m.starts_with("button label")
        ));
        let data = "d".repeat(limits::MAX_BUTTON_DATA_BYTES + 1);
        assert!(matches!(
            messaging::send_with_buttons("chat-1", "pick", &[&[("ok", data.as_str())]]),
            Err(Error::TooLarge(m)) if m.starts_with("button data")
        ));
        let row: Vec<(String, String)> = (0..=limits::MAX_BUTTONS)
            .map(|i| (i.to_string(), String::new()))
            .collect();
        assert_eq!(
            messaging::send_message("chat-1", &messaging::with_buttons("many", &[row])),
            Err(Error::TooLarge("101 buttons; the limit is 100".into()))
        );
        assert!(matches!(
            messaging::send_with_buttons("chat-1", "pick", &[&[("two\nlines", "d")]]),
            Err(Error::Invalid(_))
        ));
        Ok(())
    })
    .unwrap();
    assert!(t.sent().is_empty());
}

#[test]
fn an_invocation_sends_at_most_its_budget_of_messages() {
    let mut t = everything();
    let refused = t
        .run(Some("chat-1"), Some("alice"), || {
            for i in 0..limits::MESSAGES_PER_INVOCATION {
                messaging::send("chat-1", &i.to_string())?;
            }
            Ok(messaging::send("chat-1", "one too many"))
        })
        .unwrap();
    assert_eq!(refused, Err(Error::RateLimited));
    assert_eq!(t.sent().len(), limits::MESSAGES_PER_INVOCATION as usize);
    assert!(
        t.logs()
            .iter()
            .any(|l| l.message == "send refused (rate-limited): more than 20 messages in one invocation")
    );
}

#[test]
fn a_chat_gets_at_most_its_messages_per_minute() {
    let mut t = everything().limits(Limits {
        messages_per_chat_per_minute: 3,
        ..Limits::default()
    });
    for _ in 0..3 {
        t.run(Some("chat-1"), Some("alice"), || Ok(messaging::send("chat-1", "hi")?))
            .unwrap();
    }
    let send = |t: &mut Harness| {
        t.run(Some("chat-1"), Some("alice"), || Ok(messaging::send("chat-1", "hi")))
            .unwrap()
    };
    assert_eq!(send(&mut t), Err(Error::RateLimited));
    t.advance(Duration::from_secs(60));
    assert!(send(&mut t).is_ok());
}

#[test]
fn the_app_acts_only_in_chats_open_to_it() {
    let mut t = everything().install("chat-2", &["bob"]);
    t.run(Some("chat-1"), Some("alice"), || {
        assert!(messaging::send("chat-1", "the event's chat").is_ok());
        assert!(messaging::send("chat-2", "installed there").is_ok());
        assert_eq!(messaging::send("chat-9", "a stranger's chat"), Err(Error::NotFound));
        assert_eq!(
            messaging::send(&direct_chat("bob"), "bob's direct chat"),
            Err(Error::NotFound)
        );
        assert!(messaging::send_direct("alice's own").is_ok());
        assert_eq!(
            schedule::after("chat-9", Duration::from_secs(1), "", false),
            Err(Error::Denied)
        );
        assert_eq!(pages::publish("chat-9", "{}"), Err(Error::Denied));
        Ok(())
    })
    .unwrap();
    assert_eq!(
        t.sent_in(&direct_chat("alice"))[0].kind,
        SentKind::Direct("alice".into())
    );
}

#[test]
fn edit_and_delete_touch_only_the_apps_own_live_messages() {
    let mut t = everything();
    t.run(Some("chat-1"), Some("alice"), || {
        let id = messaging::send("chat-1", "draft")?;
        messaging::edit(&id, "final")?;
        assert_eq!(messaging::edit("msg-999", "x"), Err(Error::NotFound));
        let gone = messaging::send("chat-1", "oops")?;
        messaging::delete(&gone)?;
        assert_eq!(messaging::delete(&gone), Err(Error::NotFound));
        Ok(())
    })
    .unwrap();
    let sent = t.sent();
    assert_eq!((sent.len(), sent[0].text.as_str(), sent[0].edited), (1, "final", true));
    assert!(t.all_sent()[1].deleted);
}

#[test]
fn history_shows_users_and_the_app_oldest_first() {
    struct Quiet;
    impl Bot for Quiet {}
    let mut t = everything().named("quiet-bot");
    t.message::<Quiet>("chat-1", "alice", "hello").unwrap();
    let history = t
        .run(Some("chat-1"), Some("alice"), || {
            messaging::send("chat-1", "hi alice")?;
            Ok(messaging::history("chat-1", 10)?)
        })
        .unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].sender, messaging::Sender::User("alice".into()));
    assert_eq!(history[1].sender, messaging::Sender::App("quiet-bot".into()));
}

// ---- one transaction per invocation ----------------------------------------

struct WriteThenFail;

impl Bot for WriteThenFail {
    fn on_message(msg: Message) -> miniapp_sdk::Result {
        storage::chat().set("written", b"yes")?;
        messaging::send(&msg.chat, "sent before failing")?;
        let me = identity::current_user()?;
        payments::create_invoice(&me, 100, "Tea", &msg.id)?;
        identity::request_signature("Deal", b"doc")?;
        schedule::after(&msg.chat, Duration::from_secs(60), "later", false)?;
        files::create(&msg.chat, "a.txt", b"abc")?;
        pages::publish(&msg.chat, "{}")?;
        match msg.text.as_str() {
            "/fail" => Err("asked to fail".into()),
            "/panic" => panic!("asked to panic"),
            _ => Ok(()),
        }
    }
}

fn nothing_stored(t: &mut Harness) {
    assert!(t.sent().is_empty());
    assert!(t.storage(Bucket::chat("chat-1")).keys().is_empty());
    assert!(t.invoices().is_empty());
    assert!(t.signature_requests().is_empty());
    assert!(t.timers().is_empty());
    assert!(t.files().is_empty());
    assert!(t.publishes().is_empty());
}

#[test]
fn a_handler_that_returns_err_stores_nothing_it_changed() {
    let mut t = everything();
    let err = t.message::<WriteThenFail>("chat-1", "alice", "/fail").unwrap_err();
    assert_eq!(err.to_string(), "asked to fail");
    nothing_stored(&mut t);
    assert_eq!(
        t.logs().last().unwrap().message,
        "handler returned an error: asked to fail"
    );
}

#[test]
fn a_handler_that_panics_stores_nothing_it_changed() {
    let mut t = everything();
    let err = t.message::<WriteThenFail>("chat-1", "alice", "/panic").unwrap_err();
    assert_eq!(err.to_string(), "guest trapped: asked to panic");
    nothing_stored(&mut t);
}

#[test]
fn a_handler_that_returns_ok_stores_everything_at_once() {
    let mut t = everything();
    t.message::<WriteThenFail>("chat-1", "alice", "/ok").unwrap();
    assert_eq!(
        t.storage(Bucket::chat("chat-1")).get_str("written").as_deref(),
        Some("yes")
    );
    assert_eq!(t.sent().len(), 2, "the message and the invoice's message");
    assert_eq!(t.invoices().len(), 1);
    assert_eq!(t.signature_requests().len(), 1);
    assert_eq!(t.timers().len(), 1);
    assert_eq!(t.files().len(), 1);
    assert_eq!(t.publishes().len(), 1);
}

#[test]
fn reads_see_the_invocations_own_writes() {
    let mut t = everything();
    t.run(Some("chat-1"), Some("alice"), || {
        storage::user().set("k", b"v1")?;
        assert_eq!(storage::user().get("k")?, Some(b"v1".to_vec()));
        storage::user().delete("k")?;
        assert!(!storage::user().exists("k")?);
        Ok(())
    })
    .unwrap();
}

#[test]
fn a_web_request_commits_whatever_its_status_but_not_when_it_panics() {
    struct Web;
    impl WebApp for Web {
        fn serve(request: Request) -> Response {
            let n = storage::chat().increment("hits", 1).unwrap_or(-1);
            if request.path == "/panic" {
                panic!("boom");
            }
            Response::text(n.to_string()).with_status(404)
        }
    }
    let mut t = everything();
    assert_eq!(t.request::<Web>("chat-1", "alice", Request::get("/")).status, 404);
    let trapped = t.request::<Web>("chat-1", "alice", Request::get("/panic"));
    assert_eq!(
        (trapped.status, trapped.body_text()),
        (500, Some("guest trapped: boom"))
    );
    assert_eq!(t.storage(Bucket::chat("chat-1")).get_str("hits").as_deref(), Some("1"));
}

// ---- storage -----------------------------------------------------------------

#[test]
fn keys_and_values_are_bounded_as_on_the_host() {
    let mut t = everything();
    t.run(Some("chat-1"), Some("alice"), || {
        let key = "k".repeat(limits::MAX_KEY_BYTES + 1);
        assert_eq!(
            storage::app().set(&key, b"v"),
            Err(Error::TooLarge("storage key is 257 bytes; the limit is 256".into()))
        );
        assert_eq!(
            storage::app().set("", b"v"),
            Err(Error::Invalid("storage key is empty".into()))
        );
        assert_eq!(
            storage::app().set("a\0b", b"v"),
            Err(Error::Invalid("storage key contains NUL".into()))
        );
        let value = vec![0; limits::MAX_VALUE_BYTES + 1];
        assert!(matches!(storage::app().set("k", &value), Err(Error::TooLarge(m)) if m.starts_with("storage value")));
        let keys: Vec<String> = (0..=limits::MAX_BATCH).map(|i| i.to_string()).collect();
        assert!(matches!(storage::app().get_many(&keys), Err(Error::TooLarge(_))));
        Ok(())
    })
    .unwrap();
}

#[test]
fn the_chat_and_user_buckets_need_a_chat_and_a_user() {
    struct Hook;
    impl Bot for Hook {
        fn on_webhook(_: Webhook) -> miniapp_sdk::Result {
            assert_eq!(storage::chat().get("k"), Err(Error::NotFound));
            assert_eq!(storage::user().get("k"), Err(Error::NotFound));
            assert_eq!(identity::current_user(), Err(Error::NotFound));
            assert!(storage::app().get("k").is_ok());
            Ok(())
        }
    }
    let mut t = everything();
    let hook = Webhook {
        name: "h".into(),
        method: "POST".into(),
        path: String::new(),
        headers: Vec::new(),
        body: Vec::new(),
        received_at: 0,
    };
    t.webhook::<Hook>(hook).unwrap();
}

#[test]
fn buckets_are_apart() {
    let mut t = everything();
    t.run(Some("chat-1"), Some("alice"), || {
        storage::app().set("k", b"app")?;
        storage::chat().set("k", b"chat")?;
        storage::user().set("k", b"user")?;
        Ok(())
    })
    .unwrap();
    assert_eq!(t.storage(Bucket::App).get_str("k").as_deref(), Some("app"));
    assert_eq!(t.storage(Bucket::chat("chat-1")).get_str("k").as_deref(), Some("chat"));
    assert_eq!(t.storage(Bucket::user("alice")).get_str("k").as_deref(), Some("user"));
    assert_eq!(t.storage(Bucket::user("bob")).get("k"), None);
}

#[test]
fn values_with_a_ttl_disappear_when_it_runs_out() {
    let mut t = everything();
    t.run(None, None, || Ok(storage::app().set_with_ttl("code", b"1234", 60_000)?))
        .unwrap();
    assert_eq!(t.storage(Bucket::App).expires_at("code"), Some(t.now_ms() + 60_000));
    t.advance(Duration::from_millis(59_999));
    assert!(t.storage(Bucket::App).get("code").is_some());
    t.advance(Duration::from_millis(1));
    assert_eq!(t.storage(Bucket::App).get("code"), None);
    assert_eq!(t.run(None, None, || Ok(storage::app().get("code")?)).unwrap(), None);
    let zero = t
        .run(None, None, || Ok(storage::app().set_with_ttl("x", b"1", 0)))
        .unwrap();
    assert!(matches!(zero, Err(Error::Invalid(_))));
}

#[test]
fn increment_and_compare_and_swap_work_on_decimal_text() {
    let mut t = everything();
    t.run(None, None, || {
        assert_eq!(storage::app().increment("n", 5)?, 5);
        assert_eq!(storage::app().increment("n", -7)?, -2);
        assert_eq!(storage::app().get("n")?, Some(b"-2".to_vec()));
        storage::app().set("text", b"abc")?;
        assert!(matches!(storage::app().increment("text", 1), Err(Error::Invalid(_))));
        storage::app().set("max", i64::MAX.to_string().as_bytes())?;
        assert!(matches!(storage::app().increment("max", 1), Err(Error::Invalid(_))));
        assert!(storage::app().compare_and_swap("c", None, b"1")?);
        assert!(!storage::app().compare_and_swap("c", None, b"2")?);
        assert!(storage::app().compare_and_swap("c", Some(b"1"), b"2")?);
        assert_eq!(storage::app().get("c")?, Some(b"2".to_vec()));
        Ok(())
    })
    .unwrap();
}

#[test]
fn set_many_stores_all_or_none_and_list_keys_pages() {
    let mut t = everything().limits(Limits {
        storage_keys: 3,
        ..Limits::default()
    });
    let refused = t
        .run(None, None, || {
            storage::app().set("a", b"1")?;
            let pairs: Vec<(String, Vec<u8>)> =
                ["b", "c", "d"].iter().map(|k| (k.to_string(), b"v".to_vec())).collect();
            Ok(storage::app().set_many(&pairs))
        })
        .unwrap();
    assert_eq!(refused, Err(Error::QuotaExceeded));
    assert_eq!(t.storage(Bucket::App).keys(), ["a"], "none of the batch is stored");

    let mut t = everything();
    let page = t
        .run(None, None, || {
            let pairs: Vec<(String, Vec<u8>)> = (0..100).map(|i| (format!("k{i:03}"), vec![1])).collect();
            storage::app().set_many(&pairs)?;
            storage::app().set("z", b"last")?;
            let first = storage::app().list_keys(None)?;
            let second = storage::app().list_keys(first.cursor.as_deref())?;
            Ok((first, second))
        })
        .unwrap();
    assert_eq!((page.0.keys.len(), page.0.cursor.as_deref()), (100, Some("k099")));
    assert_eq!((page.1.keys, page.1.cursor), (vec!["z".to_string()], None));
}

#[test]
fn storage_is_bounded_by_the_apps_quota_of_keys_and_bytes() {
    let mut t = everything().limits(Limits {
        storage_bytes: 10,
        ..Limits::default()
    });
    t.run(None, None, || {
        storage::app().set("k", b"123456789")?; // 1 + 9 bytes
        assert_eq!(storage::app().set("j", b""), Err(Error::QuotaExceeded));
        storage::app().set("k", b"1")?; // shrinking is fine
        Ok(())
    })
    .unwrap();
    assert!(t.logs().iter().any(|l| l.message.starts_with("storage quota exceeded")));
}

// ---- payments ----------------------------------------------------------------

#[test]
fn invoices_are_idempotent_per_key_and_only_for_chat_members() {
    let mut t = everything().install("chat-1", &["alice", "bob"]);
    t.run(Some("chat-1"), Some("alice"), || {
        let a = payments::create_invoice("bob", 500, "Tea", "k1")?;
        assert_eq!(payments::create_invoice("bob", 500, "Tea", "k1")?, a);
        assert!(matches!(
            payments::create_invoice("bob", 600, "Tea", "k1"),
            Err(Error::Invalid(_))
        ));
        assert_eq!(
            payments::create_invoice("mallory", 500, "Tea", "k2"),
            Err(Error::NotFound)
        );
        assert!(matches!(
            payments::create_invoice("bob", 0, "Tea", "k3"),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            payments::create_invoice("bob", 1, "Tea", ""),
            Err(Error::Invalid(_))
        ));
        Ok(())
    })
    .unwrap();
    assert_eq!(t.invoices().len(), 1);
    assert_eq!(t.last_sent().unwrap().text, "Invoice: Tea — 5.00 RUB");
}

#[test]
fn refunds_never_pass_what_was_paid_and_payouts_never_the_balance() {
    struct Shop;
    impl Bot for Shop {}
    let mut t = everything().install("chat-1", &["alice", "bob"]);
    let invoice = t
        .run(Some("chat-1"), Some("alice"), || {
            Ok(payments::create_invoice("bob", 500, "Tea", "k")?)
        })
        .unwrap();
    let early = t
        .run(Some("chat-1"), Some("alice"), || {
            Ok(payments::refund(&invoice, 100, "r0"))
        })
        .unwrap();
    assert!(matches!(early, Err(Error::Invalid(m)) if m.contains("open")));
    t.pay::<Shop>(&invoice).unwrap();
    assert_eq!(t.invoices()[0].status, InvoiceStatus::Paid);
    t.credit(1_000); // the balance is not what bounds a refund
    t.run(Some("chat-1"), Some("alice"), || {
        payments::refund(&invoice, 300, "r1")?;
        payments::refund(&invoice, 300, "r1")?; // the same key: nothing new
        assert!(matches!(payments::refund(&invoice, 201, "r2"), Err(Error::Invalid(m)) if m.contains("exceeds what was paid")));
        assert!(matches!(payments::transfer("alice", 1_201, "t1"), Err(Error::Invalid(m)) if m.contains("insufficient")));
        payments::transfer("alice", 1_200, "t2")?;
        assert_eq!(payments::balance()?, 0);
        assert_eq!(payments::cancel_invoice(&invoice).map_err(|e| e.code()), Err("invalid"));
        Ok(())
    })
    .unwrap();
    assert_eq!(t.payouts().len(), 2);
    assert_eq!(t.invoices()[0].refunded, 300);
}

#[test]
fn an_invoice_message_is_the_hosts_to_change() {
    let mut t = everything().install("chat-1", &["alice"]);
    t.run(Some("chat-1"), Some("alice"), || {
        Ok(payments::create_invoice("alice", 500, "Tea", "k")?)
    })
    .unwrap();
    let message = t.last_sent().unwrap().id;
    let edit = t
        .run(Some("chat-1"), Some("alice"), || {
            Ok(messaging::edit(&message, "free tea"))
        })
        .unwrap();
    assert!(matches!(edit, Err(Error::Invalid(m)) if m.contains("only the host changes it")));
}

// ---- signatures, timers, files, pages ------------------------------------

#[test]
fn signature_requests_are_bounded_per_invocation() {
    let mut t = everything();
    let answers = t
        .run(Some("chat-1"), Some("alice"), || {
            Ok((0..=limits::SIGNATURES_PER_INVOCATION)
                .map(|_| identity::request_signature("Deal", b"doc"))
                .collect::<Vec<_>>())
        })
        .unwrap();
    assert_eq!(answers.last(), Some(&Err(Error::RateLimited)));
    let title = "t".repeat(limits::MAX_TITLE_BYTES + 1);
    let long = t
        .run(Some("chat-1"), Some("alice"), || {
            Ok(identity::request_signature(&title, b"doc"))
        })
        .unwrap();
    assert!(matches!(long, Err(Error::TooLarge(_))));
}

#[test]
fn timers_need_a_chat_a_bounded_payload_and_a_valid_cron() {
    let mut t = everything();
    t.run(Some("chat-1"), None, || {
        let payload = "p".repeat(limits::MAX_TIMER_PAYLOAD_BYTES + 1);
        assert!(matches!(
            schedule::after("chat-1", Duration::from_secs(1), &payload, false),
            Err(Error::TooLarge(_))
        ));
        assert!(matches!(
            schedule::after("chat-1", Duration::from_secs(1), "", true),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            schedule::after("chat-1", Duration::from_secs(400 * 86_400), "", false),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            schedule::cron("chat-1", "every day", "", false),
            Err(Error::Invalid(_))
        ));
        let id = schedule::cron("chat-1", "0 9 * * 1-5", "standup", false)?;
        assert_eq!(schedule::list(Some("chat-1"))?[0].id, id);
        schedule::cancel(&id)?;
        assert_eq!(schedule::cancel(&id), Err(Error::NotFound));
        Ok(())
    })
    .unwrap();
}

#[test]
fn files_are_read_made_and_sent_within_the_rules() {
    struct Receipt;
    impl Bot for Receipt {
        fn on_message(msg: Message) -> miniapp_sdk::Result {
            let bytes = files::read_all(&msg.files[0].id)?;
            assert_eq!(files::read(&msg.files[0].id, 2, 100)?, b"llo");
            assert!(matches!(
                files::read(&msg.files[0].id, 0, limits::MAX_FILE_READ_BYTES + 1),
                Err(Error::TooLarge(_))
            ));
            assert_eq!(files::read("file-404", 0, 1), Err(Error::NotFound));
            let made = files::create(&msg.chat, "copy.txt", &bytes)?;
            assert_eq!(made.sha256, msg.files[0].sha256);
            assert!(matches!(files::send(&msg.chat, "", &[]), Err(Error::Invalid(_))));
            files::send(&msg.chat, "your copy", std::slice::from_ref(&made.id))?;
            assert!(
                matches!(files::send(&msg.chat, "again", &[made.id]), Err(Error::Invalid(m)) if m.contains("already attached"))
            );
            assert_eq!(
                files::download_url(&msg.files[0].id),
                Err(Error::NotFound),
                "only in a web request"
            );
            Ok(())
        }
    }
    let mut t = everything();
    t.message_with_files::<Receipt>("chat-1", "alice", "/copy", &[("a.txt", b"hello")])
        .unwrap();
    let sent = t.last_sent().unwrap();
    assert_eq!(
        (sent.text.as_str(), sent.files[0].name.as_str(), sent.files[0].size),
        ("your copy", "copy.txt", 5)
    );
    assert_eq!(
        sent.files[0].sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        "the sha256 of hello"
    );
}

#[test]
fn pages_publishes_are_bounded() {
    let mut t = everything();
    t.run(Some("chat-1"), Some("alice"), || {
        assert!(matches!(pages::publish("chat-1", ""), Err(Error::Invalid(_))));
        let big = "x".repeat(limits::MAX_PAGE_DATA_BYTES + 1);
        assert!(matches!(pages::publish("chat-1", &big), Err(Error::TooLarge(_))));
        for _ in 0..limits::PAGE_PUBLISHES_PER_INVOCATION {
            pages::publish("chat-1", "{}")?;
        }
        assert_eq!(pages::publish("chat-1", "{}"), Err(Error::RateLimited));
        Ok(())
    })
    .unwrap();
    assert_eq!(t.publishes().len(), limits::PAGE_PUBLISHES_PER_INVOCATION);
}

// ---- events, privacy, config, http, log, outside the harness ---------------

#[test]
fn without_messaging_read_a_bot_gets_only_commands_and_mentions() {
    struct Count;
    impl Bot for Count {
        fn on_message(_: Message) -> miniapp_sdk::Result {
            storage::app().increment("seen", 1)?;
            Ok(())
        }
    }
    let mut t = Harness::new().named("count-bot").grant("storage");
    for text in [
        "hello",
        "/cmd",
        "hi @count-bot",
        "hi @count-botty",
        "hi @count-bot-2",
        "hi @Count-Bot",
    ] {
        t.message::<Count>("chat-1", "alice", text).unwrap();
    }
    // Names match in any case, as Telegram's usernames do.
    assert_eq!(t.storage(Bucket::App).get_str("seen").as_deref(), Some("3"));
}

#[test]
fn a_command_addressed_to_another_app_reaches_only_that_app() {
    struct Echo;
    impl Bot for Echo {
        fn on_message(m: Message) -> miniapp_sdk::Result {
            if let Some(text) = m.command("/echo") {
                messaging::send(&m.chat, text)?;
            }
            Ok(())
        }
    }
    for read in [false, true] {
        let mut t = Harness::new().named("echo-bot").grant("messaging.send");
        if read {
            t = t.grant("messaging.read");
        }
        for text in [
            "/echo@echo-bot one",
            "/echo@other-bot two",
            "/echo three",
            "/echo@ four",
            "/echo@Echo-Bot five",
        ] {
            t.message::<Echo>("chat-1", "alice", text).unwrap();
        }
        let texts: Vec<String> = t.sent().into_iter().map(|m| m.text).collect();
        assert_eq!(texts, ["one", "three", "five"], "with messaging.read: {read}");
    }
}

#[test]
fn a_retry_is_the_same_event_with_the_next_attempt() {
    struct Flaky;
    impl Bot for Flaky {
        fn on_message(m: Message) -> miniapp_sdk::Result {
            let id = identity::current_event_id().ok_or("no id")?;
            let attempt = identity::current_event_attempt().ok_or("no attempt")?;
            messaging::send(&m.chat, &format!("{id}/{attempt}"))?;
            if attempt < 3 { Err("not yet".into()) } else { Ok(()) }
        }
    }
    let mut t = everything();
    assert!(t.message::<Flaky>("chat-1", "alice", "/go").is_err());
    assert!(t.retry::<Flaky>().is_err());
    t.retry::<Flaky>().unwrap();
    let texts: Vec<String> = t.sent().into_iter().map(|m| m.text).collect();
    assert_eq!(texts, ["1/3"]);
}

#[test]
fn config_answers_the_values_set() {
    let mut t = everything().config("api-key", "s3cret");
    let (one, all) = t
        .run(None, None, || Ok((config::get("api-key"), config::all())))
        .unwrap();
    assert_eq!(one, Ok(Some("s3cret".into())));
    assert_eq!(all, Ok(vec![("api-key".into(), "s3cret".into())]));
}

#[test]
fn http_reaches_granted_hosts_with_the_stubbed_answer() {
    let mut t = Harness::new().grant("http:api.example.com").http(
        Some("POST"),
        "https://api.example.com/orders",
        http::Response::new(201, "{\"id\":7}"),
    );
    let answers = t
        .run(None, None, || {
            Ok((
                http::Request::post("https://api.example.com/orders").json("{}").send(),
                http::get("https://api.example.com:8443/"),
                http::get("https://api.example.com/none"),
            ))
        })
        .unwrap();
    assert_eq!(answers.0.map(|r| r.status), Ok(201));
    assert!(
        matches!(answers.1, Err(http::Error::Denied(_))),
        "another port needs its own grant"
    );
    assert!(matches!(answers.2, Err(http::Error::Failed(m)) if m.contains("no response stubbed")));
    assert_eq!(t.http_requests()[0].body, b"{}");
}

#[test]
fn log_lines_are_cut_at_the_hosts_limit() {
    let mut t = Harness::new();
    t.run(None, None, || {
        miniapp_sdk::log::info(&"x".repeat(limits::MAX_LOG_LINE_BYTES + 10));
        Ok(())
    })
    .unwrap();
    let line = &t.logs()[0];
    assert_eq!(
        (line.level, line.message.len()),
        ("info", limits::MAX_LOG_LINE_BYTES + " [cut]".len())
    );
}

#[test]
fn the_host_call_limit_ends_the_invocation() {
    let mut t = Harness::new().grant("storage").limits(Limits {
        host_calls_per_invocation: 10,
        ..Limits::default()
    });
    let err = t
        .run(None, None, || {
            for i in 0..20 {
                storage::app().set("k", i.to_string().as_bytes())?;
            }
            Ok(())
        })
        .unwrap_err();
    assert!(err.to_string().starts_with("guest trapped: host-call limit"), "{err}");
    assert!(t.storage(Bucket::App).keys().is_empty());
}

#[test]
fn outside_a_harness_invocation_calls_are_unavailable_not_panics() {
    assert!(matches!(storage::app().get("k"), Err(Error::Unavailable(m)) if m.contains("Harness")));
    assert_eq!(identity::current_event_id(), None);
    miniapp_sdk::log::info("goes nowhere");
}
