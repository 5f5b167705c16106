//! Reading a carrier's call detail records against the hotline register (issue 23, decision
//! 46): a CSV extract, streamed row by row in constant memory, every call to a registered
//! hotline inside its free period found, and those charged counted.
//!
//! Pure: [`verify`] reads from any [`std::io::Read`] the caller opens (a file, an upload's
//! body) and returns figures; the server turns them into a [`Verification`] in the carrier's
//! document. The fuzz target `call_records` feeds it arbitrary bytes.
//!
//! Columns are found by the header: the generic billing layout (`caller,called,start_time,
//! duration,charge`, with an optional `currency`), Asterisk's CDR CSV (`src`, `dst`, `start`,
//! `billsec`, the charge a rating step wrote into `userfield`; with a header line or, as
//! `cdr_csv` writes `Master.csv`, without one), or a [`Mapping`] the carrier configures.
//! Times without an offset are local time at [`Options::utc_offset`] (Vietnam, UTC+7).

use std::io::{self, Read};

use chrono::{Datelike, NaiveDate};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::doc::{
    Amount, Day, HotlineCheck, MAX_CURRENCIES, MAX_HOTLINES, MAX_OFFENDING, NUMBER_DIGITS,
    OffendingCall, Verification, national,
};

/// A hotline of the register, as the reader needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredHotline {
    /// As registered (`19009095`); compared as a national number.
    pub number: String,
    /// The free period, both days included (local time); no end: free still.
    pub free_from: Day,
    pub free_until: Option<Day>,
}

/// Which columns hold what, by header name (compared without case and surrounding spaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub caller: String,
    pub called: String,
    pub start: String,
    /// Billed seconds, or the call's duration.
    pub seconds: String,
    /// The charge of the call; or, without one, a rate per minute ([`Mapping::rate`]).
    pub charge: Option<String>,
    pub rate: Option<String>,
    pub currency: Option<String>,
}

impl Mapping {
    /// The keys a mapping names.
    pub const KEYS: [&'static str; 7] = [
        "caller", "called", "start", "seconds", "charge", "rate", "currency",
    ];

    /// `caller=src,called=dst,start=start,seconds=billsec,charge=cost[,currency=cur]`: every
    /// key once, `charge` or `rate`.
    pub fn parse(spec: &str) -> Result<Mapping, CdrError> {
        let bad = |why: String| CdrError::Mapping(why);
        let mut found: [Option<String>; 7] = Default::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                return Err(bad(format!("{part:?} is not key=column")));
            };
            let (k, v) = (k.trim().to_lowercase(), v.trim().to_lowercase());
            let Some(i) = Self::KEYS.iter().position(|x| *x == k) else {
                return Err(bad(format!(
                    "{k:?} is not one of {}",
                    Self::KEYS.join(", ")
                )));
            };
            if v.is_empty() || v.len() > 100 {
                return Err(bad(format!("{k}: a column name of 1 to 100 characters")));
            }
            if found[i].replace(v).is_some() {
                return Err(bad(format!("{k} is given twice")));
            }
        }
        let [caller, called, start, seconds, charge, rate, currency] = found;
        let need = |v: Option<String>, k: &str| v.ok_or_else(|| bad(format!("{k} is missing")));
        let m = Mapping {
            caller: need(caller, "caller")?,
            called: need(called, "called")?,
            start: need(start, "start")?,
            seconds: need(seconds, "seconds")?,
            charge,
            rate,
            currency,
        };
        match (&m.charge, &m.rate) {
            (None, None) => Err(bad("charge (or rate) is missing".into())),
            (Some(_), Some(_)) => Err(bad("give charge or rate, not both".into())),
            _ => Ok(m),
        }
    }

    /// The mapping as [`Mapping::parse`] reads it.
    pub fn spec(&self) -> String {
        let mut parts = vec![
            format!("caller={}", self.caller),
            format!("called={}", self.called),
            format!("start={}", self.start),
            format!("seconds={}", self.seconds),
        ];
        for (k, v) in [
            ("charge", &self.charge),
            ("rate", &self.rate),
            ("currency", &self.currency),
        ] {
            if let Some(v) = v {
                parts.push(format!("{k}={v}"));
            }
        }
        parts.join(",")
    }
}

/// How to read a file.
#[derive(Debug, Clone)]
pub struct Options {
    /// The carrier's own mapping, used when the header is not a preset's (or always, with
    /// [`Options::force_mapping`]).
    pub mapping: Option<Mapping>,
    pub force_mapping: bool,
    /// Seconds east of UTC of times written without an offset (Vietnam: 7 h).
    pub utc_offset: i32,
    /// The currency of a charge when the file names none.
    pub currency: String,
    /// Broken rows tolerated (reported) whatever the file's size; past them, a file whose
    /// broken rows are more than one in a hundred of the rows read so far is refused.
    pub max_broken: u64,
    /// The longest line read, in bytes: a file without line breaks is refused, not held.
    pub max_line: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mapping: None,
            force_mapping: false,
            utc_offset: 7 * 3600,
            currency: "VND".into(),
            max_broken: 1000,
            max_line: 64 * 1024,
        }
    }
}

/// Why a file was refused whole (nothing is recorded from it).
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum CdrError {
    #[error("tệp trống / the file is empty")]
    Empty,
    #[error(
        "tệp mã hóa UTF-16; hãy lưu lại dạng UTF-8 / the file is UTF-16: save it as UTF-8 (CSV UTF-8)"
    )]
    Utf16,
    #[error(
        "dòng {line}: không phải UTF-8 (TCVN3, VNI hay Windows-1258?); hãy lưu lại dạng UTF-8 / line {line}: not UTF-8 (TCVN3, VNI or Windows-1258?): save the file as UTF-8"
    )]
    Encoding { line: u64 },
    #[error(
        "dòng 1: thiếu cột {missing} (tiêu đề: {header}) / line 1: no column {missing} (the header is: {header})"
    )]
    MissingColumns { missing: String, header: String },
    #[error(
        "dòng 1: không nhận ra bố cục cột (tiêu đề: {header}); cần caller,called,start_time,duration,charge, tệp CDR của Asterisk, hoặc một ánh xạ cột / line 1: unknown layout (the header is: {header}); expected caller,called,start_time,duration,charge, Asterisk's CDR CSV, or a column mapping"
    )]
    UnknownLayout { header: String },
    #[error(
        "dòng {line}: dài quá {limit} byte, hoặc một dấu ngoặc kép chưa đóng / line {line}: longer than {limit} bytes, or a quote left open (is this a CSV file?)"
    )]
    LineTooLong { line: u64, limit: usize },
    #[error(
        "quá {limit} dòng hỏng và quá 1% số dòng (dòng {line}: {reason}) / more than {limit} broken rows, and more than 1 % of the rows (line {line}: {reason})"
    )]
    TooManyBroken {
        limit: u64,
        line: u64,
        reason: String,
    },
    #[error("dòng 1: cột {name} xuất hiện hai lần / line 1: the column {name} appears twice")]
    DuplicateColumn { name: String },
    #[error("ánh xạ cột không hợp lệ / bad column mapping: {0}")]
    Mapping(String),
    #[error("sổ đường dây nóng trống / the hotline register is empty")]
    NoHotlines,
    #[error("dòng {line}: {message} / line {line}: could not read the file: {message}")]
    Read { line: u64, message: String },
}

/// A row left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BrokenRow {
    pub line: u64,
    pub reason: String,
}

/// The figures of one file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CdrReport {
    /// `generic`, `asterisk`, `custom`.
    pub layout: String,
    pub bytes: u64,
    #[serde(serialize_with = "hex32")]
    pub sha256: [u8; 32],
    /// Data rows (lines after the header, blank lines not counted).
    pub rows: u64,
    /// Rows read whole (calls checked).
    pub checked: u64,
    pub broken: u64,
    /// The first broken rows.
    pub broken_rows: Vec<BrokenRow>,
    /// Calls whose called number is not a telephone number (an extension such as `s`, a
    /// `tel:` URI, a number with `#`): checked, and never a hotline's.
    pub unreadable_numbers: u64,
    /// Broken rows whose called number is a hotline's (their charge unknown).
    pub broken_to_hotlines: u64,
    /// Calls to a registered hotline, any day.
    pub hotline_calls: u64,
    /// Of those, calls outside the hotline's free period.
    pub outside_free_period: u64,
    /// Calls to a hotline charged inside its free period.
    pub charged: u64,
    /// What those calls were charged, per currency, in ten-thousandths.
    pub wrongly_charged: Vec<(String, Amount)>,
    /// Per hotline, in the register's order.
    pub hotlines: Vec<HotlineCheck>,
    /// The first calls charged in a free period (callers masked).
    pub offending: Vec<OffendingCall>,
    pub first_day: Option<Day>,
    pub last_day: Option<Day>,
}

fn hex32<S: serde::Serializer>(b: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex(b))
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl CdrReport {
    /// The report as the evidence kept in the carrier's document.
    pub fn to_verification(
        &self,
        carrier: &str,
        file_name: &str,
        uploaded_by: &str,
        at: i64,
    ) -> Verification {
        Verification {
            carrier: carrier.to_string(),
            file_name: file_name.chars().take(200).collect(),
            size: self.bytes,
            sha256: self.sha256,
            layout: self.layout.chars().take(200).collect(),
            rows: self.rows,
            checked: self.checked,
            broken: self.broken,
            first_day: self.first_day,
            last_day: self.last_day,
            hotlines: self.hotlines.clone(),
            offending: self.offending.clone(),
            uploaded_by: uploaded_by.to_string(),
            at,
        }
    }
}

/// An amount as written: `1500`, `1500.5`, `0.0001`.
pub fn format_amount(a: Amount) -> String {
    let sign = if a < 0 { "-" } else { "" };
    let a = a.unsigned_abs();
    let (units, frac) = (a / 10_000, a % 10_000);
    if frac == 0 {
        format!("{sign}{units}")
    } else {
        let f = format!("{frac:04}");
        format!("{sign}{units}.{}", f.trim_end_matches('0'))
    }
}

/// The column indices of a layout.
#[derive(Debug, Clone, Copy)]
struct Columns {
    caller: usize,
    called: usize,
    start: usize,
    seconds: usize,
    charge: Charge,
    currency: Option<usize>,
    /// The fewest fields a row must have.
    width: usize,
}

#[derive(Debug, Clone, Copy)]
enum Charge {
    Amount(usize),
    /// A rate per minute, charged per billed second.
    Rate(usize),
}

const GENERIC: [&str; 5] = ["caller", "called", "start_time", "duration", "charge"];
const ASTERISK: [&str; 4] = ["src", "dst", "start", "billsec"];

fn find(header: &[String], name: &str) -> Option<usize> {
    header.iter().position(|h| h == name)
}

/// The columns `names` each once in `header`: a second `charge` could hold what the first
/// hides.
fn once(header: &[String], names: &[&str]) -> Result<(), CdrError> {
    match names
        .iter()
        .find(|n| header.iter().filter(|h| h == *n).count() > 1)
    {
        Some(n) => Err(CdrError::DuplicateColumn {
            name: (*n).to_string(),
        }),
        None => Ok(()),
    }
}

/// The columns of mapping `m` in `header`.
fn mapped(m: &Mapping, header: &[String]) -> Result<Columns, CdrError> {
    let shown = header.join(",");
    let col = |name: &str| {
        find(header, name).ok_or_else(|| CdrError::MissingColumns {
            missing: name.to_string(),
            header: shown.clone(),
        })
    };
    let charge = match (&m.charge, &m.rate) {
        (Some(c), _) => Charge::Amount(col(c)?),
        (None, Some(r)) => Charge::Rate(col(r)?),
        (None, None) => return Err(CdrError::Mapping("charge (or rate) is missing".into())),
    };
    let currency = m.currency.as_deref().map(col).transpose()?;
    let used: Vec<&str> = [&m.caller, &m.called, &m.start, &m.seconds]
        .into_iter()
        .chain(m.charge.iter())
        .chain(m.rate.iter())
        .chain(m.currency.iter())
        .map(String::as_str)
        .collect();
    once(header, &used)?;
    columns(
        col(&m.caller)?,
        col(&m.called)?,
        col(&m.start)?,
        col(&m.seconds)?,
        charge,
        currency,
    )
}

fn columns(
    caller: usize,
    called: usize,
    start: usize,
    seconds: usize,
    charge: Charge,
    currency: Option<usize>,
) -> Result<Columns, CdrError> {
    let c = match charge {
        Charge::Amount(i) | Charge::Rate(i) => i,
    };
    let width = [caller, called, start, seconds, c, currency.unwrap_or(0)]
        .into_iter()
        .max()
        .unwrap_or(0)
        + 1;
    Ok(Columns {
        caller,
        called,
        start,
        seconds,
        charge,
        currency,
        width,
    })
}

/// The layout of a file from its first record: `(name, columns, whether the first record
/// is a header)`.
fn layout_of(first: &csv::ByteRecord, opts: &Options) -> Result<(String, Columns, bool), CdrError> {
    let header: Vec<String> = first
        .iter()
        .map(|f| {
            String::from_utf8_lossy(f)
                .trim_start_matches('\u{feff}')
                .trim()
                .to_lowercase()
        })
        .collect();
    let shown: String = header.join(",").chars().take(300).collect();
    if let (Some(m), true) = (&opts.mapping, opts.force_mapping) {
        return Ok((format!("custom: {}", m.spec()), mapped(m, &header)?, true));
    }
    if GENERIC.iter().all(|n| find(&header, n).is_some()) {
        once(&header, &GENERIC)?;
        once(&header, &["currency"])?;
        let at = |n| find(&header, n).unwrap_or(0);
        let cols = columns(
            at("caller"),
            at("called"),
            at("start_time"),
            at("duration"),
            Charge::Amount(at("charge")),
            find(&header, "currency"),
        )?;
        return Ok(("generic".into(), cols, true));
    }
    if ASTERISK.iter().all(|n| find(&header, n).is_some()) {
        once(&header, &ASTERISK)?;
        once(&header, &["userfield"])?;
        let at = |n| find(&header, n).unwrap_or(0);
        let Some(charge) = find(&header, "userfield") else {
            return Err(CdrError::MissingColumns {
                missing: "userfield (the charge)".into(),
                header: shown,
            });
        };
        let cols = columns(
            at("src"),
            at("dst"),
            at("start"),
            at("billsec"),
            Charge::Amount(charge),
            None,
        )?;
        return Ok(("asterisk".into(), cols, true));
    }
    // Asterisk's Master.csv has no header: accountcode, src, dst, dcontext, clid, channel,
    // dstchannel, lastapp, lastdata, start, answer, end, duration, billsec, disposition,
    // amaflags, then uniqueid and userfield when logged.
    if (16..=18).contains(&first.len())
        && first.get(9).is_some_and(|f| parse_time(f, 0).is_some())
        && first.get(13).is_some_and(|f| parse_seconds(f).is_some())
    {
        let charge = match first.len() {
            18 => 17,
            17 => 16,
            _ => {
                return Err(CdrError::MissingColumns {
                    missing: "userfield (the charge)".into(),
                    header: "(Asterisk Master.csv without a header)".into(),
                });
            }
        };
        let cols = columns(1, 2, 9, 13, Charge::Amount(charge), None)?;
        return Ok(("asterisk".into(), cols, false));
    }
    match &opts.mapping {
        Some(m) => Ok((format!("custom: {}", m.spec()), mapped(m, &header)?, true)),
        None => Err(CdrError::UnknownLayout { header: shown }),
    }
}

/// A reader that hashes, counts and bounds the lines of what passes through it.
struct Tap<R> {
    inner: R,
    hash: Sha256,
    bytes: u64,
    /// Bytes since the last line break outside quotes: the record being read.
    run: usize,
    max_line: usize,
    too_long: bool,
    /// Inside a quoted field (every `"` toggles it; an escaped `""` toggles it twice).
    quoted: bool,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let chunk = &buf[..n];
        self.hash.update(chunk);
        self.bytes += n as u64;
        if self.quoted || chunk.contains(&b'"') {
            // A quoted field may hold line breaks: csv keeps the whole record in memory, so
            // the bound is on the record, counted byte by byte where quotes are.
            for &b in chunk {
                match b {
                    b'"' => self.quoted = !self.quoted,
                    b'\n' if !self.quoted => {
                        self.run = 0;
                        continue;
                    }
                    _ => {}
                }
                self.run += 1;
                if self.run > self.max_line {
                    self.too_long = true;
                    return Err(io::Error::other("line too long"));
                }
            }
            return Ok(n);
        }
        // A record ends at `\n` (the reader's terminator); a chunk is never longer than the
        // longest line (the reader's buffer), so checking the run into each chunk's first
        // break and out of its last one bounds every line.
        let brk = |b: &u8| *b == b'\n';
        match chunk.iter().rposition(brk) {
            Some(p) => {
                // The run before the chunk's first line break must fit too.
                let first = chunk.iter().position(brk).unwrap_or(p);
                if self.run + first > self.max_line {
                    self.too_long = true;
                }
                self.run = n - p - 1;
            }
            None => self.run += n,
        }
        if self.too_long || self.run > self.max_line {
            self.too_long = true;
            return Err(io::Error::other("line too long"));
        }
        Ok(n)
    }
}

/// Seconds since the Unix epoch of `2020-02-03 08:15:00` (also with `T`, fractions, `Z` or
/// `+07:00`), local at `offset` seconds east of UTC when no offset is written; or of a plain
/// Unix time (`1580692500`).
pub fn parse_time(f: &[u8], offset: i32) -> Option<i64> {
    let f = f.trim_ascii();
    if !f.is_empty() && f.len() <= 12 && f.iter().all(u8::is_ascii_digit) {
        // Unix seconds of 2000 to 2100 only: `20200203` is a date written without dashes,
        // not a day of 1970.
        let at: i64 = std::str::from_utf8(f).ok()?.parse().ok()?;
        return (946_684_800..=4_133_980_799).contains(&at).then_some(at);
    }
    if f.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let mut v = 0u32;
        for &b in f.get(r)? {
            if !b.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(b - b'0');
        }
        Some(v)
    };
    if f[4] != b'-' || f[7] != b'-' || !matches!(f[10], b' ' | b'T') || f[13] != b':' {
        return None;
    }
    if f[16] != b':' {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let (h, m, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    let mut rest = &f[19..];
    if let [b'.' | b',', tail @ ..] = rest {
        let digits = tail.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        rest = &tail[digits..];
    }
    let zone = match rest {
        [] => offset,
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), ..] => {
            let digits: Vec<u8> = rest[1..].iter().copied().filter(|b| *b != b':').collect();
            if digits.len() != 4 || rest.len() > 6 || !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let hh = i32::from(digits[0] - b'0') * 10 + i32::from(digits[1] - b'0');
            let mm = i32::from(digits[2] - b'0') * 10 + i32::from(digits[3] - b'0');
            if hh > 14 || mm > 59 {
                return None;
            }
            let z = hh * 3600 + mm * 60;
            if *sign == b'-' { -z } else { z }
        }
        _ => return None,
    };
    let days = i64::from(date.num_days_from_ce()) - EPOCH_DAYS;
    Some(days * 86_400 + i64::from(h * 3600 + m * 60 + s) - i64::from(zone))
}

/// Days from the common era (as [`Day`] counts them) of the Unix epoch.
const EPOCH_DAYS: i64 = 719_163;

/// The local day of Unix time `at`, `offset` seconds east of UTC.
pub fn day_of(at: i64, offset: i32) -> Day {
    let days = at.saturating_add(i64::from(offset)).div_euclid(86_400) + EPOCH_DAYS;
    Day(i32::try_from(days).unwrap_or(i32::MAX))
}

/// Whole non-negative seconds (`125`; `125.0` too).
fn parse_seconds(f: &[u8]) -> Option<u64> {
    let f = f.trim_ascii();
    let f = match f.iter().position(|b| *b == b'.') {
        Some(p) if f[p + 1..].iter().all(|b| *b == b'0') => &f[..p],
        Some(_) => return None,
        None => f,
    };
    if f.is_empty() || f.len() > 12 || !f.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(f).ok()?.parse().ok()
}

/// A non-negative decimal amount with at most four decimals, in ten-thousandths. An empty
/// field is broken: a call whose charge was never written (an Asterisk file no rating step
/// went through) proves nothing either way.
fn parse_amount(f: &[u8]) -> Result<Amount, &'static str> {
    let f = f.trim_ascii();
    if f.is_empty() {
        return Err("no charge written");
    }
    if f[0] == b'-' {
        return Err("a negative charge");
    }
    let (units, frac) = match f.iter().position(|b| *b == b'.') {
        Some(p) => (&f[..p], &f[p + 1..]),
        None => (f, &f[f.len()..]),
    };
    if units.is_empty() && frac.is_empty() {
        return Err("a charge that is not a number");
    }
    if units.len() > 14 || !units.iter().all(u8::is_ascii_digit) {
        return Err("a charge that is not a number");
    }
    if frac.len() > 4 || !frac.iter().all(u8::is_ascii_digit) {
        return Err("a charge with more than four decimals");
    }
    let mut v: i64 = 0;
    for &b in units {
        v = v * 10 + i64::from(b - b'0');
    }
    for i in 0..4 {
        v = v * 10 + frac.get(i).map_or(0, |b| i64::from(b - b'0'));
    }
    Ok(v)
}

/// The caller with all but its last three characters masked.
fn mask(caller: &[u8]) -> String {
    let s = String::from_utf8_lossy(caller.trim_ascii());
    let chars: Vec<char> = s.chars().collect();
    let keep = chars.len().min(3);
    let masked = chars.len() - keep;
    "*".repeat(masked.min(20)) + &chars[masked..].iter().collect::<String>()
}

struct Tally {
    check: HotlineCheck,
    digits: Vec<u8>,
    free_from: Day,
    free_until: Option<Day>,
}

fn add_amount(list: &mut Vec<(String, Amount)>, currency: &[u8], amount: Amount) {
    let full = list.len() >= MAX_CURRENCIES;
    match list.iter_mut().find(|(c, _)| c.as_bytes() == currency) {
        Some((_, total)) => *total = total.saturating_add(amount),
        None if !full => list.push((String::from_utf8_lossy(currency).into_owned(), amount)),
        // More currencies than kept: counted under the last one's name would be wrong, so
        // under a name that says so.
        None => {
            if let Some((c, total)) = list.last_mut() {
                *c = "(other)".into();
                *total = total.saturating_add(amount);
            }
        }
    }
}

/// Read call records from `input` against `hotlines` (at most [`MAX_HOTLINES`]). A file is
/// refused whole (and nothing recorded) when its layout is unknown, it is not UTF-8, a line
/// is longer than [`Options::max_line`], or more than [`Options::max_broken`] rows are
/// broken; fewer broken rows are reported with their line numbers.
pub fn verify<R: Read>(
    input: R,
    hotlines: &[RegisteredHotline],
    opts: &Options,
) -> Result<CdrReport, CdrError> {
    if hotlines.is_empty() {
        return Err(CdrError::NoHotlines);
    }
    let mut tallies: Vec<Tally> = Vec::new();
    for h in hotlines.iter().take(MAX_HOTLINES) {
        let mut buf = [0u8; NUMBER_DIGITS];
        let Some(d) = national(h.number.as_bytes(), &mut buf) else {
            continue;
        };
        tallies.push(Tally {
            check: HotlineCheck {
                hotline: h.number.clone(),
                calls: 0,
                in_free_period: 0,
                charged: 0,
                first_charged: None,
                last_charged: None,
                wrongly_charged: Vec::new(),
            },
            digits: d.to_vec(),
            free_from: h.free_from,
            free_until: h.free_until,
        });
    }
    let tap = Tap {
        inner: input,
        hash: Sha256::new(),
        bytes: 0,
        run: 0,
        max_line: opts.max_line,
        too_long: false,
        quoted: false,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        // Never more than the longest line (see `Tap`).
        .buffer_capacity(opts.max_line.clamp(1, 64 * 1024))
        // Records end at `\n` only (a `\r` before it is trimmed with the field), so that
        // line numbers are an editor's: csv's CRLF terminator counts a Windows file's
        // lines wrong.
        .terminator(csv::Terminator::Any(b'\n'))
        .from_reader(tap);
    let mut record = csv::ByteRecord::new();
    let mut last_line = 0u64;
    let read_error = |e: csv::Error, line: u64, tap: &Tap<R>| -> CdrError {
        if tap.too_long {
            return CdrError::LineTooLong {
                line: line + 1,
                limit: opts.max_line,
            };
        }
        let line = e.position().map_or(line + 1, |p| p.line());
        match e.into_kind() {
            csv::ErrorKind::Io(io) => CdrError::Read {
                line,
                message: io.to_string(),
            },
            other => CdrError::Read {
                line,
                message: format!("{other:?}"),
            },
        }
    };
    // The first record: the header (or, for Asterisk's Master.csv, the first call).
    let first = match reader.read_byte_record(&mut record) {
        Ok(true) => record.clone(),
        Ok(false) => return Err(CdrError::Empty),
        Err(e) => return Err(read_error(e, 0, reader.get_ref())),
    };
    if first.as_slice().starts_with(&[0xff, 0xfe]) || first.as_slice().starts_with(&[0xfe, 0xff]) {
        return Err(CdrError::Utf16);
    }
    if std::str::from_utf8(first.as_slice()).is_err() {
        return Err(CdrError::Encoding { line: 1 });
    }
    let (layout, cols, header) = layout_of(&first, opts)?;
    let mut report = CdrReport {
        layout,
        bytes: 0,
        sha256: [0; 32],
        rows: 0,
        checked: 0,
        broken: 0,
        broken_rows: Vec::new(),
        unreadable_numbers: 0,
        broken_to_hotlines: 0,
        hotline_calls: 0,
        outside_free_period: 0,
        charged: 0,
        wrongly_charged: Vec::new(),
        hotlines: Vec::new(),
        offending: Vec::new(),
        first_day: None,
        last_day: None,
    };
    let mut pending_first = !header;
    if header {
        last_line = 1;
    }
    let default_currency = opts.currency.as_bytes().to_vec();
    loop {
        let line = if pending_first {
            pending_first = false;
            record = first.clone();
            1
        } else {
            match reader.read_byte_record(&mut record) {
                Ok(true) => record.position().map_or(last_line + 1, |p| p.line()),
                Ok(false) => break,
                Err(e) => return Err(read_error(e, last_line, reader.get_ref())),
            }
        };
        last_line = line;
        // A blank line (a trailing one, mostly) is no row.
        if record.len() == 1 && record.get(0).is_some_and(|f| f.trim_ascii().is_empty()) {
            continue;
        }
        if std::str::from_utf8(record.as_slice()).is_err() {
            return Err(CdrError::Encoding { line });
        }
        report.rows += 1;
        match check_row(&record, &cols, opts.utc_offset) {
            Err(reason) => {
                report.broken += 1;
                // A broken row to a hotline hides a call that may have been charged: counted.
                let mut buf = [0u8; NUMBER_DIGITS];
                let to_hotline = record
                    .get(cols.called)
                    .and_then(|f| national(f.trim_ascii(), &mut buf))
                    .is_some_and(|d| tallies.iter().any(|t| t.digits == d));
                if to_hotline {
                    report.broken_to_hotlines += 1;
                }
                if report.broken > opts.max_broken && report.broken * 100 > report.rows {
                    return Err(CdrError::TooManyBroken {
                        limit: opts.max_broken,
                        line,
                        reason: reason.to_string(),
                    });
                }
                if report.broken_rows.len() < MAX_OFFENDING {
                    report.broken_rows.push(BrokenRow {
                        line,
                        reason: reason.to_string(),
                    });
                }
            }
            Ok(call) => {
                report.checked += 1;
                let day = day_of(call.start, opts.utc_offset);
                report.first_day = Some(report.first_day.map_or(day, |d| d.min(day)));
                report.last_day = Some(report.last_day.map_or(day, |d| d.max(day)));
                let mut buf = [0u8; NUMBER_DIGITS];
                let Some(called) = national(call.called, &mut buf) else {
                    report.unreadable_numbers += 1;
                    continue;
                };
                let Some(t) = tallies.iter_mut().find(|t| t.digits == called) else {
                    continue;
                };
                report.hotline_calls += 1;
                t.check.calls += 1;
                if day < t.free_from || t.free_until.is_some_and(|u| day > u) {
                    report.outside_free_period += 1;
                    continue;
                }
                t.check.in_free_period += 1;
                if call.charge <= 0 {
                    continue;
                }
                report.charged += 1;
                t.check.charged += 1;
                t.check.first_charged = Some(t.check.first_charged.map_or(day, |d| d.min(day)));
                t.check.last_charged = Some(t.check.last_charged.map_or(day, |d| d.max(day)));
                let currency = match call.currency {
                    Some(c) if !c.is_empty() => c,
                    _ => &default_currency,
                };
                add_amount(&mut t.check.wrongly_charged, currency, call.charge);
                add_amount(&mut report.wrongly_charged, currency, call.charge);
                if report.offending.len() < MAX_OFFENDING {
                    report.offending.push(OffendingCall {
                        line,
                        caller: mask(call.caller),
                        hotline: t.check.hotline.clone(),
                        start: call.start,
                        seconds: call.seconds,
                        charge: call.charge,
                        currency: String::from_utf8_lossy(currency).chars().take(16).collect(),
                    });
                }
            }
        }
    }
    let tap = reader.into_inner();
    report.bytes = tap.bytes;
    report.sha256 = tap.hash.finalize().into();
    report.hotlines = tallies.into_iter().map(|t| t.check).collect();
    Ok(report)
}

struct Call<'r> {
    caller: &'r [u8],
    called: &'r [u8],
    start: i64,
    seconds: u64,
    charge: Amount,
    currency: Option<&'r [u8]>,
}

fn check_row<'r>(
    r: &'r csv::ByteRecord,
    cols: &Columns,
    offset: i32,
) -> Result<Call<'r>, &'static str> {
    if r.len() < cols.width {
        return Err("too few fields");
    }
    let field = |i: usize| r.get(i).unwrap_or_default();
    let called = field(cols.called);
    if called.trim_ascii().is_empty() {
        return Err("no called number");
    }
    let start = parse_time(field(cols.start), offset).ok_or("a start time that is not a time")?;
    let seconds = parse_seconds(field(cols.seconds)).ok_or("seconds that are not a number")?;
    let charge = match cols.charge {
        Charge::Amount(i) => parse_amount(field(i))?,
        Charge::Rate(i) => {
            let rate = parse_amount(field(i))?;
            // A rate per minute over the billed seconds, rounded up to the ten-thousandth.
            let total = i128::from(rate) * i128::from(seconds);
            i64::try_from((total + 59) / 60).map_err(|_| "a charge out of range")?
        }
    };
    Ok(Call {
        caller: field(cols.caller),
        called: called.trim_ascii(),
        start,
        seconds,
        charge,
        currency: match cols.currency.map(|i| field(i).trim_ascii()) {
            // A currency is a code (`VND`, `USD`): at most 16 letters or digits.
            Some(c) if c.len() > 16 || !c.iter().all(u8::is_ascii_alphanumeric) => {
                return Err("a currency that is not a code");
            }
            other => other,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> Day {
        Day::from_date(NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default())
    }

    fn register() -> Vec<RegisteredHotline> {
        vec![
            RegisteredHotline {
                number: "19003228".into(),
                free_from: day(2020, 2, 1),
                free_until: None,
            },
            RegisteredHotline {
                number: "19009095".into(),
                free_from: day(2020, 2, 1),
                free_until: Some(day(2020, 6, 30)),
            },
        ]
    }

    fn run(text: &str) -> Result<CdrReport, CdrError> {
        verify(text.as_bytes(), &register(), &Options::default())
    }

    #[test]
    fn times_are_read_in_every_written_form() {
        let hanoi = 7 * 3600;
        let at = Some(1_580_692_500); // 2020-02-03 01:15:00 UTC
        assert_eq!(parse_time(b"2020-02-03 08:15:00", hanoi), at);
        assert_eq!(parse_time(b"2020-02-03T08:15:00.250", hanoi), at);
        assert_eq!(parse_time(b"2020-02-03T01:15:00Z", hanoi), at);
        assert_eq!(parse_time(b"2020-02-03 08:15:00+07:00", 0), at);
        assert_eq!(parse_time(b"2020-02-03 03:15:00+0200", 0), at);
        assert_eq!(parse_time(b"1580692500", hanoi), at);
        for bad in [
            &b"2020-02-30 08:15:00"[..],
            b"2020-02-03 24:15:00",
            b"2020/02/03 08:15:00",
            b"yesterday",
            b"",
            b"2020-02-03 08:15:00+25:00",
            b"2020-02-03 08:15:00 junk",
        ] {
            assert_eq!(
                parse_time(bad, hanoi),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn amounts_are_exact() {
        assert_eq!(parse_amount(b"1500"), Ok(15_000_000));
        assert_eq!(parse_amount(b" 0.25 "), Ok(2_500));
        assert!(parse_amount(b"").is_err());
        assert_eq!(parse_amount(b"0.00"), Ok(0));
        assert!(parse_amount(b"-5").is_err());
        assert!(parse_amount(b"1,5").is_err());
        assert!(parse_amount(b"0.00001").is_err());
        assert!(parse_amount(b"99999999999999999").is_err());
        assert_eq!(format_amount(15_000_000), "1500");
        assert_eq!(format_amount(2_500), "0.25");
    }

    #[test]
    fn a_generic_file_is_read_and_counted() -> Result<(), CdrError> {
        let r = run("caller,called,start_time,duration,charge\n\
             0912345678,1900 9095,2020-02-03 08:15:00,60,0\n\
             0912345679,+84 1900 9095,2020-02-04 09:00:00,120,1500\n\
             0912345680,19003228,2020-01-31 23:59:59,30,800\n\
             0912345681,0243822,2020-02-04 09:00:00,30,800\n\
             0912345682,19009095,2020-07-01 00:00:00,30,800\n\
             0912345683,19009095,2020-06-30 23:59:59,30,700\n\
             0912345684,190090951,2020-02-04 09:00:00,30,800\n\
             0912345685,tel:19009095,2020-02-04 09:00:00,30,800\n\
             broken,19009095,not a time,30,0\n\
             0912345686,19003228,2020-02-01 00:00:00,30,\n\
             \n")?;
        assert_eq!(r.layout, "generic");
        assert_eq!((r.rows, r.checked, r.broken), (10, 8, 2));
        assert_eq!(r.broken_rows[0].line, 10);
        assert_eq!(r.broken_rows[1].reason, "no charge written");
        assert_eq!(r.unreadable_numbers, 1, "tel:…");
        assert_eq!(r.hotline_calls, 5, "not 190090951 nor tel:…");
        assert_eq!(r.outside_free_period, 2, "before 1 February, after 30 June");
        assert_eq!(r.charged, 2, "30 June 23:59:59 is inside");
        assert_eq!(r.wrongly_charged, vec![("VND".to_string(), 22_000_000)]);
        assert_eq!(r.offending[0].line, 3);
        assert_eq!(r.offending[0].caller, "*******679");
        assert_eq!(r.hotlines[1].charged, 2);
        assert_eq!(r.hotlines[1].first_charged, Some(day(2020, 2, 4)));
        assert_eq!(r.hotlines[1].last_charged, Some(day(2020, 6, 30)));
        assert_eq!(r.first_day, Some(day(2020, 1, 31)));
        Ok(())
    }

    #[test]
    fn asterisk_files_are_read_with_or_without_a_header() -> Result<(), CdrError> {
        let row = "\"\",\"0912345678\",\"19009095\",\"from-internal\",\"\",\"SIP/1\",\"SIP/2\",\"Dial\",\"\",\"2020-02-05 10:00:00\",\"2020-02-05 10:00:05\",\"2020-02-05 10:02:05\",125,120,\"ANSWERED\",\"DOCUMENTATION\",\"1580871600.1\",\"2000\"";
        let r = run(&format!("{row}\n{row}\n"))?;
        assert_eq!((r.layout.as_str(), r.rows, r.charged), ("asterisk", 2, 2));
        let header = "accountcode,src,dst,dcontext,clid,channel,dstchannel,lastapp,lastdata,start,answer,end,duration,billsec,disposition,amaflags,uniqueid,userfield";
        let r = run(&format!("{header}\n{row}\n"))?;
        assert_eq!((r.layout.as_str(), r.rows, r.charged), ("asterisk", 1, 1));
        Ok(())
    }

    #[test]
    fn bad_files_are_refused_with_their_line() {
        assert_eq!(run(""), Err(CdrError::Empty));
        assert!(matches!(
            run("a,b,c\n1,2,3\n"),
            Err(CdrError::UnknownLayout { .. })
        ));
        let latin = b"caller,called,start_time,duration,charge\n0912,19009095,2020-02-03 08:15:00,60,0\n\xe0,1,2020-02-03 08:15:00,1,0\n";
        assert_eq!(
            verify(&latin[..], &register(), &Options::default()),
            Err(CdrError::Encoding { line: 3 })
        );
        assert_eq!(
            verify(&b"\xff\xfec\x00a\x00"[..], &register(), &Options::default()),
            Err(CdrError::Utf16)
        );
        let long = format!(
            "caller,called,start_time,duration,charge\n{}",
            "9".repeat(100_000)
        );
        let refused = run(&long);
        assert!(
            matches!(refused, Err(CdrError::LineTooLong { line: 2, .. })),
            "{refused:?}"
        );
        let opts = Options {
            max_broken: 2,
            ..Options::default()
        };
        let many = "caller,called,start_time,duration,charge\nx\nx\nx\n";
        assert!(matches!(
            verify(many.as_bytes(), &register(), &opts),
            Err(CdrError::TooManyBroken { line: 4, .. })
        ));
    }

    /// Line numbers are the file's, with Windows line ends and blank lines too.
    #[test]
    fn lines_are_counted_as_an_editor_counts_them() -> Result<(), CdrError> {
        let text = "caller,called,start_time,duration,charge\r\n\
                    0912,19009095,2020-02-03 08:15:00,60,0\r\n\
                    \r\n\
                    broken\r\n\
                    0912,19009095,2020-02-03 08:15:00,60,100\r\n";
        let r = run(text)?;
        assert_eq!(r.broken_rows[0].line, 4, "{:?}", r.broken_rows);
        assert_eq!(r.offending[0].line, 5);
        Ok(())
    }

    /// A quote left open would make csv hold every following line as one field: the record
    /// is bounded as a line is.
    #[test]
    fn an_open_quote_is_refused_not_held() {
        let text = format!(
            "caller,called,start_time,duration,charge\n\"{}",
            "0912,19009095,2020-02-03 08:15:00,60,0\n".repeat(5_000)
        );
        let refused = run(&text);
        assert!(
            matches!(refused, Err(CdrError::LineTooLong { line: 2, .. })),
            "{refused:?}"
        );
    }

    #[test]
    fn doubtful_rows_are_not_taken_as_free_calls() -> Result<(), CdrError> {
        let r = run("caller,called,start_time,duration,charge,currency\n\
             0912,19009095,20200203,60,1500,VND\n\
             0912,19009095,202002030815,60,1500,VND\n\
             0912,19009095,2020-02-03 08:15:00,60,1500,VND\x01\n\
             0912,19009095,2020-02-03 08:15:00,60,,VND\n\
             0912,19009095,2020-02-03 08:15:00,60,1500,VND\n")?;
        assert_eq!((r.broken, r.broken_to_hotlines, r.charged), (4, 4, 1));
        assert_eq!(
            run("caller,called,start_time,duration,charge,charge\n1,2,3,4,5,6\n"),
            Err(CdrError::DuplicateColumn {
                name: "charge".into()
            })
        );
        Ok(())
    }

    #[test]
    fn a_mapping_reads_a_carriers_own_columns() -> Result<(), CdrError> {
        let m = Mapping::parse(
            "caller=a_number, called=b_number,start=began,seconds=billed,rate=per_minute,currency=cur",
        )?;
        assert_eq!(Mapping::parse(&m.spec())?, m);
        let opts = Options {
            mapping: Some(m),
            ..Options::default()
        };
        let text = "A_Number,B_Number,Began,Billed,Per_Minute,Cur\n0912,19009095,2020-02-03 08:15:00,90,1000,VND\n";
        let r = verify(text.as_bytes(), &register(), &opts)?;
        assert!(
            r.layout.starts_with("custom: caller=a_number"),
            "{}",
            r.layout
        );
        assert_eq!(r.wrongly_charged, vec![("VND".to_string(), 15_000_000)]);
        for bad in [
            "caller=a",
            "caller=a,called=b,start=c,seconds=d",
            "x=y",
            "caller=a,caller=b",
        ] {
            assert!(Mapping::parse(bad).is_err(), "{bad}");
        }
        Ok(())
    }
}
