//! The Ministry Office reading while the phones write: `--readers N` threads, each asking in
//! turn for the progress API, the matrix page and the matrix export, at `--read-rate`
//! requests per second in all, until the measured phase ends.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// What the Ministry Office asks for: the API's progress, the dashboard's matrix page (its
/// session cookie) and the matrix export (a bearer token).
const READS: [(&str, &str); 3] = [
    ("progress", "/api/v1/progress"),
    ("matrix_page", "/matrix"),
    ("matrix_csv", "/exports/matrix.csv"),
];

/// Each read: which, how long (ms), whether it answered 200.
type Log = Arc<Mutex<Vec<(&'static str, f64, bool)>>>;

/// The readers, running until [`Readers::stop`].
#[derive(Debug)]
pub struct Readers {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    log: Log,
}

/// What the readers saw.
#[derive(Debug, Default)]
pub struct ReadFigures {
    pub reads: u64,
    pub read_errors: u64,
    pub read_p50_ms: f64,
    pub read_p99_ms: f64,
    /// p99 per kind of read.
    pub read_p99_ms_by_kind: BTreeMap<&'static str, f64>,
}

impl Readers {
    /// `n` readers against `base` as the admin whose session token is `token`.
    pub fn start(n: usize, rate: f64, base: &str, token: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let log: Log = Arc::default();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // A refused session's redirect to the sign-in page is not a read.
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        // Each reader at rate / n, started a step apart so the reads are spread out.
        let period = Duration::from_secs_f64(n as f64 / rate.max(0.001));
        let threads = (0..n)
            .map(|i| {
                let (stop, log, agent) = (stop.clone(), log.clone(), agent.clone());
                let (base, token) = (base.to_string(), token.to_string());
                std::thread::spawn(move || {
                    let mut next = Instant::now() + period.mul_f64(i as f64 / n as f64);
                    let mut k = i;
                    while !stop.load(Ordering::Relaxed) {
                        let now = Instant::now();
                        if next > now {
                            std::thread::sleep((next - now).min(Duration::from_millis(50)));
                            continue;
                        }
                        next += period;
                        let (kind, path) = READS[k % READS.len()];
                        k += 1;
                        let t = Instant::now();
                        let ok = agent
                            .get(format!("{base}{path}"))
                            .header("Authorization", format!("Bearer {token}"))
                            .header("Cookie", format!("tf_token={token}"))
                            .call()
                            .ok()
                            .and_then(|mut r| {
                                let ok = r.status() == 200;
                                r.body_mut()
                                    .with_config()
                                    .limit(64 << 20)
                                    .read_to_vec()
                                    .ok()
                                    .map(|_| ok)
                            })
                            .unwrap_or(false);
                        let ms = t.elapsed().as_secs_f64() * 1000.0;
                        if let Ok(mut l) = log.lock() {
                            l.push((kind, ms, ok));
                        }
                    }
                })
            })
            .collect();
        Self { stop, threads, log }
    }

    /// Stop the readers; their figures.
    pub fn stop(self) -> ReadFigures {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        let log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
        figures(&log)
    }
}

fn figures(log: &[(&'static str, f64, bool)]) -> ReadFigures {
    use crate::measure::{percentile, round2};
    let sorted = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v
    };
    let all = sorted(log.iter().map(|(_, ms, _)| *ms).collect());
    ReadFigures {
        reads: log.len() as u64,
        read_errors: log.iter().filter(|(_, _, ok)| !ok).count() as u64,
        read_p50_ms: round2(percentile(&all, 0.50)),
        read_p99_ms: round2(percentile(&all, 0.99)),
        read_p99_ms_by_kind: READS
            .iter()
            .map(|(kind, _)| {
                let ms = sorted(
                    log.iter()
                        .filter(|(k, _, _)| k == kind)
                        .map(|(_, ms, _)| *ms)
                        .collect(),
                );
                (*kind, round2(percentile(&ms, 0.99)))
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_count_failures_and_split_by_kind() {
        let log = vec![
            ("progress", 10.0, true),
            ("matrix_page", 30.0, true),
            ("matrix_csv", 20.0, false),
        ];
        let f = figures(&log);
        assert_eq!((f.reads, f.read_errors), (3, 1));
        assert_eq!(f.read_p99_ms_by_kind["matrix_page"], 30.0);
        assert_eq!(f.read_p99_ms, 30.0);
    }
}
