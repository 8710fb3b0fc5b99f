//! The `config` interface: a component's declared `config` values and the secrets its
//! manifest grants (`secrets = ["NAME"]`). Linked for every component: what it can read is
//! exactly what its own manifest entry declares or grants.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use wasmtime::component::HasData;

use super::{CapabilityHost, Interface, PlatformError, Services};
use crate::bindings::{config, types};
use crate::manifest::ComponentSpec;
use crate::secrets::Secrets;

/// What one component may read through `config`.
#[derive(Clone)]
pub struct ConfigCtx(Arc<ConfigGrant>);

struct ConfigGrant {
    component: String,
    values: BTreeMap<String, String>,
    secrets: BTreeSet<String>,
    store: Arc<Secrets>,
}

struct HasConfig;

impl HasData for HasConfig {
    type Data<'a> = &'a ConfigCtx;
}

fn view<T: CapabilityHost>(state: &mut T) -> &ConfigCtx {
    &state.capabilities().0.config
}

/// The config context of `spec`: its `config` table and the secrets `secrets = [...]` grants.
pub fn configure(spec: &ComponentSpec, services: &Services) -> ConfigCtx {
    ConfigCtx(Arc::new(ConfigGrant {
        component: spec.name.clone(),
        values: spec.config.clone(),
        secrets: spec.secrets.clone(),
        store: Arc::clone(&services.secrets),
    }))
}

/// `nimbus:platform/config`, for every component.
pub fn interfaces<T: CapabilityHost>() -> Vec<Interface<T>> {
    vec![Interface {
        name: "nimbus:platform/config",
        grant: "config = { NAME = \"value\" }",
        granted: |_| true,
        link: |linker, _| config::add_to_linker::<T, HasConfig>(linker, view::<T>),
    }]
}

impl types::Host for &ConfigCtx {
    fn convert_error(&mut self, error: PlatformError) -> wasmtime::Result<types::Error> {
        error.into_wit()
    }
}

impl config::Host for &ConfigCtx {
    async fn get(&mut self, name: String) -> Result<Option<String>, PlatformError> {
        let grant = &self.0;
        if let Some(value) = grant.values.get(&name) {
            return Ok(Some(value.clone()));
        }
        if !grant.secrets.contains(&name) {
            let component = &grant.component;
            return Err(PlatformError::AccessDenied(format!(
                "component `{component}` may not read `{name}`; declare it with `config = {{ {name} = \"...\" }}` or grant the secret with `secrets = [\"{name}\"]` in [component.{component}]"
            )));
        }
        grant.store.get(&name).await.map_err(|error| {
            tracing::error!(component = %grant.component, "secret store failure: {error}");
            PlatformError::Unavailable("the secret store failed".to_string())
        })
    }
}
