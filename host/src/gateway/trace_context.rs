//! The W3C Trace Context `traceparent` header
//! (<https://www.w3.org/TR/trace-context/#traceparent-header>): a client's valid one is passed
//! on to the guest and to the guest's outbound requests, so that the trace it started goes on
//! through nimbus; an invalid one is dropped, as the recommendation asks of a participant.

use http::HeaderMap;

/// The request's trace parent, in the version-00 form, when it sent exactly one valid one.
pub fn trace_parent(headers: &HeaderMap) -> Option<String> {
    let mut sent = headers.get_all(&crate::runtime::TRACE_PARENT_HEADER).iter();
    match (sent.next(), sent.next()) {
        (Some(value), None) => parse(value.to_str().ok()?),
        _ => None,
    }
}

/// `value` as a version-00 trace parent, if it is valid. A version above 00 is read by its
/// first four fields, as the recommendation asks, and passed on as 00.
fn parse(value: &str) -> Option<String> {
    let value = value.trim_matches([' ', '\t']);
    let version = value.get(..2)?;
    let known = value.get(..55)?;
    let rest = &value[55..];
    if version == "ff" || !is_hex(version) || (version == "00" && !rest.is_empty()) {
        return None;
    }
    if version != "00" && !rest.is_empty() && !rest.starts_with('-') {
        return None;
    }
    let mut fields = known.split('-');
    let (_, trace_id, parent_id, flags) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    let valid = fields.next().is_none()
        && trace_id.len() == 32
        && parent_id.len() == 16
        && flags.len() == 2
        && [trace_id, parent_id, flags].into_iter().all(is_hex)
        && !is_zero(trace_id)
        && !is_zero(parent_id);
    valid.then(|| format!("00-{trace_id}-{parent_id}-{flags}"))
}

fn is_hex(field: &str) -> bool {
    field
        .bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_zero(field: &str) -> bool {
    field.bytes().all(|b| b == b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("traceparent", value.parse().expect("header value"));
        }
        headers
    }

    #[test]
    fn a_valid_trace_parent_is_kept() {
        assert_eq!(trace_parent(&headers(&[VALID])).as_deref(), Some(VALID));
    }

    #[test]
    fn a_later_version_is_read_by_its_first_fields_and_passed_on_as_version_00() {
        let later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next";
        assert_eq!(trace_parent(&headers(&[later])).as_deref(), Some(VALID));
    }

    #[test]
    fn invalid_or_repeated_trace_parents_are_dropped() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        ] {
            assert_eq!(trace_parent(&headers(&[bad])), None, "{bad:?}");
        }
        assert_eq!(trace_parent(&headers(&[VALID, VALID])), None);
        assert_eq!(trace_parent(&HeaderMap::new()), None);
    }
}
