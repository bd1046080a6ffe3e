//! What a run records and how it is reported: HdrHistogram latencies (microseconds), errors by
//! code, the final table for people, `--json` for machines, and `.hgrm` percentile files (the
//! HdrHistogram percentile-distribution format its plotters read).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// Latencies up to a minute, three significant digits.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("constant bounds are valid")
}

pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// Named latency histograms, counters and errors; merged across connections (never averaged).
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    pub(crate) latencies: BTreeMap<&'static str, Histogram<u64>>,
    pub(crate) counts: BTreeMap<&'static str, u64>,
    pub(crate) errors: BTreeMap<String, u64>,
}

impl Recorder {
    pub(crate) fn record(&mut self, name: &'static str, latency: Duration) {
        // Out of range only past a minute: clamp rather than lose the sample.
        self.latencies
            .entry(name)
            .or_insert_with(histogram)
            .saturating_record(micros(latency));
    }

    pub(crate) fn count(&mut self, name: &'static str, n: u64) {
        *self.counts.entry(name).or_default() += n;
    }

    pub(crate) fn error(&mut self, code: &str) {
        *self.errors.entry(code.to_owned()).or_default() += 1;
    }

    pub(crate) fn merge(&mut self, other: &Recorder) {
        for (name, h) in &other.latencies {
            let mine = self.latencies.entry(name).or_insert_with(histogram);
            let _ = mine.add(h);
        }
        for (name, n) in &other.counts {
            *self.counts.entry(name).or_default() += n;
        }
        for (code, n) in &other.errors {
            *self.errors.entry(code.clone()).or_default() += n;
        }
    }
}

/// Quantiles of the percentile spectrum (latency by percentile, for plotting).
const SPECTRUM: [f64; 12] = [
    0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 1.0,
];

pub(crate) fn percentiles(h: &Histogram<u64>) -> Value {
    let spectrum: Vec<Value> = SPECTRUM
        .iter()
        .map(|q| json!({"q": q, "us": h.value_at_quantile(*q)}))
        .collect();
    json!({"count": h.len(), "p50": h.value_at_quantile(0.5), "p90": h.value_at_quantile(0.9),
           "p99": h.value_at_quantile(0.99), "p999": h.value_at_quantile(0.999), "max": h.max(),
           "spectrum": spectrum})
}

/// The run's result: scenario facts (`summary`) plus everything recorded.
pub(crate) struct Report {
    pub(crate) scenario: &'static str,
    pub(crate) summary: serde_json::Map<String, Value>,
    pub(crate) recorder: Recorder,
}

impl Report {
    pub(crate) fn to_json(&self) -> Value {
        let mut out = self.summary.clone();
        out.insert("scenario".into(), json!(self.scenario));
        out.insert("errors".into(), json!(self.recorder.errors));
        for (name, n) in &self.recorder.counts {
            out.insert((*name).into(), json!(n));
        }
        for (name, h) in &self.recorder.latencies {
            out.insert(format!("{name}_us"), percentiles(h));
        }
        Value::Object(out)
    }

    /// The table printed at the end of a run.
    pub(crate) fn to_table(&self) -> String {
        let mut out = String::new();
        let facts: Vec<String> = self
            .summary
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(out, "{}: {}", self.scenario, facts.join(" "));
        let counts: Vec<String> = self
            .recorder
            .counts
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(
            out,
            "{}, errors {:?}",
            counts.join(", "),
            self.recorder.errors
        );
        for (name, h) in &self.recorder.latencies {
            let p = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
            let _ = writeln!(
                out,
                "{name:>16}: n={:>9} p50 {:>8.2} ms  p90 {:>8.2} ms  p99 {:>8.2} ms  p99.9 {:>8.2} ms  max {:>8.2} ms",
                h.len(),
                p(0.5),
                p(0.9),
                p(0.99),
                p(0.999),
                h.max() as f64 / 1000.0
            );
        }
        out
    }

    /// Writes `<prefix>-<latency>.hgrm` for each latency histogram, values in milliseconds.
    pub(crate) fn write_hgrm(&self, dir: &Path, prefix: &str) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        for (name, h) in &self.recorder.latencies {
            let path = dir.join(format!("{prefix}-{name}.hgrm"));
            std::fs::write(path, hgrm(h))?;
        }
        Ok(())
    }
}

/// HdrHistogram's percentile distribution text (as `outputPercentileDistribution`, scale 1000).
fn hgrm(h: &Histogram<u64>) -> String {
    let mut out = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    let mut total = 0u64;
    for v in h.iter_quantiles(5) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let inverse = if q < 1.0 {
            format!("{:14.2}", 1.0 / (1.0 - q))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{:12.3} {:2.12} {:10} {inverse}",
            v.value_iterated_to() as f64 / 1000.0,
            q,
            total
        );
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        h.mean() / 1000.0,
        h.stdev() / 1000.0
    );
    let _ = writeln!(
        out,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        h.max() as f64 / 1000.0,
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        2048
    );
    out
}
