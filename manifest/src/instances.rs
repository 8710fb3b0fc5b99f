//! `[component.NAME.instances]`: how a component's instances are made and kept.

use std::time::Duration;

use serde::Deserialize;

use crate::units::HumanDuration;

/// How a component's instances are made and kept, in every worker process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instances {
    /// Requests one instance serves, one after another; 1 is a fresh instance per request.
    pub reuse: u32,
    /// Instances made ahead of time and kept ready (provisioned concurrency).
    pub min: u32,
    /// An idle instance is dropped after this long; `None`: kept until evicted.
    pub idle_timeout: Option<Duration>,
}

impl Default for Instances {
    fn default() -> Self {
        Self {
            reuse: 1,
            min: 0,
            idle_timeout: None,
        }
    }
}

impl Instances {
    /// Whether instances are ever kept between invocations (warm or provisioned).
    pub fn kept(&self) -> bool {
        self.reuse > 1 || self.min > 0
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInstances {
    reuse: Option<u32>,
    min: Option<u32>,
    idle_timeout: Option<HumanDuration>,
}

impl RawInstances {
    /// The section with defaults applied, checked against the component's
    /// `limits.max_concurrency`; the error names the key.
    pub(crate) fn resolve(
        self,
        component: &str,
        max_concurrency: u32,
    ) -> Result<Instances, String> {
        let key = |k: &str| format!("component.{component}.instances.{k}");
        let reuse = self.reuse.unwrap_or(1);
        if reuse == 0 {
            return Err(format!(
                "{}: must be at least 1 (1 makes a fresh instance for every request)",
                key("reuse")
            ));
        }
        let min = self.min.unwrap_or(0);
        if min > max_concurrency {
            return Err(format!(
                "{}: {min} is more than limits.max_concurrency ({max_concurrency}), which caps the instances in use at once",
                key("min")
            ));
        }
        // A zero duration does not parse.
        let idle_timeout = self.idle_timeout.map(|t| t.0);
        Ok(Instances {
            reuse,
            min,
            idle_timeout,
        })
    }
}
