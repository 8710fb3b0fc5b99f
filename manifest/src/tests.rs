use super::*;

fn parse(text: &str) -> Result<Manifest, String> {
    Manifest::parse(Path::new("app/nimbus.toml"), text.to_string()).map_err(|e| e.to_string())
}

const GOOD: &str = r#"
[app]
name = "todo"

[component.api]
source = "api.wasm"
routes = ["GET /todos", "/todos/:id", "/files/..."]
key_value = ["todos"]
config = { greeting = "hi" }
[component.api.limits]
timeout = "5s"
memory = "64MiB"
max_concurrency = 10

[component.hello]
source = "hello.wasm"
routes = ["/hello"]
"#;

#[test]
fn a_full_manifest_resolves_paths_limits_and_grants() {
    let manifest = parse(GOOD).expect("valid manifest");
    assert_eq!(manifest.app, "todo");
    let api = &manifest.components[0];
    assert_eq!(api.name, "api");
    assert_eq!(api.source, PathBuf::from("app/api.wasm"));
    assert_eq!(api.routes.len(), 3);
    assert!(api.key_value.contains("todos"));
    assert_eq!(api.limits.timeout, Duration::from_secs(5));
    assert_eq!(api.limits.memory, 64 << 20);
    assert_eq!(api.limits.max_concurrency, 10);
    let hello = &manifest.components[1];
    assert_eq!(hello.limits.timeout, DEFAULT_TIMEOUT);
    assert_eq!(hello.limits.memory, DEFAULT_MEMORY);
    assert_eq!(hello.limits.max_concurrency, DEFAULT_MAX_CONCURRENCY);
    assert_eq!(hello.limits.outbound_requests, DEFAULT_OUTBOUND_REQUESTS);
    assert_eq!(hello.limits.outbound_timeout, DEFAULT_OUTBOUND_TIMEOUT);
    assert_eq!(hello.limits.log_lines, DEFAULT_LOG_LINES);
}

fn error_of(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("manifest should be rejected:\n{text}"),
        Err(e) => e,
    }
}

#[test]
fn errors_when_a_key_is_misspelled_naming_line_and_valid_keys() {
    let error = error_of(&GOOD.replace("key_value = [", "key_vaule = ["));
    assert!(error.starts_with("app/nimbus.toml:8:"), "{error}");
    assert!(error.contains("key_vaule"), "{error}");
    assert!(error.contains("key_value"), "{error}");
}

#[test]
fn errors_when_a_limit_is_misspelled() {
    let error = error_of(&GOOD.replace("timeout = ", "timout = "));
    assert!(error.starts_with("app/nimbus.toml:11:"), "{error}");
    assert!(error.contains("timout"), "{error}");
}

#[test]
fn errors_on_a_bad_duration_at_its_line() {
    let error = error_of(&GOOD.replace("\"5s\"", "\"5 parsecs\""));
    assert!(error.starts_with("app/nimbus.toml:11:"), "{error}");
    assert!(
        error.contains("timeout: `5 parsecs` is not a duration"),
        "{error}"
    );
}

#[test]
fn errors_on_a_bad_size_at_its_line() {
    let error = error_of(&GOOD.replace("\"64MiB\"", "\"64 mb\""));
    assert!(error.starts_with("app/nimbus.toml:12:"), "{error}");
    assert!(error.contains("memory: `64 mb` is not a size"), "{error}");
}

#[test]
fn errors_on_a_bad_route() {
    let error = error_of(&GOOD.replace("\"GET /todos\"", "\"FETCH /todos\""));
    assert!(error.starts_with("app/nimbus.toml:7:"), "{error}");
    assert!(error.contains("unknown method"), "{error}");
}

#[test]
fn errors_when_two_components_claim_one_route() {
    let error = error_of(&GOOD.replace("routes = [\"/hello\"]", "routes = [\"/todos/:key\"]"));
    assert!(
        error.contains("already taken by component `api`"),
        "{error}"
    );
    assert!(error.starts_with("app/nimbus.toml:17:"), "{error}");
}

#[test]
fn errors_when_source_is_missing() {
    let error = error_of("[app]\nname = \"x\"\n[component.a]\nroutes = [\"/\"]\n");
    assert!(error.contains("missing field `source`"), "{error}");
    assert!(error.starts_with("app/nimbus.toml:3:"), "{error}");
}

#[test]
fn errors_on_names_that_are_not_identifiers() {
    let error = error_of("[app]\nname = \"My App\"\n");
    assert!(error.contains("not a valid name"), "{error}");
    let error = error_of(&GOOD.replace("[\"todos\"]", "[\"To Dos\"]"));
    assert!(error.contains("not a valid name"), "{error}");
}

#[test]
fn errors_on_a_missing_source_file_naming_the_key() {
    let manifest = parse(GOOD).expect("valid manifest");
    let error = manifest
        .check_sources()
        .expect_err("files do not exist")
        .to_string();
    assert!(error.starts_with("app/nimbus.toml:6:"), "{error}");
    assert!(error.contains("component.api.source"), "{error}");
}

#[test]
fn errors_on_unknown_top_level_tables() {
    let error = error_of(&format!("{GOOD}\n[componnet.x]\nsource = \"x\"\n"));
    assert!(error.contains("componnet"), "{error}");
}

#[test]
fn errors_on_bad_outbound_hosts() {
    let error = error_of(&GOOD.replace(
        "key_value = [\"todos\"]",
        "allowed_outbound_hosts = [\"api.example.com/path\"]",
    ));
    assert!(error.contains("not an outbound host"), "{error}");
}

const BAAS: &str = r#"
[app]
name = "todo"
require_api_key = true

[auth]
access_token_ttl = "5m"
anonymous = true

[component.api]
source = "api.wasm"
routes = ["GET /health", { route = "/todos/...", auth = "required" }, { route = "/feed", auth = "optional" }]
buckets = { uploads = "read-write", avatars = "read" }
auth = "verify"

[component.admin]
source = "admin.wasm"
routes = ["/admin/..."]
auth_required = true
auth = "admin"

[bucket.uploads]
access = "owner"
max_size = "10MiB"
content_types = ["image/*", "application/pdf"]

[bucket.avatars]
access = "public-read"
"#;

#[test]
fn buckets_grants_and_route_auth_resolve() {
    let manifest = parse(BAAS).expect("valid manifest");
    assert!(manifest.require_api_key);
    assert_eq!(manifest.access_token_ttl, Duration::from_secs(300));
    assert!(manifest.anonymous_sign_in);
    let uploads = manifest.bucket("uploads").expect("uploads");
    assert_eq!(uploads.access, BucketAccess::Owner);
    assert_eq!(uploads.max_size, 10 << 20);
    assert!(uploads.accepts("image/png") && uploads.accepts("application/pdf"));
    assert!(!uploads.accepts("text/html"));
    let avatars = manifest.bucket("avatars").expect("avatars");
    assert_eq!(avatars.max_size, DEFAULT_MAX_OBJECT_SIZE);
    assert!(avatars.accepts("anything/at-all"));

    let admin = &manifest.components[0];
    assert_eq!(admin.auth, AuthGrant::Admin);
    assert!(admin.routes.iter().all(|r| r.auth == RouteAuth::Required));
    let api = &manifest.components[1];
    assert_eq!(api.auth, AuthGrant::Verify);
    let auths: Vec<RouteAuth> = api.routes.iter().map(|r| r.auth).collect();
    assert_eq!(
        auths,
        [RouteAuth::None, RouteAuth::Required, RouteAuth::Optional]
    );
    assert_eq!(api.buckets["uploads"], BucketMode::ReadWrite);
    assert!(!api.buckets["avatars"].can_write());
}

#[test]
fn errors_on_bad_buckets_and_grants() {
    let cases = [
        (
            "access = \"owner\"",
            "access = \"everyone\"",
            "unknown variant `everyone`",
        ),
        (
            "avatars = \"read\"",
            "avatars = \"readwrite\"",
            "unknown variant `readwrite`",
        ),
        (
            "avatars = \"read\"",
            "photos = \"read\"",
            "bucket `photos` is not declared",
        ),
        (
            "auth = \"verify\"",
            "auth = \"root\"",
            "unknown variant `root`",
        ),
        (
            "auth = \"required\" }, { route = \"/feed\"",
            "auth = \"always\" }, { route = \"/feed\"",
            "unknown variant `always`",
        ),
        (
            "\"application/pdf\"",
            "\"pdf\"",
            "not a content type pattern",
        ),
        ("[bucket.avatars]", "[bucket.list]", "reserved"),
        (
            "max_size = \"10MiB\"",
            "max_size = \"10 parsecs\"",
            "max_size",
        ),
    ];
    for (from, to, expected) in cases {
        let text = BAAS.replace(from, to);
        assert_ne!(text, BAAS, "{from} not found");
        let error = error_of(&text);
        assert!(error.contains(expected), "{to}: {error}");
        assert!(error.starts_with("app/nimbus.toml:"), "{error}");
    }
}

#[test]
fn limits_take_outbound_and_log_settings_and_bound_concurrency() {
    let manifest = parse(&GOOD.replace(
        "max_concurrency = 10",
        "max_concurrency = 10\noutbound_requests = 3\noutbound_timeout = \"2s\"\nlog_lines = 7",
    ))
    .expect("valid manifest");
    let limits = manifest.components[0].limits;
    assert_eq!(limits.outbound_requests, 3);
    assert_eq!(limits.outbound_timeout, Duration::from_secs(2));
    assert_eq!(limits.log_lines, 7);
    let error = error_of(&GOOD.replace("max_concurrency = 10", "max_concurrency = 1001"));
    assert!(
        error.contains("limits.max_concurrency: at most 1000"),
        "{error}"
    );
    let error = error_of(&GOOD.replace("max_concurrency = 10", "log_lines = -1"));
    assert!(error.starts_with("app/nimbus.toml:"), "{error}");
}

#[test]
fn secrets_are_granted_by_name_and_checked() {
    let granted = GOOD.replace(
        "config = { greeting = \"hi\" }",
        "config = { greeting = \"hi\" }\nsecrets = [\"STRIPE_KEY\", \"DB_URL2\"]",
    );
    let manifest = parse(&granted).expect("valid manifest");
    let secrets: Vec<&str> = manifest.components[0]
        .secrets
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(secrets, vec!["DB_URL2", "STRIPE_KEY"]);
    let lower = error_of(&GOOD.replace("config = { greeting = \"hi\" }", "secrets = [\"stripe\"]"));
    assert!(lower.starts_with("app/nimbus.toml:9:"), "{lower}");
    assert!(lower.contains("not a valid secret name"), "{lower}");
    let twice =
        error_of(&GOOD.replace("config = { greeting = \"hi\" }", "secrets = [\"A\", \"A\"]"));
    assert!(twice.contains("listed twice"), "{twice}");
    let both = error_of(&GOOD.replace(
        "config = { greeting = \"hi\" }",
        "config = { KEY = \"x\" }\nsecrets = [\"KEY\"]",
    ));
    assert!(both.contains("also a `config` key"), "{both}");
}

#[test]
fn instances_default_to_a_fresh_one_per_request() {
    let manifest = parse(GOOD).expect("valid manifest");
    assert_eq!(manifest.components[0].instances, Instances::default());
    let warm = parse(&format!(
        "{GOOD}[component.hello.instances]\nreuse = 1000\nmin = 2\nidle_timeout = \"5m\"\n"
    ))
    .expect("valid manifest");
    assert_eq!(
        warm.components[1].instances,
        Instances {
            reuse: 1000,
            min: 2,
            idle_timeout: Some(Duration::from_secs(300)),
        }
    );
}

#[test]
fn instances_are_checked_with_file_and_line() {
    let with = |section: &str| format!("{GOOD}[component.hello.instances]\n{section}\n");
    let error = error_of(&with("reuse = 0"));
    assert!(error.starts_with("app/nimbus.toml:"), "{error}");
    assert!(
        error.contains("component.hello.instances.reuse: must be at least 1"),
        "{error}"
    );
    let error = error_of(&with("min = 101"));
    assert!(
        error.contains("instances.min: 101 is more than limits.max_concurrency (100)"),
        "{error}"
    );
    let error = error_of(&with("idle_timeout = \"0s\""));
    assert!(error.contains("idle_timeout: `0s` is zero"), "{error}");
    let error = error_of(&with("idle_timeout = \"soon\""));
    assert!(error.contains("is not a duration"), "{error}");
    let error = error_of(&with("maximum = 3"));
    assert!(error.contains("maximum"), "{error}");
}

#[test]
fn provisioned_instances_must_fit_one_process() {
    let mut text = "[app]\nname = \"many\"\n".to_string();
    for i in 0..11 {
        text.push_str(&format!(
            "[component.c{i}]\nsource = \"c.wasm\"\nroutes = [\"/c{i}\"]\n[component.c{i}.instances]\nmin = 100\n"
        ));
    }
    let error = error_of(&text);
    assert!(error.contains("add up to 1100"), "{error}");
}

const LIMITED: &str = r#"
[app]
name = "limited"

[component.api]
source = "api.wasm"
routes = [
    "/open",
    { route = "/me", auth = "required", rate_limit = { per = "user", requests = 2, window = "1s" } },
]
rate_limit = { per = "ip", requests = 5, window = "1m", burst = 3 }
"#;

#[test]
fn rate_limits_apply_per_route_or_per_component() {
    let manifest = parse(LIMITED).expect("valid manifest");
    let routes = &manifest.components[0].routes;
    assert_eq!(
        routes[0].rate_limit,
        Some(RateLimit {
            per: RateLimitKey::Ip,
            requests: 5,
            window: Duration::from_secs(60),
            burst: 3,
        })
    );
    assert_eq!(
        routes[1].rate_limit,
        Some(RateLimit {
            per: RateLimitKey::User,
            requests: 2,
            window: Duration::from_secs(1),
            burst: 2,
        })
    );
}

#[test]
fn a_rate_limit_per_user_needs_a_route_that_requires_a_token() {
    let error = error_of(&LIMITED.replace("auth = \"required\", ", ""));
    assert!(error.starts_with("app/nimbus.toml:9:"), "{error}");
    assert!(
        error.contains("per \"user\" needs a route that requires a token"),
        "{error}"
    );
    let error = error_of(&LIMITED.replace("per = \"ip\"", "per = \"user\""));
    assert!(error.starts_with("app/nimbus.toml:11:"), "{error}");
    assert!(error.contains("`/open` does not"), "{error}");
}

#[test]
fn trusted_proxies_are_networks_checked_at_their_line() {
    let manifest = parse(&LIMITED.replace(
        "name = \"limited\"",
        "name = \"limited\"\ntrusted_proxies = [\"10.0.0.0/8\", \"fd00::/8\", \"10.1.2.3\"]",
    ))
    .expect("valid manifest");
    assert_eq!(manifest.trusted_proxies.len(), 3);
    assert_eq!(manifest.trusted_proxies[2].to_string(), "10.1.2.3/32");
    for everyone in ["0.0.0.0/0", "::/0"] {
        let error = error_of(&LIMITED.replace(
            "name = \"limited\"",
            &format!("name = \"limited\"\ntrusted_proxies = [\"{everyone}\"]"),
        ));
        assert!(error.contains("would believe every client"), "{error}");
    }
    let error = error_of(&LIMITED.replace(
        "name = \"limited\"",
        "name = \"limited\"\ntrusted_proxies = [\"the load balancer\"]",
    ));
    assert!(error.starts_with("app/nimbus.toml:4:"), "{error}");
}

#[test]
fn the_forwarded_header_is_x_forwarded_for_unless_the_app_names_forwarded() {
    assert_eq!(
        parse(LIMITED).expect("valid").forwarded_header,
        ForwardedHeader::XForwardedFor
    );
    let rfc = parse(&LIMITED.replace(
        "name = \"limited\"",
        "name = \"limited\"\nforwarded_header = \"forwarded\"",
    ))
    .expect("valid manifest");
    assert_eq!(rfc.forwarded_header, ForwardedHeader::Forwarded);
    let error = error_of(&LIMITED.replace(
        "name = \"limited\"",
        "name = \"limited\"\nforwarded_header = \"x-real-ip\"",
    ));
    assert!(error.starts_with("app/nimbus.toml:4:"), "{error}");
}

#[test]
fn rate_limits_are_checked_at_their_line() {
    let error = error_of(&LIMITED.replace("requests = 5", "requests = 0"));
    assert!(error.starts_with("app/nimbus.toml:11:"), "{error}");
    assert!(
        error.contains("rate_limit: `requests` must be at least 1"),
        "{error}"
    );
    let error = error_of(&LIMITED.replace("per = \"ip\"", "per = \"planet\""));
    assert!(error.starts_with("app/nimbus.toml:11:"), "{error}");
    let error = error_of(&LIMITED.replace("window = \"1m\"", "window = \"soon\""));
    assert!(error.contains("`soon` is not a duration"), "{error}");
    for window in ["\"250ms\"", "\"1500ms\"", "\"9000h\""] {
        let error = error_of(&LIMITED.replace("\"1m\"", window));
        assert!(error.starts_with("app/nimbus.toml:11:"), "{error}");
        assert!(
            error.contains("whole number of seconds from 1s to 8760h"),
            "{error}"
        );
    }
    let error = error_of(&LIMITED.replace(
        "requests = 5, window = \"1m\"",
        "requests = 600, window = \"1s\"",
    ));
    assert!(error.contains("more than one per 10 ms"), "{error}");
    let error = error_of(&LIMITED.replace(
        "requests = 5, window = \"1m\", burst = 3",
        "requests = 1, window = \"8760h\", burst = 2",
    ));
    assert!(error.contains("more than a year to earn back"), "{error}");
}

#[test]
fn routes_under_a_built_in_api_are_refused_at_their_line() {
    for (route, api) in [
        ("/auth/v1/token", "/auth/v1"),
        ("GET /storage/v1/...", "/storage/v1"),
        ("/admin/v1/usage", "/admin/v1"),
        ("/healthz", "/healthz"),
    ] {
        let text = format!(
            "[app]\nname = \"a\"\n\n[component.c]\nsource = \"c.wasm\"\nroutes = [\"/ok\", \"{route}\"]\n"
        );
        let error = Manifest::parse(Path::new("nimbus.toml"), text)
            .expect_err("refused")
            .to_string();
        assert!(error.contains(api) && error.contains(":6:"), "{error}");
    }
    // Paths beside them, a catch-all, and /metrics while the app does not serve metrics: fine.
    let text = "[app]\nname = \"a\"\n\n[component.c]\nsource = \"c.wasm\"\nroutes = [\"/auth/v2\", \"/admin/...\", \"/metrics\", \"/...\"]\n";
    assert!(Manifest::parse(Path::new("nimbus.toml"), text.to_string()).is_ok());
    let served = text.replace("name = \"a\"", "name = \"a\"\nmetrics = true");
    let error = Manifest::parse(Path::new("nimbus.toml"), served)
        .expect_err("refused")
        .to_string();
    assert!(error.contains("metrics = true"), "{error}");
}
