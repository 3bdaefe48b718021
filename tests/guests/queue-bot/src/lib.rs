//! One reply per event, so the job-queue tests can count them:
//! - `/echo X` → `X`; `/slow MS X` → waits MS milliseconds, then `X`
//! - `/send-then-wait MS X` → sends `X`, then waits MS milliseconds
//! - `/id` → `event <update id>`
//! - `/button X` → a message with one button whose data is `X`; a press
//!   of it → `pressed X`
//! - `/invoice N` → an invoice of N to the sender; its payment → `paid <invoice>`
//! - `/sign` → a signature request; its answer → `signature <id> signed|declined`
//! - `/fail` → fails every time; `/fail-once X` → fails the first attempt
//!   of the event, then answers `X after N attempts`

use miniapp_sdk::payments;
use miniapp_sdk::{Bot, ButtonPress, Message, PaymentReceived, SignatureResult, SignatureStatus, identity, messaging};

struct QueueBot;

impl Bot for QueueBot {
    fn on_message(msg: Message) -> miniapp_sdk::Result {
        if let Some(text) = msg.command("/echo") {
            messaging::send(&msg.chat, text)?;
        } else if let Some(rest) = msg.command("/slow") {
            let (ms, text) = rest.split_once(' ').unwrap_or((rest, ""));
            std::thread::sleep(std::time::Duration::from_millis(ms.parse().unwrap_or(0)));
            messaging::send(&msg.chat, text)?;
        } else if let Some(rest) = msg.command("/send-then-wait") {
            let (ms, text) = rest.split_once(' ').unwrap_or((rest, ""));
            messaging::send(&msg.chat, text)?;
            std::thread::sleep(std::time::Duration::from_millis(ms.parse().unwrap_or(0)));
        } else if msg.command("/id").is_some() {
            let id = identity::current_event_id().ok_or("no event id")?;
            messaging::send(&msg.chat, &format!("event {id}"))?;
        } else if let Some(data) = msg.command("/button") {
            messaging::send_with_buttons(&msg.chat, "press me", &[&[("press", data)]])?;
        } else if let Some(amount) = msg.command("/invoice") {
            let me = identity::current_user()?;
            payments::create_invoice(&me, amount.parse().unwrap_or(1), "queue test", &msg.id)?;
        } else if msg.command("/sign").is_some() {
            identity::request_signature("queue test", msg.id.as_bytes())?;
        } else if msg.command("/fail").is_some() {
            return Err("asked to fail".into());
        } else if let Some(text) = msg.command("/fail-once") {
            let id = identity::current_event_id().ok_or("no event id")?;
            let attempts = identity::current_event_attempt().ok_or("no attempt")?;
            if attempts == 1 {
                return Err(format!("first attempt of event {id} fails").into());
            }
            messaging::send(&msg.chat, &format!("{text} after {attempts} attempts"))?;
        }
        Ok(())
    }

    fn on_button(press: ButtonPress) -> miniapp_sdk::Result {
        messaging::send(&press.chat, &format!("pressed {}", press.data))?;
        Ok(())
    }

    fn on_payment(payment: PaymentReceived) -> miniapp_sdk::Result {
        messaging::send(&payment.chat, &format!("paid {}", payment.invoice))?;
        Ok(())
    }

    fn on_signature(result: SignatureResult) -> miniapp_sdk::Result {
        let status = match result.status {
            SignatureStatus::Signed => "signed",
            SignatureStatus::Declined => "declined",
        };
        messaging::send(&result.chat, &format!("signature {} {status}", result.id))?;
        Ok(())
    }
}

miniapp_sdk::bot!(QueueBot);
