//! A call-record verification (issue 23, decision 46): what the server found when it read a
//! carrier's call detail records against the hotline register, kept in the carrier's unit
//! document as evidence. Made only by the server (`Author::Verifier`): a phone may carry it,
//! never make it, so a clean result cannot be forged from a handset.
//!
//! A verification contradicts a carrier's confirmation of a hotline when it found calls to
//! that hotline charged inside the hotline's free period, on or after the day the carrier
//! said the calls became free ([`contradicts`]). Confirming again from a later day (after
//! the last charged call) is how a carrier answers a contradiction; the proof stays.

use serde::{Deserialize, Serialize};

use super::{
    error::DocError,
    ops::{Confirmation, Day, short},
};

/// The most hotlines one verification lists.
pub const MAX_HOTLINES: usize = 64;
/// The most offending calls one verification keeps (the first ones in the file).
pub const MAX_OFFENDING: usize = 20;
/// The most currencies a hotline's wrongly charged total lists.
pub const MAX_CURRENCIES: usize = 8;

/// An amount of money in ten-thousandths of the currency's unit (`15000000` is 1 500 VND):
/// exact for the decimal charges billing systems write.
pub type Amount = i64;

/// What a verification found for one registered hotline.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HotlineCheck {
    /// The hotline's number as registered (`19009095`).
    pub hotline: String,
    /// Calls to it in the file.
    pub calls: u64,
    /// Of those, calls inside its free period.
    pub in_free_period: u64,
    /// Of those, calls charged (a charge above zero).
    pub charged: u64,
    /// The first and last day (local time) of a charged call in the free period.
    pub first_charged: Option<Day>,
    pub last_charged: Option<Day>,
    /// What those calls were charged, per currency (`VND`).
    pub wrongly_charged: Vec<(String, Amount)>,
}

/// One call charged in a hotline's free period, as the file has it (the caller masked).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OffendingCall {
    /// The line of the file (1 is the first line).
    pub line: u64,
    /// The caller with all but its last three digits masked (`*******123`).
    pub caller: String,
    pub hotline: String,
    /// Unix seconds.
    pub start: i64,
    pub seconds: u64,
    pub charge: Amount,
    pub currency: String,
}

/// The result of reading one call-record file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Verification {
    /// The carrier (unit id) whose records these are.
    pub carrier: String,
    pub file_name: String,
    pub size: u64,
    pub sha256: [u8; 32],
    /// The column layout read (`generic`, `asterisk`, `custom`).
    pub layout: String,
    /// Data rows read, rows checked (well formed), rows refused as broken.
    pub rows: u64,
    pub checked: u64,
    pub broken: u64,
    /// The first and last day of a call in the file (local time).
    pub first_day: Option<Day>,
    pub last_day: Option<Day>,
    /// One entry per registered hotline, in the register's order.
    pub hotlines: Vec<HotlineCheck>,
    /// The first calls charged in a free period.
    pub offending: Vec<OffendingCall>,
    /// Who uploaded the file (an account's user name).
    pub uploaded_by: String,
    /// Unix seconds.
    pub at: i64,
}

impl Verification {
    /// Calls charged in a free period, over every hotline.
    pub fn charged(&self) -> u64 {
        self.hotlines.iter().map(|h| h.charged).sum()
    }

    /// The check of `hotline` (compared as national numbers).
    pub fn check_of(&self, hotline: &str) -> Option<&HotlineCheck> {
        check_of(&self.hotlines, hotline)
    }

    /// The limits every copy of a verification keeps (`Op::validate`).
    pub(super) fn validate(&self) -> Result<(), DocError> {
        for (field, s) in [
            ("carrier", &self.carrier),
            ("file name", &self.file_name),
            ("layout", &self.layout),
            ("uploaded by", &self.uploaded_by),
        ] {
            short(field, s)?;
        }
        if self.hotlines.len() > MAX_HOTLINES {
            return Err(DocError::TooLong {
                field: "verified hotlines",
                limit: MAX_HOTLINES,
            });
        }
        if self.offending.len() > MAX_OFFENDING {
            return Err(DocError::TooLong {
                field: "offending calls",
                limit: MAX_OFFENDING,
            });
        }
        for h in &self.hotlines {
            short("hotline", &h.hotline)?;
            if h.wrongly_charged.len() > MAX_CURRENCIES {
                return Err(DocError::TooLong {
                    field: "currencies",
                    limit: MAX_CURRENCIES,
                });
            }
            for (c, _) in &h.wrongly_charged {
                short("currency", c)?;
            }
        }
        for o in &self.offending {
            short("caller", &o.caller)?;
            short("hotline", &o.hotline)?;
            short("currency", &o.currency)?;
        }
        if self.carrier.trim().is_empty() {
            return Err(DocError::Invalid("a verification names its carrier"));
        }
        Ok(())
    }
}

/// The digits of a number without separators and the `+84` / `0084` / `0` prefixes
/// (`+84 1900 9095`, `1900.9095`, `019009095` are all `19009095`); `None` when it holds
/// anything but digits, separators (space, `.`, `-`, `(`, `)`, `/`) and one leading `+`, or
/// another country's `+` prefix.
pub fn national_digits(raw: &str) -> Option<String> {
    let mut buf = [0u8; NUMBER_DIGITS];
    national(raw.as_bytes(), &mut buf).map(|d| String::from_utf8_lossy(d).into_owned())
}

/// The most digits a number may have (ITU-T E.164 allows 15; room for prefixes).
pub const NUMBER_DIGITS: usize = 24;

/// [`national_digits`] into `buf`, without allocating: what a call-record reader calls once
/// per row.
pub fn national<'b>(raw: &[u8], buf: &'b mut [u8; NUMBER_DIGITS]) -> Option<&'b [u8]> {
    let mut n = 0;
    let mut plus = false;
    for (i, &b) in raw.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                if n == NUMBER_DIGITS {
                    return None;
                }
                buf[n] = b;
                n += 1;
            }
            b' ' | b'.' | b'-' | b'(' | b')' | b'/' | b'\t' => {}
            b'+' if n == 0 && !plus && raw[..i].iter().all(|c| *c == b' ') => plus = true,
            _ => return None,
        }
    }
    let digits = &buf[..n];
    let rest = if plus {
        // Only Vietnam's country code is a national number here.
        digits.strip_prefix(b"84")?
    } else if let Some(r) = digits.strip_prefix(b"0084") {
        r
    } else if digits.len() >= 10 && digits.starts_with(b"84") {
        // `84` and a national number of eight or more digits (a hotline's 1900 xxxx, a
        // mobile's nine digits) without the `+`.
        &digits[2..]
    } else {
        digits
    };
    let start = rest.iter().take_while(|d| **d == b'0').count();
    let national = &rest[start..];
    if national.is_empty() {
        return None;
    }
    let offset = n - national.len();
    Some(&buf[offset..n])
}

/// Whether `v` contradicts confirmation `c`, both of one carrier's document (the document
/// says whose they are, not the text a phone typed into `c.carrier`): it found calls to `c`'s
/// hotline charged inside the hotline's free period on or after the day `c` says they became
/// free.
pub fn contradicts(v: &Verification, c: &Confirmation) -> bool {
    v.check_of(&c.hotline)
        .is_some_and(|h| h.contradicts(c.free_from))
}

impl HotlineCheck {
    /// Whether these calls contradict a confirmation that calls to the hotline are free from
    /// `free_from`: some were charged inside the free period on or after that day. The one
    /// rule a phone (`contradicts`) and the server's projections share.
    pub fn contradicts(&self, free_from: Day) -> bool {
        self.charged > 0 && self.last_charged.is_some_and(|last| last >= free_from)
    }
}

/// The check of `hotline` among `checks` (compared as national numbers).
pub fn check_of<'a>(checks: &'a [HotlineCheck], hotline: &str) -> Option<&'a HotlineCheck> {
    let wanted = national_digits(hotline);
    checks
        .iter()
        .find(|h| national_digits(&h.hotline) == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_as_national_numbers() {
        for (raw, want) in [
            ("19009095", Some("19009095")),
            ("1900 9095", Some("19009095")),
            ("1900.9095", Some("19009095")),
            ("+84 1900 9095", Some("19009095")),
            ("+8419009095", Some("19009095")),
            ("008419009095", Some("19009095")),
            ("8419009095", Some("19009095")),
            ("019009095", Some("19009095")),
            ("(024) 3822-3228", Some("2438223228")),
            ("0912 345 678", Some("912345678")),
            ("+84 912 345 678", Some("912345678")),
            ("84912345678", Some("912345678")),
            ("840912345678", Some("912345678")),
            ("841234567", Some("841234567")),
            ("+1 202 555 0100", None),
            ("s", None),
            ("", None),
            ("000", None),
            ("1900+9095", None),
            ("1234567890123456789012345", None),
        ] {
            assert_eq!(national_digits(raw).as_deref(), want, "{raw:?}");
        }
    }

    fn check(charged: u64, last: Option<Day>) -> Verification {
        Verification {
            carrier: "viettel".into(),
            file_name: "cdr.csv".into(),
            size: 10,
            sha256: [0; 32],
            layout: "generic".into(),
            rows: 10,
            checked: 10,
            broken: 0,
            first_day: None,
            last_day: None,
            hotlines: vec![HotlineCheck {
                hotline: "19009095".into(),
                calls: 3,
                in_free_period: 3,
                charged,
                first_charged: last,
                last_charged: last,
                wrongly_charged: Vec::new(),
            }],
            offending: Vec::new(),
            uploaded_by: "viettel.a".into(),
            at: 1,
        }
    }

    #[test]
    fn a_charged_call_after_the_confirmed_day_contradicts() {
        let c = Confirmation {
            carrier: "viettel".into(),
            hotline: "1900 9095".into(),
            free_from: Day(100),
            attested_by: "x".into(),
            evidence: None,
            at: 1,
        };
        assert!(contradicts(&check(1, Some(Day(100))), &c));
        assert!(!contradicts(&check(1, Some(Day(99))), &c), "before the day");
        assert!(!contradicts(&check(0, None), &c), "nothing charged");
        let mut other = c.clone();
        other.carrier = "Viettel Telecom".into();
        assert!(
            contradicts(&check(1, Some(Day(100))), &other),
            "whatever carrier was typed"
        );
        let mut hotline = c;
        hotline.hotline = "19003228".into();
        assert!(
            !contradicts(&check(1, Some(Day(100))), &hotline),
            "another hotline"
        );
    }
}
