//! Property tests of the parts a hostile manifest or request reaches: the manifest parser and
//! the route matcher. Failures proptest finds are kept in `proptest-regressions/` and replayed
//! first on every run.

use std::path::Path;

use proptest::prelude::*;

use crate::Manifest;
use crate::routes::{RouteMatch, RoutePattern, Router, WILDCARD_PARAM};

/// A path segment a client might send: anything but `/`, including empty, unicode and
/// percent signs.
fn client_segment() -> impl Strategy<Value = String> {
    "[^/]{0,8}"
}

/// What a route captures of a segment: its percent-decoded text.
fn decoded(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

fn literal() -> impl Strategy<Value = String> {
    "[a-z0-9_.-]{1,6}".prop_filter("`...` is the wildcard", |s| s != "...")
}

#[derive(Debug, Clone)]
enum Part {
    Literal(String),
    Param,
}

fn pattern_parts() -> impl Strategy<Value = (Option<&'static str>, Vec<Part>, bool)> {
    (
        prop::option::of(prop::sample::select(vec!["GET", "POST", "DELETE"])),
        prop::collection::vec(
            prop_oneof![literal().prop_map(Part::Literal), Just(Part::Param)],
            0..4,
        ),
        any::<bool>(),
    )
}

fn pattern_text(method: Option<&str>, parts: &[Part], wildcard: bool) -> String {
    let mut path = String::new();
    for (index, part) in parts.iter().enumerate() {
        path.push('/');
        match part {
            Part::Literal(text) => path.push_str(text),
            Part::Param => path.push_str(&format!(":p{index}")),
        }
    }
    if wildcard {
        path.push_str("/...");
    }
    if path.is_empty() {
        path.push('/');
    }
    match method {
        Some(method) => format!("{method} {path}"),
        None => path,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_pattern_matches_the_paths_it_describes_and_captures_their_values(
        (method, parts, wildcard) in pattern_parts(),
        values in prop::collection::vec("[^/]{1,8}", 4),
        rest in prop::collection::vec("[^/]{1,5}", 0..3),
    ) {
        let text = pattern_text(method, &parts, wildcard);
        let pattern = RoutePattern::parse(&text).expect("generated patterns are valid");
        let router = Router::new(vec![(pattern, 7usize)]);
        let mut path = String::new();
        let mut expected = Vec::new();
        for (index, part) in parts.iter().enumerate() {
            path.push('/');
            match part {
                Part::Literal(literal) => path.push_str(literal),
                Part::Param => {
                    path.push_str(&values[index]);
                    expected.push((format!("p{index}"), decoded(&values[index])));
                }
            }
        }
        if wildcard {
            for segment in &rest {
                path.push('/');
                path.push_str(segment);
            }
            let rest: Vec<String> = rest.iter().map(|segment| decoded(segment)).collect();
            expected.push((WILDCARD_PARAM.to_string(), rest.join("/")));
        }
        if path.is_empty() {
            path.push('/');
        }
        let method = method.unwrap_or("PUT");
        prop_assert_eq!(router.route(method, &path), RouteMatch::Found { target: 7, params: expected });
    }

    #[test]
    fn the_router_answers_any_request_and_only_with_a_route_that_matches(
        patterns in prop::collection::vec(pattern_parts(), 1..6),
        segments in prop::collection::vec(client_segment(), 0..5),
        method in prop::sample::select(vec!["GET", "POST", "DELETE", "BREW", ""]),
    ) {
        let mut routes: Vec<(RoutePattern, usize)> = Vec::new();
        for (index, (m, parts, wildcard)) in patterns.iter().enumerate() {
            let pattern = RoutePattern::parse(&pattern_text(*m, parts, *wildcard)).expect("valid");
            if !routes.iter().any(|(p, _)| p.same_as(&pattern)) {
                routes.push((pattern, index));
            }
        }
        let path = format!("/{}", segments.join("/"));
        let router = Router::new(routes.clone());
        match router.route(method, &path) {
            RouteMatch::Found { target, .. } => {
                let (pattern, _) = routes.iter().find(|(_, t)| *t == target).expect("a known target");
                let single = Router::new(vec![(pattern.clone(), target)]);
                let found = matches!(single.route(method, &path), RouteMatch::Found { .. });
                prop_assert!(found);
            }
            RouteMatch::MethodNotAllowed(allowed) => {
                prop_assert!(!allowed.is_empty());
                prop_assert!(!allowed.iter().any(|m| m == method));
            }
            RouteMatch::NotFound => {
                for (pattern, target) in &routes {
                    let single = Router::new(vec![(pattern.clone(), *target)]);
                    prop_assert_eq!(single.route(method, &path), RouteMatch::NotFound);
                }
            }
        }
    }

    #[test]
    fn any_text_parses_as_a_route_or_is_refused_without_panicking(text in "\\PC{0,40}") {
        let _ = RoutePattern::parse(&text);
    }

    #[test]
    fn any_text_parses_as_a_manifest_or_fails_at_a_line(text in "\\PC{0,200}") {
        if let Err(error) = Manifest::parse(Path::new("app/nimbus.toml"), text) {
            let message = error.to_string();
            prop_assert!(message.starts_with("app/nimbus.toml:"), "{}", message);
        }
    }

    #[test]
    fn a_damaged_manifest_fails_at_a_line_or_still_parses(
        position in 0usize..400,
        replacement in "[\\[\\]=\"{}a-z0-9 \\n./:*-]{0,3}",
        cut in 0usize..4,
    ) {
        let mut text = GOOD.to_string();
        let position = (0..=position.min(text.len()))
            .rev()
            .find(|p| text.is_char_boundary(*p))
            .unwrap_or(0);
        let end = (position + cut).min(text.len());
        let end = (end..=text.len()).find(|p| text.is_char_boundary(*p)).unwrap_or(text.len());
        text.replace_range(position..end, &replacement);
        if let Err(error) = Manifest::parse(Path::new("app/nimbus.toml"), text) {
            let message = error.to_string();
            prop_assert!(message.starts_with("app/nimbus.toml:"), "{}", message);
        }
    }
}

const GOOD: &str = r#"[app]
name = "todo"

[component.api]
source = "api.wasm"
routes = ["GET /todos", "/todos/:id", { route = "/files/...", auth = "required" }]
key_value = ["todos"]
buckets = { docs = "read-write" }
allowed_outbound_hosts = ["https://*.example.com"]
config = { greeting = "hi" }
[component.api.limits]
timeout = "5s"
memory = "64MiB"
max_concurrency = 10

[bucket.docs]
access = "owner"
max_size = "1MiB"
"#;

#[test]
fn the_damage_test_starts_from_a_valid_manifest() {
    assert!(Manifest::parse(Path::new("app/nimbus.toml"), GOOD.to_string()).is_ok());
}
