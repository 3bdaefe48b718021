//! `identity` (`capabilities/identity/mod.rs`): `identity.basic` for ids,
//! `identity.profile` / `identity.phone` plus the user's consent,
//! `identity.sign` for signature requests (5 per invocation, 20
//! unanswered per user).

use super::check_size;
use crate::Error;
use crate::limits::{MAX_DOCUMENT_BYTES, MAX_TITLE_BYTES};
use crate::testing::state::{self, Invocation};
use crate::testing::{SignatureRequest, SignatureState, text};

fn current(inv: &Invocation) -> Result<String, Error> {
    inv.cx.user.clone().ok_or(Error::NotFound)
}

fn consented(inv: &mut Invocation, scope: &str) -> Result<String, Error> {
    inv.require(scope)?;
    let user = current(inv)?;
    if !inv.world.consents.contains(&(user.clone(), scope.to_string())) {
        inv.deny(scope, "the user has not consented");
        return Err(Error::ConsentRequired);
    }
    Ok(user)
}

pub(crate) fn current_user() -> Result<String, Error> {
    state::with(|inv| {
        inv.require("identity.basic")?;
        current(inv)
    })
}

pub(crate) fn current_chat() -> Result<String, Error> {
    state::with(|inv| {
        inv.require("identity.basic")?;
        inv.cx.chat.clone().ok_or(Error::NotFound)
    })
}

pub(crate) fn current_event_id() -> Option<u64> {
    state::with_current(|inv| inv.cx.event_id).flatten()
}

pub(crate) fn current_event_attempt() -> Option<u32> {
    state::with_current(|inv| inv.cx.attempt).flatten()
}

pub(crate) fn display_name() -> Result<String, Error> {
    state::with(|inv| {
        let user = consented(inv, "identity.profile")?;
        Ok(inv.world.profiles.get(&user).map(|p| p.0.clone()).unwrap_or(user))
    })
}

pub(crate) fn phone() -> Result<String, Error> {
    state::with(|inv| {
        let user = consented(inv, "identity.phone")?;
        inv.world
            .profiles
            .get(&user)
            .and_then(|p| p.1.clone())
            .ok_or(Error::NotFound)
    })
}

fn check_title(title: &str) -> Result<(), Error> {
    check_size("signature title", title.len(), MAX_TITLE_BYTES)?;
    text::check_line("signature title", title).map_err(Error::Invalid)
}

/// The per-invocation and per-user bounds of signature requests.
fn take_turn(inv: &mut Invocation, user: &str) -> Result<(), Error> {
    let max = inv.world.limits.signatures_per_invocation;
    if inv.counts.signatures >= max {
        inv.log(
            "warn",
            format!("signature request refused (rate-limited): more than {max} in one invocation"),
        );
        return Err(Error::RateLimited);
    }
    let waiting = inv
        .work
        .signatures
        .iter()
        .filter(|s| s.user == user && s.status == SignatureState::Pending)
        .count();
    let most = inv.world.limits.pending_signatures_per_user;
    if waiting >= most as usize {
        inv.log(
            "warn",
            format!("signature request refused (rate-limited): the user has {most} requests of this app unanswered"),
        );
        return Err(Error::RateLimited);
    }
    inv.counts.signatures += 1;
    Ok(())
}

pub(crate) fn request_signature(title: &str, document: &[u8]) -> Result<String, Error> {
    super::check_host_call_bytes(document.len());
    state::with(|inv| {
        inv.require("identity.sign")?;
        let user = current(inv)?;
        check_size("document", document.len(), MAX_DOCUMENT_BYTES)?;
        check_title(title)?;
        if document.is_empty() {
            return Err(Error::Invalid("document is empty".into()));
        }
        take_turn(inv, &user)?;
        let id = inv.world.new_id("sig");
        inv.work.signatures.push(SignatureRequest {
            id: id.clone(),
            user,
            chat: inv.cx.chat.clone(),
            title: title.to_string(),
            document: document.to_vec(),
            document_sha256: text::sha256_hex(document),
            file: None,
            status: SignatureState::Pending,
        });
        Ok(id)
    })
}

pub(crate) fn request_file_signature(title: &str, file: &str) -> Result<String, Error> {
    state::with(|inv| {
        inv.require("identity.sign")?;
        let user = current(inv)?;
        check_title(title)?;
        let Some(found) = super::files::readable(inv, file) else {
            inv.deny("identity.sign", "a file the app may not read (or none)");
            return Err(Error::NotFound);
        };
        if !inv.world.is_member(&found.chat, &user) {
            return Err(Error::NotFound);
        }
        take_turn(inv, &user)?;
        let id = inv.world.new_id("sig");
        inv.work.signatures.push(SignatureRequest {
            id: id.clone(),
            user,
            chat: Some(found.chat.clone()),
            title: title.to_string(),
            document: Vec::new(),
            document_sha256: found.info.sha256.clone(),
            file: Some(found.info.id.clone()),
            status: SignatureState::Pending,
        });
        Ok(id)
    })
}
