//! Prometheus text exposition of the server's counters, without a metrics framework: a handful
//! of atomics is all the log server needs, and the format is a few lines of text.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds, in seconds, of the latency histogram buckets.
const LATENCY_BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// A latency histogram with fixed buckets.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str, labels: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// Counters per log.
#[derive(Debug, Default)]
pub struct LogMetrics {
    /// Entries sequenced since start.
    pub entries_sequenced: AtomicU64,
    /// Submissions refused, by any 4xx.
    pub submissions_refused: AtomicU64,
    /// Identical resubmissions answered with the existing entry.
    pub submissions_duplicate: AtomicU64,
    /// Current tree size.
    pub tree_size: AtomicU64,
}

/// Every metric the server exports.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Release log counters.
    pub releases: LogMetrics,
    /// Key log counters.
    pub keys: LogMetrics,
    /// Batches committed to storage.
    pub batches_committed: AtomicU64,
    /// Batches whose commit failed (entries were refused with 503, nothing acknowledged).
    pub batches_failed: AtomicU64,
    /// Time from the start of a batch to its durable commit.
    pub commit_latency: Histogram,
    /// Time from receiving an `add` request to answering it.
    pub add_latency: Histogram,
    /// Requests refused by the rate limiter.
    pub rate_limited: AtomicU64,
    /// Checkpoints recorded again on the branch with new witness cosignatures.
    pub cosigned_checkpoints_published: AtomicU64,
    /// Per witness (by its configured name): cosignatures obtained, requests that failed.
    pub witness_requests: std::sync::Mutex<std::collections::BTreeMap<String, (u64, u64)>>,
    /// Runs of the publication hook.
    pub hook_runs: AtomicU64,
    /// Runs of the publication hook that failed (non-zero exit, killed, not started).
    pub hook_failures: AtomicU64,
}

impl Metrics {
    /// Counts one witness request's outcome.
    pub fn witness_result(&self, witness: &str, cosigned: bool) {
        let mut map = self
            .witness_requests
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let entry = map.entry(witness.to_owned()).or_default();
        if cosigned {
            entry.0 += 1;
        } else {
            entry.1 += 1;
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (help, name, pick) in [
            (
                "Entries sequenced since the server started.",
                "cairn_entries_sequenced_total",
                (|m: &LogMetrics| &m.entries_sequenced) as fn(&LogMetrics) -> &AtomicU64,
            ),
            (
                "Submissions refused with a 4xx status.",
                "cairn_submissions_refused_total",
                |m: &LogMetrics| &m.submissions_refused,
            ),
            (
                "Identical resubmissions answered with the existing entry.",
                "cairn_submissions_duplicate_total",
                |m: &LogMetrics| &m.submissions_duplicate,
            ),
            (
                "Size of the log's latest checkpoint.",
                "cairn_tree_size",
                |m: &LogMetrics| &m.tree_size,
            ),
        ] {
            let kind = if name.ends_with("_total") {
                "counter"
            } else {
                "gauge"
            };
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (log, m) in [("releases", &self.releases), ("keys", &self.keys)] {
                let _ = writeln!(
                    out,
                    "{name}{{log=\"{log}\"}} {}",
                    pick(m).load(Ordering::Relaxed)
                );
            }
        }
        for (help, name, value) in [
            (
                "Batches durably committed.",
                "cairn_batches_committed_total",
                &self.batches_committed,
            ),
            (
                "Batches whose commit failed.",
                "cairn_batches_failed_total",
                &self.batches_failed,
            ),
            (
                "Requests refused by the rate limiter.",
                "cairn_rate_limited_total",
                &self.rate_limited,
            ),
            (
                "Checkpoints committed again on the branch with new witness cosignatures.",
                "cairn_cosigned_checkpoints_published_total",
                &self.cosigned_checkpoints_published,
            ),
            (
                "Runs of the publication hook.",
                "cairn_hook_runs_total",
                &self.hook_runs,
            ),
            (
                "Runs of the publication hook that failed or timed out.",
                "cairn_hook_failures_total",
                &self.hook_failures,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        let witnesses = self
            .witness_requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let _ = writeln!(
            out,
            "# HELP cairn_witness_requests_total Cosignature requests per witness, by result.\n\
             # TYPE cairn_witness_requests_total counter"
        );
        for (name, (ok, failed)) in &witnesses {
            let name = name.replace('\\', "\\\\").replace('"', "\\\"");
            let _ = writeln!(
                out,
                "cairn_witness_requests_total{{witness=\"{name}\",result=\"cosigned\"}} {ok}"
            );
            let _ = writeln!(
                out,
                "cairn_witness_requests_total{{witness=\"{name}\",result=\"failed\"}} {failed}"
            );
        }
        self.commit_latency.render(
            &mut out,
            "cairn_commit_seconds",
            "Time from batch start to durable commit.",
            "",
        );
        self.add_latency.render(
            &mut out,
            "cairn_add_seconds",
            "Time from receiving an add request to answering it.",
            "",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.releases.entries_sequenced.fetch_add(3, Ordering::Relaxed);
        m.add_latency.observe(Duration::from_millis(3));
        m.add_latency.observe(Duration::from_secs(10));
        let text = m.render();
        assert!(text.contains("cairn_entries_sequenced_total{log=\"releases\"} 3\n"));
        assert!(text.contains("cairn_entries_sequenced_total{log=\"keys\"} 0\n"));
        assert!(text.contains("cairn_add_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("cairn_add_seconds_bucket{le=\"0.001\"} 0\n"));
        assert!(text.contains("cairn_add_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("cairn_add_seconds_count 2\n"));
        assert!(text.contains("# TYPE cairn_tree_size gauge\n"));
    }
}
