//! The Ministry Office's view of a directive: every clause × every unit, from the projections
//! the writer keeps and mobile-core's progress rules (the figures a phone shows offline), with
//! groups (63 provincial departments, the carriers …) rolled up from their members.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use taskforce_core::{
    directive::{Catalogue, Role},
    doc::Figure,
    progress::{ClauseUnit, Counts, clause_progress_of},
};

use crate::{
    auth::Caller,
    db::entity::{clauses, directives},
    error::{ApiError, ApiResult},
};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClauseRow {
    pub clause: String,
    pub heading: Option<String>,
    pub text: String,
    pub counts: Counts,
    pub percent_done: u8,
    pub units: Vec<ClauseUnit>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UnitRow {
    pub unit: String,
    pub name: String,
    pub en: String,
    pub kind: String,
    pub groups: Vec<String>,
    pub counts: Counts,
    pub percent_done: u8,
    pub mean_progress: u8,
    pub last_report_at: Option<i64>,
    pub days_since_report: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupRow {
    pub group: String,
    pub name: String,
    pub en: String,
    pub members: u32,
    pub counts: Counts,
    pub percent_done: u8,
    /// Members that have never reported, or not within the stale threshold given.
    pub members_not_reporting: u32,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DirectiveProgress {
    pub directive: String,
    pub number: String,
    pub title: String,
    pub today: NaiveDate,
    pub counts: Counts,
    pub percent_done: u8,
    pub clauses: Vec<ClauseRow>,
    pub units: Vec<UnitRow>,
    pub groups: Vec<GroupRow>,
}

pub mod digest;
mod history;
pub mod hotlines;
mod units;

pub use history::{history, maybe_record_history, record_history};
pub use units::units_progress;

/// The directive a request means when it names none: the bundled 05/CT-BTTTT.
pub const DEFAULT_DIRECTIVE: &str = "5-ct-btttt";

/// Days after which a unit that has not reported is listed as not reporting.
pub const STALE_DAYS: i64 = taskforce_core::progress::REPORT_EVERY_DAYS;

/// The directive's progress on `today`, counted over every unit, or over `only` those units
/// (a member's own: then every figure is theirs alone, and no group is rolled up).
pub async fn directive_progress(
    db: &impl ConnectionTrait,
    catalogue: &Catalogue,
    directive: &str,
    only: Option<&[String]>,
    today: NaiveDate,
) -> ApiResult<DirectiveProgress> {
    let d = directives::Entity::find_by_id(directive.to_string())
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("directive {directive}")))?;
    let progress = units_progress(db, directive, only, today).await?;
    let by_clause: BTreeMap<String, taskforce_core::progress::ClauseProgress> = clause_progress_of(
        progress
            .iter()
            .map(|p| (p.unit.as_str(), p.tasks.as_slice())),
    )
    .into_iter()
    .map(|c| (c.clause.clone(), c))
    .collect();
    let clause_rows = clauses::Entity::find()
        .filter(clauses::Column::DirectiveId.eq(directive))
        .order_by_asc(clauses::Column::Position)
        .all(db)
        .await?;
    let mut clauses_out = Vec::new();
    for c in clause_rows {
        if let Some(p) = by_clause.get(&c.id) {
            let mut units = p.units.clone();
            units.sort_by(|a, b| (a.role, &a.unit).cmp(&(b.role, &b.unit)));
            clauses_out.push(ClauseRow {
                clause: c.id,
                heading: c.heading,
                text: c.text,
                percent_done: p.counts.percent_done(),
                counts: p.counts.clone(),
                units,
            });
        }
    }
    let mut totals = Counts::default();
    let mut units = Vec::new();
    for p in &progress {
        totals.absorb(&p.counts);
        let u = catalogue.get(&p.unit);
        units.push(UnitRow {
            unit: p.unit.clone(),
            name: u.map(|u| u.name.clone()).unwrap_or_else(|| p.unit.clone()),
            en: u.map(|u| u.en.clone()).unwrap_or_default(),
            kind: u
                .map(|u| {
                    serde_json::to_value(u.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                })
                .unwrap_or_default(),
            groups: u.map(|u| u.groups.clone()).unwrap_or_default(),
            percent_done: p.counts.percent_done(),
            counts: p.counts.clone(),
            mean_progress: p.mean_progress,
            last_report_at: p.last_report_at,
            days_since_report: p.days_since_report,
        });
    }
    let mut groups = Vec::new();
    let groups_of = catalogue.units().iter().filter(|u| u.is_group());
    for g in groups_of.filter(|_| only.is_none()) {
        let members: Vec<&UnitRow> = units.iter().filter(|u| u.groups.contains(&g.id)).collect();
        if members.is_empty() {
            continue;
        }
        let mut counts = Counts::default();
        for m in &members {
            counts.absorb(&m.counts);
        }
        let not_reporting = members
            .iter()
            .filter(|m| m.days_since_report.is_none_or(|d| d > STALE_DAYS))
            .count();
        groups.push(GroupRow {
            group: g.id.clone(),
            name: g.name.clone(),
            en: g.en.clone(),
            members: u32::try_from(members.len()).unwrap_or(u32::MAX),
            percent_done: counts.percent_done(),
            counts,
            members_not_reporting: u32::try_from(not_reporting).unwrap_or(u32::MAX),
        });
    }
    Ok(DirectiveProgress {
        directive: d.id,
        number: d.number,
        title: d.title,
        today,
        percent_done: totals.percent_done(),
        counts: totals,
        clauses: clauses_out,
        units,
        groups,
    })
}

/// The role label in Vietnamese or English.
pub fn role_label(r: Role, en: bool) -> &'static str {
    match (r, en) {
        (Role::Lead, false) => "Chủ trì",
        (Role::Coordinating, false) => "Phối hợp",
        (Role::Lead, true) => "Lead",
        (Role::Coordinating, true) => "Coordinating",
    }
}

/// The progress a caller may see: everything for the Ministry Office and the Minister, their
/// own units' rows for a member.
pub async fn visible_progress(
    db: &impl ConnectionTrait,
    catalogue: &Catalogue,
    caller: &Caller,
    directive: &str,
) -> ApiResult<DirectiveProgress> {
    let today = chrono::Utc::now().date_naive();
    let own: Vec<String> = caller.units.iter().map(|(u, _)| u.clone()).collect();
    let only = (!caller.reads_everything()).then_some(own.as_slice());
    directive_progress(db, catalogue, directive, only, today).await
}

/// A report's figures from their projection column (`[["sms_sent", 120000000], …]`).
pub fn figures_of(column: &str) -> Vec<Figure> {
    serde_json::from_str::<Vec<(String, i64)>>(column)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| Figure { name, value })
        .collect()
}
