//! Merging the Prometheus text expositions of several processes into one: each family's
//! `# HELP` and `# TYPE` once, then every process's samples of it. The processes label their
//! series apart (`process`), so no two samples collide.

use std::collections::BTreeMap;

/// One metric family: its comment lines and its samples.
#[derive(Default)]
struct Family {
    comments: Vec<String>,
    samples: Vec<String>,
}

/// The expositions in `texts` as one. A family's comments come from the first text that has
/// them; families are in name order. Lines before any `# TYPE` or `# HELP` are kept under the
/// name of the series they carry.
pub fn merge<'a>(texts: impl IntoIterator<Item = &'a str>) -> String {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for text in texts {
        let mut current: Option<String> = None;
        let mut seen_comments: Vec<String> = Vec::new();
        for line in text.lines() {
            if line.trim().is_empty() {
                continue;
            }
            if let Some(name) = comment_family(line) {
                if current.as_deref() != Some(name) {
                    current = Some(name.to_string());
                    seen_comments.clear();
                }
                seen_comments.push(line.to_string());
                let family = families.entry(name.to_string()).or_default();
                if family.comments.len() < seen_comments.len() {
                    family.comments.push(line.to_string());
                }
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let name = current
                .clone()
                .unwrap_or_else(|| sample_name(line).to_string());
            families
                .entry(name)
                .or_default()
                .samples
                .push(line.to_string());
        }
    }
    let mut merged = String::new();
    for family in families.values() {
        for line in family.comments.iter().chain(&family.samples) {
            merged.push_str(line);
            merged.push('\n');
        }
        merged.push('\n');
    }
    merged
}

/// The family a `# HELP name ...` or `# TYPE name ...` line describes.
fn comment_family(line: &str) -> Option<&str> {
    let rest = line
        .strip_prefix("# HELP ")
        .or_else(|| line.strip_prefix("# TYPE "))?;
    rest.split_whitespace().next()
}

/// The metric name a sample line starts with.
fn sample_name(line: &str) -> &str {
    let end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    &line[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = "# HELP nimbus_a_total A.\n# TYPE nimbus_a_total counter\nnimbus_a_total{process=\"0\"} 3\n\n# TYPE nimbus_d_seconds histogram\nnimbus_d_seconds_bucket{process=\"0\",le=\"1\"} 1\nnimbus_d_seconds_sum{process=\"0\"} 0.5\nnimbus_d_seconds_count{process=\"0\"} 1\n\n";
    const TWO: &str = "# HELP nimbus_a_total A.\n# TYPE nimbus_a_total counter\nnimbus_a_total{process=\"1\"} 4\n\n# HELP nimbus_b_total B.\n# TYPE nimbus_b_total counter\nnimbus_b_total{process=\"1\"} 1\n\n";

    #[test]
    fn each_family_is_described_once_with_every_process_samples() {
        let merged = merge([ONE, TWO]);
        assert_eq!(
            merged,
            "# HELP nimbus_a_total A.\n# TYPE nimbus_a_total counter\nnimbus_a_total{process=\"0\"} 3\nnimbus_a_total{process=\"1\"} 4\n\n\
             # HELP nimbus_b_total B.\n# TYPE nimbus_b_total counter\nnimbus_b_total{process=\"1\"} 1\n\n\
             # TYPE nimbus_d_seconds histogram\nnimbus_d_seconds_bucket{process=\"0\",le=\"1\"} 1\nnimbus_d_seconds_sum{process=\"0\"} 0.5\nnimbus_d_seconds_count{process=\"0\"} 1\n\n"
        );
    }

    #[test]
    fn a_process_that_has_not_described_a_family_adds_its_samples_to_it() {
        let undescribed = "nimbus_a_total{process=\"2\"} 1\n";
        let merged = merge([ONE, undescribed]);
        assert!(
            merged.contains("nimbus_a_total{process=\"0\"} 3\nnimbus_a_total{process=\"2\"} 1\n")
        );
        assert_eq!(merged.matches("# TYPE nimbus_a_total").count(), 1);
    }

    #[test]
    fn nothing_merges_to_nothing() {
        assert_eq!(merge([]), "");
        assert_eq!(merge(["", "\n\n"]), "");
    }
}
