//! What one instance's `Store` holds: its WASI context, resource table, grants and limits.
//! Built fresh for every invocation, so nothing a guest does survives into the next request,
//! unless the component asks for warm instances: then what is per request (output, outbound
//! budget, memory verdict, in-flight mark) is renewed before each one.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::capabilities::outbound::OutboundHooks;
use crate::capabilities::wasi::{CapturedOutput, powerless_ctx};
use crate::capabilities::{CapabilityHost, Grants};
use crate::runtime::LoadedComponent;
use crate::runtime::engine::InFlight;

/// Most table elements an instance may grow to.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;
/// Most host resources (headers, bodies, streams, pollables, store handles) one instance
/// may hold at once. With [`MAX_FIELDS_BYTES`] and the outgoing-body chunk size, it bounds
/// what a guest can make the host allocate outside its own linear memory: about 16 MiB of
/// header maps, or about 20 MiB of buffered outgoing bodies (three resources each).
pub const MAX_RESOURCES: usize = 1024;
/// Largest in-memory size of one set of HTTP headers (wasmtime counts each entry's struct
/// besides its bytes): twice the 8 KiB that proxies commonly accept on the wire.
pub const MAX_FIELDS_BYTES: usize = 16 * 1024;

/// Store data of one invocation.
pub struct InvocationState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: OutboundHooks,
    grants: Grants,
    pub(crate) limiter: MemoryLimiter,
    output: CapturedOutput,
    in_flight: Option<InFlight>,
}

impl InvocationState {
    /// Fresh state for an instance of `loaded`, marked in flight while `in_flight` lives.
    pub fn new(loaded: &LoadedComponent, in_flight: InFlight) -> (Self, CapturedOutput) {
        let (wasi, output) = powerless_ctx(&loaded.env, loaded.spec.limits.log_lines);
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(MAX_FIELDS_BYTES);
        let state = Self {
            table,
            wasi,
            http,
            hooks: OutboundHooks::new(Arc::clone(&loaded.outbound)),
            grants: loaded.grants.clone(),
            limiter: MemoryLimiter::new(loaded.spec.limits.memory),
            output: output.clone(),
            in_flight: Some(in_flight),
        };
        (state, output)
    }

    /// Readies a kept instance's state for its next invocation: its output captured afresh,
    /// a new outbound budget, no memory verdict, marked in flight.
    pub fn begin(&mut self, loaded: &LoadedComponent, in_flight: InFlight) -> CapturedOutput {
        self.output.discard();
        self.hooks = OutboundHooks::new(Arc::clone(&loaded.outbound));
        self.limiter.exceeded = false;
        self.in_flight = Some(in_flight);
        self.output.clone()
    }

    /// Passes the invocation's W3C trace parent on to its outbound requests.
    pub fn pass_trace_parent(&mut self, trace_parent: Option<http::HeaderValue>) {
        self.hooks.pass_trace_parent(trace_parent);
    }

    /// Marks the instance idle, to be kept.
    pub fn end(&mut self) {
        self.in_flight = None;
    }

    /// Whether the guest still holds an HTTP request, response, body or outbound call after
    /// its invocation returned. Such an instance is not kept: what belongs to one request
    /// (its client connection, its outbound budget) must not reach the next.
    pub fn holds_request_resources(&mut self) -> bool {
        use wasmtime_wasi_http::p2::body::{
            HostFutureTrailers, HostIncomingBody, HostOutgoingBody,
        };
        use wasmtime_wasi_http::p2::types::{
            HostFutureIncomingResponse, HostIncomingRequest, HostIncomingResponse,
            HostOutgoingRequest, HostOutgoingResponse, HostResponseOutparam,
        };
        self.table.iter_mut().any(|entry| {
            entry.is::<HostIncomingRequest>()
                || entry.is::<HostIncomingBody>()
                || entry.is::<HostFutureTrailers>()
                || entry.is::<HostOutgoingBody>()
                || entry.is::<HostResponseOutparam>()
                || entry.is::<HostOutgoingResponse>()
                || entry.is::<HostOutgoingRequest>()
                || entry.is::<HostIncomingResponse>()
                || entry.is::<HostFutureIncomingResponse>()
        })
    }
}

impl WasiView for InvocationState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InvocationState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl CapabilityHost for InvocationState {
    fn capabilities(&mut self) -> (&Grants, &mut ResourceTable) {
        (&self.grants, &mut self.table)
    }
}

/// Enforces `limits.memory` and remembers whether the guest ran into it, so that the failure
/// that follows (usually an abort in the guest's allocator) is reported as what it is.
pub struct MemoryLimiter {
    limit: u64,
    exceeded: bool,
    /// The largest linear memory granted to the instance (memory never shrinks, so for a kept
    /// instance this is its size so far).
    peak: u64,
}

impl MemoryLimiter {
    fn new(limit: u64) -> Self {
        Self {
            limit,
            exceeded: false,
            peak: 0,
        }
    }

    /// Whether the guest asked for more memory than its limit.
    pub fn exceeded(&self) -> bool {
        self.exceeded
    }

    /// The largest linear memory the instance has held, in bytes.
    pub fn peak(&self) -> u64 {
        self.peak
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.limit {
            self.exceeded = true;
            return Ok(false);
        }
        self.peak = self.peak.max(desired as u64);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
