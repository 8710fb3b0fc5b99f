//! Another local user can read nothing nimbus keeps (signing keys, password hashes, objects)
//! and cannot reach its key-value socket: the data directory is owner-only whatever the umask,
//! and an install that is not gets tightened on start.
//!
//! Acting as a second user needs root: the test creates the user `nimbus-intruder` once
//! (`useradd`) and runs its probes with `setpriv`.

use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::auth::signup;
use crate::harness::{AppDir, upload};

const INTRUDER: &str = "nimbus-intruder";

const APP: &str = r#"
[app]
name = "private"

[component.hello]
source = "{hello}"
routes = ["GET /hello"]

[bucket.team]
access = "authenticated"
"#;

/// Tries, as the intruder, to read every file, list every directory and connect to every
/// socket in `paths`; prints the ones that worked.
const PROBE: &str = r#"
import os, socket, stat, sys
for path in sys.argv[1:]:
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        continue
    try:
        if stat.S_ISDIR(mode):
            os.listdir(path)
        elif stat.S_ISSOCK(mode):
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
        else:
            open(path, "rb").read(1)
        print(path)
    except OSError:
        pass
"#;

fn intruder_uid() -> String {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test acts as a second local user, which needs root (as on CI)"
    );
    let exists = Command::new("id").args(["-u", INTRUDER]).output();
    if !exists.is_ok_and(|o| o.status.success()) {
        // Another test may create it at the same time; `id` below tells whether one did.
        let _ = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
            ])
            .arg(INTRUDER)
            .status();
    }
    let output = Command::new("id")
        .args(["-u", INTRUDER])
        .output()
        .expect("run id");
    assert!(output.status.success(), "cannot create the user {INTRUDER}");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn everything_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = vec![dir.to_path_buf()];
    let mut index = 0;
    while index < found.len() {
        let path = found[index].clone();
        if path.is_dir() && !path.is_symlink() {
            let entries = std::fs::read_dir(&path).expect("read dir");
            found.extend(entries.flatten().map(|e| e.path()));
        }
        index += 1;
    }
    found
}

/// What the intruder could open under `data` (nothing, when nimbus is right), and every
/// entry whose mode lets group or others in.
fn exposed(data: &Path) -> (Vec<String>, Vec<String>) {
    let uid = intruder_uid();
    let paths = everything_under(data);
    let output = Command::new("setpriv")
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={uid}"))
        .arg("--clear-groups")
        .args(["--", "/usr/bin/python3", "-c", PROBE])
        .args(&paths)
        .output()
        .expect("run setpriv");
    assert!(
        output.status.success(),
        "the intruder's probe failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let opened = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let loose = paths
        .iter()
        .filter_map(|path| {
            let mode = std::fs::symlink_metadata(path).ok()?.permissions().mode();
            (mode & 0o077 != 0).then(|| format!("{} {:o}", path.display(), mode & 0o7777))
        })
        .collect();
    (opened, loose)
}

/// Fills the data directory with what an attacker wants: a user (password hash, signing
/// key) and an object.
async fn add_secrets(server: &crate::harness::Server, email: &str) {
    let session = signup(server, email).await;
    let status = upload(
        server,
        &session.access,
        "team",
        "plans.txt",
        "the secret plans",
    )
    .await;
    assert_eq!(status, 200);
}

fn loosen(paths: &[PathBuf]) {
    for path in paths {
        let Ok(metadata) = std::fs::symlink_metadata(path) else {
            continue;
        };
        let mode = if metadata.is_dir() { 0o755 } else { 0o644 };
        if !metadata.file_type().is_symlink() && !metadata.file_type().is_socket() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        }
    }
}

#[tokio::test]
async fn another_local_user_can_read_nothing_in_the_data_directory() {
    let app = AppDir::new(APP);
    // The app directory itself is open, as a project folder usually is: only nimbus' own
    // permissions stand between the intruder and the data.
    std::fs::set_permissions(app.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");

    // The most permissive umask there is.
    let server = app.start_configured(&["--processes", "2"], |command| {
        // SAFETY: umask is async-signal-safe and touches no memory.
        unsafe {
            command.pre_exec(|| {
                libc::umask(0);
                Ok(())
            });
        }
    });
    add_secrets(&server, "first@example.com").await;
    let (opened, loose) = exposed(&app.data());
    assert_eq!(opened, Vec::<String>::new(), "the intruder opened these");
    assert_eq!(loose, Vec::<String>::new(), "these let group or others in");
    server.kill();

    // An install made before the rule: everything readable by everyone.
    loosen(&everything_under(&app.data()));
    let server = app.start(1);
    let log = server.wait_for_log("made the data directory owner-only");
    assert!(log.contains("made the data directory owner-only"), "{log}");
    add_secrets(&server, "second@example.com").await;
    let (opened, loose) = exposed(&app.data());
    assert_eq!(opened, Vec::<String>::new(), "the intruder opened these");
    assert_eq!(loose, Vec::<String>::new(), "these let group or others in");
}
