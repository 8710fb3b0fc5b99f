//! Usage reports: the metered totals since a moment, by component or by hour, with a cost
//! estimate at given prices. `nimbus usage` prints them; `GET /admin/v1/usage` answers them.

use std::collections::BTreeMap;
use std::time::SystemTime;

use nimbus_kv::{KvError, KvStore, StoreId};
use serde::Serialize;

use super::{Totals, USAGE_STORE, hour_of};

/// Prices for the cost estimate, in US dollars.
#[derive(Debug, Clone, Copy, PartialEq, clap::Args)]
pub struct Prices {
    /// Price of one GB-second [default: AWS Lambda's published arm64 price, us-east-1].
    #[arg(long, env = "NIMBUS_PRICE_GB_SECOND", default_value_t = LAMBDA_ARM64_GB_SECOND)]
    pub price_gb_second: f64,
    /// Price of one million invocations [default: AWS Lambda's published request price].
    #[arg(long, env = "NIMBUS_PRICE_MILLION_REQUESTS", default_value_t = LAMBDA_MILLION_REQUESTS)]
    pub price_million_requests: f64,
}

/// AWS Lambda's published price per GB-second on arm64 (us-east-1, first pricing tier).
pub const LAMBDA_ARM64_GB_SECOND: f64 = 0.000_013_333_4;
/// AWS Lambda's published price per million requests.
pub const LAMBDA_MILLION_REQUESTS: f64 = 0.20;

impl Default for Prices {
    fn default() -> Self {
        Self {
            price_gb_second: LAMBDA_ARM64_GB_SECOND,
            price_million_requests: LAMBDA_MILLION_REQUESTS,
        }
    }
}

impl Prices {
    /// The prices the environment sets (`NIMBUS_PRICE_GB_SECOND`,
    /// `NIMBUS_PRICE_MILLION_REQUESTS`), as the command line would read them, or the defaults.
    pub fn from_environment() -> Self {
        #[derive(clap::Parser)]
        struct FromEnvironment {
            #[command(flatten)]
            prices: Prices,
        }
        use clap::Parser as _;
        FromEnvironment::try_parse_from(["nimbus"])
            .map_or_else(|_| Prices::default(), |parsed| parsed.prices)
    }

    /// The estimated cost of `totals`.
    pub fn cost(&self, totals: &Totals) -> f64 {
        totals.gb_seconds() * self.price_gb_second
            + totals.invocations as f64 / 1e6 * self.price_million_requests
    }
}

/// How a report groups usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// One row per component.
    Component,
    /// One row per hour (UTC).
    Hour,
}

/// Every metered entry of `app` from `since` on, as (hour, component, totals), the runs of
/// every process added up.
pub async fn read(
    kv: &dyn KvStore,
    app: &str,
    since: SystemTime,
) -> Result<BTreeMap<(u64, String), Totals>, KvError> {
    let store = StoreId::new(app, USAGE_STORE);
    let first_hour = hour_of(since);
    // Keys start with the zero-padded hour, so every key of an earlier hour sorts before this
    // cursor and every key of a later one after it.
    let mut cursor = Some(format!("{first_hour:08}"));
    let mut totals: BTreeMap<(u64, String), Totals> = BTreeMap::new();
    loop {
        let page = kv
            .scan(&store, "", cursor.as_deref(), nimbus_kv::LIST_PAGE_SIZE)
            .await?;
        for (key, value) in &page.entries {
            let mut parts = key.splitn(3, '/');
            let (Some(hour), Some(component)) = (parts.next(), parts.next()) else {
                continue;
            };
            let Ok(hour) = hour.parse::<u64>() else {
                continue;
            };
            let Ok(entry) = serde_json::from_slice::<Totals>(value) else {
                continue;
            };
            if hour >= first_hour {
                totals
                    .entry((hour, component.to_string()))
                    .or_default()
                    .add(&entry);
            }
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(totals),
        }
    }
}

/// One row of a report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The component, or the hour's start as RFC 3339.
    pub key: String,
    /// What was used.
    #[serde(flatten)]
    pub totals: Totals,
    /// GB-seconds.
    pub gb_seconds: f64,
    /// The estimated cost in US dollars.
    pub cost_usd: f64,
}

/// A report: rows and their total.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// How rows are grouped.
    pub by: &'static str,
    /// The rows, in key order.
    pub rows: Vec<Row>,
    /// Everything together.
    pub total: Row,
    /// The prices the costs were estimated at.
    pub prices: PricesJson,
}

/// [`Prices`] as a report states them.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PricesJson {
    /// Per GB-second.
    pub gb_second: f64,
    /// Per million invocations.
    pub million_requests: f64,
}

fn row(key: String, totals: Totals, prices: &Prices) -> Row {
    Row {
        key,
        gb_seconds: totals.gb_seconds(),
        cost_usd: prices.cost(&totals),
        totals,
    }
}

/// Groups `entries` into a report.
pub fn report(entries: &BTreeMap<(u64, String), Totals>, by: GroupBy, prices: &Prices) -> Report {
    let mut groups: BTreeMap<String, Totals> = BTreeMap::new();
    let mut total = Totals::default();
    for ((hour, component), totals) in entries {
        let key = match by {
            GroupBy::Component => component.clone(),
            GroupBy::Hour => hour_start(*hour),
        };
        groups.entry(key).or_default().add(totals);
        total.add(totals);
    }
    Report {
        by: match by {
            GroupBy::Component => "component",
            GroupBy::Hour => "hour",
        },
        rows: groups
            .into_iter()
            .map(|(key, totals)| row(key, totals, prices))
            .collect(),
        total: row("total".into(), total, prices),
        prices: PricesJson {
            gb_second: prices.price_gb_second,
            million_requests: prices.price_million_requests,
        },
    }
}

/// The start of `hour` (since the epoch) as RFC 3339.
fn hour_start(hour: u64) -> String {
    nimbus_auth::rfc3339(hour.saturating_mul(3_600_000))
}

impl Report {
    /// The report as a table for people.
    pub fn to_table(&self) -> String {
        let mut out = format!(
            "{:<24} {:>11} {:>8} {:>14} {:>12} {:>11} {:>12} {:>12} {:>12}\n",
            self.by,
            "invocations",
            "failures",
            "GB-seconds",
            "CPU ms",
            "peak MiB",
            "request KiB",
            "response KiB",
            "cost USD"
        );
        for row in self.rows.iter().chain(std::iter::once(&self.total)) {
            let t = &row.totals;
            out.push_str(&format!(
                "{:<24} {:>11} {:>8} {:>14.6} {:>12.1} {:>11.1} {:>12.1} {:>12.1} {:>12.6}\n",
                row.key,
                t.invocations,
                t.failures,
                row.gb_seconds,
                t.cpu_us as f64 / 1000.0,
                t.peak_memory as f64 / f64::from(1u32 << 20),
                t.request_bytes as f64 / 1024.0,
                t.response_bytes as f64 / 1024.0,
                row.cost_usd
            ));
        }
        out.push_str(&format!(
            "cost estimated at ${} per GB-second and ${} per million invocations\n",
            self.prices.gb_second, self.prices.million_requests
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_groups_by_component_or_hour_and_prices_the_total() {
        let mut entries = BTreeMap::new();
        let used = |invocations, mib_ms| Totals {
            invocations,
            mib_ms,
            ..Totals::default()
        };
        entries.insert((10, "api".to_string()), used(2, 1024 * 1000));
        entries.insert((11, "api".to_string()), used(1, 0));
        entries.insert((11, "web".to_string()), used(1_000_000, 1024 * 1000));
        let prices = Prices {
            price_gb_second: 1.0,
            price_million_requests: 0.5,
        };
        let by_component = report(&entries, GroupBy::Component, &prices);
        assert_eq!(by_component.rows.len(), 2);
        assert_eq!(by_component.rows[0].key, "api");
        assert_eq!(by_component.rows[0].totals.invocations, 3);
        assert_eq!(by_component.total.totals.invocations, 1_000_003);
        assert!((by_component.total.gb_seconds - 2.0).abs() < 1e-9);
        assert!((by_component.total.cost_usd - (2.0 + 1_000_003.0 / 1e6 * 0.5)).abs() < 1e-9);
        let by_hour = report(&entries, GroupBy::Hour, &prices);
        assert_eq!(by_hour.rows.len(), 2);
        assert_eq!(by_hour.rows[0].key, "1970-01-01T10:00:00.000Z");
        assert!(by_hour.to_table().contains("1970-01-01T11:00:00.000Z"));
    }
}
