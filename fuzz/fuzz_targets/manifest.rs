//! Any text is a manifest or an error that names the file and line: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let path = std::path::Path::new("app/nimbus.toml");
    if let Err(error) = nimbus_manifest::Manifest::parse(path, text) {
        assert!(error.to_string().starts_with("app/nimbus.toml:"));
    }
});
