use super::*;

const APP: &str = r#"
[app]
name = "shop"

[component.mailer]
source = "mailer.wasm"
queues = ["emails"]
key_value = ["orders"]
[component.mailer.limits]
timeout = "10s"
max_concurrency = 20

[bucket.uploads]
access = "owner"
"#;

fn parse(text: &str) -> Result<Manifest, String> {
    Manifest::parse(Path::new("app/nimbus.toml"), text.to_string()).map_err(|e| e.to_string())
}

fn with(triggers: &str) -> Result<Manifest, String> {
    parse(&format!("{APP}\n{triggers}"))
}

#[test]
fn triggers_resolve_with_their_defaults_and_streams() {
    let manifest = with(
        r#"
[[trigger.queue]]
queue = "emails"
component = "mailer"

[[trigger.cron]]
name = "nightly"
schedule = "0 3 * * *"
timezone = "Europe/Paris"
component = "mailer"
catch_up = "one"

[[trigger.object]]
bucket = "uploads"
events = ["created"]
suffix = ".png"
component = "mailer"
max_attempts = 5
backoff = { initial = "2s", max = "1m" }
dead_letter = "thumbs-failed"

[[trigger.kv]]
store = "orders"
prefix = "order/"
component = "mailer"
"#,
    )
    .expect("valid");
    let [queue, cron, object, kv] = &manifest.triggers[..] else {
        panic!("four triggers: {:?}", manifest.triggers);
    };
    assert_eq!(queue.stream, "emails");
    assert_eq!(queue.retry.max_attempts, 3);
    assert_eq!(queue.retry.dead_letter, "emails.dead");
    assert_eq!(queue.concurrency, 10);
    assert_eq!(queue.lease, Duration::from_secs(40), "timeout + margin");
    assert_eq!(cron.stream, "cron:nightly");
    assert_eq!(cron.concurrency, 1, "a schedule never overlaps itself");
    assert_eq!(cron.retry.dead_letter, "mailer.dead");
    assert_eq!(object.stream, "object:uploads:mailer");
    assert_eq!(object.retry.max_attempts, 5);
    assert_eq!(object.retry.backoff_initial, Duration::from_secs(2));
    assert_eq!(object.retry.backoff_max, Duration::from_secs(60));
    assert_eq!(object.retry.dead_letter, "thumbs-failed");
    assert_eq!(kv.stream, "kv:orders:mailer");
    for queue in ["emails", "emails.dead", "mailer.dead", "thumbs-failed"] {
        assert!(manifest.queues.contains(queue), "{queue}");
    }
    assert_eq!(manifest.triggers_of("mailer").count(), 4);
}

fn error_with(triggers: &str) -> String {
    match with(triggers) {
        Ok(_) => panic!("should be rejected:\n{triggers}"),
        Err(error) => error,
    }
}

#[test]
fn a_bad_cron_expression_says_where_and_why() {
    let error = error_with(
        "[[trigger.cron]]\nname = \"n\"\nschedule = \"* * *\"\ncomponent = \"mailer\"\n",
    );
    assert!(error.starts_with("app/nimbus.toml:16:"), "{error}");
    assert!(error.contains("schedule"), "{error}");
    assert!(error.contains("3 fields"), "{error}");
    let error = error_with(
        "[[trigger.cron]]\nname = \"n\"\nschedule = \"99 * * * *\"\ncomponent = \"mailer\"\n",
    );
    assert!(error.contains("not a cron expression"), "{error}");
    let error = error_with(
        "[[trigger.cron]]\nname = \"n\"\nschedule = \"* * * * *\"\ntimezone = \"Mars/Base\"\ncomponent = \"mailer\"\n",
    );
    assert!(error.contains("timezone"), "{error}");
}

#[test]
fn unknown_components_buckets_and_stores_are_refused_at_their_line() {
    let error = error_with("[[trigger.queue]]\nqueue = \"emails\"\ncomponent = \"nobody\"\n");
    assert!(error.starts_with("app/nimbus.toml:16:"), "{error}");
    assert!(error.contains("`nobody` is not declared"), "{error}");
    let error = error_with(
        "[[trigger.object]]\nbucket = \"missing\"\nevents = [\"created\"]\ncomponent = \"mailer\"\n",
    );
    assert!(
        error.contains("bucket `missing` is not declared"),
        "{error}"
    );
    let error = error_with("[[trigger.kv]]\nstore = \"nowhere\"\ncomponent = \"mailer\"\n");
    assert!(error.contains("store `nowhere`"), "{error}");
    let error = error_with(
        "[[trigger.object]]\nbucket = \"uploads\"\nevents = [\"touched\"]\ncomponent = \"mailer\"\n",
    );
    assert!(error.contains("touched"), "{error}");
}

#[test]
fn retry_concurrency_and_lease_are_checked() {
    let queue = "[[trigger.queue]]\nqueue = \"emails\"\ncomponent = \"mailer\"\n";
    let error = error_with(&format!("{queue}max_attempts = 0\n"));
    assert!(error.contains("max_attempts"), "{error}");
    let error = error_with(&format!("{queue}concurrency = 21\n"));
    assert!(error.contains("max_concurrency (20)"), "{error}");
    let error = error_with(&format!("{queue}lease = \"12s\"\n"));
    assert!(error.contains("lease"), "{error}");
    let error = error_with(&format!("{queue}backoff = {{ max = \"2d\" }}\n"));
    assert!(error.contains("at most 24 hours"), "{error}");
    let error = error_with(&format!("{queue}dead_letter = \"emails\"\n"));
    assert!(error.contains("its own dead-letter queue"), "{error}");
    let error = error_with(&format!(
        "{queue}backoff = {{ initial = \"1m\", max = \"1s\" }}\n"
    ));
    assert!(error.contains("backoff"), "{error}");
    let error = error_with(&format!("{queue}\n{queue}"));
    assert!(error.contains("already has a consumer"), "{error}");
    let error = error_with("[[trigger.queue]]\nqueue = \"Bad:Name\"\ncomponent = \"mailer\"\n");
    assert!(error.contains("not a valid queue name"), "{error}");
}

#[test]
fn queues_nothing_consumes_get_a_dead_letter_queue_for_their_retention() {
    let manifest = parse(APP).expect("valid");
    assert_eq!(
        manifest.unconsumed_queues(),
        vec![("emails".to_string(), "emails.dead".to_string())]
    );
    assert!(manifest.dead_letter_queues().contains("emails.dead"));
    let consumed =
        with("[[trigger.queue]]\nqueue = \"emails\"\ncomponent = \"mailer\"\n").expect("valid");
    assert!(consumed.unconsumed_queues().is_empty());
    assert_eq!(
        consumed
            .dead_letter_queues()
            .into_iter()
            .collect::<Vec<_>>(),
        ["emails.dead"]
    );
}
