//! The dashboard's pages. Every figure comes from `crate::progress` (mobile-core's rules).

use std::collections::BTreeMap;

use actix_web::{HttpRequest, web};
use maud::{Markup, html};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;
use taskforce_core::{
    doc::{ReviewState, Status},
    progress::ClauseUnit,
};

use super::{
    PageResult, Viewer, chart,
    i18n::{Lang, review_label, t},
    layout, office, page,
};
use crate::{
    db::entity::{confirmations, directives, reports, tasks},
    error::ApiError,
    progress::{ClauseRow, DirectiveProgress, STALE_DAYS, history, role_label, visible_progress},
    state::AppState,
    task_history::{self, HistoryQuery, Order, What},
};

fn status_key(s: Status) -> &'static str {
    s.as_str()
}

/// A review state's mark in a matrix cell (its label is the mark's title and the legend's).
fn review_glyph(r: ReviewState) -> &'static str {
    match r {
        ReviewState::Open => "",
        ReviewState::Reported => "⚐",
        ReviewState::Accepted => "✓",
        ReviewState::ChangedAfterAcceptance => "✎",
        ReviewState::Returned => "↩",
        ReviewState::Conflict => "⚠",
    }
}

/// The Ministry Office's marks on one unit's task in a matrix cell: its review state (past
/// open) and how many times it was urged.
fn marks(lang: Lang, review: ReviewState, urges: u32) -> Markup {
    html! {
        @if review != ReviewState::Open {
            " " span class={ "mark r-" (review.as_str()) } title=(review_label(lang, review)) { (review_glyph(review)) }
        }
        @if urges > 0 {
            " " span class="mark urges" title={ (t(lang, "urges")) ": " (urges) } { "⚑" (urges) }
        }
    }
}

/// Several units' review states and urges, in words: each state past open with how many
/// units are in it, and the urges in all.
fn combined_review(lang: Lang, units: &[&ClauseUnit]) -> (String, String) {
    let words: Vec<String> = ReviewState::ALL
        .into_iter()
        .filter(|&r| r != ReviewState::Open)
        .filter_map(|r| {
            let n = units.iter().filter(|u| u.review == r).count();
            if units.len() == 1 {
                (n == 1).then(|| review_label(lang, r).to_string())
            } else {
                (n > 0).then(|| format!("{} {n}/{}", review_label(lang, r), units.len()))
            }
        })
        .collect();
    (
        if words.is_empty() {
            review_label(lang, ReviewState::Open).to_string()
        } else {
            words.join(" · ")
        },
        urged(units),
    )
}

/// How many times the units were urged, and when last (`2 · 05/02/2020`).
fn urged(units: &[&ClauseUnit]) -> String {
    let n: u32 = units.iter().map(|u| u.urges).sum();
    let last = units
        .iter()
        .filter_map(|u| u.last_urged_at)
        .max()
        .and_then(|at| chrono::DateTime::from_timestamp(at, 0))
        .map(|t| t.format("%d/%m/%Y").to_string());
    match last {
        Some(day) if n > 0 => format!("{n} · {day}"),
        _ => n.to_string(),
    }
}

fn cell(lang: Lang, status: Status, overdue: bool, text: &str) -> Markup {
    marked_cell(lang, status, overdue, text, html! {})
}

fn marked_cell(lang: Lang, status: Status, overdue: bool, text: &str, marks: Markup) -> Markup {
    let class = format!(
        "s-{}{}",
        status_key(status),
        if overdue { " overdue" } else { "" }
    );
    let title = format!(
        "{}{}",
        t(lang, status_key(status)),
        if overdue {
            format!(" — {}", t(lang, "overdue"))
        } else {
            String::new()
        }
    );
    html! { td class=(class) title=(title) { (text) (marks) } }
}

/// Several units' standing on one clause, as one status: blocked if any is, done if all are,
/// started if any is.
fn combined(units: &[&ClauseUnit]) -> (Status, bool, String) {
    let statuses: Vec<Status> = units.iter().map(|u| u.status).collect();
    let status = taskforce_core::progress::effective_status(&statuses);
    let done = units.iter().filter(|u| u.status == Status::Done).count();
    (
        status,
        units.iter().any(|u| u.overdue),
        format!("{done}/{}", units.len()),
    )
}

fn legend(lang: Lang) -> Markup {
    html! {
        p class="legend" {
            @for s in [Status::Done, Status::InProgress, Status::Todo, Status::Blocked] { span class={ "s-" (status_key(s)) } { (t(lang, status_key(s))) } }
            span class="s-todo overdue" { (t(lang, "overdue")) }
        }
        p class="legend" {
            @for r in ReviewState::ALL.into_iter().filter(|&r| r != ReviewState::Open) { span class={ "mark r-" (r.as_str()) } { (review_glyph(r)) " " (review_label(lang, r)) } }
            span class="mark urges" { "⚑ " (t(lang, "urges")) }
        }
    }
}

fn clause_label(c: &ClauseRow) -> String {
    crate::progress::digest::clause_label(c)
}

async fn load(state: &AppState, v: &Viewer) -> Result<DirectiveProgress, ApiError> {
    visible_progress(&state.db, &state.catalogue, &v.caller, &v.directive).await
}

/// The directives the server tracks, `(id, number)`, oldest first: the picker's choices.
async fn directive_choices(state: &AppState) -> Result<Vec<(String, String)>, ApiError> {
    Ok(directives::Entity::find()
        .order_by_asc(directives::Column::Date)
        .order_by_asc(directives::Column::Id)
        .all(&state.db)
        .await?
        .into_iter()
        .map(|d| (d.id, d.number))
        .collect())
}

/// The directive picker: every directive the server tracks, the shown one marked; the page
/// it links to shows the directive picked (and the next pages too).
fn picker(lang: Lang, choices: &[(String, String)], current: &str, here: &str) -> Markup {
    html! {
        nav class="picker noprint" id="directive-picker" {
            (t(lang, "directive")) ": "
            @for (i, (id, number)) in choices.iter().enumerate() {
                @if i > 0 { " · " }
                @if id == current { b class="current" data-directive=(id) { (number) } }
                @else { a href={ (here) "?directive=" (id) } data-directive=(id) { (number) } }
            }
            " · " a href="/directives" id="all-directives" { (t(lang, "all_directives")) }
        }
    }
}

pub async fn overview(state: web::Data<AppState>, v: Viewer, req: HttpRequest) -> PageResult {
    let p = load(&state, &v).await?;
    let lang = v.lang;
    let hist = history(&state.db, &v.directive).await?;
    let choices = directive_choices(&state).await?;
    let body = html! {
        (picker(lang, &choices, &v.directive, "/"))
        p class="muted" { (p.number) " — " (p.title) }
        div class="cards" {
            div class="card" { b id="total-done" { (p.counts.done) "/" (p.counts.assigned) } (t(lang, "done")) }
            div class="card" { b { (p.counts.in_progress) } (t(lang, "in_progress")) }
            div class="card" { b { (p.counts.blocked) } (t(lang, "blocked")) }
            div class="card" { b { (p.counts.overdue) } (t(lang, "overdue")) }
            div class="card" { b { (p.percent_done) "%" } (t(lang, "progress")) }
        }
        h2 { (t(lang, "over_time")) }
        @if hist.is_empty() { p class="muted" { (t(lang, "no_data")) } } @else { (chart::progress_chart(&hist, t(lang, "done"), t(lang, "in_progress"))) }
        h2 { (t(lang, "clause")) }
        table id="clauses" {
            tr { th { (t(lang, "clause")) } th { (t(lang, "text")) } th { (t(lang, "units")) } th { (t(lang, "progress")) } th { (t(lang, "blocked")) } th { (t(lang, "overdue")) } }
            @for c in &p.clauses {
                tr {
                    td { a href={ "/clauses/" (c.clause) } { (c.clause) } }
                    td class="clause-text" { (clause_label(c)) }
                    td class="num" { (c.counts.assigned) }
                    td { (layout::bar(c.percent_done)) }
                    td class="num" { (c.counts.blocked) }
                    td class="num" { (c.counts.overdue) }
                }
            }
        }
        h2 { (t(lang, "exports")) }
        p class="noprint" {
            a href={ "/exports/matrix.xlsx?directive=" (v.directive) } id="export-matrix-xlsx" { "matrix.xlsx" } " · " a href={ "/exports/matrix.csv?directive=" (v.directive) } { "matrix.csv" } " · "
            a href={ "/exports/tasks.xlsx?directive=" (v.directive) } { "tasks.xlsx" } " · " a href={ "/exports/tasks.csv?directive=" (v.directive) } { "tasks.csv" }
        }
    };
    Ok(page(
        &req,
        layout::shell(lang, &v.caller, t(lang, "overview"), "/", body),
    ))
}

/// The matrix's columns: each unit on its own, except members of groups of non-departments
/// (63 provincial departments, carriers …), which show as one column per group.
fn columns(p: &DirectiveProgress, state: &AppState) -> Vec<(String, String, Vec<String>)> {
    let collapsed: Vec<&str> = p
        .groups
        .iter()
        .filter(|g| {
            state
                .catalogue
                .members(&g.group)
                .any(|m| m.kind != taskforce_core::directive::UnitKind::Department)
        })
        .map(|g| g.group.as_str())
        .collect();
    let mut cols: Vec<(String, String, Vec<String>)> = p
        .units
        .iter()
        .filter(|u| !u.groups.iter().any(|g| collapsed.contains(&g.as_str())))
        .map(|u| (u.unit.clone(), u.name.clone(), vec![u.unit.clone()]))
        .collect();
    for g in &p.groups {
        if collapsed.contains(&g.group.as_str()) {
            let members = p
                .units
                .iter()
                .filter(|u| u.groups.contains(&g.group))
                .map(|u| u.unit.clone())
                .collect();
            cols.push((
                g.group.clone(),
                format!("{} ({})", g.name, g.members),
                members,
            ));
        }
    }
    cols
}

pub async fn matrix(state: web::Data<AppState>, v: Viewer, req: HttpRequest) -> PageResult {
    let p = load(&state, &v).await?;
    let lang = v.lang;
    let cols = columns(&p, &state);
    let choices = directive_choices(&state).await?;
    let body = html! {
        (picker(lang, &choices, &v.directive, "/matrix"))
        p class="muted" { (p.number) " — " (p.title) }
        (legend(lang))
        table class="matrix" id="matrix" {
            tr {
                th { (t(lang, "clause")) }
                @for (id, name, _) in &cols { th class="v" title=(name) { a href={ "/units/" (id) } { (name) } } }
            }
            @for c in &p.clauses {
                tr {
                    th { a href={ "/clauses/" (c.clause) } title=(clause_label(c)) { (c.clause) } }
                    @for (_, _, members) in &cols {
                        @let here: Vec<&ClauseUnit> = c.units.iter().filter(|u| members.contains(&u.unit)).collect();
                        @if here.is_empty() { td {} }
                        @else if members.len() == 1 {
                            (marked_cell(lang, here[0].status, here[0].overdue, if here[0].role == taskforce_core::directive::Role::Lead { "●" } else { "○" }, marks(lang, here[0].review, here[0].urges)))
                        } @else {
                            @let (s, overdue, text) = combined(&here);
                            (cell(lang, s, overdue, &text))
                        }
                    }
                }
            }
        }
        p class="muted" { "● " (t(lang, "lead")) " · ○ " (t(lang, "coordinating")) }
    };
    Ok(page(
        &req,
        layout::shell(lang, &v.caller, t(lang, "matrix"), "/matrix", body),
    ))
}

pub async fn clause(
    state: web::Data<AppState>,
    v: Viewer,
    req: HttpRequest,
    path: web::Path<String>,
) -> PageResult {
    let id = path.into_inner();
    let p = load(&state, &v).await?;
    let lang = v.lang;
    let c = p
        .clauses
        .iter()
        .find(|c| c.clause == id)
        .ok_or_else(|| ApiError::NotFound(format!("clause {id}")))?;
    let names: BTreeMap<&str, &str> = p
        .units
        .iter()
        .map(|u| (u.unit.as_str(), u.name.as_str()))
        .collect();
    let task_refs = task_refs_by(
        &state,
        &v.directive,
        tasks::Column::ClauseId.eq(id.as_str()),
        |r| Some(r.unit_id.clone()),
    )
    .await?;
    let csrf = office::page_csrf(&req);
    let ctx = office::FormCtx {
        csrf: &csrf,
        directive: &v.directive,
    };
    let flash = office::take_flash(&req);
    let body = html! {
        @if let Some(f) = &flash { (office::flash_box(lang, f)) }
        p class="muted" { (p.number) }
        @if let Some(h) = &c.heading { p { b { (h) } } }
        blockquote id="clause-text" class="clause-text" { (c.text) }
        p { (t(lang, "done")) ": " (c.counts.done) "/" (c.counts.assigned) " " (layout::bar(c.percent_done)) }
        (legend(lang))
        table id="clause-units" {
            tr { th { (t(lang, "unit")) } th { (t(lang, "role")) } th { (t(lang, "status")) } th { (t(lang, "progress")) } th { (t(lang, "review")) } th { (t(lang, "urges")) } th class="noprint" { (t(lang, "h_history")) } }
            @for u in &c.units {
                tr data-unit=(u.unit) {
                    td { a href={ "/units/" (u.unit) } { (names.get(u.unit.as_str()).copied().unwrap_or(&u.unit)) } }
                    td { (role_label(u.role, lang == Lang::En)) }
                    (cell(lang, u.status, u.overdue, t(lang, status_key(u.status))))
                    td { (layout::bar(u.progress)) }
                    td class={ "review r-" (u.review.as_str()) } { (review_label(lang, u.review)) }
                    td class="num urges" { (urged(&[u])) }
                    td class="noprint" { @if let Some(r) = task_refs.get(&u.unit).filter(|_| v.caller.may_read_unit(&u.unit)) { a class="history" href={ "/units/" (u.unit) "/tasks/" (r) "/history" } { (t(lang, "h_history")) } } }
                }
            }
        }
        @if v.caller.acts_for_office() { (office::clause_forms(lang, &ctx, &id)) }
    };
    let title = format!("{} {}", t(lang, "clause"), id);
    Ok(page(
        &req,
        layout::shell(lang, &v.caller, &title, &format!("/clauses/{id}"), body),
    ))
}

pub async fn unit(
    state: web::Data<AppState>,
    v: Viewer,
    req: HttpRequest,
    path: web::Path<String>,
) -> PageResult {
    let id = path.into_inner();
    let lang = v.lang;
    let is_group = state.catalogue.get(&id).is_some_and(|u| u.is_group());
    if !(v.caller.reads_everything() || (!is_group && v.caller.is_member_of(&id))) {
        return Err(ApiError::Forbidden(format!("{} may not read {id}", v.caller.username)).into());
    }
    let p = load(&state, &v).await?;
    let name = state
        .catalogue
        .get(&id)
        .map(|u| {
            if lang == Lang::En {
                u.en.clone()
            } else {
                u.name.clone()
            }
        })
        .unwrap_or_else(|| id.clone());
    let members: Vec<String> = if is_group {
        p.units
            .iter()
            .filter(|u| u.groups.contains(&id))
            .map(|u| u.unit.clone())
            .collect()
    } else {
        vec![id.clone()]
    };
    let rows: Vec<(&ClauseRow, Vec<&ClauseUnit>)> = p
        .clauses
        .iter()
        .map(|c| {
            (
                c,
                c.units
                    .iter()
                    .filter(|u| members.contains(&u.unit))
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, us)| !us.is_empty())
        .collect();
    let reps = reports::Entity::find()
        .filter(reports::Column::DirectiveId.eq(v.directive.as_str()))
        .filter(reports::Column::UnitId.is_in(members.clone()))
        .order_by_desc(reports::Column::At)
        .all(&state.db)
        .await
        .map_err(ApiError::from)?;
    let confs = confirmations::Entity::find()
        .filter(confirmations::Column::DirectiveId.eq(v.directive.as_str()))
        .filter(confirmations::Column::UnitId.is_in(members.clone()))
        .all(&state.db)
        .await
        .map_err(ApiError::from)?;
    let task_refs = task_refs_by(
        &state,
        &v.directive,
        tasks::Column::UnitId.eq(id.as_str()),
        |r| r.clause_id.clone(),
    )
    .await?;
    // The Ministry Office's forms: on one unit's page (a group's has none), each task's
    // carrying its unit clock as shown.
    let acts = v.caller.acts_for_office() && !is_group;
    // The page reads the projections; the clocks need the document itself. A document that
    // cannot be read (damaged storage) must not take the page down with it: the forms then
    // carry no clock, and a review covers the state held when it is made.
    let seen = if acts {
        crate::office::unit_clocks(&state.db, &v.directive, &id)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(unit = %id, error = %e, "the unit's document cannot be read: forms without the clocks shown");
                BTreeMap::new()
            })
    } else {
        BTreeMap::new()
    };
    let csrf = office::page_csrf(&req);
    let ctx = office::FormCtx {
        csrf: &csrf,
        directive: &v.directive,
    };
    let flash = office::take_flash(&req);
    let body = html! {
        @if let Some(f) = &flash { (office::flash_box(lang, f)) }
        p class="muted" id="unit-directive" { (p.number) " — " (p.title) }
        h2 { (t(lang, "tasks")) }
        table id="unit-tasks" {
            tr { th { (t(lang, "clause")) } th { (t(lang, "text")) } th { (t(lang, "status")) } th { (t(lang, "progress")) } th { (t(lang, "review")) } th { (t(lang, "urges")) } @if !is_group { th class="noprint" { (t(lang, "h_history")) } } @if acts { th class="noprint" { (t(lang, "act")) } } }
            @for (c, us) in &rows {
                @let (s, overdue, text) = combined(us);
                @let (review, urges) = combined_review(lang, us);
                @let task_ref = task_refs.get(&c.clause);
                tr data-task=[task_ref.filter(|_| !is_group)] {
                    td { a href={ "/clauses/" (c.clause) } { (c.clause) } }
                    td class="clause-text" { (clause_label(c)) }
                    (cell(lang, s, overdue, &if us.len() > 1 { text } else { t(lang, status_key(s)).to_string() }))
                    td { (layout::bar(u8::try_from(us.iter().map(|u| u32::from(u.progress)).sum::<u32>() / u32::try_from(us.len()).unwrap_or(1)).unwrap_or(0))) }
                    td class="review" { (review) }
                    td class="num urges" { (urges) }
                    @if !is_group { td class="noprint" { @if let Some(r) = task_refs.get(&c.clause) { a class="history" href={ "/units/" (id) "/tasks/" (r) "/history" } { (t(lang, "h_history")) } } } }
                    @if acts { td class="noprint" { @if let Some(r) = task_ref { (office::task_forms(lang, &ctx, &id, r, seen.get(r).map(String::as_str))) } } }
                }
            }
        }
        @if acts { (office::unit_forms(lang, &ctx, &id)) }
        h2 { (t(lang, "reports")) }
        @if reps.is_empty() { p class="muted" { (t(lang, "never")) } }
        table id="unit-reports" {
            @for r in &reps {
                tr {
                    td { (r.period) } td { (r.text) }
                    td { @for f in crate::progress::figures_of(&r.figures) { (f.name) ": " (f.value) br; } }
                }
            }
        }
        h2 { (t(lang, "confirmations")) }
        table {
            @for c in &confs { tr { td { (c.carrier) } td { (c.hotline) } td { (c.free_from) } td { (t(lang, &c.state)) } } }
        }
    };
    Ok(page(
        &req,
        layout::shell(lang, &v.caller, &name, &format!("/units/{id}"), body),
    ))
}

pub async fn hotlines(state: web::Data<AppState>, v: Viewer, req: HttpRequest) -> PageResult {
    let lang = v.lang;
    v.caller
        .require(v.caller.reads_everything(), "read every unit")
        .map_err(super::PageError::from)?;
    let table = crate::progress::hotlines::table(&state.db, &state.catalogue, &v.directive).await?;
    let verifications =
        crate::progress::hotlines::verifications_of(&state.db, &v.directive, None).await?;
    let rows: Vec<_> = verifications
        .iter()
        .take(20)
        .map(crate::progress::hotlines::VerificationRow::of)
        .collect();
    let class = |state: &str| match state {
        "confirmed" => "s-done",
        "contradicted" | "withdrawn" => "s-blocked",
        "conflict" => "s-in_progress",
        _ => "s-todo",
    };
    let body = html! {
        table id="hotlines" {
            tr { th { (t(lang, "carrier")) "  \\ " (t(lang, "hotline")) } @for h in &table.hotlines { th { (h.display) } } }
            @for (c, name) in &table.carriers {
                tr {
                    th { (name) }
                    @for h in &table.hotlines {
                        @match table.cell(c, &h.number) {
                            Some(cell) => td class=(class(&cell.state)) data-carrier=(c) data-hotline=(h.number) data-state=(cell.state) {
                                (t(lang, &cell.state))
                                @if let Some(f) = &cell.free_from { br; span class="muted" { (t(lang, "free_from")) " " (f) } }
                                @if let Some(n) = cell.charged.filter(|n| *n > 0) { br; span { (t(lang, "charged_calls")) ": " (n) } }
                            },
                            None => td class="s-todo" { "—" },
                        }
                    }
                }
            }
        }
        @if !table.unregistered.is_empty() {
            h2 { (t(lang, "unregistered_numbers")) }
            table id="unregistered" {
                tr { th { (t(lang, "carrier")) } th { (t(lang, "hotline")) } th { (t(lang, "free_from")) } th { (t(lang, "attested_by")) } th { (t(lang, "state")) } }
                @for u in &table.unregistered {
                    tr { td { (u.carrier) } td { (u.hotline) } td { (u.free_from) } td { (u.attested_by) } td { (t(lang, &u.state)) } }
                }
            }
        }
        h2 { (t(lang, "hotline_register")) }
        table id="hotline-register" {
            tr { th { (t(lang, "hotline")) } th { (t(lang, "name")) } th { (t(lang, "owner")) } th { (t(lang, "free_from")) } th { (t(lang, "free_until")) } }
            @for h in &table.hotlines {
                tr { td { (h.display) } td { (h.name) } td { (h.owner) } td { (h.free_from) } td { (h.free_until.as_deref().unwrap_or("—")) } }
            }
        }
        h2 { (t(lang, "verifications")) }
        @if rows.is_empty() { p class="muted" { (t(lang, "no_data")) } }
        table id="verifications" {
            @if !rows.is_empty() {
                tr { th { (t(lang, "carrier")) } th { (t(lang, "file")) } th { (t(lang, "calls_checked")) } th { (t(lang, "broken_rows")) } th { (t(lang, "charged_calls")) } th { (t(lang, "wrongly_charged")) } th { "SHA-256" } }
            }
            @for r in &rows {
                tr class=(if r.charged > 0 { "s-blocked" } else { "" }) {
                    td { (state.catalogue.get(&r.carrier).map_or(r.carrier.as_str(), |u| u.name.as_str())) }
                    td { (r.file_name) br; span class="muted" { (r.first_day.as_deref().unwrap_or("")) " – " (r.last_day.as_deref().unwrap_or("")) } }
                    td { (r.checked) } td { (r.broken) } td { (r.charged) }
                    td { @for (c, a) in &r.wrongly_charged { (a) " " (c) br; } }
                    td { code { (r.sha256.get(..16).unwrap_or(&r.sha256)) "…" } }
                }
                @if !r.offending.is_empty() {
                    tr class="muted" {
                        td colspan="7" {
                            (t(lang, "first_offending")) ": "
                            @for o in r.offending.iter().take(5) {
                                (t(lang, "line")) " " (o.line) " — " (o.caller) " → " (o.hotline) ", "
                                (chrono::DateTime::from_timestamp(o.start, 0).map(|d| (d + chrono::Duration::hours(7)).format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default())
                                ", " (o.seconds) " s, " (o.charge) " " (o.currency) "; "
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(
        &req,
        layout::shell(lang, &v.caller, t(lang, "hotlines"), "/hotlines", body),
    ))
}

#[derive(Debug, Deserialize)]
pub struct StaleQuery {
    days: Option<i64>,
}

pub async fn stale(
    state: web::Data<AppState>,
    v: Viewer,
    req: HttpRequest,
    q: web::Query<StaleQuery>,
) -> PageResult {
    let lang = v.lang;
    let days = q.days.unwrap_or(STALE_DAYS).max(0);
    let p = load(&state, &v).await?;
    let mut late: Vec<_> = p
        .units
        .iter()
        .filter(|u| u.days_since_report.is_none_or(|d| d > days))
        .collect();
    late.sort_by_key(|u| std::cmp::Reverse(u.days_since_report.unwrap_or(i64::MAX)));
    let body = html! {
        form method="get" action="/stale" class="noprint" { label { "N = " input name="days" type="number" min="0" value=(days); } " " button { "OK" } }
        p { (late.len()) " / " (p.units.len()) }
        table id="stale" {
            tr { th { (t(lang, "unit")) } th { (t(lang, "last_report")) } th { (t(lang, "done")) } }
            @for u in &late {
                tr {
                    td { a href={ "/units/" (u.unit) } { (if lang == Lang::En && !u.en.is_empty() { &u.en } else { &u.name }) } }
                    td { @match u.days_since_report { Some(d) => { (d) " " (t(lang, "days")) }, None => (t(lang, "never")) } }
                    td class="num" { (u.counts.done) "/" (u.counts.assigned) }
                }
            }
        }
    };
    Ok(page(
        &req,
        layout::shell(lang, &v.caller, t(lang, "stale"), "/stale", body),
    ))
}

/// A printable summary for the Minister.
pub async fn report(state: web::Data<AppState>, v: Viewer, req: HttpRequest) -> PageResult {
    let lang = v.lang;
    let p = load(&state, &v).await?;
    let body = html! {
        (report_summary(lang, &p))
        (layout::print_button(lang))
        (report_tables(lang, &p))
    };
    Ok(page(
        &req,
        layout::shell(lang, &v.caller, t(lang, "report"), "/report", body),
    ))
}

/// The report's figures in a line: the page's head and the Minister's weekly mail's.
pub(super) fn report_summary(lang: Lang, p: &DirectiveProgress) -> Markup {
    html! {
        p { b { (p.number) } " — " (p.title) }
        p { (t(lang, "generated")) ": " (p.today) " · " (t(lang, "done")) " " (p.counts.done) "/" (p.counts.assigned) " (" (p.percent_done) "%) · "
            (t(lang, "blocked")) " " (p.counts.blocked) " · " (t(lang, "overdue")) " " (p.counts.overdue) }
        p id="report-review" { (t(lang, "review")) ": "
            (review_label(lang, ReviewState::Reported)) " " (p.counts.reported) " · "
            (review_label(lang, ReviewState::Accepted)) " " (p.counts.accepted) " · "
            (review_label(lang, ReviewState::Returned)) " " (p.counts.returned) " · "
            (review_label(lang, ReviewState::ChangedAfterAcceptance)) " " (p.counts.changed_after_acceptance) }
    }
}

/// The report's tables, clause by clause and group by group: the page's and the Minister's
/// weekly mail's.
pub(super) fn report_tables(lang: Lang, p: &DirectiveProgress) -> Markup {
    html! {
        table {
            tr { th { (t(lang, "clause")) } th { (t(lang, "text")) } th { (t(lang, "done")) } th { (t(lang, "blocked")) } th { (t(lang, "overdue")) }
                th { (review_label(lang, ReviewState::Reported)) } th { (review_label(lang, ReviewState::Accepted)) } th { (review_label(lang, ReviewState::Returned)) } th { (review_label(lang, ReviewState::ChangedAfterAcceptance)) } }
            @for c in &p.clauses { tr { td { (c.clause) } td class="clause-text" { (clause_label(c)) } td class="num" { (c.counts.done) "/" (c.counts.assigned) } td class="num" { (c.counts.blocked) } td class="num" { (c.counts.overdue) }
                td class="num" { (c.counts.reported) } td class="num" { (c.counts.accepted) } td class="num" { (c.counts.returned) } td class="num" { (c.counts.changed_after_acceptance) } } }
        }
        h2 { (t(lang, "group")) }
        table {
            tr { th { (t(lang, "group")) } th { (t(lang, "done")) } th { (t(lang, "stale")) } }
            @for g in &p.groups { tr { td { (if lang == Lang::En { &g.en } else { &g.name }) " (" (g.members) " " (t(lang, "members")) ")" } td class="num" { (g.counts.done) "/" (g.counts.assigned) } td class="num" { (g.members_not_reporting) } } }
        }
    }
}

/// The task refs (`a3`) of the directive's task rows matching `filter`, keyed by `key`: the
/// links from the pages that show tasks to their history.
async fn task_refs_by(
    state: &AppState,
    directive: &str,
    filter: sea_orm::sea_query::SimpleExpr,
    key: impl Fn(&tasks::Model) -> Option<String>,
) -> Result<BTreeMap<String, String>, ApiError> {
    Ok(tasks::Entity::find()
        .filter(tasks::Column::DirectiveId.eq(directive))
        .filter(filter)
        .all(&state.db)
        .await?
        .into_iter()
        .filter_map(|r| key(&r).map(|k| (k, r.task_ref)))
        .collect())
}

#[derive(Debug, Deserialize)]
pub struct HistoryParams {
    order: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

/// A Unix time as Vietnam's clock shows it (UTC+7).
fn vn_time(at: i64) -> String {
    chrono::FixedOffset::east_opt(7 * 3600)
        .and_then(|tz| chrono::DateTime::from_timestamp(at, 0).map(|t| t.with_timezone(&tz)))
        .map_or_else(
            || at.to_string(),
            |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
        )
}

/// What one operation did, in words. Text typed on phones goes through maud's escaping.
fn what_cell(lang: Lang, unit: &str, what: &What) -> Markup {
    html! {
        @match what {
            What::Status { status } => { (t(lang, "status")) ": " b { (Status::parse(status).map_or(status.as_str(), |s| t(lang, status_key(s)))) } },
            What::Progress { progress } => { (t(lang, "progress")) ": " b { (progress) "%" } },
            What::Assignee { assignee } => { (t(lang, "assignee")) ": " b { (assignee) } },
            What::Due { due } => { (t(lang, "due")) ": " b { @match due { Some(d) => (d), None => (t(lang, "h_cleared")) } } },
            What::Notes { notes } => { (t(lang, "h_notes")) ": " span class="history-text" { (notes) } },
            What::Title { title } => { (t(lang, "h_title")) ": " b { (title) } },
            What::Removed { removed } => { (t(lang, if *removed { "h_hidden" } else { "h_shown" })) },
            What::Comment { text } => { (t(lang, "h_comment")) ": " span class="history-text" { (text) } },
            What::Evidence { file_name, size, sha256 } => {
                (t(lang, "h_evidence")) ": " b { (file_name) } " (" (size) " B, sha256 " code title=(sha256) { (sha256.chars().take(12).collect::<String>()) } "…)"
            },
            What::TaskAdded { title, .. } => { (t(lang, "h_task_added")) ": " b { (title) } },
            What::SubtaskAdded { task, title } => {
                (t(lang, "h_subtask_added")) ": " a href={ "/units/" (unit) "/tasks/" (task) "/history" } { (title) }
            },
            What::Deadline { deadline } => { (t(lang, "h_deadline")) ": " b { @match deadline { Some(d) => (d), None => (t(lang, "h_cleared")) } } },
            What::Assignment { role } => {
                @match role {
                    Some(r) => { (t(lang, "h_role")) ": " b { (t(lang, if r == "lead" { "lead" } else { "coordinating" })) } },
                    None => { (t(lang, "h_withdrawn")) },
                }
            },
            What::Assigned { clause, role } => {
                (t(lang, "h_assigned")) " " b { (clause) } " (" (t(lang, if role == "lead" { "lead" } else { "coordinating" })) ")"
            },
            What::Review { verdict, reason } => {
                b { (t(lang, if verdict == "accepted" { "h_accepted" } else { "h_returned" })) }
                @if !reason.is_empty() { ": " span class="history-text" { (reason) } }
            },
            What::Urged { message, due } => {
                (t(lang, "h_urged")) ": " span class="history-text" { (message) }
                @if let Some(d) = due { " (" (t(lang, "h_new_due")) " " b { (d) } ")" }
            },
        }
    }
}

/// A task's history from the op log: who changed what, when, from which device; paged.
pub async fn task_history(
    state: web::Data<AppState>,
    v: Viewer,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    q: web::Query<HistoryParams>,
) -> PageResult {
    let (id, task) = path.into_inner();
    let lang = v.lang;
    // Who may see a unit's tasks on the dashboard (as `unit`) may see their history.
    let is_group = state.catalogue.get(&id).is_some_and(|u| u.is_group());
    if !(v.caller.reads_everything() || (!is_group && v.caller.is_member_of(&id))) {
        return Err(ApiError::Forbidden(format!("{} may not read {id}", v.caller.username)).into());
    }
    let query = HistoryQuery::from_params(
        &v.directive,
        &id,
        &task,
        q.order.as_deref(),
        q.after.as_deref(),
        q.limit,
    )?;
    let h = task_history::task_history(&state.db, &v.caller, &query).await?;
    let unit_name = state.catalogue.get(&id).map_or(id.as_str(), |u| {
        if lang == Lang::En {
            u.en.as_str()
        } else {
            u.name.as_str()
        }
    });
    let base = format!("/units/{id}/tasks/{}/history", h.task);
    let other = match h.order {
        Order::Oldest => Order::Newest,
        Order::Newest => Order::Oldest,
    };
    let body = html! {
        p {
            a href={ "/units/" (id) } { (unit_name) } " · "
            @if let Some(c) = &h.clause { (t(lang, "clause")) " " a href={ "/clauses/" (c) } { (c) } }
            @else if let Some(title) = &h.title { b { (title) } }
            " · " code { (h.task) }
        }
        p class="noprint" {
            b { (t(lang, if h.order == Order::Oldest { "h_oldest" } else { "h_newest" })) } " · "
            a id="history-order" href={ (base) "?order=" (other.as_str()) } { (t(lang, if other == Order::Oldest { "h_oldest" } else { "h_newest" })) }
        }
        @if h.entries.is_empty() && h.next.is_none() && query.after.is_none() { p class="muted" { (t(lang, "h_none")) } }
        table id="history" {
            tr { th { (t(lang, "h_received")) } th { (t(lang, "h_phone_at")) } th { (t(lang, "h_who")) } th { (t(lang, "h_device")) } th { (t(lang, "h_what")) } }
            @for e in &h.entries {
                tr data-op=(e.op) {
                    td class="num" { (vn_time(e.received_at)) }
                    td class="num" { @match e.phone_at { Some(at) => (vn_time(at)), None => "—" } }
                    td { @match &e.user {
                        Some(u) => { (u.display_name) " " span class="muted" { "(" (u.username) ")" } },
                        None => span class="muted" { (t(lang, "h_unknown")) },
                    } }
                    td { (e.device.name.as_deref().unwrap_or(t(lang, "h_unknown"))) " " span class="muted" { "#" (e.device.actor) } }
                    td { (what_cell(lang, &id, &e.what)) }
                }
            }
        }
        @if let Some(next) = &h.next {
            p class="noprint" { a id="history-next" href={ (base) "?order=" (h.order.as_str()) "&after=" (next) "&limit=" (query.limit) } { (t(lang, "h_next")) } }
        }
    };
    let title = format!("{} — {}", t(lang, "h_history"), h.task);
    Ok(page(
        &req,
        layout::shell(lang, &v.caller, &title, &format!("/units/{id}"), body),
    ))
}
