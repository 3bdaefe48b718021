//! Who the current user is. Needs `identity.basic`.

use crate::Error;
use crate::bindings::miniapp::platform::identity as wit;

/// The app-scoped id of the user who caused the current event: stable for
/// this app, different in every other app.
pub fn current_user() -> Result<String, Error> {
    wit::current_user()
}
