//! Money in integer minor units (RUB). Needs `payments` (invoices,
//! refunds, balance) and `payments.payout` (transfers).

use crate::Error;
use crate::sys::payments as wit;

/// Invoices `user` (app-scoped id, a member of the current chat) for
/// `amount`; the same `key` returns the same invoice. Returns its id; the
/// app gets [`crate::Bot::on_payment`] once it is paid.
pub fn create_invoice(user: &str, amount: u64, title: &str, key: &str) -> Result<String, Error> {
    wit::create_invoice(user, amount, title, key)
}

/// Cancels an open invoice of this app.
pub fn cancel_invoice(invoice: &str) -> Result<(), Error> {
    wit::cancel_invoice(invoice)
}

/// Refunds `amount` of a paid invoice to its payer; idempotent per `key`.
pub fn refund(invoice: &str, amount: u64, key: &str) -> Result<(), Error> {
    wit::refund(invoice, amount, key)
}

/// Pays `user` (a member of the current chat) from the app's balance; idempotent per `key`.
pub fn transfer(user: &str, amount: u64, key: &str) -> Result<(), Error> {
    wit::transfer(user, amount, key)
}

/// The app's own balance.
pub fn balance() -> Result<u64, Error> {
    wit::balance()
}
