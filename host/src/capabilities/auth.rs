//! The `auth` and `auth-admin` interfaces: the app's users, for components granted
//! `auth = "verify"` (and `"admin"` for the second), each linked only when granted.

use std::sync::Arc;

use crate::traces::{InSpan as _, Span};

use nimbus_auth::{AuthError, AuthService, DEFAULT_ROLE, User};
use wasmtime::component::HasData;

use super::{CapabilityHost, Interface, PlatformError, Services};
use crate::bindings::{auth, auth_admin, types};
use crate::manifest::{AuthGrant, ComponentSpec};

/// The auth service as one component may use it.
#[derive(Clone)]
pub struct AuthCtx(Arc<AuthGrantCtx>);

struct AuthGrantCtx {
    component: String,
    service: Arc<AuthService>,
}

impl AuthCtx {
    /// A context for `component`.
    pub fn new(component: &str, service: Arc<AuthService>) -> Self {
        Self(Arc::new(AuthGrantCtx {
            component: component.to_string(),
            service,
        }))
    }

    fn service(&self) -> &AuthService {
        &self.0.service
    }

    fn guest_error(&self, error: AuthError) -> PlatformError {
        match error {
            AuthError::UserNotFound => PlatformError::NotFound,
            AuthError::Storage(_) | AuthError::Internal(_) => {
                tracing::error!(component = %self.0.component, "auth failure: {error}");
                PlatformError::Unavailable("auth service failed".to_string())
            }
            other => PlatformError::Invalid(other.to_string()),
        }
    }
}

struct HasAuth;

impl HasData for HasAuth {
    type Data<'a> = &'a AuthCtx;
}

fn view<T: CapabilityHost>(state: &mut T) -> &AuthCtx {
    &state.capabilities().0.auth
}

/// The auth context of `spec`.
pub fn configure(spec: &ComponentSpec, services: &Services) -> AuthCtx {
    AuthCtx::new(&spec.name, Arc::clone(&services.auth))
}

/// `nimbus:platform/auth` (granted by `auth = "verify"` or `"admin"`) and
/// `nimbus:platform/auth-admin` (by `auth = "admin"`).
pub fn interfaces<T: CapabilityHost>() -> Vec<Interface<T>> {
    vec![
        Interface {
            name: "nimbus:platform/auth",
            grant: "auth = \"verify\"",
            granted: |spec| spec.auth >= AuthGrant::Verify,
            link: |linker, _| auth::add_to_linker::<T, HasAuth>(linker, view::<T>),
        },
        Interface {
            name: "nimbus:platform/auth-admin",
            grant: "auth = \"admin\"",
            granted: |spec| spec.auth == AuthGrant::Admin,
            link: |linker, _| auth_admin::add_to_linker::<T, HasAuth>(linker, view::<T>),
        },
    ]
}

fn to_wit(user: &User) -> auth::User {
    auth::User {
        id: user.id.clone(),
        email: user.email.clone(),
        role: user.role.clone(),
        created_at_ms: user.created_at_ms,
    }
}

impl types::Host for &AuthCtx {
    fn convert_error(&mut self, error: PlatformError) -> wasmtime::Result<types::Error> {
        error.into_wit()
    }
}

impl auth::Host for &AuthCtx {
    async fn verify_token(&mut self, token: String) -> Result<types::Identity, PlatformError> {
        let claims = self
            .service()
            .verify_live(&token)
            .in_span(Span::host_call("auth.verify-token"))
            .await
            .map_err(|e| match self.guest_error(e) {
                PlatformError::Invalid(why) => PlatformError::AccessDenied(why),
                other => other,
            })?;
        let identity = claims.identity();
        Ok(types::Identity {
            user_id: identity.user_id,
            email: identity.email,
            role: identity.role,
        })
    }

    async fn get_user(&mut self, id: String) -> Result<Option<auth::User>, PlatformError> {
        match self
            .service()
            .user(&id)
            .in_span(Span::host_call("auth.get-user"))
            .await
            .map_err(|e| self.guest_error(e))
        {
            Ok(user) => Ok(Some(to_wit(&user))),
            Err(PlatformError::NotFound) => Ok(None),
            Err(other) => Err(other),
        }
    }
}

impl auth_admin::Host for &AuthCtx {
    async fn create_user(
        &mut self,
        email: String,
        password: String,
        role: Option<String>,
    ) -> Result<auth::User, PlatformError> {
        let role = role.as_deref().unwrap_or(DEFAULT_ROLE);
        let user = self
            .service()
            .create_user(&email, &password, role, serde_json::json!({}))
            .await
            .map_err(|e| self.guest_error(e))?;
        Ok(to_wit(&user))
    }

    async fn delete_user(&mut self, id: String) -> Result<(), PlatformError> {
        self.service()
            .delete_user(&id)
            .await
            .map_err(|e| self.guest_error(e))
    }

    async fn set_role(&mut self, id: String, role: String) -> Result<auth::User, PlatformError> {
        let user = self
            .service()
            .set_role(&id, &role)
            .await
            .map_err(|e| self.guest_error(e))?;
        Ok(to_wit(&user))
    }
}
