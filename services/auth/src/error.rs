use std::time::Duration;

use nimbus_kv::KvError;

/// Why an auth operation failed. [`AuthError::code`] and [`AuthError::status`] give the
/// Supabase-compatible wire form; the message never contains a password, token or hash.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown email or wrong password: deliberately the same error for both.
    #[error("Invalid login credentials")]
    InvalidCredentials,
    /// Signup with an email that already has an account.
    #[error("User already registered")]
    EmailTaken,
    /// The password does not meet the policy.
    #[error("{0}")]
    WeakPassword(String),
    /// The email address is not valid.
    #[error("Unable to validate email address: invalid format")]
    InvalidEmail,
    /// Too many attempts; retry after the given time.
    #[error("Too many requests; retry in {} s", retry_after.as_secs().max(1))]
    Throttled {
        /// How long to wait.
        retry_after: Duration,
    },
    /// An access token that is missing, malformed, expired, badly signed or for another app.
    #[error("invalid JWT: {0}")]
    InvalidToken(String),
    /// A refresh token that was never issued (or whose session is gone).
    #[error("Invalid Refresh Token: Refresh Token Not Found")]
    RefreshTokenNotFound,
    /// A refresh token used a second time: the whole session was revoked.
    #[error("Invalid Refresh Token: Already Used")]
    RefreshTokenReused,
    /// The session of a token was signed out or revoked.
    #[error("Session from session_id claim in JWT does not exist")]
    SessionNotFound,
    /// No user with that id.
    #[error("User not found")]
    UserNotFound,
    /// The right password, for an email that was not confirmed yet.
    #[error("Email not confirmed")]
    EmailNotConfirmed,
    /// An administration call without the service role.
    #[error("User not allowed")]
    NotAdmin,
    /// A signup without email while `[auth] anonymous` is off.
    #[error(
        "Anonymous sign-ins are disabled; enable them with `anonymous = true` under `[auth]` in nimbus.toml"
    )]
    AnonymousDisabled,
    /// A one-time link or code that is unknown, used, expired or wrong.
    #[error("Email link is invalid or has expired")]
    OtpExpired,
    /// A request that is well formed but not allowed in this state.
    #[error("{0}")]
    Unprocessable(String),
    /// A malformed request.
    #[error("{0}")]
    Invalid(String),
    /// The storage behind the service failed.
    /// The failure is shown in the message, not chained as the source, so that an error
    /// printed with its causes (the CLI's) says it once.
    #[error("auth storage failed: {0}")]
    Storage(KvError),
    /// Anything else the service could not do (a corrupt record, a crypto failure).
    #[error("auth failed: {0}")]
    Internal(String),
}

impl From<KvError> for AuthError {
    fn from(error: KvError) -> Self {
        AuthError::Storage(error)
    }
}

impl AuthError {
    /// The HTTP status Supabase answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidCredentials
            | Self::InvalidEmail
            | Self::Invalid(_)
            | Self::EmailNotConfirmed => 400,
            Self::NotAdmin | Self::OtpExpired => 403,
            Self::AnonymousDisabled | Self::Unprocessable(_) => 422,
            Self::RefreshTokenNotFound => 400,
            Self::EmailTaken | Self::WeakPassword(_) => 422,
            Self::Throttled { .. } => 429,
            Self::InvalidToken(_) | Self::RefreshTokenReused => 401,
            Self::SessionNotFound => 403,
            Self::UserNotFound => 404,
            Self::Storage(_) | Self::Internal(_) => 500,
        }
    }

    /// The machine-readable error code (Supabase's `error_code`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidCredentials => "invalid_credentials",
            Self::EmailTaken => "user_already_exists",
            Self::WeakPassword(_) => "weak_password",
            Self::InvalidEmail => "email_address_invalid",
            Self::Throttled { .. } => "over_request_rate_limit",
            Self::InvalidToken(_) => "bad_jwt",
            Self::RefreshTokenNotFound => "refresh_token_not_found",
            Self::RefreshTokenReused => "refresh_token_already_used",
            Self::SessionNotFound => "session_not_found",
            Self::UserNotFound => "user_not_found",
            Self::Invalid(_) | Self::Unprocessable(_) => "validation_failed",
            Self::EmailNotConfirmed => "email_not_confirmed",
            Self::NotAdmin => "not_admin",
            Self::OtpExpired => "otp_expired",
            Self::AnonymousDisabled => "anonymous_provider_disabled",
            Self::Storage(_) | Self::Internal(_) => "unexpected_failure",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storage_failure_is_named_once_with_its_causes() {
        let error = AuthError::from(KvError::Storage("table locked".into()));
        assert!(std::error::Error::source(&error).is_none());
        assert_eq!(
            error.to_string(),
            "auth storage failed: storage failure: table locked"
        );
    }
}
