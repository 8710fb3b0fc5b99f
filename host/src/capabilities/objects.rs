//! The `object-store` interface: buckets, each opened only when the manifest grants it and
//! only in the mode granted.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt as _;
use nimbus_objects::{
    BucketId, ListQuery, ObjectError, ObjectMeta, ObjectStore, PutOptions, RangeSpec, UrlSigner,
};
use wasmtime::component::{HasData, Resource, ResourceTable};

use super::{CapabilityHost, Interface, PlatformError, Services};
use crate::bindings::{object_store, types};
use crate::manifest::{BucketMode, BucketSpec, ComponentSpec, Manifest};
use crate::traces::{InSpan as _, Span};

/// The host side of an opened `bucket` resource.
pub struct OpenBucket {
    id: BucketId,
    mode: BucketMode,
    spec: BucketSpec,
}

/// What the object-store binding needs from one invocation.
#[derive(Clone)]
pub struct ObjectsCtx(Arc<ObjectsGrant>);

struct ObjectsGrant {
    app: String,
    component: String,
    granted: BTreeMap<String, (BucketMode, BucketSpec)>,
    store: Arc<dyn ObjectStore>,
    signer: Arc<UrlSigner>,
    max_read: u64,
}

impl ObjectsCtx {
    /// A context for `component` of `app` with its granted buckets. Whole-object reads are
    /// refused above `max_read` bytes (the component's memory limit).
    pub fn new(
        app: &str,
        component: &str,
        granted: BTreeMap<String, (BucketMode, BucketSpec)>,
        store: Arc<dyn ObjectStore>,
        signer: Arc<UrlSigner>,
        max_read: u64,
    ) -> Self {
        Self(Arc::new(ObjectsGrant {
            app: app.to_string(),
            component: component.to_string(),
            granted,
            store,
            signer,
            max_read,
        }))
    }
}

/// Borrowed view handed to the binding.
pub struct ObjectsCtxView<'a> {
    /// The object-store context.
    pub ctx: &'a ObjectsCtx,
    /// The invocation's resource table.
    pub table: &'a mut ResourceTable,
}

struct HasObjects;

impl HasData for HasObjects {
    type Data<'a> = ObjectsCtxView<'a>;
}

fn view<T: CapabilityHost>(state: &mut T) -> ObjectsCtxView<'_> {
    let (grants, table) = state.capabilities();
    ObjectsCtxView {
        ctx: &grants.objects,
        table,
    }
}

/// The object-store context of `spec`: the buckets `buckets = {...}` grants, in their modes.
pub fn configure(manifest: &Manifest, spec: &ComponentSpec, services: &Services) -> ObjectsCtx {
    ObjectsCtx::new(
        &manifest.app,
        &spec.name,
        spec.buckets
            .iter()
            .filter_map(|(name, mode)| {
                manifest
                    .bucket(name)
                    .map(|bucket| (name.clone(), (*mode, bucket.clone())))
            })
            .collect(),
        Arc::clone(&services.objects),
        Arc::clone(&services.signer),
        spec.limits.memory,
    )
}

/// `nimbus:platform/object-store`, granted by `buckets = {...}`.
pub fn interfaces<T: CapabilityHost>() -> Vec<Interface<T>> {
    vec![Interface {
        name: "nimbus:platform/object-store",
        grant: "buckets = { BUCKET = \"read-write\" }",
        granted: |spec| !spec.buckets.is_empty(),
        link: |linker, _| object_store::add_to_linker::<T, HasObjects>(linker, view::<T>),
    }]
}

fn info(meta: &ObjectMeta) -> object_store::ObjectInfo {
    object_store::ObjectInfo {
        key: meta.key.clone(),
        size: meta.size,
        etag: meta.etag.clone(),
        content_type: meta.content_type.clone(),
        created_at_ms: meta.created_at_ms,
        updated_at_ms: meta.updated_at_ms,
    }
}

impl ObjectsCtxView<'_> {
    fn open_bucket(
        &self,
        bucket: &Resource<OpenBucket>,
        write: bool,
    ) -> Result<(BucketId, BucketSpec), PlatformError> {
        let open = self.table.get(bucket)?;
        let allowed = if write {
            open.mode.can_write()
        } else {
            open.mode.can_read()
        };
        if !allowed {
            let component = &self.ctx.0.component;
            let name = &open.id.bucket;
            return Err(PlatformError::AccessDenied(format!(
                "component `{component}` may not {} bucket `{name}`; grant it with `buckets = {{ {name} = \"read-write\" }}` in [component.{component}]",
                if write { "write to" } else { "read from" },
            )));
        }
        Ok((open.id.clone(), open.spec.clone()))
    }
}

impl ObjectsCtx {
    fn map_error(&self, error: ObjectError) -> PlatformError {
        match error {
            ObjectError::NotFound => PlatformError::NotFound,
            ObjectError::InvalidKey(_)
            | ObjectError::TooLarge { .. }
            | ObjectError::AlreadyExists
            | ObjectError::RangeNotSatisfiable { .. } => PlatformError::Invalid(error.to_string()),
            other => {
                tracing::error!(component = %self.0.component, "object storage failure: {other}");
                PlatformError::Unavailable("object storage failed".to_string())
            }
        }
    }

    async fn read(
        &self,
        id: BucketId,
        key: String,
        range: Option<RangeSpec>,
    ) -> Result<Option<Vec<u8>>, PlatformError> {
        let read = match self.0.store.get(&id, &key, range).await {
            Ok(read) => read,
            Err(ObjectError::NotFound) => return Ok(None),
            Err(ObjectError::RangeNotSatisfiable { .. }) => return Ok(Some(Vec::new())),
            Err(other) => return Err(self.map_error(other)),
        };
        if read.len > self.0.max_read {
            return Err(PlatformError::Invalid(format!(
                "object `{key}` is {} bytes, more than this component's memory limit; read it with get-range",
                read.len
            )));
        }
        let mut data = Vec::with_capacity(read.len as usize);
        let mut body = read.body;
        while let Some(chunk) = body.next().await {
            data.extend_from_slice(&chunk.map_err(|e| self.map_error(e.into()))?);
        }
        Ok(Some(data))
    }
}

impl types::Host for ObjectsCtxView<'_> {
    fn convert_error(&mut self, error: PlatformError) -> wasmtime::Result<types::Error> {
        error.into_wit()
    }
}

impl object_store::Host for ObjectsCtxView<'_> {}

impl object_store::HostBucket for ObjectsCtxView<'_> {
    async fn open(&mut self, name: String) -> Result<Resource<OpenBucket>, PlatformError> {
        let Some((mode, spec)) = self.ctx.0.granted.get(&name) else {
            let component = &self.ctx.0.component;
            return Err(PlatformError::AccessDenied(format!(
                "component `{component}` may not open bucket `{name}`; grant it with `buckets = {{ {name} = \"read-write\" }}` in [component.{component}]"
            )));
        };
        let open = OpenBucket {
            id: BucketId::new(self.ctx.0.app.clone(), name),
            mode: *mode,
            spec: spec.clone(),
        };
        Ok(self.table.push(open)?)
    }

    async fn get(
        &mut self,
        bucket: Resource<OpenBucket>,
        key: String,
    ) -> Result<Option<Vec<u8>>, PlatformError> {
        let (id, _) = self.open_bucket(&bucket, false)?;
        self.ctx
            .clone()
            .read(id, key, None)
            .in_span(Span::host_call("objects.get"))
            .await
    }

    async fn get_range(
        &mut self,
        bucket: Resource<OpenBucket>,
        key: String,
        offset: u64,
        length: u64,
    ) -> Result<Option<Vec<u8>>, PlatformError> {
        if length == 0 {
            return Ok(Some(Vec::new()));
        }
        let end = offset.saturating_add(length - 1);
        let (id, _) = self.open_bucket(&bucket, false)?;
        self.ctx
            .clone()
            .read(id, key, Some(RangeSpec::Bounded(offset, end)))
            .in_span(Span::host_call("objects.get"))
            .await
    }

    async fn put(
        &mut self,
        bucket: Resource<OpenBucket>,
        key: String,
        data: Vec<u8>,
        content_type: String,
    ) -> Result<object_store::ObjectInfo, PlatformError> {
        let (id, spec) = self.open_bucket(&bucket, true)?;
        if !spec.accepts(&content_type) {
            return Err(PlatformError::Invalid(format!(
                "bucket `{}` does not accept content type `{content_type}`",
                spec.name
            )));
        }
        let mut options = PutOptions::upsert(content_type);
        options.max_size = Some(spec.max_size);
        let body = Box::pin(futures::stream::once(async move {
            Ok::<_, std::io::Error>(Bytes::from(data))
        }));
        match self
            .ctx
            .0
            .store
            .put(&id, &key, body, options)
            .in_span(Span::host_call("objects.put"))
            .await
        {
            Ok(meta) => Ok(info(&meta)),
            Err(e) => Err(self.ctx.map_error(e)),
        }
    }

    async fn head(
        &mut self,
        bucket: Resource<OpenBucket>,
        key: String,
    ) -> Result<Option<object_store::ObjectInfo>, PlatformError> {
        let (id, _) = self.open_bucket(&bucket, false)?;
        match self
            .ctx
            .0
            .store
            .head(&id, &key)
            .in_span(Span::host_call("objects.head"))
            .await
        {
            Ok(meta) => Ok(Some(info(&meta))),
            Err(ObjectError::NotFound) => Ok(None),
            Err(e) => Err(self.ctx.map_error(e)),
        }
    }

    async fn delete(
        &mut self,
        bucket: Resource<OpenBucket>,
        key: String,
    ) -> Result<bool, PlatformError> {
        let (id, _) = self.open_bucket(&bucket, true)?;
        match self
            .ctx
            .0
            .store
            .delete(&id, &key)
            .in_span(Span::host_call("objects.delete"))
            .await
        {
            Ok(deleted) => Ok(deleted),
            Err(e) => Err(self.ctx.map_error(e)),
        }
    }

    async fn list(
        &mut self,
        bucket: Resource<OpenBucket>,
        prefix: String,
        delimiter: Option<String>,
        cursor: Option<String>,
    ) -> Result<object_store::ObjectPage, PlatformError> {
        let (id, _) = self.open_bucket(&bucket, false)?;
        let delimiter = match delimiter.as_deref().map(|d| {
            let mut chars = d.chars();
            (chars.next(), chars.next())
        }) {
            None => None,
            Some((Some(c), None)) => Some(c),
            Some(_) => {
                return Err(PlatformError::Invalid(
                    "the delimiter must be one character".to_string(),
                ));
            }
        };
        let query = ListQuery {
            prefix,
            delimiter,
            cursor,
            limit: nimbus_objects::MAX_LIST_LIMIT,
        };
        match self
            .ctx
            .0
            .store
            .list(&id, query)
            .in_span(Span::host_call("objects.list"))
            .await
        {
            Ok(page) => Ok(object_store::ObjectPage {
                objects: page.objects.iter().map(info).collect(),
                folders: page.folders,
                cursor: page.cursor,
            }),
            Err(e) => Err(self.ctx.map_error(e)),
        }
    }

    async fn signed_url(
        &mut self,
        bucket: Resource<OpenBucket>,
        key: String,
        method: String,
        ttl_seconds: u32,
    ) -> Result<String, PlatformError> {
        let method = method.to_ascii_uppercase();
        let write = match method.as_str() {
            "GET" => false,
            "PUT" => true,
            _ => {
                return Err(PlatformError::Invalid(format!(
                    "signed URLs allow GET or PUT, not `{method}`"
                )));
            }
        };
        let (id, _) = self.open_bucket(&bucket, write)?;
        nimbus_objects::validate_key(&key).map_err(|e| self.ctx.map_error(e))?;
        let expires =
            nimbus_objects::signed_url_expiry(nimbus_objects::unix_now(), u64::from(ttl_seconds))
                .map_err(|e| PlatformError::Invalid(e.to_string()))?;
        let token = self.ctx.0.signer.sign(&id, &key, &method, expires);
        Ok(nimbus_objects::signed_url_path(&id.bucket, &key, &token))
    }

    async fn drop(&mut self, bucket: Resource<OpenBucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}
