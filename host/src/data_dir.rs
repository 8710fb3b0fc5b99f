//! The data directory holds the signing keys, password hashes, key-value stores, objects and
//! the key-value socket: nothing in it is for other local users. Everything nimbus creates
//! there is owner-only whatever the caller's umask, and an install made before that rule is
//! tightened on start.

use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// Permission bits that let anyone but the owner in.
const GROUP_AND_OTHER: u32 = 0o077;

/// Makes every file and directory this process creates from now on owner-only, and creates
/// `dir` (owner-only) when it does not exist.
///
/// The umask is process-wide and inherited by worker processes, so sockets, redb files,
/// upload temp files and blobs are born private instead of being fixed up after a window in
/// which another user could open them.
pub fn prepare(dir: &Path) -> anyhow::Result<()> {
    // SAFETY: umask only swaps an integer in the process' file-creation context.
    unsafe { libc::umask(GROUP_AND_OTHER as libc::mode_t) };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))
}

/// Removes group and other permissions from `dir` and everything under it, on a background
/// thread so that it costs start-up nothing, and logs what it changed.
pub fn tighten_in_background(dir: &Path) {
    let dir = dir.to_path_buf();
    let spawned = std::thread::Builder::new()
        .name("nimbus-tighten".into())
        .spawn(move || match tighten(&dir) {
            Ok(0) => {}
            Ok(changed) => tracing::warn!(
                data = %dir.display(),
                changed,
                "made the data directory owner-only: it was readable by other local users"
            ),
            Err(e) => tracing::error!(
                data = %dir.display(),
                "cannot make the data directory owner-only: {e}"
            ),
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start tightening the data directory: {e}");
    }
}

/// Removes group and other permission bits from `dir` and every entry under it; returns how
/// many entries changed. Symbolic links are not followed: nimbus creates none, and following
/// one could change a file outside the data directory.
pub fn tighten(dir: &Path) -> std::io::Result<usize> {
    let mut changed = 0;
    let mut pending: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let metadata = match std::fs::symlink_metadata(&path) {
            Ok(metadata) => metadata,
            // Removed since it was listed (a finished upload's temp file, say).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if metadata.file_type().is_symlink() {
            continue;
        }
        let mode = metadata.permissions().mode();
        if mode & GROUP_AND_OTHER != 0 {
            let private = std::fs::Permissions::from_mode(mode & !GROUP_AND_OTHER & 0o7777);
            match std::fs::set_permissions(&path, private) {
                Ok(()) => changed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        if metadata.is_dir() {
            match std::fs::read_dir(&path) {
                Ok(entries) => pending.extend(entries.flatten().map(|entry| entry.path())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn tighten_removes_group_and_other_bits_everywhere_and_counts_changes() {
        let root = tempfile::tempdir().expect("temp dir");
        let data = root.path().join("data");
        let nested = data.join("objects/app/blobs");
        std::fs::create_dir_all(&nested).expect("dirs");
        std::fs::write(data.join("kv.redb"), b"x").expect("file");
        std::fs::write(nested.join("blob"), b"x").expect("file");
        for path in [&data, &data.join("objects"), &nested] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        for path in [data.join("kv.redb"), nested.join("blob")] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        }
        let outside = root.path().join("outside");
        std::fs::write(&outside, b"x").expect("file");
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        std::os::unix::fs::symlink(&outside, data.join("link")).expect("symlink");

        // data, objects, objects/app (0755 from create_dir_all under umask 022 or tighter
        // already), blobs, kv.redb, blob
        let changed = tighten(&data).expect("tighten");
        assert!(changed >= 5, "{changed}");
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&nested), 0o700);
        assert_eq!(mode(&data.join("kv.redb")), 0o600);
        assert_eq!(mode(&nested.join("blob")), 0o600);
        assert_eq!(mode(&outside), 0o644, "symlinks are not followed");
        assert_eq!(tighten(&data).expect("again"), 0);
    }
}
