//! What an uploaded file is, decided from its bytes ([`sniff`]), the
//! bounded-size preview of an image ([`preview`]), a file made ready to
//! store from its bytes ([`intake`]) and the links that let a user
//! download one without a bearer token ([`access`]). Pure functions: no
//! database, no HTTP.

pub mod access;
pub mod intake;
pub mod preview;
pub mod sniff;
