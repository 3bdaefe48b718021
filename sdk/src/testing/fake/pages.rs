//! `pages` (`capabilities/pages/mod.rs`): grant `pages`; 16 KiB of
//! non-empty data; chats open to the app (`denied` otherwise); 20
//! publishes per invocation, 300 per chat per minute.

use super::check_size;
use crate::Error;
use crate::limits::{MAX_PAGE_DATA_BYTES, PAGE_PUBLISHES_PER_CHAT_PER_MINUTE, PAGE_PUBLISHES_PER_INVOCATION};
use crate::testing::Publish;
use crate::testing::state;

pub(crate) fn publish(chat: &str, data: &str) -> Result<(), Error> {
    state::with(|inv| {
        inv.require("pages")?;
        check_size("page data", data.len(), MAX_PAGE_DATA_BYTES)?;
        if data.is_empty() {
            return Err(Error::Invalid("page data is empty".into()));
        }
        inv.require_installed_or_direct("pages", chat)?;
        if inv.counts.publishes >= PAGE_PUBLISHES_PER_INVOCATION {
            inv.log(
                "warn",
                format!("publish refused (rate-limited): more than {PAGE_PUBLISHES_PER_INVOCATION} in one invocation"),
            );
            return Err(Error::RateLimited);
        }
        let now = inv.world.now_ms;
        let recent = inv
            .world
            .page_window
            .iter()
            .filter(|(c, at)| c == chat && now.saturating_sub(*at) < 60_000)
            .count();
        if recent >= PAGE_PUBLISHES_PER_CHAT_PER_MINUTE as usize {
            inv.log(
                "warn",
                format!(
                    "publish refused (rate-limited): more than {PAGE_PUBLISHES_PER_CHAT_PER_MINUTE} per minute in chat {chat}"
                ),
            );
            return Err(Error::RateLimited);
        }
        inv.world.page_window.push((chat.to_string(), now));
        inv.counts.publishes += 1;
        inv.work.publishes.push(Publish {
            chat: chat.to_string(),
            data: data.to_string(),
        });
        Ok(())
    })
}
