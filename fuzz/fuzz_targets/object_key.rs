//! Object key, prefix and name validation on any text: never a panic, and an accepted key is
//! within the length limit and has no control characters or `.`/`..` segments.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if nimbus_objects::validate_key(&text).is_ok() {
        assert!(text.len() <= nimbus_objects::MAX_KEY_BYTES);
        assert!(!text.chars().any(char::is_control));
        assert!(!text.split('/').any(|segment| segment == "." || segment == ".."));
    }
    let _ = nimbus_objects::validate_prefix(&text);
    let _ = nimbus_objects::validate_name(&text);
});
