//! Route patterns from the manifest and the matcher that picks a component for a request.
//!
//! A pattern is an optional method and a path: `"GET /todos"`, `"/todos/:id"`, `"/files/..."`.
//! `:name` matches one segment; a final `/...` matches the rest of the path, including nothing.
//! When several patterns match, the most specific wins: segment by segment a literal beats a
//! parameter, a pattern without a wildcard beats one with it, a longer pattern beats a shorter
//! one, and a pattern naming the method beats one that accepts any method.

use std::fmt;

use serde::Deserialize;

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// The name under which a trailing `/...` wildcard's match is passed to the guest.
pub const WILDCARD_PARAM: &str = "...";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// One parsed route pattern.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct RoutePattern {
    method: Option<String>,
    segments: Vec<Segment>,
    wildcard: bool,
    text: String,
}

impl fmt::Display for RoutePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl TryFrom<String> for RoutePattern {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        RoutePattern::parse(&text)
    }
}

impl RoutePattern {
    /// The pattern as the manifest wrote it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The pattern's path, without the method it may name: `/todos/:id` for `GET /todos/:id`.
    pub fn path(&self) -> &str {
        match self.text.split_once(' ') {
            Some((_method, path)) => path.trim_start(),
            None => &self.text,
        }
    }

    /// Parses `"[METHOD ]/path/:param/..."`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let (method, path) = match trimmed.split_once(' ') {
            Some((method, path)) => {
                if !METHODS.contains(&method) {
                    return Err(format!(
                        "route `{text}`: unknown method `{method}`; use one of {} or leave it out to accept any method",
                        METHODS.join(", ")
                    ));
                }
                (Some(method.to_string()), path.trim())
            }
            None => (None, trimmed),
        };
        if !path.starts_with('/') {
            return Err(format!(
                "route `{text}`: the path must start with `/`, e.g. \"GET /todos/:id\""
            ));
        }
        let mut segments = Vec::new();
        let mut wildcard = false;
        let parts: Vec<&str> = path[1..].split('/').collect();
        for (index, part) in parts.iter().enumerate() {
            let last = index + 1 == parts.len();
            if *part == "..." {
                if !last {
                    return Err(format!(
                        "route `{text}`: `...` may only be the last segment"
                    ));
                }
                wildcard = true;
            } else if let Some(name) = part.strip_prefix(':') {
                if !is_identifier(name) {
                    return Err(format!(
                        "route `{text}`: `:{name}` is not a parameter name; use letters, digits and `_`"
                    ));
                }
                if segments.contains(&Segment::Param(name.to_string())) {
                    return Err(format!("route `{text}`: parameter `:{name}` appears twice"));
                }
                segments.push(Segment::Param(name.to_string()));
            } else if part.is_empty() {
                // Only the root path "/" has an empty segment.
                if !(last && index == 0) {
                    return Err(format!(
                        "route `{text}`: empty path segment (`//` or a trailing `/`)"
                    ));
                }
            } else if part
                .chars()
                .any(|c| c.is_whitespace() || c == '?' || c == '#')
            {
                return Err(format!(
                    "route `{text}`: segment `{part}` may not contain spaces, `?` or `#`"
                ));
            } else {
                segments.push(Segment::Literal(part.to_string()));
            }
        }
        Ok(Self {
            method,
            segments,
            wildcard,
            text: trimmed.to_string(),
        })
    }

    /// The method this route is limited to, if any.
    pub fn method(&self) -> Option<&str> {
        self.method.as_deref()
    }

    /// Whether this pattern's path starts with the literal segments `prefix`, so that it only
    /// matches paths under it.
    pub fn starts_with(&self, prefix: &[&str]) -> bool {
        self.segments.len() >= prefix.len()
            && self
                .segments
                .iter()
                .zip(prefix)
                .all(|(segment, want)| matches!(segment, Segment::Literal(l) if l == want))
    }

    /// Whether two patterns accept exactly the same requests.
    pub fn same_as(&self, other: &Self) -> bool {
        self.method == other.method
            && self.wildcard == other.wildcard
            && self.segments.len() == other.segments.len()
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|pair| match pair {
                    (Segment::Literal(a), Segment::Literal(b)) => a == b,
                    (Segment::Param(_), Segment::Param(_)) => true,
                    _ => false,
                })
    }

    /// The parameters captured when `path` matches this pattern's path (method not considered),
    /// percent-decoded (a sequence that is not UTF-8 becomes U+FFFD). Literal segments match
    /// the path as sent.
    fn match_path(&self, path: &[&str]) -> Option<Vec<(String, String)>> {
        if path.len() < self.segments.len() || (!self.wildcard && path.len() != self.segments.len())
        {
            return None;
        }
        let mut params = Vec::new();
        for (segment, actual) in self.segments.iter().zip(path) {
            match segment {
                Segment::Literal(literal) if literal == actual => {}
                Segment::Literal(_) => return None,
                Segment::Param(name) => params.push((name.clone(), decode(actual))),
            }
        }
        if self.wildcard {
            let rest: Vec<String> = path[self.segments.len()..]
                .iter()
                .map(|segment| decode(segment))
                .collect();
            params.push((WILDCARD_PARAM.to_string(), rest.join("/")));
        }
        Some(params)
    }

    fn specificity(&self) -> (Vec<u8>, bool, bool) {
        let ranks = self
            .segments
            .iter()
            .map(|segment| match segment {
                Segment::Literal(_) => 2,
                Segment::Param(_) => 1,
            })
            .collect();
        (ranks, !self.wildcard, self.method.is_some())
    }
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Captured `:param` and wildcard values, in pattern order.
pub type Params = Vec<(String, String)>;

/// What the router decided for one request.
#[derive(Debug, PartialEq, Eq)]
pub enum RouteMatch<T> {
    /// A route accepts the request: its target and the captured parameters.
    Found {
        /// Whatever the route was registered with (a component index).
        target: T,
        /// `:param` values and the wildcard's (`...`) match, in pattern order.
        params: Vec<(String, String)>,
    },
    /// Some route matches the path but none accepts the method; these would.
    MethodNotAllowed(Vec<String>),
    /// No route matches the path.
    NotFound,
}

/// Routes of every component, ready to match.
#[derive(Debug, Clone)]
pub struct Router<T> {
    routes: Vec<(RoutePattern, T)>,
}

impl<T: Clone> Router<T> {
    /// A router over `routes`; the caller has already rejected duplicates. Routes are ordered
    /// most specific first, once, so that matching stops at the first route that accepts.
    pub fn new(mut routes: Vec<(RoutePattern, T)>) -> Self {
        // Stable: of two equally specific routes (which cannot match the same request once
        // duplicates are rejected) the first declared stays first.
        routes.sort_by_cached_key(|(pattern, _)| std::cmp::Reverse(pattern.specificity()));
        Self { routes }
    }

    /// Finds the most specific route for `method` and `path` (without the query string). A
    /// `HEAD` request is accepted by a `GET` route, as HTTP intends (same headers, no body).
    pub fn route(&self, method: &str, path: &str) -> RouteMatch<T> {
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        let segments: Vec<&str> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').collect()
        };
        let mut allowed: Vec<String> = Vec::new();
        for (pattern, target) in &self.routes {
            let Some(params) = pattern.match_path(&segments) else {
                continue;
            };
            match pattern.method() {
                Some(m) if m != method && !(m == "GET" && method == "HEAD") => {
                    for m in std::iter::once(m).chain((m == "GET").then_some("HEAD")) {
                        if !allowed.iter().any(|a| a == m) {
                            allowed.push(m.to_string());
                        }
                    }
                }
                _ => {
                    return RouteMatch::Found {
                        target: target.clone(),
                        params,
                    };
                }
            }
        }
        if allowed.is_empty() {
            RouteMatch::NotFound
        } else {
            allowed.sort();
            RouteMatch::MethodNotAllowed(allowed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(patterns: &[&str]) -> Router<usize> {
        Router::new(
            patterns
                .iter()
                .enumerate()
                .map(|(i, p)| (RoutePattern::parse(p).expect("valid pattern"), i))
                .collect(),
        )
    }

    fn found(result: RouteMatch<usize>) -> (usize, Vec<(String, String)>) {
        match result {
            RouteMatch::Found { target, params } => (target, params),
            other => panic!("expected a match, got {other:?}"),
        }
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_patterns_path_leaves_its_method_out() {
        let path = |text: &str| {
            RoutePattern::parse(text)
                .expect("valid pattern")
                .path()
                .to_string()
        };
        assert_eq!(path("GET  /todos/:id"), "/todos/:id");
        assert_eq!(path(" /files/... "), "/files/...");
    }

    #[test]
    fn literal_routes_match_exactly() {
        let r = router(&["/hello", "/"]);
        assert_eq!(found(r.route("GET", "/hello")).0, 0);
        assert_eq!(found(r.route("GET", "/hello/")).0, 0);
        assert_eq!(found(r.route("GET", "/")).0, 1);
        assert_eq!(r.route("GET", "/hello/x"), RouteMatch::NotFound);
    }

    #[test]
    fn params_and_wildcards_are_percent_decoded() {
        let r = router(&["/users/:name", "/files/..."]);
        let (_, params) = found(r.route("GET", "/users/J%C3%BCrgen%20M"));
        assert_eq!(params, pairs(&[("name", "Jürgen M")]));
        let (_, params) = found(r.route("GET", "/files/a%20b/c%2Fd"));
        assert_eq!(params, pairs(&[("...", "a b/c/d")]));
        let (_, params) = found(r.route("GET", "/users/%FF"));
        assert_eq!(params, pairs(&[("name", "\u{FFFD}")]));
    }

    #[test]
    fn head_is_answered_by_get_routes_and_allowed_beside_get() {
        let r = router(&["GET /page", "POST /form"]);
        assert_eq!(found(r.route("HEAD", "/page")).0, 0);
        assert_eq!(
            r.route("HEAD", "/form"),
            RouteMatch::MethodNotAllowed(vec!["POST".into()])
        );
        assert_eq!(
            r.route("DELETE", "/page"),
            RouteMatch::MethodNotAllowed(vec!["GET".into(), "HEAD".into()])
        );
    }

    #[test]
    fn params_capture_one_segment() {
        let r = router(&["/users/:id/posts/:post"]);
        let (_, params) = found(r.route("GET", "/users/7/posts/42"));
        assert_eq!(params, pairs(&[("id", "7"), ("post", "42")]));
        assert_eq!(r.route("GET", "/users/7/posts"), RouteMatch::NotFound);
    }

    #[test]
    fn wildcard_captures_the_rest_including_nothing() {
        let r = router(&["/files/..."]);
        assert_eq!(
            found(r.route("GET", "/files/a/b.txt")).1,
            pairs(&[("...", "a/b.txt")])
        );
        assert_eq!(found(r.route("GET", "/files")).1, pairs(&[("...", "")]));
        assert_eq!(r.route("GET", "/filesystem"), RouteMatch::NotFound);
    }

    #[test]
    fn most_specific_route_wins_whatever_the_order() {
        let r = router(&[
            "/...",
            "/todos/...",
            "/todos/:id",
            "/todos/special",
            "GET /todos/:id",
        ]);
        assert_eq!(found(r.route("GET", "/todos/special")).0, 3);
        assert_eq!(found(r.route("GET", "/todos/9")).0, 4);
        assert_eq!(found(r.route("DELETE", "/todos/9")).0, 2);
        assert_eq!(found(r.route("GET", "/todos/9/attachments")).0, 1);
        assert_eq!(found(r.route("GET", "/elsewhere")).0, 0);
    }

    #[test]
    fn earlier_literal_beats_earlier_param() {
        let r = router(&["/:kind/new", "/users/:id"]);
        assert_eq!(found(r.route("GET", "/users/new")).0, 1);
    }

    #[test]
    fn wrong_method_gives_method_not_allowed_with_the_allowed_ones() {
        let r = router(&["GET /todos", "POST /todos"]);
        assert_eq!(
            r.route("DELETE", "/todos"),
            RouteMatch::MethodNotAllowed(vec!["GET".into(), "HEAD".into(), "POST".into()])
        );
    }

    #[test]
    fn malformed_patterns_are_rejected_with_reasons() {
        for bad in [
            "todos",
            "FETCH /todos",
            "get /todos",
            "/a/.../b",
            "/a//b",
            "/a/",
            "/:1x",
            "/:id/:id",
            "/a b",
        ] {
            assert!(
                RoutePattern::parse(bad).is_err(),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn patterns_differing_only_in_param_names_are_the_same() {
        let a = RoutePattern::parse("GET /t/:id").expect("valid");
        let b = RoutePattern::parse("GET /t/:key").expect("valid");
        let c = RoutePattern::parse("/t/:key").expect("valid");
        assert!(a.same_as(&b));
        assert!(!a.same_as(&c));
    }
}
