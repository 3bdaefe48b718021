//! `/invoice` bills the sender 100 and `/void` cancels that invoice; the payment handler traps the first
//! time it sees a payment event, then confirms it on the retry, saying
//! which delivery of the event it was.

use miniapp_sdk::{Bot, Message, PaymentReceived, identity, messaging, payments, storage};

struct FlakyPayBot;

impl Bot for FlakyPayBot {
    fn on_message(msg: Message) -> miniapp_sdk::Result {
        if msg.command("/invoice").is_some() {
            let me = identity::current_user()?;
            let id = payments::create_invoice(&me, 100, "flaky", &msg.id)?;
            storage::app().set("last", id.as_bytes())?;
        } else if msg.command("/void").is_some() {
            let last = storage::app().get("last")?.unwrap_or_default();
            let outcome = match payments::cancel_invoice(&String::from_utf8_lossy(&last)) {
                Ok(()) => "cancelled".to_string(),
                Err(e) => e.code().to_string(),
            };
            messaging::send(&msg.chat, &format!("void: {outcome}"))?;
        }
        Ok(())
    }

    fn on_payment(payment: PaymentReceived) -> miniapp_sdk::Result {
        // A failed run stores nothing, so the host counts the deliveries.
        let attempts = identity::current_event_attempt().unwrap_or(1);
        if attempts == 1 {
            panic!("crashing on the first delivery of {}", payment.id);
        }
        messaging::send(
            &payment.chat,
            &format!("paid {} after {attempts} deliveries", payment.invoice),
        )?;
        Ok(())
    }
}

miniapp_sdk::bot!(FlakyPayBot);
