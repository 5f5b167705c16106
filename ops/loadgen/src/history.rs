//! The long history (`--history-ops N`, issue 25): before the measured phase, the first
//! unit's phones write N operations into its document (peers-bench's field mix, 50 a sync,
//! as phones would over weeks), then a probe compares that unit with a fresh one: one phone
//! of each syncs one edit at a time, in turn (which goes first alternating),
//! `--history-probes` times. After the run, the server
//! restarted with its cache off serves the long unit's whole document to the check's fresh
//! phone (that download's time is in the figures beside `restart_to_listen_s`).

use std::time::Instant;

use anyhow::bail;
use rand::{SeedableRng, rngs::StdRng};
use taskforce_core::client::Client;

use crate::{
    args::{LoadgenArgs, Mix},
    measure::{bar, parallel, percentile, round2},
    phones::make_edits,
};

/// Operations a history phone sends in one sync.
const PER_SYNC: usize = 50;

/// What the history and the probe measured.
#[derive(Debug, Default)]
pub struct History {
    /// Operations written into the long unit's document before the measured phase.
    pub ops: u64,
    pub build_s: f64,
    /// Operations the probe made in each of the two units (one per sync).
    pub probe_ops: u64,
    /// The long unit's one-edit syncs, and the fresh unit's, ms, sorted.
    pub long_ms: Vec<f64>,
    pub fresh_ms: Vec<f64>,
    /// Failed sync attempts (each retried), history and probe.
    pub errors: u64,
}

impl History {
    pub fn p(ms: &[f64], q: f64) -> f64 {
        round2(percentile(ms, q))
    }

    /// The long unit's p99 over the fresh unit's.
    pub fn ratio(&self) -> f64 {
        let fresh = percentile(&self.fresh_ms, 0.99);
        round2(percentile(&self.long_ms, 0.99) / fresh.max(1e-9))
    }
}

/// Write `args.history_ops` operations into the first unit's document through its phones
/// (in parallel, 50 a sync, every phone current at the end), then probe. The long unit is
/// `units[0]`, the fresh one `units[1]`: `clients[0]` and `clients[1]` probe them.
pub fn build_and_probe(
    args: &LoadgenArgs,
    clients: &[Client],
    tasks: &[Vec<String>],
    sync: impl Fn(&Client) -> (f64, u64, bool) + Sync,
    quiet: bool,
) -> anyhow::Result<History> {
    let total = args.history_ops;
    if args.units < 2 || clients.len() < 2 {
        bail!("--history-ops needs two units at least (a long one and a fresh one)");
    }
    let long: Vec<usize> = (0..clients.len()).filter(|i| i % args.units == 0).collect();
    let b = bar(total as u64, "history", quiet);
    let t0 = Instant::now();
    // Phone k of the long unit writes its share (the first `total % n` one more).
    let n = long.len();
    let written: Vec<anyhow::Result<u64>> = parallel(n, args.concurrency.min(n), |k| {
        let client = &clients[long[k]];
        let share = total / n + usize::from(k < total % n);
        let mut rng = StdRng::seed_from_u64(args.seed ^ 0x4849_5354 ^ k as u64);
        let mut errors = 0;
        let mut left = share;
        while left > 0 {
            let m = left.min(PER_SYNC);
            make_edits(client, &tasks[long[k]], m, Mix::Fields, &mut rng)?;
            let (_, failed, ok) = sync(client);
            errors += failed;
            if !ok {
                bail!("a history sync gave up");
            }
            left -= m;
            b.inc(m as u64);
        }
        Ok(errors)
    });
    b.finish_and_clear();
    let mut h = History {
        ops: total as u64,
        ..History::default()
    };
    for w in written {
        h.errors += w?;
    }
    // Every phone of the long unit holds the whole history before the rounds.
    for ok in parallel(n, args.concurrency.min(n), |k| sync(&clients[long[k]])) {
        h.errors += ok.1;
        if !ok.2 {
            bail!("a history catch-up sync gave up");
        }
    }
    h.build_s = round2(t0.elapsed().as_secs_f64());

    // The probe: the long unit's phone and the fresh unit's, one edit a sync, in turn.
    let mut rng = StdRng::seed_from_u64(args.seed ^ 0x5052_4f42);
    let probes = args.history_probes;
    let b = bar(probes as u64, "probe", quiet);
    for k in 0..probes {
        let mut turns = [(0, &mut h.long_ms), (1, &mut h.fresh_ms)];
        if k % 2 == 1 {
            turns.reverse();
        }
        for (phone, out) in turns {
            make_edits(&clients[phone], &tasks[phone], 1, Mix::Fields, &mut rng)?;
            let (ms, failed, ok) = sync(&clients[phone]);
            h.errors += failed;
            if !ok {
                bail!("a probe sync gave up");
            }
            out.push(ms);
        }
        b.inc(1);
    }
    b.finish_and_clear();
    h.probe_ops = probes as u64;
    h.long_ms.sort_by(f64::total_cmp);
    h.fresh_ms.sort_by(f64::total_cmp);
    Ok(h)
}
