//! `[app] cors`: preflights and answers for the listed origins on app routes and the auth and
//! storage APIs, nothing for other origins, the operator's endpoints, or an app without it.

use crate::harness::{AppDir, client};

const APP: &str = r#"
[app]
name = "browser"
CORS

[component.hello]
source = "{hello}"
routes = ["GET /hello"]

[bucket.docs]
access = "authenticated"
"#;

const PAGE: &str = "http://localhost:5173";

async fn preflight(server: &crate::harness::Server, path: &str, origin: &str) -> reqwest::Response {
    client()
        .request(reqwest::Method::OPTIONS, server.url(path))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,apikey,content-type,x-upsert,x-client-info",
        )
        .send()
        .await
        .expect("preflight")
}

/// `GET /hello` from a page on `origin`.
async fn get_from(server: &crate::harness::Server, origin: &str) -> reqwest::Response {
    client()
        .get(server.url("/hello"))
        .header("origin", origin)
        .send()
        .await
        .expect("get")
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn listed_origins_pass_preflights_and_read_answers() {
    let app = AppDir::new(&APP.replace("CORS", &format!("cors = {{ origins = [\"{PAGE}\"] }}")));
    let server = app.start(1);
    for path in ["/storage/v1/object/docs/a.txt", "/auth/v1/token", "/hello"] {
        let answer = preflight(&server, path, PAGE).await;
        assert_eq!(answer.status().as_u16(), 200, "{path}");
        assert_eq!(
            header(&answer, "access-control-allow-origin"),
            Some(PAGE),
            "{path}"
        );
        let methods = header(&answer, "access-control-allow-methods").unwrap_or_default();
        assert!(methods.contains("POST"), "{path}: {methods}");
        let headers = header(&answer, "access-control-allow-headers").unwrap_or_default();
        assert!(
            headers.contains("x-upsert") && headers.contains("apikey"),
            "{headers}"
        );
        assert_eq!(header(&answer, "access-control-max-age"), Some("3600"));
    }
    let answer = get_from(&server, PAGE).await;
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(header(&answer, "access-control-allow-origin"), Some(PAGE));
    let exposed = header(&answer, "access-control-expose-headers").unwrap_or_default();
    assert!(exposed.contains("x-request-id"), "{exposed}");
    assert_eq!(header(&answer, "access-control-allow-credentials"), None);
    // An error the page must be able to read (supabase-js reads its message).
    let refused = client()
        .get(server.url("/auth/v1/user"))
        .header("origin", PAGE)
        .send()
        .await
        .expect("user");
    assert_eq!(refused.status().as_u16(), 401);
    assert_eq!(header(&refused, "access-control-allow-origin"), Some(PAGE));
    // Made without an Origin, an answer says a cache must not reuse it for a page.
    let plain = client()
        .get(server.url("/hello"))
        .send()
        .await
        .expect("get");
    let vary = header(&plain, "vary").unwrap_or_default();
    assert!(vary.contains("origin"), "{vary}");
    assert_eq!(header(&plain, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn other_origins_and_the_operators_endpoints_get_no_cors_headers() {
    let app = AppDir::new(&APP.replace("CORS", &format!("cors = {{ origins = [\"{PAGE}\"] }}")));
    let server = app.start(1);
    for origin in ["http://localhost:5174", "https://evil.example", "null"] {
        let answer = preflight(&server, "/hello", origin).await;
        assert_eq!(
            header(&answer, "access-control-allow-origin"),
            None,
            "{origin}"
        );
        let answer = get_from(&server, origin).await;
        assert_eq!(
            answer.status().as_u16(),
            200,
            "the server answers; the browser hides it"
        );
        assert_eq!(
            header(&answer, "access-control-allow-origin"),
            None,
            "{origin}"
        );
    }
    for path in ["/admin/v1/users", "/queue/v1/jobs", "/healthz"] {
        let answer = preflight(&server, path, PAGE).await;
        assert_eq!(
            header(&answer, "access-control-allow-origin"),
            None,
            "{path}"
        );
    }
}

#[tokio::test]
async fn without_cors_no_origin_is_allowed() {
    let app = AppDir::new(&APP.replace("CORS", ""));
    let server = app.start(1);
    let answer = preflight(&server, "/hello", PAGE).await;
    assert_eq!(header(&answer, "access-control-allow-origin"), None);
    let answer = get_from(&server, PAGE).await;
    assert_eq!(header(&answer, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn credentials_are_allowed_only_when_asked_for() {
    let app = AppDir::new(&APP.replace(
        "CORS",
        &format!("cors = {{ origins = [\"{PAGE}\"], credentials = true, max_age = \"10m\" }}"),
    ));
    let server = app.start(1);
    let answer = preflight(&server, "/hello", PAGE).await;
    assert_eq!(header(&answer, "access-control-allow-origin"), Some(PAGE));
    assert_eq!(
        header(&answer, "access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(header(&answer, "access-control-max-age"), Some("600"));
    // Never for an origin that is not listed, nor on the operator's endpoints.
    for (path, origin) in [
        ("/hello", "https://evil.example"),
        ("/admin/v1/users", PAGE),
    ] {
        let answer = preflight(&server, path, origin).await;
        let credentials = header(&answer, "access-control-allow-credentials");
        assert_eq!(credentials, None, "{path} from {origin}");
    }
    let answer = get_from(&server, "https://evil.example").await;
    assert_eq!(header(&answer, "access-control-allow-credentials"), None);
}
