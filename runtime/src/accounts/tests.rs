//! The accounts service without HTTP: its refusals are the errors the API
//! maps to statuses.

use super::{AccountError, Accounts, SessionCheck, hash_token};
use crate::store::Db;
use crate::store::tokens::SessionPolicy;

async fn accounts() -> (tempfile::TempDir, Accounts) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open_sqlite(dir.path()).await.expect("database");
    (dir, Accounts::new(db, SessionPolicy::default(), &[7; 32]))
}

#[tokio::test]
async fn sign_up_checks_name_and_phone_and_its_token_opens_a_live_session() {
    let (_dir, accounts) = accounts().await;
    for (name, phone) in [("", None), (&*"x".repeat(101), None), ("Alice", Some("12"))] {
        let refused = accounts.create(name, phone, "phone").await;
        assert!(matches!(refused, Err(AccountError::Invalid(_))), "{name:?} {phone:?}");
    }
    let (alice, token) = accounts
        .create("  Alice ", Some("+4912345"), "phone")
        .await
        .expect("account");
    assert_eq!(alice.name, "Alice");
    match accounts.check(&hash_token(&token)).await.expect("check") {
        SessionCheck::Live { account, session } => {
            assert_eq!(account.id, alice.id);
            assert_eq!(session.label, "phone");
        }
        other => panic!("expected a live session, got {other:?}"),
    }
    assert!(accounts.session_live(&hash_token(&token)).await);
    assert!(!accounts.session_live(&hash_token("not a token")).await);
}

#[tokio::test]
async fn only_the_owner_signs_a_session_out_and_then_its_token_is_refused() {
    let (_dir, accounts) = accounts().await;
    let (alice, _) = accounts.create("Alice", None, "phone").await.expect("alice");
    let (bob, _) = accounts.create("Bob", None, "phone").await.expect("bob");
    let (laptop, token) = accounts.sign_in(&alice.id, "laptop").await.expect("sign in");
    assert_eq!(accounts.live_sessions(&alice.id).await.expect("list").len(), 2);
    assert!(matches!(
        accounts.sign_out(&bob.id, &laptop.id).await,
        Err(AccountError::NoSuchSession)
    ));
    accounts.sign_out(&alice.id, &laptop.id).await.expect("sign out");
    assert!(matches!(
        accounts.check(&hash_token(&token)).await.expect("check"),
        SessionCheck::Revoked(_)
    ));
    assert!(matches!(
        accounts.sign_out(&alice.id, &laptop.id).await,
        Err(AccountError::NoSuchSession)
    ));
}

#[tokio::test]
async fn consents_need_an_existing_app_and_known_scopes() {
    let (_dir, accounts) = accounts().await;
    let (alice, _) = accounts.create("Alice", None, "phone").await.expect("alice");
    let app = crate::store::apps::add_version(
        &accounts.db,
        &crate::store::apps::NewVersion::for_tests("consent-app", &alice.id),
    )
    .await
    .expect("app");
    let profile = vec!["identity.profile".to_string()];
    // Not running yet: granted nothing, so nothing can be consented to.
    assert!(matches!(
        accounts.grant_consents(&alice.id, &app, &profile).await,
        Err(AccountError::Invalid(_))
    ));
    use crate::store::status::CompileStatus;
    crate::store::apps::set_compile_status(&accounts.db, &app, "1.0.0", CompileStatus::Compiled)
        .await
        .expect("compiled");
    let grants = ["identity.profile".to_string()].into_iter().collect();
    assert!(
        crate::store::apps::approve(&accounts.db, &app, "1.0.0", &grants, &Default::default(), None)
            .await
            .expect("approve")
    );
    assert!(matches!(
        accounts.grant_consents(&alice.id, "no-such-app", &profile).await,
        Err(AccountError::NoSuchApp)
    ));
    assert!(matches!(
        accounts.grant_consents(&alice.id, &app, &["identity.phone".to_string()]).await,
        Err(AccountError::Invalid(m)) if m.contains("not granted")
    ));
    assert_eq!(accounts.consentable_scopes(&app).await.expect("grantable"), profile);
    assert!(matches!(
        accounts.grant_consents(&alice.id, &app, &["storage".to_string()]).await,
        Err(AccountError::Invalid(_))
    ));
    assert_eq!(
        accounts.grant_consents(&alice.id, &app, &profile).await.expect("grant"),
        profile
    );
    assert_eq!(accounts.consents(&alice.id, &app).await.expect("list"), profile);
    accounts.revoke_consents(&alice.id, &app).await.expect("revoke");
    assert!(accounts.consents(&alice.id, &app).await.expect("list").is_empty());
}

#[tokio::test]
async fn a_ticket_names_its_session_and_is_redeemed_once() {
    let (_dir, accounts) = accounts().await;
    let (alice, token) = accounts.create("Alice", None, "phone").await.expect("alice");
    let (ticket, _) = accounts
        .issue_ticket(&alice.id, &hash_token(&token))
        .await
        .expect("ticket");
    let presented = accounts.ticket(&ticket).await.expect("valid");
    assert_eq!(presented.account, alice.id);
    assert_eq!(presented.session_hash, hash_token(&token));
    accounts.redeem_ticket(&presented).await.expect("first use");
    assert!(matches!(
        accounts.redeem_ticket(&presented).await,
        Err(AccountError::InvalidTicket)
    ));
    assert!(matches!(
        accounts.ticket(&ticket).await,
        Err(AccountError::InvalidTicket)
    ));
}

#[tokio::test]
async fn a_live_session_is_answered_from_the_nodes_cache_until_a_revocation() {
    let (_dir, accounts) = accounts().await;
    let (_, token) = accounts.create("Alice", None, "phone").await.expect("alice");
    let hash = hash_token(&token);
    assert!(accounts.session_live(&hash).await, "read, and cached");
    // Gone from the database behind the cache's back (no revocation):
    // the node still answers from its cache…
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(&hash)
        .execute(accounts.db.pool())
        .await
        .expect("delete");
    assert!(accounts.session_live(&hash).await, "served from the cache");
    // …until any revocation moves the node's epoch.
    accounts.db.revocations().bump();
    assert!(matches!(
        accounts.check(&hash).await.expect("check"),
        SessionCheck::Unknown
    ));
}
