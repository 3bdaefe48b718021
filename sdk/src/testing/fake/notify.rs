//! `notify` (`capabilities/notify/mod.rs`): grant `notify`; the user's
//! consent (scope `notify`, else `consent-required`); at most
//! `notifications_per_user_per_hour` per user; then a direct message with
//! messaging's checks and budgets.

use crate::testing::state;
use crate::testing::{SentKind, direct_chat};
use crate::{Error, OutgoingMessage};

pub(crate) fn send(user: &str, message: &OutgoingMessage) -> Result<String, Error> {
    state::with(|inv| {
        inv.require("notify")?;
        if !inv.world.consents.contains(&(user.to_string(), "notify".to_string())) {
            inv.deny("notify", "the user has not allowed the app to write to them");
            return Err(Error::ConsentRequired);
        }
        let most = inv.world.limits.notifications_per_user_per_hour;
        let now = inv.world.now_ms;
        let recent = inv
            .work
            .notified
            .iter()
            .filter(|(u, at)| u == user && now.saturating_sub(*at) < 3_600_000)
            .count();
        if recent >= most as usize {
            inv.log(
                "warn",
                format!("notification refused (rate-limited): {most} per user per hour"),
            );
            return Err(Error::RateLimited);
        }
        let id = super::messaging::queue(inv, &direct_chat(user), message, SentKind::Notify(user.to_string()))?;
        inv.work.notified.push((user.to_string(), now));
        Ok(id)
    })
}

pub(crate) fn allowed(user: &str) -> Result<bool, Error> {
    state::with(|inv| {
        inv.require("notify")?;
        Ok(inv.world.consents.contains(&(user.to_string(), "notify".to_string())))
    })
}
