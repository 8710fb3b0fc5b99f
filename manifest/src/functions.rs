//! `[app] functions = ["NAME"]`: components reached as Supabase Edge Functions are, at
//! `/functions/v1/NAME/...` (what `supabase.functions.invoke("NAME")` calls), without a route
//! written by hand. The caller's identity is passed when a token is sent; a component with
//! `auth_required = true` needs one.

use std::collections::BTreeMap;
use std::ops::Range;

use serde_spanned::Spanned;

use crate::RouteSpec;
use crate::grants::RouteAuth;
use crate::rate_limit::{RateLimit, RateLimitKey};
use crate::routes::RoutePattern;
use crate::schema::{Name, RawComponent};

/// The functions by component name, each with where the manifest names it; an error (with
/// its offset) for a name that is no component or is listed twice.
pub(crate) fn check(
    functions: &[Spanned<Name>],
    components: &BTreeMap<Spanned<Name>, Spanned<RawComponent>>,
) -> Result<BTreeMap<String, usize>, (usize, String)> {
    let mut by_name = BTreeMap::new();
    for function in functions {
        let Range { start, .. } = function.span();
        let name = &function.get_ref().0;
        if !components.keys().any(|c| &c.get_ref().0 == name) {
            return Err((
                start,
                format!(
                    "app.functions: there is no [component.{name}] to serve at /functions/v1/{name}"
                ),
            ));
        }
        if by_name.insert(name.clone(), start).is_some() {
            return Err((start, format!("app.functions: `{name}` is listed twice")));
        }
    }
    Ok(by_name)
}

/// The route of function `name`.
pub(crate) fn route(
    name: &str,
    auth_required: bool,
    rate_limit: Option<RateLimit>,
) -> Result<RouteSpec, String> {
    let auth = if auth_required {
        RouteAuth::Required
    } else {
        RouteAuth::Optional
    };
    if rate_limit.is_some_and(|limit| limit.per == RateLimitKey::User) && !auth_required {
        return Err(format!(
            "app.functions: component `{name}` has a rate limit per \"user\", which its functions route can apply only with auth_required = true"
        ));
    }
    let pattern = RoutePattern::parse(&format!("/functions/v1/{name}/..."))?;
    Ok(RouteSpec {
        pattern,
        auth,
        rate_limit,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::{Manifest, RouteAuth};

    fn parse(text: &str) -> Result<Manifest, String> {
        Manifest::parse(Path::new("app/nimbus.toml"), text.to_string()).map_err(|e| e.to_string())
    }

    const APP: &str = "[app]\nname = \"f\"\nFUNCTIONS\n[component.hello]\nsource = \"h.wasm\"\nEXTRA\n[component.other]\nsource = \"o.wasm\"\nOTHER\n";

    fn app(functions: &str, extra: &str, other: &str) -> String {
        APP.replace("FUNCTIONS", functions)
            .replace("EXTRA", extra)
            .replace("OTHER", other)
    }

    #[test]
    fn a_function_gets_its_route_with_the_token_optional_or_required() {
        let manifest = parse(&app(
            "functions = [\"hello\", \"other\"]",
            "",
            "auth_required = true",
        ))
        .expect("valid");
        let hello = &manifest.components[0];
        assert_eq!(hello.routes.len(), 1);
        assert_eq!(
            hello.routes[0].pattern.to_string(),
            "/functions/v1/hello/..."
        );
        assert_eq!(hello.routes[0].auth, RouteAuth::Optional);
        assert_eq!(manifest.components[1].routes[0].auth, RouteAuth::Required);
    }

    #[test]
    fn unknown_repeated_or_clashing_functions_are_refused_at_their_line() {
        for (text, says) in [
            (
                app("functions = [\"nope\"]", "", ""),
                "there is no [component.nope]",
            ),
            (
                app("functions = [\"hello\", \"hello\"]", "", ""),
                "listed twice",
            ),
            (
                app(
                    "functions = [\"other\"]",
                    "routes = [\"/functions/v1/other/...\"]",
                    "",
                ),
                "which component `hello` routes already",
            ),
            (
                app(
                    "functions = [\"hello\"]",
                    "rate_limit = { per = \"user\", requests = 5, window = \"1m\" }",
                    "",
                ),
                "only with auth_required = true",
            ),
        ] {
            let error = parse(&text).expect_err(&text);
            assert!(error.contains(says), "{text}: {error}");
            assert!(error.contains("nimbus.toml:3"), "{text}: {error}");
        }
    }
}
