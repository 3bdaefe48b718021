//! What an uploaded file is, decided from its bytes ([`sniff`]), and the
//! bounded-size preview of an image ([`preview`]). Pure functions: no
//! database, no HTTP.

pub mod preview;
pub mod sniff;
