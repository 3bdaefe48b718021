//! Policy tests of storage: called directly, no wasm.

use super::wit::{Bucket, Host as _};
use crate::capabilities::test_support::state;
use crate::capabilities::{CapError, StorageView, WitError};

#[tokio::test]
async fn buckets_are_separate_and_keys_and_values_are_bounded() {
    let (mut s, _db, _dir) = state(&["storage"]).await;
    s.storage()
        .set(Bucket::App, "k".into(), b"v".to_vec())
        .await
        .expect("set");
    assert_eq!(
        s.storage().get(Bucket::App, "k".into()).await.expect("get"),
        Some(b"v".to_vec())
    );
    assert_eq!(
        s.storage()
            .get(Bucket::User, "k".into())
            .await
            .expect("user bucket is separate"),
        None
    );
    assert!(matches!(
        s.storage().set(Bucket::App, "a\0b".into(), b"v".to_vec()).await,
        Err(CapError::Wit(WitError::Invalid(_)))
    ));
    assert!(matches!(
        s.storage().set(Bucket::App, "k".into(), vec![0; 65 << 10]).await,
        Err(CapError::Wit(WitError::TooLarge(_)))
    ));
}
