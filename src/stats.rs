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

/// Limits glibc to two malloc arenas. With one arena per thread (tokio workers, sled's I/O
/// threads) freed memory stays scattered and the resident size of a long-running daemon grows
/// well past what it uses. Also pins the size from which glibc maps an allocation on its own
/// (128 KiB): by default that threshold rises to the largest block freed (up to 32 MiB), and
/// then the growing buffers of a large listing are copied inside the heap on every doubling,
/// leaving their old copies behind as free memory the process keeps (about 6 MB after listing
/// 100,000 assets). Mapped blocks grow in place and go back to the system when freed. Call
/// once at start, before threads exist. No-op elsewhere.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator tunables; it is called before other threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Returns freed heap memory to the OS (after a cycle, whose peak is transient). No-op
/// outside glibc.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim walks the allocator's own free lists; it takes no pointers of ours.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn proc_status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// This process's peak resident set size in KiB (`VmHWM`), on Linux.
pub fn peak_rss_kb() -> Option<u64> {
    proc_status_kb("VmHWM:")
}

/// This process's current resident set size in KiB (`VmRSS`), on Linux.
pub fn current_rss_kb() -> Option<u64> {
    proc_status_kb("VmRSS:")
}

/// CPU time (user + system) this process has used, in milliseconds, on Linux.
pub fn cpu_ms() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // Linux reports clock ticks; USER_HZ is 100 on every architecture Linux supports today.
    Some((utime + stime) * 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_figures_are_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss_kb().unwrap() > 0);
            let mut x = 0u64;
            for i in 0..20_000_000u64 {
                x = x.wrapping_add(i * i);
            }
            std::hint::black_box(x);
            assert!(cpu_ms().is_some());
        }
    }

    #[test]
    fn delta_keeps_only_growth() {
        let before = BTreeMap::from([("a".to_string(), 2u64)]);
        let after = BTreeMap::from([("a".to_string(), 5u64), ("b".to_string(), 1u64)]);
        assert_eq!(
            delta(&after, &before),
            BTreeMap::from([("a".to_string(), 3), ("b".to_string(), 1)])
        );
        assert_eq!(delta(&before, &before), BTreeMap::new());
    }
}
