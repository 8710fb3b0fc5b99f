//! The `key-value` interface: named stores, each opened only when the manifest grants it.

use std::collections::BTreeSet;
use std::sync::Arc;

use nimbus_kv::{KvError, KvStore, StoreId};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::PlatformError;
use crate::bindings::{key_value, types};

/// The host side of an opened `store` resource.
pub struct OpenStore {
    id: StoreId,
}

/// What the key-value binding needs from one invocation: the backend and the grant. Cloning it
/// per invocation costs one reference count.
#[derive(Clone)]
pub struct KvCtx(Arc<KvGrant>);

struct KvGrant {
    app: String,
    component: String,
    granted: BTreeSet<String>,
    backend: Arc<dyn KvStore>,
}

impl KvCtx {
    /// A context for `component` of `app`, allowed to open the `granted` stores.
    pub fn new(
        app: &str,
        component: &str,
        granted: BTreeSet<String>,
        backend: Arc<dyn KvStore>,
    ) -> Self {
        Self(Arc::new(KvGrant {
            app: app.to_string(),
            component: component.to_string(),
            granted,
            backend,
        }))
    }
}

/// Borrowed view handed to the binding: the context and the invocation's resource table.
pub struct KvCtxView<'a> {
    /// The key-value context.
    pub ctx: &'a KvCtx,
    /// The invocation's resource table.
    pub table: &'a mut ResourceTable,
}

/// Store data that can offer key-value access.
pub trait KvView: Send {
    /// The key-value view of this invocation.
    fn kv(&mut self) -> KvCtxView<'_>;
}

struct HasKv;

impl HasData for HasKv {
    type Data<'a> = KvCtxView<'a>;
}

/// Links `nimbus:platform/key-value` into `linker`.
pub fn add_to_linker<T: KvView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    key_value::add_to_linker::<T, HasKv>(linker, T::kv)
}

/// Links `nimbus:platform/types`, which holds only type definitions and grants nothing.
pub fn add_types_to_linker<T: KvView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    types::add_to_linker::<T, HasKv>(linker, T::kv)
}

impl KvCtxView<'_> {
    async fn run<R: Send + 'static>(
        &mut self,
        store: &Resource<OpenStore>,
        op: impl FnOnce(&dyn KvStore, &StoreId) -> Result<R, KvError> + Send + 'static,
    ) -> Result<R, PlatformError> {
        let id = self.table.get(store)?.id.clone();
        let backend = Arc::clone(&self.ctx.0.backend);
        let outcome = tokio::task::spawn_blocking(move || op(backend.as_ref(), &id))
            .await
            .map_err(|e| {
                PlatformError::Trap(wasmtime::Error::msg(format!("key-value task failed: {e}")))
            })?;
        outcome.map_err(|error| match error {
            KvError::Invalid(why) => PlatformError::Invalid(why),
            KvError::Storage(why) => {
                tracing::error!(component = %self.ctx.0.component, "key-value storage failure: {why}");
                PlatformError::Unavailable("key-value storage failed".to_string())
            }
        })
    }
}

impl types::Host for KvCtxView<'_> {
    fn convert_error(&mut self, error: PlatformError) -> wasmtime::Result<types::Error> {
        error.into_wit()
    }
}

impl key_value::Host for KvCtxView<'_> {}

impl key_value::HostStore for KvCtxView<'_> {
    async fn open(&mut self, name: String) -> Result<Resource<OpenStore>, PlatformError> {
        if !self.ctx.0.granted.contains(&name) {
            return Err(PlatformError::AccessDenied(format!(
                "component `{}` may not open store `{name}`; grant it with `key_value = [\"{name}\"]` in [component.{}]",
                self.ctx.0.component, self.ctx.0.component
            )));
        }
        let id = StoreId::new(self.ctx.0.app.clone(), name);
        Ok(self.table.push(OpenStore { id })?)
    }

    async fn get(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> Result<Option<Vec<u8>>, PlatformError> {
        self.run(&store, move |kv, id| kv.get(id, &key)).await
    }

    async fn set(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), PlatformError> {
        self.run(&store, move |kv, id| kv.set(id, &key, &value))
            .await
    }

    async fn delete(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> Result<(), PlatformError> {
        self.run(&store, move |kv, id| kv.delete(id, &key)).await
    }

    async fn exists(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> Result<bool, PlatformError> {
        self.run(&store, move |kv, id| kv.exists(id, &key)).await
    }

    async fn list_keys(
        &mut self,
        store: Resource<OpenStore>,
        prefix: String,
        cursor: Option<String>,
    ) -> Result<key_value::KeyPage, PlatformError> {
        let page = self
            .run(&store, move |kv, id| {
                kv.list_keys(id, &prefix, cursor.as_deref())
            })
            .await?;
        Ok(key_value::KeyPage {
            keys: page.keys,
            cursor: page.cursor,
        })
    }

    async fn increment(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
        delta: i64,
    ) -> Result<i64, PlatformError> {
        self.run(&store, move |kv, id| kv.increment(id, &key, delta))
            .await
    }

    async fn compare_and_swap(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
        old: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> Result<bool, PlatformError> {
        self.run(&store, move |kv, id| {
            kv.compare_and_swap(id, &key, old.as_deref(), &new)
        })
        .await
    }

    async fn drop(&mut self, store: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}
