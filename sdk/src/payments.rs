//! Money in integer minor units (RUB). Needs `payments` (invoices,
//! refunds, balance) and `payments.payout` (transfers).

use crate::Error;
use crate::sys::payments as wit;

/// Invoices `user` (app-scoped id, a member of the current chat) for
/// `amount`; the same `key` returns the same invoice. Returns its id; the
/// app gets [`crate::Bot::on_payment`] once it is paid.
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("payments").install("chat-1", &["alice", "bob"]);
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// let invoice = miniapp_sdk::payments::create_invoice("bob", 15_000, "Tea for two", "order-17")?;
/// # Ok(()) }).unwrap();
/// ```
pub fn create_invoice(user: &str, amount: u64, title: &str, key: &str) -> Result<String, Error> {
    wit::create_invoice(user, amount, title, key)
}

/// Cancels an open invoice of this app.
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("payments").install("chat-1", &["alice", "bob"]);
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// use miniapp_sdk::payments;
/// let invoice = payments::create_invoice("bob", 15_000, "Tea", "order-17")?;
/// payments::cancel_invoice(&invoice)?;
/// # Ok(()) }).unwrap();
/// ```
pub fn cancel_invoice(invoice: &str) -> Result<(), Error> {
    wit::cancel_invoice(invoice)
}

/// Refunds `amount` of a paid invoice to its payer; idempotent per `key`.
///
/// ```no_run
/// # fn f(invoice: &str) -> miniapp_sdk::Result {
/// // Half back, once: the same key again refunds nothing more.
/// miniapp_sdk::payments::refund(invoice, 7_500, "refund-half")?;
/// # Ok(()) }
/// ```
pub fn refund(invoice: &str, amount: u64, key: &str) -> Result<(), Error> {
    wit::refund(invoice, amount, key)
}

/// Pays `user` (a member of the current chat) from the app's balance; idempotent per `key`.
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("payments.payout").install("chat-1", &["alice", "bob"]);
/// # t.credit(5_000);
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// miniapp_sdk::payments::transfer("bob", 1_000, "prize-2026-05")?;
/// # Ok(()) }).unwrap();
/// ```
pub fn transfer(user: &str, amount: u64, key: &str) -> Result<(), Error> {
    wit::transfer(user, amount, key)
}

/// The app's own balance.
///
/// ```
/// # let mut t = miniapp_sdk::testing::Harness::new().grant("payments");
/// # t.credit(5_000);
/// # t.run(Some("chat-1"), Some("alice"), || -> miniapp_sdk::Result {
/// assert_eq!(miniapp_sdk::payments::balance()?, 5_000);
/// # Ok(()) }).unwrap();
/// ```
pub fn balance() -> Result<u64, Error> {
    wit::balance()
}
