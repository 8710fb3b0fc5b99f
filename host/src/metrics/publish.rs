//! Every process of a host writes its metrics to `DATA/metrics/PROCESS.prom` once a
//! [`PUBLISH_INTERVAL`], so that a scrape answered by any process can add the others' counts
//! to its own live ones. A scrape therefore sees the other processes' counts as they were up
//! to one interval ago, never counts lost or counted twice.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often each process writes its metrics for the others.
pub const PUBLISH_INTERVAL: Duration = Duration::from_secs(1);

/// Where the processes of the host serving `data_dir` write their metrics.
pub fn dir_of(data_dir: &Path) -> PathBuf {
    data_dir.join("metrics")
}

fn file_of(dir: &Path, process: usize) -> PathBuf {
    dir.join(format!("{process}.prom"))
}

/// Empties (or makes) the metrics directory: the supervisor does this before its worker
/// processes start, so that no count of an earlier run is added to this one's.
pub fn reset(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    make_dir(dir)
}

fn make_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Writes this process's metrics to `dir` every [`PUBLISH_INTERVAL`] on a thread of its own,
/// for as long as the process lives. Does nothing when metrics are off.
pub fn start(dir: PathBuf) {
    if super::render_own().is_none() {
        return;
    }
    let process = super::process();
    let spawned = std::thread::Builder::new()
        .name("nimbus-metrics".into())
        .spawn(move || {
            let mut warned = false;
            loop {
                if let Err(error) = write(&dir, process)
                    && !warned
                {
                    warned = true;
                    tracing::warn!(
                        "cannot publish this process's metrics in {}: {error}; scrapes answered by other processes miss them",
                        dir.display()
                    );
                }
                std::thread::sleep(PUBLISH_INTERVAL);
            }
        });
    if let Err(error) = spawned {
        tracing::warn!("cannot start the metrics publisher: {error}");
    }
}

fn write(dir: &Path, process: usize) -> std::io::Result<()> {
    let Some(text) = super::render_own() else {
        return Ok(());
    };
    make_dir(dir)?;
    let target = file_of(dir, process);
    let partial = dir.join(format!(".{process}.prom.partial"));
    std::fs::write(&partial, text)?;
    std::fs::rename(&partial, &target)
}

/// The whole host's metrics as this process answers a scrape: its own, live, and every other
/// process's last published ones. `None` when metrics are off.
pub fn scrape(dir: &Path) -> Option<String> {
    let own = super::render_own()?;
    let process = super::process();
    let mut others = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let is_published = path.extension().is_some_and(|e| e == "prom")
                && path
                    .file_name()
                    .is_some_and(|n| !n.to_string_lossy().starts_with('.'));
            if is_published
                && path != file_of(dir, process)
                && let Ok(text) = std::fs::read_to_string(&path)
            {
                others.push(text);
            }
        }
    }
    Some(super::merge(
        std::iter::once(own.as_str()).chain(others.iter().map(String::as_str)),
    ))
}
