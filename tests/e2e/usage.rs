//! Metering: invocations of a guest that sleeps a known time under a known memory limit show
//! up in `nimbus usage` and `GET /admin/v1/usage` as that many invocations and the GB-seconds
//! they must cost, whichever process served them; the admin route wants the secret key.

use std::time::{Duration, Instant};

use crate::harness::{AppDir, client, from_every_process};

const SLEEP_MS: u64 = 200;
const MEMORY_MIB: f64 = 64.0;

/// `nimbus usage --json` on `app` (through the running host when there is one).
fn usage(app: &AppDir, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["usage", "--json"];
    args.extend_from_slice(extra);
    let output = app.run_on_data(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("usage JSON")
}

fn total_invocations(report: &serde_json::Value) -> u64 {
    report["total"]["invocations"]
        .as_u64()
        .expect("invocations")
}

#[tokio::test]
async fn usage_shows_every_invocation_and_the_gb_seconds_its_limit_and_duration_cost() {
    let app = AppDir::new(
        r#"
[app]
name = "metered"

[component.probe]
source = "{probe}"
routes = ["/p/..."]
[component.probe.limits]
memory = "64MiB"
"#,
    );
    let server = app.start_processes(2);
    let path = format!("/p/sleep?{SLEEP_MS}");
    let sent = from_every_process(&server, &path, 2, 200, 4).await.len() as u64;

    // Every process writes what it metered every two seconds.
    let deadline = Instant::now() + Duration::from_secs(15);
    let report = loop {
        let report = usage(&app, &[]);
        if total_invocations(&report) == sent || Instant::now() > deadline {
            break report;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(total_invocations(&report), sent, "{report:#}");
    let row = &report["rows"][0];
    assert_eq!(row["key"], "probe");
    let slept = sent as f64 * SLEEP_MS as f64 / 1000.0;
    let least = slept * MEMORY_MIB / 1024.0;
    let gb_seconds = row["gb_seconds"].as_f64().expect("GB-seconds");
    assert!(
        gb_seconds >= least && gb_seconds < least * 1.5,
        "{gb_seconds} GB-s for {sent} sleeps of {SLEEP_MS} ms at {MEMORY_MIB} MiB: {report:#}"
    );
    let duration_ms = row["duration_ms"].as_u64().expect("duration");
    assert!(duration_ms >= sent * SLEEP_MS, "{report:#}");
    // Sleeping is not CPU time.
    let cpu_us = row["cpu_us"].as_u64().expect("cpu");
    assert!(cpu_us < duration_ms * 1000 / 2, "{report:#}");
    assert!(row["peak_memory"].as_u64().expect("peak") > 0);
    assert!(row["response_bytes"].as_u64().expect("bytes") > 0);
    let cost = row["cost_usd"].as_f64().expect("cost");
    let expected = gb_seconds * 0.000_013_333_4 + sent as f64 / 1e6 * 0.20;
    assert!((cost - expected).abs() < 1e-12, "{cost} != {expected}");
    let by_hour = usage(&app, &["--by", "hour", "--since", "2h"]);
    assert_eq!(total_invocations(&by_hour), sent);
    assert_eq!(by_hour["by"], "hour");

    // The admin route: the secret key only.
    let url = server.url("/admin/v1/usage?since=1h");
    let anonymous = client().get(&url).send().await.expect("answer");
    assert_eq!(anonymous.status().as_u16(), 401);
    let publishable = app.api_key();
    let with_publishable = client()
        .get(&url)
        .header("apikey", &publishable)
        .bearer_auth(&publishable)
        .send()
        .await
        .expect("answer");
    assert_eq!(with_publishable.status().as_u16(), 401);
    let made = app.run_on_data(&["keys", "show", "--secret"]);
    assert!(made.status.success());
    let secret = String::from_utf8_lossy(&made.stdout).trim().to_string();
    let forged = format!("{secret}x");
    let with_forged = client().get(&url).bearer_auth(&forged).send().await;
    assert_eq!(with_forged.expect("answer").status().as_u16(), 401);
    let answer = client()
        .get(&url)
        .bearer_auth(&secret)
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status().as_u16(), 200);
    let admin: serde_json::Value = answer.json().await.expect("JSON");
    assert_eq!(total_invocations(&admin), sent);
    let bad = client()
        .get(server.url("/admin/v1/usage?by=week"))
        .header("apikey", &secret)
        .send()
        .await
        .expect("answer");
    assert_eq!(bad.status().as_u16(), 400);
    assert_eq!(
        server
            .terminate(Duration::from_secs(30))
            .map(|s| s.success()),
        Some(true)
    );

    // Metering off: invocations run, and nothing is added.
    let unmetered = app.start_configured(&["--processes", "1", "--metering=false"], |_| {});
    let response = client().get(unmetered.url("/p/sleep?1")).send().await;
    assert_eq!(response.expect("answer").status().as_u16(), 200);
    assert_eq!(
        unmetered
            .terminate(Duration::from_secs(30))
            .map(|s| s.success()),
        Some(true)
    );
    assert_eq!(total_invocations(&usage(&app, &[])), sent);
}
