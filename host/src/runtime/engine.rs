//! The one `wasmtime::Engine`: component model, pooling allocator with copy-on-write memory
//! images, epoch interruption driven by a ticker thread, and a disk cache of compiled code.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::code_cache::CodeCache;
use wasmtime::component::Component;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of timeouts and of time slicing between
/// guests that run long on one worker.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// How many ticks the ticker keeps going with nothing in flight before it parks. Between the
/// requests of a steady stream, one at a time, nothing is in flight for a moment; a ticker that
/// parked then would have to be woken (a futex call and a thread switch) for nearly every
/// request.
const TICKS_BEFORE_PARKING: u32 = 100;

/// Instances that may exist at once in this process.
const POOLED_INSTANCES: u32 = crate::manifest::INSTANCES_PER_PROCESS;

/// Why the engine or a component could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// wasmtime rejected the configuration or the component.
    #[error("{0}")]
    Wasmtime(String),
    /// The component file could not be read.
    #[error("cannot read {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The failure, shown in the message rather than chained as its source, so that an
        /// error printed with its causes does not say it twice.
        error: std::io::Error,
    },
    /// The component's code is not the code of the version being loaded.
    #[error(
        "{path} changed since this app version was loaded (its content hash is {found}, the version's is {expected}); restart the host to serve the new code"
    )]
    Changed {
        /// The file.
        path: PathBuf,
        /// The version's content hash.
        expected: String,
        /// The file's content hash now.
        found: String,
    },
}

impl From<wasmtime::Error> for EngineError {
    fn from(error: wasmtime::Error) -> Self {
        EngineError::Wasmtime(format!("{error:#}"))
    }
}

/// The engine plus its compiled-code cache and epoch ticker.
pub struct Runtime {
    engine: Engine,
    max_memory: u64,
    cache: Option<CodeCache>,
    ticker: Ticker,
    process_slots: Arc<tokio::sync::Semaphore>,
    kept: super::kept::KeptRegistry,
    kept_wanted: Arc<tokio::sync::Notify>,
    instantiations: Instantiations,
    usage: Arc<crate::usage::UsageMeter>,
}

/// Instances this process has begun to make (counted before instantiation, so failed ones
/// too), by where: on a request's path, or ahead of any request (provisioned). They show
/// whether provisioned concurrency kept instantiation off the request path.
#[derive(Default)]
pub struct Instantiations {
    on_request: AtomicU64,
    ahead: AtomicU64,
}

impl Instantiations {
    pub(crate) fn made_on_request(&self) {
        self.on_request.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn made_ahead(&self) {
        self.ahead.fetch_add(1, Ordering::Relaxed);
    }

    /// Instances made on requests' paths so far.
    pub fn on_request(&self) -> u64 {
        self.on_request.load(Ordering::Relaxed)
    }

    /// Instances made ahead of requests so far.
    pub fn ahead(&self) -> u64 {
        self.ahead.load(Ordering::Relaxed)
    }
}

/// Drives the epoch while invocations run, and parks once none has run for a moment, so an idle
/// host does not wake a thousand times a second.
#[derive(Clone)]
struct Ticker {
    in_flight: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: std::thread::Thread,
}

/// Marks one invocation in flight for as long as it lives.
pub struct InFlight {
    ticker: Ticker,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.ticker.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Runtime {
    /// An engine whose pool slots fit memories of up to `max_memory` bytes, caching compiled
    /// code under `cache_dir` (none: compile every time).
    pub fn new(max_memory: u64, cache_dir: Option<PathBuf>) -> Result<Self, EngineError> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(POOLED_INSTANCES)
            .total_core_instances(POOLED_INSTANCES * 2)
            .total_memories(POOLED_INSTANCES * 2)
            .total_tables(POOLED_INSTANCES * 2)
            .total_stacks(POOLED_INSTANCES)
            .max_memories_per_component(2)
            .max_memory_size(usize::try_from(max_memory).unwrap_or(usize::MAX))
            // Resetting the first 256 KiB of a slot in user space instead of madvising it
            // saves a syscall, its TLB flush and the page faults after it on every request,
            // when a guest's hot memory (stack, data, first heap pages) lies there, as it does
            // with the 128 KiB stack our guests link with; guests with Rust's default 1 MiB
            // stack gain little from it and lose little (the bench of one invocation,
            // `make bench`, shows both).
            .linear_memory_keep_resident(256 << 10)
            .table_keep_resident(64 << 10)
            .async_stack_keep_resident(64 << 10)
            // Where the kernel has PAGEMAP_SCAN (Linux 6.7+), reset only the pages the guest
            // dirtied instead of all 256 KiB: a guest that touches little memory then costs
            // little to reset.
            .pagemap_scan(Enabled::Auto);
        let mut config = Config::new();
        // Guests are called one export at a time, never concurrently inside one store, so the
        // component-model-async bookkeeping (a task per call) would be pure cost.
        config
            .concurrency_support(false)
            .wasm_component_model(true)
            .epoch_interruption(true)
            .memory_init_cow(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)?;
        let ticker = start_epoch_ticker(engine.clone())
            .map_err(|e| EngineError::Wasmtime(format!("cannot start the epoch ticker: {e}")))?;
        // A cache that cannot be used only costs compile time.
        let cache = cache_dir.and_then(|dir| match std::fs::create_dir_all(&dir) {
            Ok(()) => CodeCache::open(&dir, &engine),
            Err(e) => {
                tracing::warn!(
                    "compiled-code cache disabled: cannot create {}: {e}",
                    dir.display()
                );
                None
            }
        });
        Ok(Self {
            engine,
            max_memory,
            cache,
            ticker,
            process_slots: Arc::new(tokio::sync::Semaphore::new(POOLED_INSTANCES as usize)),
            kept: super::kept::KeptRegistry::default(),
            kept_wanted: Arc::new(tokio::sync::Notify::new()),
            instantiations: Instantiations::default(),
            usage: Arc::new(crate::usage::UsageMeter::new()),
        })
    }

    /// Registers an invocation about to run; the epoch advances until the guard drops.
    pub fn in_flight(&self) -> InFlight {
        if self.ticker.in_flight.fetch_add(1, Ordering::AcqRel) == 0 {
            self.ticker.thread.unpark();
        }
        InFlight {
            ticker: self.ticker.clone(),
        }
    }

    /// Invocations this process may run at once: one per pooled instance, whichever
    /// components they belong to.
    pub fn process_slots(&self) -> Arc<tokio::sync::Semaphore> {
        Arc::clone(&self.process_slots)
    }

    /// Whether the compiled-code cache holds code for `digest`, so that it can be loaded again
    /// without the source file.
    pub fn has_cached(&self, digest: &str) -> bool {
        self.cache.as_ref().is_some_and(|cache| cache.holds(digest))
    }

    /// Every component's kept instances in this process.
    pub fn kept(&self) -> &super::kept::KeptRegistry {
        &self.kept
    }

    /// What this process's invocations used, for metering.
    pub fn usage(&self) -> &Arc<crate::usage::UsageMeter> {
        &self.usage
    }

    /// How many instances this process has made, by where.
    pub fn instantiations(&self) -> &Instantiations {
        &self.instantiations
    }

    /// Signalled when an invocation took a kept instance, so that provisioning refills at
    /// once.
    pub fn kept_wanted(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.kept_wanted)
    }

    /// The largest linear memory a pool slot holds, in bytes.
    pub fn max_memory(&self) -> u64 {
        self.max_memory
    }

    /// The shared engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles `path`, or loads its compiled code from the cache when the same bytes were
    /// compiled before by a compatible engine; returns it with its content hash. With
    /// `expected`, the code must have that content hash: it is then taken from the cache
    /// without reading `path` when it can be, and refused when `path` now holds other code.
    pub fn load_component(
        &self,
        path: &Path,
        expected: Option<&str>,
    ) -> Result<(Component, String), EngineError> {
        let cache = self.cache.as_ref();
        // A pinned or unchanged source is found in the cache without reading it.
        let known = expected
            .map(str::to_string)
            .or_else(|| cache.and_then(|c| c.known_digest(path)));
        if let (Some(cache), Some(digest)) = (cache, &known)
            && let Some(component) = cache.load(&self.engine, digest)
        {
            tracing::info!(path = %path.display(), "loaded compiled code from cache");
            return Ok((component, digest.clone()));
        }
        let read_at = std::time::SystemTime::now();
        let before = super::code_cache::fingerprint(path);
        let bytes = std::fs::read(path).map_err(|error| EngineError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        let digest = hex::encode(Sha256::digest(&bytes));
        if let Some(expected) = expected
            && expected != digest
        {
            return Err(EngineError::Changed {
                path: path.to_path_buf(),
                expected: expected.to_string(),
                found: digest,
            });
        }
        if let Some(cache) = cache {
            cache.remember_digest(path, &digest, before, read_at);
            if known.as_deref() != Some(digest.as_str())
                && let Some(component) = cache.load(&self.engine, &digest)
            {
                tracing::info!(path = %path.display(), "loaded compiled code from cache");
                return Ok((component, digest));
            }
        }
        let started = std::time::Instant::now();
        let component = Component::new(&self.engine, &bytes)?;
        tracing::info!(
            path = %path.display(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "compiled component"
        );
        if let Some(cache) = cache {
            cache.store(&digest, &component);
        }
        Ok((component, digest))
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker.stop.store(true, Ordering::Relaxed);
        self.ticker.thread.unpark();
    }
}

fn start_epoch_ticker(engine: Engine) -> std::io::Result<Ticker> {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (running, stopping) = (Arc::clone(&in_flight), Arc::clone(&stop));
    let handle = std::thread::Builder::new()
        .name("nimbus-epoch".into())
        .spawn(move || {
            let mut idle_ticks = 0;
            while !stopping.load(Ordering::Relaxed) {
                if running.load(Ordering::Acquire) != 0 {
                    idle_ticks = 0;
                } else if idle_ticks < TICKS_BEFORE_PARKING {
                    idle_ticks += 1;
                } else {
                    // `in_flight` unparks us; a wake-up that raced ahead is kept as a token.
                    std::thread::park();
                    continue;
                }
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })?;
    Ok(Ticker {
        in_flight,
        stop,
        thread: handle.thread().clone(),
    })
}
