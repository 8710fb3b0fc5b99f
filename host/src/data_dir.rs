//! The data directory holds the signing keys, password hashes, key-value stores, objects and
//! the key-value socket: nothing in it is for other local users. Everything nimbus creates
//! there is owner-only whatever the caller's umask, and an install made before that rule is
//! tightened on start.

use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
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
///
/// An existing directory must belong to this user (another user could swap the store or the
/// socket under us) and is closed to others at once; what lies inside is tightened later by
/// [`tighten_in_background`].
pub fn prepare(dir: &Path) -> anyhow::Result<()> {
    // SAFETY: umask only swaps an integer in the process' file-creation context.
    unsafe { libc::umask(GROUP_AND_OTHER as libc::mode_t) };
    prepare_private(dir, "data directory", "--data")
}

/// Creates `dir` owner-only, or checks that an existing one belongs to this user and closes it
/// to others; `what` and `flag` name it in errors.
pub fn prepare_private(dir: &Path, what: &str, flag: &str) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the {what} {}", dir.display()))?;
    let metadata = std::fs::metadata(dir)
        .with_context(|| format!("cannot read the {what} {}", dir.display()))?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if metadata.uid() != me {
        anyhow::bail!(
            "the {what} {} belongs to user {}, not to this user ({me}); use a directory of your own ({flag})",
            dir.display(),
            metadata.uid()
        );
    }
    let mode = metadata.permissions().mode();
    if mode & GROUP_AND_OTHER != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & 0o700))
            .with_context(|| format!("cannot make {} owner-only", dir.display()))?;
    }
    Ok(())
}

/// Removes group and other permissions from `dir` and everything under it, on a background
/// thread so that it costs start-up nothing, and logs what it changed.
pub fn tighten_in_background(dir: &Path) {
    let dir = dir.to_path_buf();
    let spawned = std::thread::Builder::new()
        .name("nimbus-tighten".into())
        .spawn(move || {
            let tightened = tighten(&dir);
            if tightened.changed > 0 {
                tracing::warn!(
                    data = %dir.display(),
                    changed = tightened.changed,
                    "made the data directory owner-only: other local users could read it, so rotate the signing key (`nimbus keys rotate-signing-key`) and ask users to change their passwords"
                );
            }
            if let Some(e) = tightened.first_error {
                tracing::error!(
                    data = %dir.display(),
                    failed = tightened.failed,
                    "cannot make all of the data directory owner-only: {e}"
                );
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start tightening the data directory: {e}");
    }
}

/// What [`tighten`] did.
#[derive(Debug, Default)]
pub struct Tightened {
    /// Entries whose permissions changed.
    pub changed: usize,
    /// Entries that could not be read or changed.
    pub failed: usize,
    /// The first of those failures.
    pub first_error: Option<std::io::Error>,
}

/// Removes group and other permission bits from `dir` (followed if it is a symbolic link) and
/// every entry under it, going on past entries it cannot change. Symbolic links inside are not
/// followed: nimbus creates none, and following one could change a file outside the data
/// directory.
pub fn tighten(dir: &Path) -> Tightened {
    let mut done = Tightened::default();
    let fail = |done: &mut Tightened, e: std::io::Error| {
        // Removed since it was listed (a finished upload's temp file, say): nothing to do.
        if e.kind() != std::io::ErrorKind::NotFound {
            done.failed += 1;
            done.first_error.get_or_insert(e);
        }
    };
    let root = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut pending: Vec<PathBuf> = vec![root];
    while let Some(path) = pending.pop() {
        let metadata = match std::fs::symlink_metadata(&path) {
            Ok(metadata) => metadata,
            Err(e) => {
                fail(&mut done, e);
                continue;
            }
        };
        if metadata.file_type().is_symlink() {
            continue;
        }
        let mode = metadata.permissions().mode();
        if mode & GROUP_AND_OTHER != 0 {
            let private = std::fs::Permissions::from_mode(mode & !GROUP_AND_OTHER & 0o7777);
            match std::fs::set_permissions(&path, private) {
                Ok(()) => done.changed += 1,
                Err(e) => fail(&mut done, e),
            }
        }
        if metadata.is_dir() {
            match std::fs::read_dir(&path) {
                Ok(entries) => pending.extend(entries.flatten().map(|entry| entry.path())),
                Err(e) => fail(&mut done, e),
            }
        }
    }
    done
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
        let tightened = tighten(&data);
        assert!(tightened.changed >= 5, "{tightened:?}");
        assert_eq!(tightened.failed, 0);
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&nested), 0o700);
        assert_eq!(mode(&data.join("kv.redb")), 0o600);
        assert_eq!(mode(&nested.join("blob")), 0o600);
        assert_eq!(mode(&outside), 0o644, "symlinks are not followed");
        assert_eq!(tighten(&data).changed, 0);
    }
}
