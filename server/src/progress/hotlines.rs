//! Hotline-free billing as the Ministry Office reads it (issue 23, decision 46): the hotline
//! register, the carrier × hotline table (confirmed, missing, withdrawn, contradicted by a
//! call-record verification), and the verifications with their figures.
//!
//! A confirmation's state as shown is its projection's (`confirmed`, `withdrawn`,
//! `conflict`), except that a confirmed one a verification of the same carrier contradicts
//! ([`taskforce_core::doc::HotlineCheck::contradicts`]: calls to the hotline charged inside its free
//! period on or after the confirmed day) shows as `contradicted`.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use taskforce_core::{
    Catalogue, UnitKind,
    cdr::{RegisteredHotline, format_amount},
    doc::{Day, HotlineCheck, OffendingCall, check_of},
};
use utoipa::ToSchema;

use crate::{
    db::entity::{confirmations, hotlines, verifications},
    error::{ApiError, ApiResult},
};

/// A hotline of the register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Hotline {
    /// The national number (`19009095`): the register's key.
    pub number: String,
    /// As written (`1900 9095`).
    pub display: String,
    pub name: String,
    pub owner: String,
    /// `YYYY-MM-DD`: calls are free of charge from this day…
    pub free_from: String,
    /// …to this one, included; none: still free.
    pub free_until: Option<String>,
    pub updated_at: i64,
    pub updated_by: String,
}

impl From<hotlines::Model> for Hotline {
    fn from(h: hotlines::Model) -> Self {
        Hotline {
            number: h.number,
            display: h.display,
            name: h.name,
            owner: h.owner,
            free_from: h.free_from,
            free_until: h.free_until,
            updated_at: h.updated_at,
            updated_by: h.updated_by,
        }
    }
}

fn day(s: &str) -> Option<Day> {
    s.parse::<NaiveDate>().ok().map(Day::from_date)
}

/// The register, by number.
pub async fn register(db: &impl ConnectionTrait) -> ApiResult<Vec<Hotline>> {
    Ok(hotlines::Entity::find()
        .order_by_asc(hotlines::Column::Number)
        .all(db)
        .await?
        .into_iter()
        .map(Hotline::from)
        .collect())
}

/// The register as a call-record reader takes it.
pub fn registered(register: &[Hotline]) -> Vec<RegisteredHotline> {
    register
        .iter()
        .filter_map(|h| {
            Some(RegisteredHotline {
                number: h.number.clone(),
                free_from: day(&h.free_from)?,
                free_until: h.free_until.as_deref().and_then(day),
            })
        })
        .collect()
}

/// What a verification row keeps beside its columns.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Detail {
    pub hotlines: Vec<HotlineCheck>,
    pub offending: Vec<OffendingCall>,
}

/// A verification's per-hotline figures, as the API shows them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HotlineFigures {
    pub hotline: String,
    pub calls: u64,
    pub in_free_period: u64,
    pub charged: u64,
    pub first_charged: Option<String>,
    pub last_charged: Option<String>,
    /// `{currency: amount}` (`{"VND": "4500"}`).
    pub wrongly_charged: BTreeMap<String, String>,
}

/// A call charged in a free period (the caller masked).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OffendingRow {
    /// The file's line.
    pub line: u64,
    pub caller: String,
    pub hotline: String,
    /// Unix seconds.
    pub start: i64,
    pub seconds: u64,
    pub charge: String,
    pub currency: String,
}

/// A verification as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerificationRow {
    pub directive: String,
    pub carrier: String,
    /// The operation in the carrier's document (`actor.seq`).
    pub id: String,
    pub file_name: String,
    pub size: i64,
    pub sha256: String,
    pub layout: String,
    pub rows: i64,
    pub checked: i64,
    pub broken: i64,
    pub charged: i64,
    pub first_day: Option<String>,
    pub last_day: Option<String>,
    /// `{currency: amount}` over every hotline.
    pub wrongly_charged: BTreeMap<String, String>,
    pub hotlines: Vec<HotlineFigures>,
    pub offending: Vec<OffendingRow>,
    pub uploaded_by: String,
    /// Unix seconds.
    pub at: i64,
}

fn day_text(d: Option<Day>) -> Option<String> {
    d.and_then(Day::date).map(|d| d.to_string())
}

fn amounts<'a>(list: impl Iterator<Item = &'a (String, i64)>) -> BTreeMap<String, String> {
    let mut sums: BTreeMap<String, i64> = BTreeMap::new();
    for (c, a) in list {
        let e = sums.entry(c.clone()).or_default();
        *e = e.saturating_add(*a);
    }
    sums.into_iter()
        .map(|(c, a)| (c, format_amount(a)))
        .collect()
}

impl VerificationRow {
    pub fn of(v: &verifications::Model) -> Self {
        let detail = detail_of(v);
        VerificationRow {
            directive: v.directive_id.clone(),
            carrier: v.carrier.clone(),
            id: v.op_id.clone(),
            file_name: v.file_name.clone(),
            size: v.size,
            sha256: v.sha256.clone(),
            layout: v.layout.clone(),
            rows: v.rows,
            checked: v.checked,
            broken: v.broken,
            charged: v.charged,
            first_day: v.first_day.clone(),
            last_day: v.last_day.clone(),
            wrongly_charged: amounts(detail.hotlines.iter().flat_map(|h| &h.wrongly_charged)),
            hotlines: detail
                .hotlines
                .iter()
                .map(|h| HotlineFigures {
                    hotline: h.hotline.clone(),
                    calls: h.calls,
                    in_free_period: h.in_free_period,
                    charged: h.charged,
                    first_charged: day_text(h.first_charged),
                    last_charged: day_text(h.last_charged),
                    wrongly_charged: amounts(h.wrongly_charged.iter()),
                })
                .collect(),
            offending: detail
                .offending
                .iter()
                .map(|o| OffendingRow {
                    line: o.line,
                    caller: o.caller.clone(),
                    hotline: o.hotline.clone(),
                    start: o.start,
                    seconds: o.seconds,
                    charge: format_amount(o.charge),
                    currency: o.currency.clone(),
                })
                .collect(),
            uploaded_by: v.uploaded_by.clone(),
            at: v.at,
        }
    }
}

/// A row's detail; an unreadable one (never written so) reads as none.
pub fn detail_of(v: &verifications::Model) -> Detail {
    serde_json::from_str(&v.detail).unwrap_or_default()
}

/// The verifications of `directive` (of one carrier, or all), newest first.
pub async fn verifications_of(
    db: &impl ConnectionTrait,
    directive: &str,
    carrier: Option<&str>,
) -> ApiResult<Vec<verifications::Model>> {
    let mut find =
        verifications::Entity::find().filter(verifications::Column::DirectiveId.eq(directive));
    if let Some(c) = carrier {
        find = find.filter(verifications::Column::UnitId.eq(c));
    }
    Ok(find
        .order_by_desc(verifications::Column::At)
        .order_by_desc(verifications::Column::OpId)
        .all(db)
        .await?)
}

/// What the contradiction rule needs of the verifications: each one's per-hotline checks,
/// by the unit whose document holds it.
#[derive(Debug)]
pub struct Evidence {
    by_carrier: BTreeMap<String, Vec<Vec<HotlineCheck>>>,
}

impl Evidence {
    pub async fn load(db: &impl ConnectionTrait, directive: &str) -> ApiResult<Self> {
        let mut by_carrier: BTreeMap<String, Vec<Vec<HotlineCheck>>> = BTreeMap::new();
        for v in verifications_of(db, directive, None).await? {
            let checks = detail_of(&v).hotlines;
            by_carrier.entry(v.unit_id).or_default().push(checks);
        }
        Ok(Evidence { by_carrier })
    }

    /// The state a confirmation row shows: `contradicted` when a verification of its
    /// carrier contradicts it, its projected state otherwise.
    pub fn state_of(&self, c: &confirmations::Model) -> String {
        if c.state != "confirmed" {
            return c.state.clone();
        }
        let Some(free_from) = day(&c.free_from) else {
            return c.state.clone();
        };
        // The verifications of the confirmation's own document's unit: a confirmation made
        // in another unit's document, whatever carrier it names, is that unit's word only.
        let contradicted = self.by_carrier.get(&c.unit_id).is_some_and(|vs| {
            vs.iter().any(|checks| {
                check_of(checks, &c.hotline).is_some_and(|h| h.contradicts(free_from))
            })
        });
        if contradicted {
            "contradicted".into()
        } else {
            c.state.clone()
        }
    }
}

/// The confirmations of `directive` with the state each shows, by carrier, hotline, time.
pub async fn confirmations_shown(
    db: &impl ConnectionTrait,
    directive: &str,
) -> ApiResult<Vec<(confirmations::Model, String)>> {
    let evidence = Evidence::load(db, directive).await?;
    let rows = confirmations::Entity::find()
        .filter(confirmations::Column::DirectiveId.eq(directive))
        .order_by_asc(confirmations::Column::Carrier)
        .order_by_asc(confirmations::Column::Hotline)
        .order_by_asc(confirmations::Column::At)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|c| {
            let s = evidence.state_of(&c);
            (c, s)
        })
        .collect())
}

/// One cell of the carrier × hotline table.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Cell {
    pub carrier: String,
    /// The register's number.
    pub hotline: String,
    /// `confirmed`, `contradicted`, `conflict`, `withdrawn` or `missing`.
    pub state: String,
    /// The confirmed day of the confirmation the state is from.
    pub free_from: Option<String>,
    pub attested_by: Option<String>,
    /// The verification the state stands on (for `contradicted`, the newest that
    /// contradicts; else the carrier's newest): its operation, file hash, the calls to this
    /// hotline it found in the free period, and those charged.
    pub verified_by: Option<String>,
    pub verified_sha256: Option<String>,
    pub in_free_period: Option<u64>,
    pub charged: Option<u64>,
}

/// The carrier × hotline table.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HotlineTable {
    pub directive: String,
    pub hotlines: Vec<Hotline>,
    /// `(unit id, name)` of every carrier of the catalogue, and of any other unit that made
    /// a confirmation.
    pub carriers: Vec<(String, String)>,
    pub cells: Vec<Cell>,
    /// Confirmations of numbers not on the register (a typo, or a hotline the office has not
    /// registered): shown so that the office can correct one or the other.
    pub unregistered: Vec<Unregistered>,
}

/// A confirmation of a number the register does not hold.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Unregistered {
    pub unit: String,
    pub carrier: String,
    pub hotline: String,
    pub free_from: String,
    pub attested_by: String,
    pub state: String,
}

impl HotlineTable {
    pub fn cell(&self, carrier: &str, hotline: &str) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.carrier == carrier && c.hotline == hotline)
    }
}

/// The rank of a shown state when a carrier has several confirmations of one hotline: one
/// standing confirmation is enough, a contradiction is worse than a disagreement, which is
/// worse than a withdrawal.
fn rank(state: &str) -> u8 {
    match state {
        "confirmed" => 0,
        "contradicted" => 1,
        "conflict" => 2,
        "withdrawn" => 3,
        _ => 4,
    }
}

/// The carrier × hotline table of `directive`.
pub async fn table(
    db: &impl ConnectionTrait,
    catalogue: &Catalogue,
    directive: &str,
) -> ApiResult<HotlineTable> {
    let register = register(db).await?;
    let shown = confirmations_shown(db, directive).await?;
    let verifications = verifications_of(db, directive, None).await?;
    let mut carriers: Vec<(String, String)> = catalogue
        .units()
        .iter()
        .filter(|u| u.kind == UnitKind::Carrier)
        .map(|u| (u.id.clone(), u.name.clone()))
        .collect();
    // A row per unit whose document holds a confirmation (the document says who attests,
    // not the carrier a phone typed).
    for (c, _) in &shown {
        if !carriers.iter().any(|(id, _)| *id == c.unit_id) {
            let name = catalogue
                .get(&c.unit_id)
                .map_or_else(|| c.unit_id.clone(), |u| u.name.clone());
            carriers.push((c.unit_id.clone(), name));
        }
    }
    let mut cells = Vec::new();
    for (carrier, _) in &carriers {
        let theirs: Vec<(&verifications::Model, Detail)> = verifications
            .iter()
            .filter(|v| v.unit_id == *carrier)
            .map(|v| (v, detail_of(v)))
            .collect();
        for h in &register {
            let wanted = taskforce_core::doc::national_digits(&h.number);
            let best = shown
                .iter()
                .filter(|(c, _)| {
                    c.unit_id == *carrier
                        && taskforce_core::doc::national_digits(&c.hotline) == wanted
                })
                .min_by_key(|(c, s)| (rank(s), std::cmp::Reverse(c.at)));
            let check_in = |d: &Detail| check_of(&d.hotlines, &h.number).cloned();
            // The verification the cell stands on: for a contradiction, the newest one that
            // contradicts; else the newest.
            let confirmed_from = best.and_then(|(c, _)| day(&c.free_from));
            let contradicting = theirs.iter().find(|(_, d)| {
                check_of(&d.hotlines, &h.number)
                    .zip(confirmed_from)
                    .is_some_and(|(x, f)| x.contradicts(f))
            });
            let shown_by = match best.map(|(_, s)| s.as_str()) {
                Some("contradicted") => contradicting.or(theirs.first()),
                _ => theirs.first(),
            };
            let check = shown_by.and_then(|(_, d)| check_in(d));
            cells.push(Cell {
                carrier: carrier.clone(),
                hotline: h.number.clone(),
                state: best.map_or_else(|| "missing".to_string(), |(_, s)| s.clone()),
                free_from: best.map(|(c, _)| c.free_from.clone()),
                attested_by: best.map(|(c, _)| c.attested_by.clone()),
                verified_by: shown_by.map(|(v, _)| v.op_id.clone()),
                verified_sha256: shown_by.map(|(v, _)| v.sha256.clone()),
                in_free_period: check.as_ref().map(|x| x.in_free_period),
                charged: check.map(|x| x.charged),
            });
        }
    }
    let registered: Vec<Option<String>> = register
        .iter()
        .map(|h| taskforce_core::doc::national_digits(&h.number))
        .collect();
    let unregistered = shown
        .iter()
        .filter(|(c, _)| {
            let d = taskforce_core::doc::national_digits(&c.hotline);
            d.is_none() || !registered.contains(&d)
        })
        .map(|(c, s)| Unregistered {
            unit: c.unit_id.clone(),
            carrier: c.carrier.clone(),
            hotline: c.hotline.clone(),
            free_from: c.free_from.clone(),
            attested_by: c.attested_by.clone(),
            state: s.clone(),
        })
        .collect();
    Ok(HotlineTable {
        directive: directive.to_string(),
        hotlines: register,
        carriers,
        cells,
        unregistered,
    })
}

/// A date of the register: `YYYY-MM-DD` within the dates a person may type.
pub fn parse_day(field: &str, s: &str) -> ApiResult<NaiveDate> {
    let d = s.trim().parse::<NaiveDate>().map_err(|_| {
        ApiError::BadRequest(format!(
            "{field}: {s:?} không phải ngày YYYY-MM-DD / is not a date YYYY-MM-DD"
        ))
    })?;
    let (lo, hi) = (
        taskforce_core::doc::limits::EARLIEST_DATE,
        taskforce_core::doc::limits::LATEST_DATE,
    );
    if !(lo..=hi).contains(&d) {
        return Err(ApiError::BadRequest(format!(
            "{field}: {d} không nằm trong {lo}–{hi} / is not between {lo} and {hi}"
        )));
    }
    Ok(d)
}
