use crate::harness::AppDir;

#[test]
fn invoke_runs_one_request_from_a_fixture() {
    let app = AppDir::new(
        "[app]\nname = \"cli\"\n\n[component.probe]\nsource = \"{probe}\"\nroutes = [\"/items/:id\"]\n",
    );
    let fixture = app.path().join("request.json");
    std::fs::write(
        &fixture,
        r#"{"method": "POST", "path": "/items/9", "query": "a=1", "headers": {"x-test": "1"}, "body": {"hello": "world"}}"#,
    )
    .expect("write fixture");
    let output = app.run(&[
        "invoke",
        "probe",
        "--request",
        fixture.to_str().expect("utf-8"),
        "--app",
        app.path().to_str().expect("utf-8"),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let response: serde_json::Value = serde_json::from_str(&stdout).expect("JSON output");
    assert_eq!(response["status"], 200);
    assert_eq!(response["body"]["method"], "POST");
    assert_eq!(response["body"]["params"]["id"], "9");
    assert_eq!(response["body"]["query"], "a=1");
    assert_eq!(response["body"]["body"], r#"{"hello":"world"}"#);
}

#[test]
fn check_reports_a_valid_app() {
    let app = AppDir::new(
        "[app]\nname = \"cli\"\n\n[component.hello]\nsource = \"{hello}\"\nroutes = [\"/\"]\n",
    );
    let output = app.run(&["check", app.path().to_str().expect("utf-8")]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("1 component(s) loaded"));
}
