//! Send schedules for open-loop load: fixed intervals or Poisson arrivals (exponential gaps) at a
//! given rate. The schedule never looks at replies, so a slow server cannot slow the offered load.

use std::time::{Duration, Instant};

/// How sends are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Arrivals {
    /// Exactly `1/rate` apart.
    Fixed,
    /// Exponentially distributed gaps with mean `1/rate` (a Poisson process).
    Poisson,
}

/// The intended send times of one sender.
#[derive(Debug)]
pub(crate) struct Schedule {
    next: Instant,
    mean: Duration,
    arrivals: Arrivals,
    rng: u64,
}

impl Schedule {
    /// Starts at `first`; `mean` apart on average; `seed` makes each sender's gaps its own.
    pub(crate) fn new(first: Instant, mean: Duration, arrivals: Arrivals, seed: u64) -> Self {
        Self {
            next: first,
            mean,
            arrivals,
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        }
    }

    /// The next intended send time; advances the schedule.
    pub(crate) fn advance(&mut self) -> Instant {
        let at = self.next;
        let gap = match self.arrivals {
            Arrivals::Fixed => self.mean,
            Arrivals::Poisson => self.mean.mul_f64(-(1.0 - self.uniform()).ln()),
        };
        self.next += gap;
        at
    }

    /// Uniform in [0, 1) from xorshift64*.
    fn uniform(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let x = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_is_exact_and_poisson_keeps_the_mean() {
        let start = Instant::now();
        let mut fixed = Schedule::new(start, Duration::from_millis(2), Arrivals::Fixed, 1);
        let times: Vec<Instant> = (0..4).map(|_| fixed.advance()).collect();
        assert_eq!(times[3] - times[0], Duration::from_millis(6));

        let mut poisson = Schedule::new(start, Duration::from_millis(1), Arrivals::Poisson, 7);
        let n = 100_000;
        let mut last = start;
        let mut gaps_over_3x = 0;
        for _ in 0..n {
            let at = poisson.advance();
            if at - last > Duration::from_millis(3) {
                gaps_over_3x += 1;
            }
            last = at;
        }
        let mean_ms = (last - start).as_secs_f64() * 1000.0 / f64::from(n);
        assert!((0.97..1.03).contains(&mean_ms), "mean gap {mean_ms} ms");
        // P(gap > 3 * mean) = e^-3 ~ 5%.
        let share = f64::from(gaps_over_3x) / f64::from(n);
        assert!((0.04..0.06).contains(&share), "{share}");
    }
}
