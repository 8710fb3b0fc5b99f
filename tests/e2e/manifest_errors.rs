use crate::harness::AppDir;

fn check_fails(manifest: &str) -> String {
    let app = AppDir::new(manifest);
    let output = app.run(&["check", app.path().to_str().expect("utf-8 path")]);
    assert!(!output.status.success(), "check must fail");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn an_unknown_key_is_reported_with_file_and_line() {
    let stderr = check_fails(
        "[app]\nname = \"x\"\n\n[component.a]\nsource = \"{hello}\"\nrutes = [\"/\"]\n",
    );
    assert!(stderr.contains("nimbus.toml:6:"), "{stderr}");
    assert!(stderr.contains("unknown field `rutes`"), "{stderr}");
    assert!(stderr.contains("`routes`"), "{stderr}");
}

#[test]
fn a_bad_duration_is_reported_with_file_line_and_key() {
    let stderr = check_fails(
        "[app]\nname = \"x\"\n\n[component.a]\nsource = \"{hello}\"\n[component.a.limits]\ntimeout = \"soon\"\n",
    );
    assert!(stderr.contains("nimbus.toml:7:"), "{stderr}");
    assert!(stderr.contains("timeout"), "{stderr}");
    assert!(stderr.contains("not a duration"), "{stderr}");
}

#[test]
fn a_missing_source_is_reported_with_file_line_and_key() {
    let stderr = check_fails("[app]\nname = \"x\"\n\n[component.a]\nsource = \"nowhere.wasm\"\n");
    assert!(stderr.contains("nimbus.toml:5:"), "{stderr}");
    assert!(stderr.contains("component.a.source"), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
}

#[test]
fn a_file_that_is_not_a_component_is_reported() {
    let app = AppDir::new("[app]\nname = \"x\"\n\n[component.a]\nsource = \"junk.wasm\"\n");
    std::fs::write(app.path().join("junk.wasm"), b"not wasm").expect("write");
    let output = app.run(&["check", app.path().to_str().expect("utf-8 path")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("component.a.source: cannot load"),
        "{stderr}"
    );
}

#[test]
fn a_guest_built_for_another_platform_version_is_told_to_rebuild() {
    // `hello` as built against nimbus:platform@0.1.0, before the context and key-value
    // changes of 0.2.0.
    let old = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/hello-platform-0.1.0.wasm");
    let stderr = check_fails(&format!(
        "[app]\nname = \"x\"\n\n[component.old]\nsource = \"{}\"\nroutes = [\"/\"]\n",
        old.display()
    ));
    assert!(
        stderr.contains("component `old` was built against nimbus:platform@0.1.0"),
        "{stderr}"
    );
    assert!(
        stderr.contains("implements nimbus:platform@0.2.0"),
        "{stderr}"
    );
    assert!(stderr.contains("nimbus.toml:4:"), "{stderr}");
}
