//! Latency samples and their percentiles.

use std::time::Duration;

/// Durations of one kind of operation.
#[derive(Debug, Default, Clone)]
pub(crate) struct Samples(Vec<Duration>);

impl Samples {
    /// Records one.
    pub(crate) fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    /// How many.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The `q`-quantile (0..=1), nearest rank.
    pub(crate) fn quantile(&self, q: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let mut sorted = self.0.clone();
        sorted.sort();
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    /// Median in µs.
    pub(crate) fn p50_us(&self) -> f64 {
        self.quantile(0.5).as_secs_f64() * 1e6
    }

    /// 99th percentile in µs.
    pub(crate) fn p99_us(&self) -> f64 {
        self.quantile(0.99).as_secs_f64() * 1e6
    }
}

/// The median of plain numbers.
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
