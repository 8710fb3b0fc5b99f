//! Background work that needs a runtime of its own: a thread running one future on a
//! single-threaded tokio runtime, apart from the workers that serve requests.

use std::future::Future;

/// Runs the future that `work` makes on a new thread named `name`, on a runtime of its own,
/// until the future ends. `what` names the work in the error logged if the runtime cannot
/// start.
pub fn spawn<F>(
    name: &str,
    what: &'static str,
    work: impl FnOnce() -> F + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>>
where
    F: Future<Output = ()>,
{
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(work()),
                Err(error) => tracing::error!("cannot start the {what}: {error}"),
            }
        })
}
