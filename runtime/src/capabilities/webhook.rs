//! `webhook`: inbound webhooks. A grant with no WIT interface: an app
//! granted it gets a public endpoint `/hooks/{app}/{name}` for every name
//! its manifest's `[webhooks]` declares, and each signed delivery runs it
//! with a `webhook` event (see [`crate::webhooks`], which checks the
//! signature and queues the event). The grant is declared here so the
//! grant catalogue and the review show it like every other.

use super::Unit;

/// The unit: the `webhook` grant, no interface to link.
pub const UNIT: Unit = Unit {
    grants: &["webhook"],
    imports: &[],
    link: |_| Ok(()),
};
