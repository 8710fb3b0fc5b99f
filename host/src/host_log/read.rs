//! `nimbus logs`: the host log's lines, optionally only one component's and only recent ones,
//! as they were written (JSON) or as readable lines, and with `--follow` as they come.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::file::{CURRENT, Rotation, files};

/// Which lines to show, and how.
#[derive(Debug, Clone)]
pub struct Selection {
    /// Only lines of this component (its invocations and its guest output).
    pub component: Option<String>,
    /// Only lines written at or after this moment.
    pub since: Option<SystemTime>,
    /// The lines as written (JSON) instead of readable ones.
    pub json: bool,
}

impl Selection {
    /// The line as it is to be shown, or `None` when it is not selected.
    pub fn show(&self, line: &str) -> Option<String> {
        let line = line.trim_end();
        if line.is_empty() {
            return None;
        }
        let Ok(serde_json::Value::Object(event)) = serde_json::from_str(line) else {
            // Not a log event (a line a worker printed otherwise): shown only unfiltered.
            return (self.component.is_none() && self.since.is_none()).then(|| line.to_string());
        };
        if let Some(component) = &self.component
            && event.get("component").and_then(|c| c.as_str()) != Some(component)
        {
            return None;
        }
        if let Some(since) = self.since {
            let written = event
                .get("timestamp")
                .and_then(|t| t.as_str())
                .and_then(|t| humantime::parse_rfc3339_weak(t).ok());
            if written.is_some_and(|written| written < since) {
                return None;
            }
        }
        Some(if self.json {
            line.to_string()
        } else {
            readable(&event)
        })
    }
}

/// `TIME LEVEL target: message key=value ...`, as the text log writes it.
fn readable(event: &serde_json::Map<String, serde_json::Value>) -> String {
    let text = |key: &str| event.get(key).and_then(|v| v.as_str()).unwrap_or_default();
    // A message is shown as it was unless it holds control characters (which a terminal
    // would act on): then escaped.
    let message = text("message");
    let message = if message.chars().any(char::is_control) {
        message.escape_debug().to_string()
    } else {
        message.to_string()
    };
    let mut out = format!(
        "{} {:>5} {}: {message}",
        text("timestamp"),
        text("level"),
        text("target"),
    );
    for (key, value) in event {
        if matches!(key.as_str(), "timestamp" | "level" | "target" | "message") {
            continue;
        }
        match value {
            serde_json::Value::String(s) => out.push_str(&format!(" {key}={s:?}")),
            other => out.push_str(&format!(" {key}={other}")),
        }
    }
    out
}

/// Prints the selected lines of the log in `dir` to `out`; with `follow`, goes on printing
/// new lines as they are written (across rotations) until the process is stopped.
pub fn print(
    dir: &Path,
    selection: &Selection,
    follow: bool,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let current = dir.join(CURRENT);
    for path in files(dir, Rotation::default().keep) {
        if path == current {
            continue;
        }
        print_file(&path, selection, out)?;
    }
    let mut file = match File::open(&current) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && !follow => return Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => wait_for(&current),
        Err(error) => return Err(error),
    };
    let mut partial = String::new();
    let mut reader = BufReader::new(file.try_clone()?);
    loop {
        drain(&mut reader, &mut partial, selection, out)?;
        out.flush()?;
        if !follow {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
        // Rotated: finish the old file, then go on with the new one from its start.
        let rotated = std::fs::metadata(&current)
            .map(|now| now.ino() != file.metadata().map(|m| m.ino()).unwrap_or(0))
            .unwrap_or(false);
        if rotated {
            drain(&mut reader, &mut partial, selection, out)?;
            file = wait_for(&current);
            file.seek(SeekFrom::Start(0))?;
            reader = BufReader::new(file.try_clone()?);
        }
    }
}

fn wait_for(path: &Path) -> File {
    loop {
        if let Ok(file) = File::open(path) {
            return file;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Prints every complete line `reader` has now; a line still being written waits in
/// `partial`.
fn drain(
    reader: &mut impl BufRead,
    partial: &mut String,
    selection: &Selection,
    out: &mut impl Write,
) -> std::io::Result<()> {
    loop {
        let mut chunk = Vec::new();
        let read = reader.read_until(b'\n', &mut chunk)?;
        if read == 0 {
            return Ok(());
        }
        partial.push_str(&String::from_utf8_lossy(&chunk));
        if !partial.ends_with('\n') {
            return Ok(());
        }
        if let Some(shown) = selection.show(partial) {
            writeln!(out, "{shown}")?;
        }
        partial.clear();
    }
}

fn print_file(path: &Path, selection: &Selection, out: &mut impl Write) -> std::io::Result<()> {
    let file = match File::open(path) {
        Ok(file) => file,
        // Rotated away between listing and opening: its lines are in the next file.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    let mut partial = String::new();
    drain(&mut BufReader::new(file), &mut partial, selection, out)?;
    if let Some(shown) = selection.show(&partial) {
        writeln!(out, "{shown}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"timestamp":"2026-11-30T09:30:03.773313Z","level":"INFO","target":"nimbus::invocation","message":"invoked","request_id":"abc","component":"api","status":200}"#;

    #[test]
    fn lines_are_selected_by_component_and_time_and_shown_readably() {
        let all = Selection {
            component: None,
            since: None,
            json: false,
        };
        assert_eq!(
            all.show(LINE).as_deref(),
            Some(
                "2026-11-30T09:30:03.773313Z  INFO nimbus::invocation: invoked component=\"api\" request_id=\"abc\" status=200"
            )
        );
        let other = Selection {
            component: Some("web".into()),
            ..all.clone()
        };
        assert_eq!(other.show(LINE), None);
        let api_json = Selection {
            component: Some("api".into()),
            json: true,
            ..all.clone()
        };
        assert_eq!(api_json.show(LINE).as_deref(), Some(LINE));
        let later = Selection {
            since: humantime::parse_rfc3339("2026-11-30T09:31:00Z").ok(),
            ..all.clone()
        };
        assert_eq!(later.show(LINE), None);
        let earlier = Selection {
            since: humantime::parse_rfc3339("2026-11-30T09:30:00Z").ok(),
            ..all
        };
        assert!(earlier.show(LINE).is_some());
    }
}
