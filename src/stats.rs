//! Request counters per API and route, for cycle reports and the `/metrics` endpoint.
//! No I/O.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Counts requests to one API by route label and status ("200", "429", "error").
#[derive(Debug)]
pub struct ApiCounters {
    api: &'static str,
    counts: Mutex<BTreeMap<(String, String), u64>>,
}

impl ApiCounters {
    /// Counters for `api` (`lightdash` or `dot`).
    pub fn new(api: &'static str) -> Self {
        Self {
            api,
            counts: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records one response (or transport error) on a route.
    pub fn record(&self, route: &str, status: &str) {
        *self
            .counts
            .lock()
            .expect("counter lock")
            .entry((route.to_owned(), status.to_owned()))
            .or_default() += 1;
        metrics::counter!(
            "ldsync_api_requests_total",
            "api" => self.api,
            "route" => route.to_owned(),
            "status" => status.to_owned()
        )
        .increment(1);
    }

    /// Counts so far, by route (all statuses added up).
    pub fn by_route(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for ((route, _), n) in self.counts.lock().expect("counter lock").iter() {
            *out.entry(route.clone()).or_default() += n;
        }
        out
    }

    /// Total requests so far.
    pub fn total(&self) -> u64 {
        self.counts.lock().expect("counter lock").values().sum()
    }

    /// Counts so far by (route, status).
    pub fn snapshot(&self) -> BTreeMap<(String, String), u64> {
        self.counts.lock().expect("counter lock").clone()
    }
}

/// Difference of two `by_route` snapshots: the requests made in between.
pub fn delta(
    after: &BTreeMap<String, u64>,
    before: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter_map(|(k, v)| {
            let d = v - before.get(k).copied().unwrap_or(0);
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}
