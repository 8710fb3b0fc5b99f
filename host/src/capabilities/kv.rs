//! The `key-value` interface: named stores, each opened only when the manifest grants it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use nimbus_kv::{KvError, KvStore, StoreId};
use wasmtime::StoreContextMut;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::{CapabilityHost, Interface, PlatformError, Services};
use crate::bindings::{PLATFORM_VERSION, key_value, types};
use crate::manifest::{ComponentSpec, Manifest};
use crate::metrics::{KvOp, KvStoreMetrics};
use crate::traces::{InSpan as _, Span};

/// The host side of an opened `store` resource.
pub struct OpenStore {
    id: StoreId,
    metrics: Arc<KvStoreMetrics>,
}

/// What the key-value binding needs from one invocation: the backend and the grant. Cloning it
/// per invocation costs one reference count.
#[derive(Clone)]
pub struct KvCtx(Arc<KvGrant>);

struct KvGrant {
    app: String,
    component: String,
    /// The granted stores and their series.
    granted: BTreeMap<String, Arc<KvStoreMetrics>>,
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
            granted: granted
                .into_iter()
                .map(|store| {
                    let metrics = Arc::new(KvStoreMetrics::new(&store));
                    (store, metrics)
                })
                .collect(),
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

struct HasKv;

impl HasData for HasKv {
    type Data<'a> = KvCtxView<'a>;
}

fn view<T: CapabilityHost>(state: &mut T) -> KvCtxView<'_> {
    let (grants, table) = state.capabilities();
    KvCtxView {
        ctx: &grants.kv,
        table,
    }
}

/// The key-value context of `spec`: the stores `key_value = [...]` grants.
pub fn configure(manifest: &Manifest, spec: &ComponentSpec, services: &Services) -> KvCtx {
    KvCtx::new(
        &manifest.app,
        &spec.name,
        spec.key_value.clone(),
        Arc::clone(&services.kv),
    )
}

/// `nimbus:platform/key-value`, granted by `key_value = [...]`.
pub fn interfaces<T: CapabilityHost>() -> Vec<Interface<T>> {
    vec![Interface {
        name: "nimbus:platform/key-value",
        grant: "key_value = [\"STORE\"]",
        granted: |spec| !spec.key_value.is_empty(),
        link: |linker, services| {
            key_value::add_to_linker::<T, HasKv>(linker, view::<T>)?;
            if services.kv.inline_reads().is_some() {
                link_inline_get(linker)?;
            }
            Ok(())
        },
    }]
}

/// Replaces the async `store.get` with a plain function when the backend reads without
/// waiting: the hottest guest call then skips the boxed future and its poll. Only reads get
/// this; writes wait for the writer and stay async.
fn link_inline_get<T: CapabilityHost>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let linked = linker
        .instance(&format!("nimbus:platform/key-value@{PLATFORM_VERSION}"))
        .and_then(|mut instance| {
            instance.func_wrap(
                "[method]store.get",
                |mut caller: StoreContextMut<'_, T>,
                 (store, key): (Resource<OpenStore>, String)| {
                    let mut view = view(caller.data_mut());
                    let result = match view.get_inline(&store, &key) {
                        Ok(value) => Ok(value),
                        Err(error) => Err(types::Host::convert_error(&mut view, error)?),
                    };
                    Ok((result,))
                },
            )
        });
    linker.allow_shadowing(false);
    linked
}

/// Links `nimbus:platform/types`, which holds only type definitions and grants nothing.
pub fn add_types_to_linker<T: CapabilityHost>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    types::add_to_linker::<T, HasKv>(linker, view::<T>)
}

impl KvCtxView<'_> {
    /// The store behind `store` and the backend, borrowed for one call: nothing is cloned on
    /// the path of every guest read.
    fn open_store(
        &self,
        store: &Resource<OpenStore>,
    ) -> Result<(&StoreId, &dyn KvStore), PlatformError> {
        let id = &self.table.get(store)?.id;
        Ok((id, self.ctx.0.backend.as_ref()))
    }

    /// Counts `op` on `store` and the value bytes it read and wrote.
    fn count(&self, store: &Resource<OpenStore>, op: KvOp, read: usize, written: usize) {
        if let Ok(open) = self.table.get(store) {
            open.metrics.count(op, read, written);
        }
    }

    /// `store.get` through the backend's [`nimbus_kv::InlineReads`].
    fn get_inline(
        &self,
        store: &Resource<OpenStore>,
        key: &str,
    ) -> Result<Option<Vec<u8>>, PlatformError> {
        let (id, kv) = self.open_store(store)?;
        let Some(reads) = kv.inline_reads() else {
            // Linked only for a backend that offers inline reads; it cannot stop offering them.
            return Err(self.guest_error(KvError::Storage(
                "the key-value backend no longer reads inline".into(),
            )));
        };
        let value = {
            let _span = Span::host_call("kv.get");
            reads.get_now(id, key).map_err(|e| self.guest_error(e))?
        };
        self.count(store, KvOp::Get, value.as_ref().map_or(0, Vec::len), 0);
        Ok(value)
    }

    fn guest_error(&self, error: KvError) -> PlatformError {
        match error {
            KvError::Invalid(why) => PlatformError::Invalid(why),
            KvError::Storage(why) => {
                tracing::error!(component = %self.ctx.0.component, "key-value storage failure: {why}");
                PlatformError::Unavailable("key-value storage failed".to_string())
            }
        }
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
        let Some(metrics) = self.ctx.0.granted.get(&name) else {
            return Err(PlatformError::AccessDenied(format!(
                "component `{}` may not open store `{name}`; grant it with `key_value = [\"{name}\"]` in [component.{}]",
                self.ctx.0.component, self.ctx.0.component
            )));
        };
        let metrics = Arc::clone(metrics);
        let id = StoreId::new(self.ctx.0.app.clone(), name);
        Ok(self.table.push(OpenStore { id, metrics })?)
    }

    async fn get(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> Result<Option<Vec<u8>>, PlatformError> {
        let (id, kv) = self.open_store(&store)?;
        let value = kv
            .get(id, &key)
            .in_span(Span::host_call("kv.get"))
            .await
            .map_err(|e| self.guest_error(e))?;
        self.count(&store, KvOp::Get, value.as_ref().map_or(0, Vec::len), 0);
        Ok(value)
    }

    async fn set(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), PlatformError> {
        let (id, kv) = self.open_store(&store)?;
        kv.set(id, &key, &value)
            .in_span(Span::host_call("kv.set"))
            .await
            .map_err(|e| self.guest_error(e))?;
        self.count(&store, KvOp::Set, 0, value.len());
        Ok(())
    }

    async fn delete(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> Result<bool, PlatformError> {
        let (id, kv) = self.open_store(&store)?;
        let deleted = kv
            .delete(id, &key)
            .in_span(Span::host_call("kv.delete"))
            .await
            .map_err(|e| self.guest_error(e))?;
        self.count(&store, KvOp::Delete, 0, 0);
        Ok(deleted)
    }

    async fn set_expiring(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
        ttl_seconds: u32,
    ) -> Result<(), PlatformError> {
        let (id, kv) = self.open_store(&store)?;
        let ttl = Duration::from_secs(u64::from(ttl_seconds));
        kv.set_expiring(id, &key, &value, ttl)
            .in_span(Span::host_call("kv.set"))
            .await
            .map_err(|e| self.guest_error(e))?;
        self.count(&store, KvOp::Set, 0, value.len());
        Ok(())
    }

    async fn exists(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> Result<bool, PlatformError> {
        let (id, kv) = self.open_store(&store)?;
        let exists = kv
            .exists(id, &key)
            .in_span(Span::host_call("kv.exists"))
            .await
            .map_err(|e| self.guest_error(e))?;
        self.count(&store, KvOp::Exists, 0, 0);
        Ok(exists)
    }

    async fn list_keys(
        &mut self,
        store: Resource<OpenStore>,
        prefix: String,
        cursor: Option<String>,
    ) -> Result<key_value::KeyPage, PlatformError> {
        let (id, kv) = self.open_store(&store)?;
        let page = kv
            .list_keys(id, &prefix, cursor.as_deref())
            .in_span(Span::host_call("kv.list-keys"))
            .await
            .map_err(|e| self.guest_error(e))?;
        self.count(&store, KvOp::ListKeys, 0, 0);
        Ok(key_value::KeyPage {
            keys: page.keys,
            cursor: page.cursor,
        })
    }

    async fn list_entries(
        &mut self,
        store: Resource<OpenStore>,
        prefix: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<key_value::EntryPage, PlatformError> {
        let (id, kv) = self.open_store(&store)?;
        let page = kv
            .scan(id, &prefix, cursor.as_deref(), limit as usize)
            .in_span(Span::host_call("kv.list-entries"))
            .await
            .map_err(|e| self.guest_error(e))?;
        let read = page.entries.iter().map(|(_, value)| value.len()).sum();
        self.count(&store, KvOp::ListEntries, read, 0);
        Ok(key_value::EntryPage {
            entries: page.entries,
            cursor: page.cursor,
        })
    }

    async fn increment(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
        delta: i64,
    ) -> Result<i64, PlatformError> {
        let (id, kv) = self.open_store(&store)?;
        let value = kv
            .increment(id, &key, delta)
            .in_span(Span::host_call("kv.increment"))
            .await
            .map_err(|e| self.guest_error(e))?;
        self.count(&store, KvOp::Increment, 0, 0);
        Ok(value)
    }

    async fn compare_and_swap(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
        old: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> Result<bool, PlatformError> {
        let (id, kv) = self.open_store(&store)?;
        let swapped = kv
            .compare_and_swap(id, &key, old.as_deref(), &new)
            .in_span(Span::host_call("kv.compare-and-swap"))
            .await
            .map_err(|e| self.guest_error(e))?;
        self.count(
            &store,
            KvOp::CompareAndSwap,
            0,
            if swapped { new.len() } else { 0 },
        );
        Ok(swapped)
    }

    async fn compare_and_delete(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
        old: Vec<u8>,
    ) -> Result<bool, PlatformError> {
        let (id, kv) = self.open_store(&store)?;
        let deleted = kv
            .compare_and_delete(id, &key, &old)
            .in_span(Span::host_call("kv.compare-and-delete"))
            .await
            .map_err(|e| self.guest_error(e))?;
        self.count(&store, KvOp::CompareAndDelete, 0, 0);
        Ok(deleted)
    }

    async fn drop(&mut self, store: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}
