//! The host's log file, `DATA/logs/nimbus.log`: one JSON object per line, owner-only, rotated
//! by size (`nimbus.log.1` is the previous file, up to `nimbus.log.KEEP`), so that what is
//! kept never exceeds about `(KEEP + 1) × max size`.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The current file's name in the log directory.
pub const CURRENT: &str = "nimbus.log";

/// Size limits of the log.
#[derive(Debug, Clone, Copy)]
pub struct Rotation {
    /// A file is rotated once it would grow past this many bytes.
    pub max_bytes: u64,
    /// Rotated files kept besides the current one.
    pub keep: usize,
}

impl Default for Rotation {
    fn default() -> Self {
        Self {
            max_bytes: 16 << 20,
            keep: 4,
        }
    }
}

/// The log directory of the host serving `data_dir`.
pub fn dir_of(data_dir: &Path) -> PathBuf {
    data_dir.join("logs")
}

/// The files of the log in `dir`, oldest first (the current one last), those that exist.
pub fn files(dir: &Path, keep: usize) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = (1..=keep)
        .rev()
        .map(|n| dir.join(format!("{CURRENT}.{n}")))
        .chain(std::iter::once(dir.join(CURRENT)))
        .filter(|path| path.is_file())
        .collect();
    // Rotated files beyond `keep` (a host once run with a larger one) are older still.
    let mut extra: Vec<(usize, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let n: usize = name.strip_prefix(&format!("{CURRENT}."))?.parse().ok()?;
            (n > keep).then(|| (n, entry.path()))
        })
        .collect();
    extra.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    let mut all: Vec<PathBuf> = extra.into_iter().map(|(_, path)| path).collect();
    all.append(&mut files);
    all
}

/// The log file, written by whole lines.
pub struct LogFile {
    dir: PathBuf,
    rotation: Rotation,
    file: File,
    size: u64,
    rotation_failed: bool,
}

fn open_current(dir: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        // A link planted where the log goes is not followed.
        .custom_flags(libc::O_NOFOLLOW)
        .open(dir.join(CURRENT))
}

impl LogFile {
    /// Opens (or makes) the log in `dir`, appending to its current file.
    pub fn open(dir: &Path, rotation: Rotation) -> io::Result<Self> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let file = open_current(dir)?;
        let size = file.metadata()?.len();
        Ok(Self {
            dir: dir.to_path_buf(),
            rotation,
            file,
            size,
            rotation_failed: false,
        })
    }

    /// Appends `line` (which ends with a newline), rotating first if it would not fit. If the
    /// files cannot be rotated, lines go on into the current one (said once on stderr: the
    /// log cannot report its own failure).
    pub fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        if self.size > 0
            && self.size + line.len() as u64 > self.rotation.max_bytes
            && !self.rotation_failed
            && let Err(error) = self.rotate()
        {
            self.rotation_failed = true;
            eprintln!(
                "nimbus: cannot rotate the host log in {}: {error}; it grows past its limit",
                self.dir.display()
            );
        }
        self.file.write_all(line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let name = |n: usize| self.dir.join(format!("{CURRENT}.{n}"));
        match std::fs::remove_file(name(self.rotation.keep)) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        for n in (1..self.rotation.keep).rev() {
            match std::fs::rename(name(n), name(n + 1)) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
                _ => {}
            }
        }
        if self.rotation.keep > 0 {
            std::fs::rename(self.dir.join(CURRENT), name(1))?;
        } else {
            std::fs::remove_file(self.dir.join(CURRENT))?;
        }
        self.file = open_current(&self.dir)?;
        self.size = 0;
        Ok(())
    }
}

/// The log file shared by the threads that write to it: this process's own log writer and
/// the readers of its worker processes' lines.
#[derive(Clone)]
pub struct SharedLogFile(Arc<Mutex<LogFile>>);

impl SharedLogFile {
    /// Shares `file`.
    pub fn new(file: LogFile) -> Self {
        Self(Arc::new(Mutex::new(file)))
    }

    /// Appends whole lines (a newline is added if the last has none).
    pub fn write_line(&self, line: &[u8]) -> io::Result<()> {
        let Ok(mut file) = self.0.lock() else {
            return Err(io::Error::other("the log file's lock is poisoned"));
        };
        if line.ends_with(b"\n") {
            file.write_line(line)
        } else {
            let mut owned = line.to_vec();
            owned.push(b'\n');
            file.write_line(&owned)
        }
    }
}

impl Write for SharedLogFile {
    /// Writes `buf` as it comes: the log writer hands over whole formatted events (lines).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_line(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn the_log_rotates_by_size_and_keeps_only_its_cap() {
        let dir = tempfile::tempdir().expect("dir");
        let logs = dir.path().join("logs");
        let rotation = Rotation {
            max_bytes: 100,
            keep: 2,
        };
        let mut log = LogFile::open(&logs, rotation).expect("open");
        let line = [b'x'; 39].iter().chain(b"\n").copied().collect::<Vec<u8>>();
        for _ in 0..20 {
            log.write_line(&line).expect("write");
        }
        let kept = files(&logs, rotation.keep);
        assert_eq!(
            kept.iter()
                .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
                .collect::<Vec<_>>(),
            ["nimbus.log.2", "nimbus.log.1", "nimbus.log"]
        );
        let total: u64 = kept
            .iter()
            .map(|p| std::fs::metadata(p).expect("meta").len())
            .sum();
        assert!(total <= 3 * 100, "{total} bytes kept");
        for path in &kept {
            let text = std::fs::read_to_string(path).expect("read");
            assert!(text.lines().all(|l| l.len() == 39), "whole lines only");
            let mode = std::fs::metadata(path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", path.display());
        }
        assert_eq!(
            std::fs::metadata(&logs).expect("meta").permissions().mode() & 0o777,
            0o700
        );
    }
}
