//! `nimbus backup DIR` and `nimbus restore DIR`, as PocketBase offers: a backup is a
//! consistent copy of the key-value store (users, sessions, keys, secrets, object metadata,
//! the app's own stores) taken while the host serves, the object bodies that copy names, and
//! `backup.json` saying what it is. A restore puts it back into a data directory no host
//! serves.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use crate::manifest::Manifest;
use crate::services::{BackendArgs, KvLocation, ObjectsBackend, StoreBackend};

/// The layout of a backup directory this nimbus writes and reads.
pub const FORMAT: u32 = 1;
/// The backup's description, in the backup directory.
const INFO: &str = "backup.json";
/// The key-value store's copy, in the backup directory.
const KV_FILE: &str = "kv.redb";
/// The object bodies, in the backup directory.
const OBJECTS_DIR: &str = "objects";
/// A backup retakes its snapshot when objects were deleted between the snapshot and the copy
/// of their bodies; this many times at most.
const ATTEMPTS: usize = 5;

/// What `backup.json` says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupInfo {
    /// [`FORMAT`] of the nimbus that wrote it.
    pub format: u32,
    /// The `[app] name` whose data it holds.
    pub app: String,
    /// When it was taken (RFC 3339).
    pub created_at: String,
    /// The nimbus version that wrote it.
    pub nimbus: String,
    /// Object bodies in it.
    pub objects: u64,
}

/// Takes a backup of `manifest`'s app from `data` into the new (or empty) directory `dir`,
/// through the running host if one serves `data`.
pub async fn backup(
    manifest: &Manifest,
    data: &Path,
    backends: &BackendArgs,
    dir: &Path,
) -> anyhow::Result<BackupInfo> {
    make_empty_dir(dir)?;
    // The host that writes the copy may run elsewhere in the file system's view: absolute.
    let dir =
        std::fs::canonicalize(dir).with_context(|| format!("cannot resolve {}", dir.display()))?;
    let live = crate::admin::open_kv(data, &backends.store)?;
    let mut missing_before: Vec<String> = Vec::new();
    for attempt in 1..=ATTEMPTS {
        let kv_copy = dir.join(KV_FILE);
        live.backup(&kv_copy)
            .await
            .context("cannot copy the key-value store")?;
        let snapshot = open_copy(&kv_copy, data)?;
        let objects = crate::services::open_objects(&backends.objects, data, snapshot);
        let copied = objects
            .copy_blobs(&manifest.app, &dir.join(OBJECTS_DIR))
            .await
            .context("cannot copy the object bodies")?;
        drop(objects);
        if copied.missing.is_empty() {
            let info = BackupInfo {
                format: FORMAT,
                app: manifest.app.clone(),
                created_at: nimbus_auth::rfc3339(now_ms()),
                nimbus: env!("CARGO_PKG_VERSION").to_string(),
                objects: copied.copied,
            };
            let text = serde_json::to_vec_pretty(&info).context("cannot describe the backup")?;
            std::fs::write(dir.join(INFO), text)
                .with_context(|| format!("cannot write {}", dir.join(INFO).display()))?;
            return Ok(info);
        }
        if copied.missing == missing_before {
            bail!(
                "{} object bodies the store names are not where --objects says (first: {}); is --objects (or NIMBUS_OBJECTS) the one the host uses?",
                copied.missing.len(),
                copied.missing[0]
            );
        }
        tracing::info!(
            attempt,
            deleted = copied.missing.len(),
            "objects were deleted while their bodies were copied; taking the snapshot again"
        );
        missing_before = copied.missing;
        std::fs::remove_file(&kv_copy).ok();
        std::fs::remove_dir_all(dir.join(OBJECTS_DIR)).ok();
    }
    bail!(
        "objects kept being deleted during the backup ({ATTEMPTS} attempts); try again when fewer are"
    )
}

/// Puts the backup in `dir` into `data` for `manifest`'s app. No host may serve `data`; what
/// `data` held before is moved aside (`*.before-restore-TIME`) when `replace` is given, and
/// refused otherwise. Everything is staged and checked before anything in `data` moves; a
/// failure after that puts back what was there.
pub async fn restore(
    manifest: &Manifest,
    data: &Path,
    backends: &BackendArgs,
    dir: &Path,
    replace: bool,
) -> anyhow::Result<BackupInfo> {
    let info = read_info(dir)?;
    if info.app != manifest.app {
        bail!(
            "{} holds app `{}`, not `{}`",
            dir.display(),
            info.app,
            manifest.app
        );
    }
    if crate::admin::is_served(data) {
        bail!(
            "a host serves {} now; stop it before restoring into it",
            data.display()
        );
    }
    crate::data_dir::prepare(data)?;
    let StoreBackend::Redb(kv_path) = &backends.store;
    let kv_path = kv_path.clone().unwrap_or_else(|| data.join(KV_FILE));
    let ObjectsBackend::Local(objects_root) = &backends.objects;
    let objects_root = objects_root
        .clone()
        .unwrap_or_else(|| data.join(OBJECTS_DIR));
    let app_objects = objects_root.join(&manifest.app);
    let occupied: Vec<PathBuf> = [&kv_path, &app_objects]
        .into_iter()
        .filter(|path| path.exists())
        .cloned()
        .collect();
    if !occupied.is_empty() && !replace {
        bail!(
            "{} holds data already; restore into a fresh data directory, or pass --replace to move it aside",
            occupied[0].display()
        );
    }
    let stamp = now_ms();
    let staged = Staged {
        kv: kv_path.with_extension(format!("restoring-{stamp}")),
        objects: objects_root.join(format!(".restoring-{stamp}")),
    };
    let outcome = stage(manifest, data, dir, &staged).await;
    let outcome = match outcome {
        Ok(()) => swap_in(
            &staged,
            &occupied,
            &kv_path,
            &app_objects,
            stamp,
            &manifest.app,
        ),
        Err(error) => Err(error),
    };
    std::fs::remove_file(&staged.kv).ok();
    std::fs::remove_dir_all(&staged.objects).ok();
    outcome.map(|()| info)
}

/// Where a restore stages the store and the bodies before they replace what `data` holds.
struct Staged {
    kv: PathBuf,
    objects: PathBuf,
}

/// Copies the backup's store and bodies next to where they go, and checks that every body
/// the store names is a plain file of the backup.
async fn stage(
    manifest: &Manifest,
    data: &Path,
    dir: &Path,
    staged: &Staged,
) -> anyhow::Result<()> {
    let kv_copy = dir.join(KV_FILE);
    std::fs::copy(&kv_copy, &staged.kv)
        .with_context(|| format!("cannot copy {}", kv_copy.display()))?;
    std::fs::File::open(&staged.kv)
        .and_then(|file| file.sync_all())
        .with_context(|| format!("cannot write {}", staged.kv.display()))?;
    // The copy, not the backup itself, is opened: a backup stays as it was written.
    let store = open_copy(&staged.kv, data)?;
    let from = ObjectsBackend::Local(Some(dir.join(OBJECTS_DIR)));
    let copied = crate::services::open_objects(&from, data, store)
        .copy_blobs(&manifest.app, &staged.objects)
        .await
        .context("cannot restore the object bodies")?;
    if !copied.missing.is_empty() {
        bail!(
            "the backup in {} lacks {} object bodies its metadata names (first: {}); it is damaged",
            dir.display(),
            copied.missing.len(),
            copied.missing[0]
        );
    }
    Ok(())
}

/// Moves `occupied` aside and the staged store and bodies into place; puts `occupied` back if
/// that fails half-way.
fn swap_in(
    staged: &Staged,
    occupied: &[PathBuf],
    kv_path: &Path,
    app_objects: &Path,
    stamp: u64,
    app: &str,
) -> anyhow::Result<()> {
    let mut moved: Vec<(PathBuf, PathBuf)> = Vec::new();
    let result = (|| -> anyhow::Result<()> {
        for path in occupied {
            let mut aside = path.as_os_str().to_owned();
            aside.push(format!(".before-restore-{stamp}"));
            let aside = PathBuf::from(aside);
            std::fs::rename(path, &aside)
                .with_context(|| format!("cannot move {} aside", path.display()))?;
            println!("moved {} to {}", path.display(), aside.display());
            moved.push((path.clone(), aside));
        }
        std::fs::rename(&staged.kv, kv_path)
            .with_context(|| format!("cannot put the store in place at {}", kv_path.display()))?;
        moved.push((kv_path.to_path_buf(), PathBuf::new()));
        let staged_app = staged.objects.join(app);
        if staged_app.exists() {
            std::fs::rename(&staged_app, app_objects).with_context(|| {
                format!(
                    "cannot put the objects in place at {}",
                    app_objects.display()
                )
            })?;
        }
        Ok(())
    })();
    if result.is_err() {
        for (path, aside) in moved.into_iter().rev() {
            if aside.as_os_str().is_empty() {
                std::fs::remove_file(&path).ok();
            } else {
                std::fs::rename(&aside, &path).ok();
            }
        }
    }
    result
}

/// The backup's description, if `dir` holds a backup of a format this nimbus reads.
fn read_info(dir: &Path) -> anyhow::Result<BackupInfo> {
    let path = dir.join(INFO);
    let text = std::fs::read(&path)
        .with_context(|| format!("{} is not a nimbus backup (no {INFO})", dir.display()))?;
    let value: serde_json::Value = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    match value.get("format").and_then(serde_json::Value::as_u64) {
        Some(format) if format == u64::from(FORMAT) => {}
        Some(format) => bail!(
            "{} is a backup in format {format}; this nimbus ({}) reads format {FORMAT} only: restore it with the nimbus that wrote it",
            dir.display(),
            env!("CARGO_PKG_VERSION")
        ),
        None => bail!("{} does not say its format", path.display()),
    }
    serde_json::from_value(value).with_context(|| format!("{} is damaged", path.display()))
}

/// Makes `dir` (owner-only: a backup holds password hashes and secrets) unless it exists
/// empty.
fn make_empty_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    if dir.exists() {
        let mut entries =
            std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} is not empty; a backup goes into a new directory",
                dir.display()
            );
        }
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot make {}", dir.display()))
}

/// The key-value copy at `path`, opened by this process.
fn open_copy(path: &Path, data: &Path) -> anyhow::Result<Arc<dyn nimbus_kv::KvStore>> {
    crate::services::open_kv(
        &KvLocation::Owned,
        &StoreBackend::Redb(Some(path.to_path_buf())),
        data,
    )
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
