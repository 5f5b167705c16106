//! Generated call records with their truth (issue 23): normal traffic with calls to the
//! registered hotlines, some charged in the free period, some outside it, the hotlines
//! written every way people write them, and broken rows; and, computed as the file is
//! written (not by reading it back), every figure a verification must report. The tests
//! check the reader against it; the benchmark and `taskforce cdr generate` write large files.

use std::io::{self, Write};

use chrono::{Duration, NaiveDate, NaiveDateTime};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::Serialize;
use taskforce_core::{cdr::RegisteredHotline, doc::Day};

/// The column layout written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// `caller,called,start_time,duration,charge,currency`.
    Generic,
    /// Asterisk's `Master.csv` (no header), the charge in `userfield`.
    Asterisk,
}

/// What to write.
#[derive(Debug, Clone)]
pub struct Spec {
    pub rows: u64,
    pub seed: u64,
    pub layout: Layout,
    /// Of every thousand rows, how many call a hotline.
    pub hotline_per_mille: u32,
    /// Of every hundred hotline calls in the free period, how many are charged.
    pub charged_percent: u32,
    /// Of every hundred hotline calls, how many fall before the free period.
    pub outside_percent: u32,
    /// One row in this many is broken (0: none).
    pub broken_every: u64,
    /// The first day of the file; it spans `days` days.
    pub first_day: NaiveDate,
    pub days: i64,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            rows: 10_000,
            seed: 23,
            layout: Layout::Generic,
            hotline_per_mille: 20,
            charged_percent: 10,
            outside_percent: 10,
            broken_every: 997,
            first_day: NaiveDate::from_ymd_opt(2020, 1, 25).unwrap_or_default(),
            days: 40,
        }
    }
}

/// Per hotline: calls, calls in the free period, charged calls, the first and last charged day,
/// the amount charged (ten-thousandths of a dong).
pub type HotlineTruth = (u64, u64, u64, Option<Day>, Option<Day>, i64);

/// A call charged in a free period, as a verification must list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChargedCall {
    pub line: u64,
    /// Masked as the reader masks it.
    pub caller: String,
    /// The register's number.
    pub hotline: String,
    /// Unix seconds.
    pub start: i64,
    pub seconds: u64,
    /// Ten-thousandths of a dong.
    pub charge: i64,
}

/// What a verification of the file must find.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Truth {
    pub rows: u64,
    pub checked: u64,
    pub broken: u64,
    /// Every broken row's line.
    pub broken_lines: Vec<u64>,
    /// Calls to something that is not a telephone number (`s`, `tel:…`).
    pub unreadable_numbers: u64,
    /// Broken rows to a hotline.
    pub broken_to_hotlines: u64,
    pub hotline_calls: u64,
    pub outside_free_period: u64,
    pub charged: u64,
    /// In ten-thousandths of a dong.
    pub wrongly_charged: i64,
    /// Per hotline of the register.
    pub hotlines: Vec<HotlineTruth>,
    /// The lines of the charged calls, in order.
    pub charged_lines: Vec<u64>,
    /// The first 20 charged calls.
    pub first_charged: Vec<ChargedCall>,
    pub first_day: Option<Day>,
    pub last_day: Option<Day>,
}

/// How the hotline `n` (national digits) may be written.
fn written(n: &str, k: u32) -> String {
    match k % 7 {
        0 => n.to_string(),
        1 => format!("+84{n}"),
        2 => format!("0{n}"),
        3 if n.len() == 8 => format!("{} {}", &n[..4], &n[4..]),
        4 if n.len() == 8 => format!("{}.{}", &n[..4], &n[4..]),
        5 => format!("0084{n}"),
        6 => format!("84{n}"),
        _ => format!("+84 {n}"),
    }
}

const BROKEN: [&str; 5] = [
    "too few fields",
    "a start time that is not a time",
    "a negative charge",
    "seconds that are not a number",
    "no charge written",
];

/// How a local time is written in the generic layout: plain, with the offset, in UTC, or as
/// Unix seconds.
fn time_text(layout: Layout, at: NaiveDateTime, k: u32) -> String {
    let utc = at - Duration::hours(7);
    match (layout, k % 10) {
        (Layout::Generic, 7) => at.format("%Y-%m-%dT%H:%M:%S+07:00").to_string(),
        (Layout::Generic, 8) => utc.format("%Y-%m-%dT%H:%M:%S.250Z").to_string(),
        (Layout::Generic, 9) => utc.and_utc().timestamp().to_string(),
        _ => at.format("%Y-%m-%d %H:%M:%S").to_string(),
    }
}

fn masked(caller: &str) -> String {
    let keep = caller.len().min(3);
    "*".repeat(caller.len() - keep) + &caller[caller.len() - keep..]
}

/// Write `spec`'s call records to `out` against `hotlines` (each free from a day inside the
/// file's span or before it); the truth.
pub fn generate(
    mut out: impl Write,
    spec: &Spec,
    hotlines: &[RegisteredHotline],
) -> io::Result<Truth> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let mut truth = Truth {
        hotlines: vec![(0, 0, 0, None, None, 0); hotlines.len()],
        ..Truth::default()
    };
    let start = spec.first_day.and_hms_opt(0, 0, 0).unwrap_or_default();
    let end = start + Duration::days(spec.days);
    let mut line: u64 = 0;
    if spec.layout == Layout::Generic {
        writeln!(out, "caller,called,start_time,duration,charge,currency")?;
        line += 1;
    }
    let digits: Vec<String> = hotlines
        .iter()
        .map(|h| taskforce_core::doc::national_digits(&h.number).unwrap_or_default())
        .collect();
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).unwrap_or(start);
    for i in 0..spec.rows {
        line += 1;
        truth.rows += 1;
        let caller = format!("09{:08}", rng.random_range(0..100_000_000u32));
        if spec.broken_every > 0 && (i + 1) % spec.broken_every == 0 {
            let kind = (i / spec.broken_every) as usize % BROKEN.len();
            truth.broken += 1;
            truth.broken_lines.push(line);
            // Broken rows to hotlines too: they count as neither.
            let called = if kind.is_multiple_of(2) {
                "19009095"
            } else {
                "0912345678"
            };
            // The too-few-fields row has the called column only in the generic layout.
            if kind.is_multiple_of(2) && (kind != 0 || spec.layout == Layout::Generic) {
                truth.broken_to_hotlines += 1;
            }
            let time = "2020-02-03 10:00:00";
            let row = match kind {
                0 => format!("{caller},{called}"),
                1 => record(spec.layout, &caller, called, "yesterday", 60, "100"),
                2 => record(spec.layout, &caller, called, time, 60, "-100"),
                3 => record(spec.layout, &caller, called, time, 0, "100")
                    .replacen(",0,", ",sixty,", 1),
                _ => record(spec.layout, &caller, called, time, 60, ""),
            };
            writeln!(out, "{row}")?;
            continue;
        }
        truth.checked += 1;
        let hotline = !hotlines.is_empty() && rng.random_range(0..1000) < spec.hotline_per_mille;
        let (called, at, charge, tally) = if hotline {
            let h = rng.random_range(0..hotlines.len());
            let from = midnight(hotlines[h].free_from.date().unwrap_or(spec.first_day));
            // The first moment after the free period, if it ends inside the file.
            let after = hotlines[h]
                .free_until
                .and_then(Day::date)
                .map(|u| midnight(u + Duration::days(1)))
                .filter(|a| *a < end);
            let wants_outside = rng.random_range(0..100) < spec.outside_percent;
            let (outside, lo, hi) = match (wants_outside, from > start, after) {
                (true, true, _) => (true, start, from),
                (true, false, Some(a)) => (true, a, end),
                _ => (false, from.max(start), after.unwrap_or(end)),
            };
            let at = between(&mut rng, lo, hi);
            let charged = !outside && rng.random_range(0..100) < spec.charged_percent;
            let charge: u32 = if charged || (outside && rng.random_bool(0.5)) {
                rng.random_range(1..50) * 100
            } else {
                0
            };
            let written_as = written(&digits[h], rng.random_range(0..7));
            (written_as, at, charge, Some((h, outside, charged)))
        } else {
            let at = between(&mut rng, start, end);
            let called = match rng.random_range(0..1000) {
                // Near misses: a digit more, another prefix; a hotline as the caller.
                0..5 if !digits.is_empty() => {
                    let d = &digits[rng.random_range(0..digits.len())];
                    match rng.random_range(0..3) {
                        0 => format!("{d}1"),
                        1 => format!("8{}", &d[1..]),
                        _ => format!("0{}", &d[..d.len() - 1]),
                    }
                }
                5..7 => {
                    truth.unreadable_numbers += 1;
                    if rng.random_bool(0.5) {
                        "s".to_string()
                    } else {
                        "tel:0912345678".to_string()
                    }
                }
                _ => format!(
                    "0{}{:07}",
                    rng.random_range(3..10),
                    rng.random_range(0..10_000_000u32)
                ),
            };
            (called, at, rng.random_range(0..30) * 100, None)
        };
        let seconds = rng.random_range(1..600);
        let day = Day::from_date(at.date());
        truth.first_day = Some(truth.first_day.map_or(day, |d| d.min(day)));
        truth.last_day = Some(truth.last_day.map_or(day, |d| d.max(day)));
        if let Some((h, outside, charged)) = tally {
            truth.hotline_calls += 1;
            let t = &mut truth.hotlines[h];
            t.0 += 1;
            if outside {
                truth.outside_free_period += 1;
            } else {
                t.1 += 1;
                if charged {
                    let amount = i64::from(charge) * 10_000;
                    t.2 += 1;
                    t.3 = Some(t.3.map_or(day, |d| d.min(day)));
                    t.4 = Some(t.4.map_or(day, |d| d.max(day)));
                    t.5 += amount;
                    truth.charged += 1;
                    truth.charged_lines.push(line);
                    truth.wrongly_charged += amount;
                    if truth.first_charged.len() < 20 {
                        truth.first_charged.push(ChargedCall {
                            line,
                            caller: masked(&caller),
                            hotline: hotlines[h].number.clone(),
                            start: (at - Duration::hours(7)).and_utc().timestamp(),
                            seconds: u64::from(seconds),
                            charge: amount,
                        });
                    }
                }
            }
        }
        let time = time_text(spec.layout, at, rng.random_range(0..10));
        writeln!(
            out,
            "{}",
            record(
                spec.layout,
                &caller,
                &called,
                &time,
                seconds,
                &charge.to_string()
            )
        )?;
    }
    out.flush()?;
    Ok(truth)
}

fn between(rng: &mut StdRng, lo: NaiveDateTime, hi: NaiveDateTime) -> NaiveDateTime {
    let span = (hi - lo).num_seconds().max(1);
    lo + Duration::seconds(rng.random_range(0..span))
}

fn record(
    layout: Layout,
    caller: &str,
    called: &str,
    time: &str,
    seconds: u32,
    charge: &str,
) -> String {
    match layout {
        Layout::Generic => format!("{caller},{called},{time},{seconds},{charge},VND"),
        Layout::Asterisk => format!(
            "\"\",\"{caller}\",\"{called}\",\"from-internal\",\"\",\"SIP/100-0001\",\"SIP/trunk-0002\",\"Dial\",\"SIP/trunk\",\"{time}\",\"{time}\",\"{time}\",{},{seconds},\"ANSWERED\",\"DOCUMENTATION\",\"1580000000.1\",\"{charge}\"",
            seconds + 5
        ),
    }
}

/// The register's two hotlines of 2020 (as the migration seeds them).
pub fn hotlines_2020() -> Vec<RegisteredHotline> {
    let from = Day::from_date(NaiveDate::from_ymd_opt(2020, 2, 1).unwrap_or_default());
    ["19003228", "19009095"]
        .into_iter()
        .map(|n| RegisteredHotline {
            number: n.into(),
            free_from: from,
            free_until: None,
        })
        .collect()
}
