//! Lines of the input are route patterns, the last one a request path: parsing and matching
//! never panic, and a match always comes from a route that matches alone.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nimbus_manifest::routes::{RouteMatch, RoutePattern, Router};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines: Vec<&str> = text.lines().collect();
    let Some(path) = lines.pop() else {
        return;
    };
    let mut routes: Vec<(RoutePattern, usize)> = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if let Ok(pattern) = RoutePattern::parse(line) {
            if !routes.iter().any(|(p, _)| p.same_as(&pattern)) {
                routes.push((pattern, index));
            }
        }
    }
    let router = Router::new(routes.clone());
    for method in ["GET", "POST", "BREW"] {
        if let RouteMatch::Found { target, .. } = router.route(method, path) {
            let (pattern, _) = routes
                .iter()
                .find(|(_, t)| *t == target)
                .expect("a registered target");
            let alone = Router::new(vec![(pattern.clone(), target)]);
            assert!(matches!(alone.route(method, path), RouteMatch::Found { .. }));
        }
    }
});
