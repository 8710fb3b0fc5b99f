//! The app's users (`nimbus:platform/auth` with `auth = "verify"`, and
//! `nimbus:platform/auth-admin` with `auth = "admin"`).

pub use crate::bindings::nimbus::platform::auth::{User, get_user, verify_token};
pub use crate::bindings::nimbus::platform::auth_admin::{create_user, delete_user, set_role};
