//! The directives on the dashboard (issue 21): the list of the directives the server tracks
//! with their overall progress; for the Ministry Office, the drafts awaiting review, a form to
//! import a text, and each draft's review page (the clause tree with its units and roles, the
//! importer's warnings beside what they concern, the corrections, what publishing creates,
//! Publish and Discard).
//!
//! The rules are `crate::drafts`' (and mobile-core's `Overrides::correct`): this module only
//! turns forms into their calls. Like the Ministry Office's other forms (`office`), every form
//! carries the session's CSRF token (checked first, else the CSRF page), then the role is
//! checked (else 403); the answer is 303 back with what was done, or why nothing was, in a
//! short-lived cookie the page reads once. The review's forms also carry the draft's
//! `updated_at` as the page showed it: a draft another reviewer changed meanwhile is refused
//! (`draft_changed`), not corrected blind.

use actix_web::{
    HttpRequest, HttpResponse, dev::UrlEncoded, error::UrlencodedError, http::header, web,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use futures_util::StreamExt;
use maud::{Markup, html};
use sea_orm::{EntityTrait, QueryOrder};
use serde::{Deserialize, Serialize};
use taskforce_core::directive::{
    Clause, ClauseKind, Correction, Directive, ImportWarning, MAX_DIRECTIVE_BYTES, Role,
};

use super::{
    PageResult, Viewer,
    i18n::{Lang, t},
    layout::{self, csrf_input},
    office::{page_csrf, segment},
    page, refused_form,
};
use crate::{
    db::entity::directives,
    drafts::{self, By},
    error::ApiError,
    http::{self, cross_site},
    progress::{role_label, visible_progress},
    state::AppState,
};

/// The list of directives, and where the import form posts.
pub const LIST_PATH: &str = "/directives";
const IMPORT_PATH: &str = "/directives/drafts";

/// The cookie carrying a directive form's outcome to the page it returns to.
pub const FLASH_COOKIE: &str = "tf_dflash";

/// The import form's body at most: the text's limit, percent-encoded (every byte of a
/// Vietnamese letter is three characters), with room for the other fields.
pub const IMPORT_BODY_LIMIT: usize = 3 * MAX_DIRECTIVE_BYTES + 64 * 1024;

/// A larger import form is read and dropped up to this size before the page says it is too
/// large (past it, the connection is closed unread).
const DRAINED: usize = 4 * IMPORT_BODY_LIMIT;

/// How many characters of a clause's text the review shows.
const SHOWN: usize = 160;

/// A text in the page's language.
fn w(lang: Lang, vi: &'static str, en: &'static str) -> &'static str {
    if lang == Lang::Vi { vi } else { en }
}

/// What a form did (or why it did nothing), in both languages.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Flash {
    vi: String,
    en: String,
    error: bool,
}

/// At most `n` characters of `s`, with `…` when cut.
fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(n).collect();
        out.push('…');
        out
    }
}

impl Flash {
    fn done(vi: String, en: String) -> Flash {
        Flash {
            vi: short(&vi, 400),
            en: short(&en, 400),
            error: false,
        }
    }

    /// A refusal: the service's message (already Vietnamese / English).
    fn failed(e: &ApiError) -> Flash {
        let (vi, en) = match e {
            ApiError::TooLarge { limit, .. } => (
                format!(
                    "văn bản quá lớn: tối đa {} MiB; không có gì được lưu",
                    limit >> 20
                ),
                format!(
                    "the text is too large: at most {} MiB; nothing was stored",
                    limit >> 20
                ),
            ),
            other => (other.to_string(), other.to_string()),
        };
        Flash {
            vi: short(&vi, 600),
            en: short(&en, 600),
            error: true,
        }
    }

    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(value: &str) -> Option<Flash> {
        if value.len() > 4096 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

fn take_flash(req: &HttpRequest) -> Option<Flash> {
    req.cookie(FLASH_COOKIE)
        .and_then(|c| Flash::decode(c.value()))
}

fn flash_box(lang: Lang, f: &Flash) -> Markup {
    let text = if lang == Lang::Vi { &f.vi } else { &f.en };
    html! {
        @if f.error {
            div class="notice notice-error" id="directive-error" role="alert" {
                b { (w(lang, "Không thực hiện được; không có gì thay đổi", "Not done; nothing changed")) } ": " (text)
            }
        } @else {
            div class="notice" id="directive-done" role="status" { p { (text) } }
        }
    }
}

/// A page, dropping the outcome it showed.
fn shown(req: &HttpRequest, markup: Markup) -> PageResult {
    let mut resp = page(req, markup);
    if req.cookie(FLASH_COOKIE).is_some() {
        resp.add_cookie(&http::removal(req, FLASH_COOKIE))
            .map_err(ApiError::internal)?;
    }
    Ok(resp)
}

/// 303 to `to` with `flash`.
fn back(req: &HttpRequest, to: &str, flash: &Flash) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_string()))
        .cookie(http::cookie(req, FLASH_COOKIE, flash.encode()))
        .finish()
}

fn draft_path(id: &str) -> String {
    format!("{IMPORT_PATH}/{}", segment(id))
}

/// An ISO date as the pages write dates (`14/09/2021`); as stored when it is not one.
fn day(iso: &str) -> String {
    chrono::NaiveDate::parse_from_str(iso, "%Y-%m-%d")
        .map_or_else(|_| iso.to_string(), |d| d.format("%d/%m/%Y").to_string())
}

/// Whether a form carries the session's CSRF token and comes from this site.
fn csrf_ok(req: &HttpRequest, sent: &str) -> bool {
    let expected = page_csrf(req);
    !cross_site(req) && !expected.is_empty() && http::csrf_matches(&expected, sent)
}

/// `GET /directives`: every directive with its overall progress (the caller's own units' for
/// a member); for the Ministry Office also the drafts awaiting review and the import form.
pub async fn list(state: web::Data<AppState>, v: Viewer, req: HttpRequest) -> PageResult {
    let lang = v.lang;
    let rows = directives::Entity::find()
        .order_by_asc(directives::Column::Date)
        .all(&state.db)
        .await
        .map_err(ApiError::from)?;
    let mut progress = Vec::with_capacity(rows.len());
    for d in &rows {
        match visible_progress(&state.db, &state.catalogue, &v.caller, &d.id).await {
            Ok(p) => {
                let behind = if d.revision > 0 && v.caller.acts_for_office() {
                    crate::revisions::behind(&state.db, &d.id, d.revision).await?
                } else {
                    0
                };
                progress.push((d, p, behind));
            }
            // Removed between the two reads: not listed.
            Err(ApiError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let office = v.caller.acts_for_office();
    let pending = if office {
        drafts::list_drafts(&state.db).await?
    } else {
        Vec::new()
    };
    let csrf = page_csrf(&req);
    let flash = take_flash(&req);
    let body = html! {
        @if let Some(f) = &flash { (flash_box(lang, f)) }
        table id="directives" {
            tr {
                th { (w(lang, "Số", "Number")) } th { (w(lang, "Trích yếu", "Title")) } th { (w(lang, "Ngày", "Date")) }
                th { (t(lang, "tasks")) } th { (t(lang, "done")) } th { (t(lang, "in_progress")) }
                th { (t(lang, "blocked")) } th { (t(lang, "overdue")) } th { (t(lang, "progress")) }
            }
            @for (d, p, behind) in &progress {
                tr data-directive=(d.id) {
                    td class="nowrap" {
                        a href={ "/?directive=" (segment(&d.id)) } { (d.number) }
                        @if d.revision > 0 { br; span class="muted revision" { (w(lang, "sửa đổi lần ", "revision ")) (d.revision) } }
                        @if *behind > 0 {
                            form method="post" action={ "/directives/" (segment(&d.id)) "/bring" } class="bring" {
                                (csrf_input(&csrf))
                                button type="submit" { (w(lang, "Cập nhật ", "Bring ")) (behind) (w(lang, " tài liệu chưa theo bản sửa đổi", " documents to the revision")) }
                            }
                        }
                    }
                    td class="clause-text" { (short(&d.title, 120)) }
                    td { (day(&d.date)) }
                    td class="num" { (p.counts.assigned) }
                    td class="num" { (p.counts.done) }
                    td class="num" { (p.counts.in_progress) }
                    td class="num" { (p.counts.blocked) }
                    td class="num" { (p.counts.overdue) }
                    td { (layout::bar(p.percent_done)) }
                }
            }
        }
        @if office {
            h2 { (w(lang, "Bản nháp chờ duyệt", "Drafts awaiting review")) }
            @if pending.is_empty() {
                p class="muted" id="no-drafts" { (w(lang, "Không có bản nháp nào.", "No drafts.")) }
            } @else {
                table id="drafts" {
                    tr { th { (w(lang, "Số", "Number")) } th { (w(lang, "Trích yếu", "Title")) } th { (w(lang, "Ngày", "Date")) } th { (w(lang, "Cảnh báo", "Warnings")) } }
                    @for d in &pending {
                        tr data-draft=(d.id) {
                            td { a href=(draft_path(&d.id)) { (d.number) } }
                            td class="clause-text" { (short(&d.title, 120)) }
                            td { (day(&d.date)) }
                            td class="num" { (d.warnings) }
                        }
                    }
                }
            }
            h2 { (w(lang, "Nhập chỉ thị mới", "Import a directive")) }
            p class="muted" { (w(lang,
                "Dán toàn văn chỉ thị (văn bản trích từ bản PDF đã ký, tối đa 2 MiB). Văn bản được lưu thành bản nháp để rà soát trước khi ban hành.",
                "Paste the directive's whole text (as extracted from the signed PDF, at most 2 MiB). It is kept as a draft to review before publishing.")) }
            form method="post" action=(IMPORT_PATH) id="import" {
                (csrf_input(&csrf))
                p { textarea name="text" id="import-text" rows="14" cols="90" required {} }
                p { button type="submit" id="import-submit" { (w(lang, "Nhập thành bản nháp", "Import as a draft")) } }
            }
        }
    };
    shown(
        &req,
        layout::shell(lang, &v.caller, t(lang, "all_directives"), LIST_PATH, body),
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct ImportForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    text: String,
}

/// `POST /directives/drafts`: the import form. Its body is read here with its own limit (a
/// directive's text is far larger than the forms' default); too large a body, or text, is
/// said on the list page, nothing stored.
pub async fn import(
    state: web::Data<AppState>,
    v: Viewer,
    req: HttpRequest,
    payload: web::Payload,
) -> PageResult {
    if cross_site(&req) {
        return Ok(refused_form());
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let mut payload = payload;
    let form = if let Some(size) = declared.filter(|&n| n > IMPORT_BODY_LIMIT) {
        // Read (and drop) what the browser sends, within reason, so that it reads the answer
        // rather than a reset connection.
        if size <= DRAINED {
            let mut read = 0usize;
            while let Some(Ok(chunk)) = payload.next().await {
                read += chunk.len();
                if read > DRAINED {
                    break;
                }
            }
        }
        Err(size)
    } else {
        match UrlEncoded::<ImportForm>::new(&req, &mut payload.into_inner())
            .limit(IMPORT_BODY_LIMIT)
            .await
        {
            Ok(f) => Ok(f),
            Err(UrlencodedError::Overflow { size, .. }) => Err(size),
            // Not a form (or unreadable): no token could be read from it.
            Err(_) => Ok(ImportForm::default()),
        }
    };
    let form = match form {
        Ok(f) => f,
        Err(size) => {
            // Only a Ministry Office page is told why (else: the usual refusal).
            By::caller(&v.caller)?;
            let too_large = ApiError::TooLarge {
                size,
                limit: MAX_DIRECTIVE_BYTES,
            };
            return Ok(back(&req, LIST_PATH, &Flash::failed(&too_large)));
        }
    };
    if !csrf_ok(&req, &form.csrf) {
        return Ok(refused_form());
    }
    let by = By::caller(&v.caller)?;
    if form.text.trim().is_empty() {
        let e =
            ApiError::BadRequest("hãy dán toàn văn chỉ thị / paste the directive's text".into());
        return Ok(back(&req, LIST_PATH, &Flash::failed(&e)));
    }
    // A browser sends a textarea's line breaks as CRLF.
    let text = form.text.replace("\r\n", "\n");
    match drafts::import_draft(&state.db, &state.catalogue, &by, text.as_bytes()).await {
        Ok(d) => {
            let flash = Flash::done(
                format!(
                    "Đã nhập {} thành bản nháp: hãy rà soát rồi ban hành",
                    d.number
                ),
                format!("{} imported as a draft: review it, then publish", d.number),
            );
            Ok(back(&req, &draft_path(&d.id), &flash))
        }
        Err(e @ ApiError::Internal(_)) => Err(e.into()),
        Err(e) => Ok(back(&req, LIST_PATH, &Flash::failed(&e))),
    }
}

#[derive(Debug, Deserialize)]
pub struct ReviewQuery {
    /// The clause whose "add a unit" form is open.
    add: Option<String>,
}

fn kind_label(lang: Lang, k: ClauseKind) -> &'static str {
    match k {
        ClauseKind::Section => w(lang, "Mục", "Section"),
        ClauseKind::Item => w(lang, "Khoản", "Item"),
        ClauseKind::Lettered => w(lang, "Điểm", "Point"),
        ClauseKind::Bullet => w(lang, "Gạch đầu dòng", "Bullet"),
        ClauseKind::Closing => w(lang, "Đoạn kết", "Closing"),
    }
}

fn warning_text(lang: Lang, x: &ImportWarning) -> &str {
    if lang == Lang::Vi { &x.vi } else { &x.en }
}

/// What every review form carries: the token and the draft's state as the page showed it.
fn review_hidden(csrf: &str, updated_at: i64) -> Markup {
    html! {
        (csrf_input(csrf))
        input type="hidden" name="updated_at" value=(updated_at);
    }
}

/// One correction's form: its hidden fields and one button.
fn correction_form(ctx: &Review<'_>, class: &str, fields: &[(&str, &str)], label: &str) -> Markup {
    html! {
        form method="post" action={ (draft_path(ctx.id)) "/corrections" } class=(class) {
            (review_hidden(ctx.csrf, ctx.updated_at))
            @for (k, v) in fields { input type="hidden" name=(k) value=(v); }
            button type="submit" { (label) }
        }
    }
}

/// What the review's rows need.
struct Review<'a> {
    lang: Lang,
    id: &'a str,
    csrf: &'a str,
    updated_at: i64,
    directive: &'a Directive,
    /// The clause whose "add a unit" form is open.
    adding: Option<&'a str>,
    /// The units a correction may give a clause: `(id, name)`.
    assignable: &'a [(String, String)],
}

fn role_key(r: Role) -> &'static str {
    match r {
        Role::Lead => "lead",
        Role::Coordinating => "coordinating",
    }
}

fn clause_row(ctx: &Review<'_>, c: &Clause, depth: usize, out: &mut Vec<Markup>) {
    let lang = ctx.lang;
    let field = format!("clause:{}", c.id);
    let warnings: Vec<&ImportWarning> = ctx
        .directive
        .warnings
        .iter()
        .filter(|x| x.field == field)
        .collect();
    let has_text = !c.text.trim().is_empty() && c.kind != ClauseKind::Section;
    // No stylesheet of its own (the layout's is hashed by the policy): depth as indentation.
    let indent = "\u{a0}\u{a0}\u{a0}".repeat(depth.min(6));
    let row = html! {
        tr id={ "c-" (c.id) } data-clause=(c.id) class=(if c.not_actionable { "not-actionable" } else { "" }) {
            td { (indent) b { (c.id) } }
            td { (kind_label(lang, c.kind)) }
            td class="clause-text" {
                @if let Some(h) = &c.heading { b { (short(h, SHOWN)) } @if has_text { br; } }
                @if has_text { (short(&c.text, SHOWN)) }
                @if !warnings.is_empty() {
                    ul class="clause-warnings error" {
                        @for x in &warnings { li { (warning_text(lang, x)) } }
                    }
                }
            }
            td class="clause-units" {
                @if c.not_actionable {
                    p class="muted" { (w(lang, "Không giao nhiệm vụ", "Gives no task")) }
                }
                @for a in &c.units {
                    @let other = if a.role == Role::Lead { Role::Coordinating } else { Role::Lead };
                    @let label = html! {
                        span class="unit-name" { (a.name) } " (" (a.unit) ") — "
                        b class="unit-role" { (role_label(a.role, lang == Lang::En)) }
                    };
                    @if c.not_actionable {
                        div class="unit" data-unit=(a.unit) data-role=(role_key(a.role)) { (label) }
                    } @else {
                        // One form, two buttons: each sends its own `action`.
                        form method="post" action={ (draft_path(ctx.id)) "/corrections" } class="unit" data-unit=(a.unit) data-role=(role_key(a.role)) {
                            (review_hidden(ctx.csrf, ctx.updated_at))
                            input type="hidden" name="clause" value=(c.id);
                            input type="hidden" name="unit" value=(a.unit);
                            input type="hidden" name="role" value=(role_key(other));
                            (label) " "
                            button type="submit" name="action" value="set_role" class="set-role" { "→ " (role_label(other, lang == Lang::En)) }
                            " "
                            button type="submit" name="action" value="remove" class="remove" { (w(lang, "Bỏ đơn vị", "Remove")) }
                        }
                    }
                }
                @if c.is_actionable() {
                    @if ctx.adding == Some(c.id.as_str()) {
                        form method="post" action={ (draft_path(ctx.id)) "/corrections" } id="add-unit" class="add" {
                            (review_hidden(ctx.csrf, ctx.updated_at))
                            input type="hidden" name="action" value="add";
                            input type="hidden" name="clause" value=(c.id);
                            select name="unit" id="add-unit-unit" required {
                                @for (id, name) in ctx.assignable { option value=(id) { (name) " (" (id) ")" } }
                            }
                            " "
                            select name="role" id="add-unit-role" {
                                option value="lead" { (t(lang, "lead")) }
                                option value="coordinating" selected { (t(lang, "coordinating")) }
                            }
                            " " button type="submit" { (w(lang, "Thêm đơn vị", "Add the unit")) }
                        }
                    } @else {
                        a class="add-unit" href={ (draft_path(ctx.id)) "?add=" (segment(&c.id)) "#c-" (c.id) } { "+ " (w(lang, "Thêm đơn vị", "Add a unit")) }
                    }
                }
            }
            td class="clause-actionable" {
                @if c.not_actionable {
                    (correction_form(ctx, "actionable", &[("action", "not_actionable"), ("clause", &c.id), ("value", "false")],
                        w(lang, "Giao nhiệm vụ trở lại", "Gives a task after all")))
                } @else if has_text {
                    (correction_form(ctx, "not-actionable", &[("action", "not_actionable"), ("clause", &c.id), ("value", "true")],
                        w(lang, "Không giao nhiệm vụ", "Gives no task")))
                }
            }
        }
    };
    out.push(row);
    for child in &c.children {
        clause_row(ctx, child, depth + 1, out);
    }
}

/// `GET /directives/drafts/{id}`: the review page.
pub async fn review(
    state: web::Data<AppState>,
    v: Viewer,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ReviewQuery>,
) -> PageResult {
    By::caller(&v.caller)?;
    let id = path.into_inner();
    let draft = drafts::get_draft(&state.db, &state.catalogue, &id).await?;
    let lang = v.lang;
    let csrf = page_csrf(&req);
    let d = &draft.directive;
    let mut assignable: Vec<(String, String)> = state
        .catalogue
        .in_force_on(d.date)
        .filter(|u| u.is_assignable())
        .map(|u| (u.id.clone(), u.name.clone()))
        .collect();
    assignable.sort_by(|a, b| a.1.cmp(&b.1));
    let ctx = Review {
        lang,
        id: &draft.id,
        csrf: &csrf,
        updated_at: draft.updated_at,
        directive: d,
        adding: query.add.as_deref(),
        assignable: &assignable,
    };
    let mut rows = Vec::new();
    for c in &d.clauses {
        clause_row(&ctx, c, 0, &mut rows);
    }
    let header_warnings: Vec<&ImportWarning> = d
        .warnings
        .iter()
        .filter(|x| !x.field.starts_with("clause:"))
        .collect();
    // Warnings about clauses the tree no longer has (a dropped correction's, say).
    let orphans: Vec<&ImportWarning> = d
        .warnings
        .iter()
        .filter(|x| {
            x.field
                .strip_prefix("clause:")
                .is_some_and(|c| d.clause(c).is_none())
        })
        .collect();
    let flash = take_flash(&req);
    let tasks: usize = draft.documents.iter().map(|p| p.tasks).sum();
    let unit_name = |u: &str| {
        state
            .catalogue
            .get(u)
            .map_or_else(|| u.to_string(), |x| x.name.clone())
    };
    let body = html! {
        @if let Some(f) = &flash { (flash_box(lang, f)) }
        p { a href=(LIST_PATH) { "← " (t(lang, "all_directives")) } }
        @if !header_warnings.is_empty() || !orphans.is_empty() {
            div class="notice notice-error" id="header-warnings" {
                b { (w(lang, "Cảnh báo khi nhập văn bản", "The importer's warnings")) }
                ul {
                    @for x in header_warnings.iter().chain(&orphans) { li data-field=(x.field) { b { (x.field) } ": " (warning_text(lang, x)) } }
                }
            }
        }
        table id="draft-header" {
            tr { th { (w(lang, "Số", "Number")) } td id="draft-number" { (d.number) } }
            tr { th { (w(lang, "Cơ quan ban hành", "Issuer")) } td { (d.issuer) } }
            tr { th { (w(lang, "Ngày ban hành", "Date")) } td { @if let Some(p) = &d.place { (p) ", " } (d.date.format("%d/%m/%Y")) } }
            tr { th { (w(lang, "Trích yếu", "Title")) } td { (d.title) } }
            tr { th { (w(lang, "Người ký", "Signer")) } td { (d.signer.title) " — " (d.signer.name) } }
        }
        h2 { (w(lang, "Điều khoản và đơn vị thực hiện", "Clauses and the units that carry them out")) }
        p class="muted" { (w(lang,
            "Chủ trì: đơn vị chịu trách nhiệm chính; phối hợp: đơn vị cùng thực hiện. Mỗi sửa đổi được lưu ngay thành hiệu chỉnh của chỉ thị.",
            "Lead: the unit that must deliver; coordinating: a unit that helps. Each change is saved at once as the directive's corrections.")) }
        table id="clauses" {
            tr { th { (t(lang, "clause")) } th { (w(lang, "Loại", "Kind")) } th { (t(lang, "text")) } th { (t(lang, "units")) } th { (w(lang, "Giao nhiệm vụ", "Gives a task")) } }
            @for r in rows { (r) }
        }
        @if let Some(r) = &draft.revision {
            h2 { (w(lang, "Sửa đổi chỉ thị đã ban hành", "A revision of a published directive")) " (" (r.revision) ")" }
            p class="muted" { (w(lang,
                "Chỉ thị này đã được ban hành. Khi ban hành bản sửa đổi, nhiệm vụ của điều khoản giữ nguyên số hiệu được giữ cùng toàn bộ kết quả đã ghi; nhiệm vụ không còn được giao bị rút (kết quả vẫn được giữ, không tính vào tiến độ); điều khoản mới được giao thành nhiệm vụ mới; đơn vị mới được giao nhận tài liệu riêng.",
                "This directive is published. Publishing the revision keeps the task of every clause that kept its number, with all the work recorded on it; a task no longer given is withdrawn (its work kept, out of the counts); a new clause becomes a new task; a unit newly named gets its own document.")) }
            @if r.units.is_empty() {
                p id="revision-none" { (w(lang, "Không đơn vị nào thay đổi nhiệm vụ.", "No unit's tasks change.")) }
            } @else {
                table id="revision" {
                    tr { th { (t(lang, "unit")) } th { (w(lang, "Giao thêm", "Added")) } th { (w(lang, "Rút", "Withdrawn")) } th { (w(lang, "Đổi vai trò", "Role changed")) } th { (w(lang, "Giữ nguyên", "Kept")) } }
                    @for u in &r.units {
                        tr data-unit=(u.unit) {
                            td { (unit_name(&u.unit)) " (" (u.unit) ")" @if u.new_document { " — " b { (w(lang, "tài liệu mới", "new document")) } } }
                            td class="revision-added" { (u.summary.added.join(", ")) }
                            td class="revision-withdrawn" { (u.summary.withdrawn.join(", ")) }
                            td class="revision-role" { (u.summary.role_changed.join(", ")) }
                            td class="num" { (u.summary.kept.len()) }
                        }
                    }
                }
            }
        } @else {
            h2 { (w(lang, "Khi ban hành", "Publishing creates")) }
            p { (draft.documents.len()) " " (w(lang, "tài liệu của đơn vị", "unit documents")) ", " (tasks) " " (w(lang, "nhiệm vụ", "tasks")) }
            table id="documents" {
                tr { th { (t(lang, "unit")) } th { (t(lang, "tasks")) } }
                @for p in &draft.documents {
                    tr data-unit=(p.unit) { td { (unit_name(&p.unit)) " (" (p.unit) ")" } td class="num" { (p.tasks) } }
                }
            }
        }
        div class="office-group" {
            form method="post" action={ (draft_path(&draft.id)) "/publish" } id="publish" {
                (review_hidden(&csrf, draft.updated_at))
                button type="submit" id="publish-submit" {
                    @if draft.revision.is_some() { (w(lang, "Ban hành bản sửa đổi", "Publish the revision")) }
                    @else { (w(lang, "Ban hành chỉ thị", "Publish the directive")) }
                }
            }
            form method="post" action={ (draft_path(&draft.id)) "/discard" } id="discard" {
                (review_hidden(&csrf, draft.updated_at))
                button type="submit" id="discard-submit" { (w(lang, "Hủy bản nháp", "Discard the draft")) }
            }
        }
    };
    let title = format!("{} {}", w(lang, "Rà soát", "Review of"), d.number);
    shown(
        &req,
        layout::shell(lang, &v.caller, &title, &draft_path(&draft.id), body),
    )
}

/// A review form's fields. All optional, so that any post reaches the CSRF check.
#[derive(Debug, Default, Deserialize)]
pub struct ReviewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    updated_at: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    clause: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    value: String,
}

impl ReviewForm {
    /// The `updated_at` the page showed (none when the form has none).
    fn seen(&self) -> Result<Option<i64>, ApiError> {
        let s = self.updated_at.trim();
        if s.is_empty() {
            return Ok(None);
        }
        s.parse().map(Some).map_err(|_| {
            ApiError::BadRequest(format!("updated_at: not a number: {}", short(s, 20)))
        })
    }

    /// The correction the form asks for.
    fn correction(&self) -> Result<Correction, ApiError> {
        let role = || match self.role.as_str() {
            "lead" => Ok(Role::Lead),
            "coordinating" => Ok(Role::Coordinating),
            other => Err(ApiError::BadRequest(format!(
                "vai trò phải là lead hoặc coordinating / the role must be lead or coordinating, not {:?}",
                short(other, 20)
            ))),
        };
        let (clause, unit) = (self.clause.trim().to_string(), self.unit.trim().to_string());
        Ok(match self.action.as_str() {
            "add" => Correction::Add {
                clause,
                unit,
                role: role()?,
            },
            "remove" => Correction::Remove { clause, unit },
            "set_role" => Correction::SetRole {
                clause,
                unit,
                role: role()?,
            },
            "not_actionable" => Correction::NotActionable {
                clause,
                value: self.value == "true",
            },
            other => {
                return Err(ApiError::BadRequest(format!(
                    "không rõ thao tác / unknown action {:?}",
                    short(other, 20)
                )));
            }
        })
    }
}

/// What a correction did, in words.
fn corrected_line(k: &Correction, lang: Lang) -> String {
    let en = lang == Lang::En;
    match (k, en) {
        (Correction::Add { clause, unit, role }, false) => {
            format!(
                "Đã giao điều khoản {clause} cho {unit} ({})",
                role_label(*role, false)
            )
        }
        (Correction::Add { clause, unit, role }, true) => {
            format!(
                "Clause {clause} given to {unit} ({})",
                role_label(*role, true)
            )
        }
        (Correction::Remove { clause, unit }, false) => {
            format!("Đã bỏ {unit} khỏi điều khoản {clause}")
        }
        (Correction::Remove { clause, unit }, true) => {
            format!("{unit} removed from clause {clause}")
        }
        (Correction::SetRole { clause, unit, role }, false) => format!(
            "{unit} nay là đơn vị {} điều khoản {clause}",
            role_label(*role, false).to_lowercase()
        ),
        (Correction::SetRole { clause, unit, role }, true) => format!(
            "{unit} is now {} on clause {clause}",
            role_label(*role, true).to_lowercase()
        ),
        (
            Correction::NotActionable {
                clause,
                value: true,
            },
            false,
        ) => {
            format!("Điều khoản {clause} không giao nhiệm vụ")
        }
        (
            Correction::NotActionable {
                clause,
                value: true,
            },
            true,
        ) => {
            format!("Clause {clause} gives no task")
        }
        (Correction::NotActionable { clause, .. }, false) => {
            format!("Điều khoản {clause} giao nhiệm vụ trở lại")
        }
        (Correction::NotActionable { clause, .. }, true) => {
            format!("Clause {clause} gives a task again")
        }
    }
}

/// A review form read: go on as the caller, or the answer (the CSRF page, 403).
enum Checked {
    Go(By, ReviewForm),
    Answer(PageResult),
}

fn checked(v: &Viewer, req: &HttpRequest, form: Option<web::Form<ReviewForm>>) -> Checked {
    let form = form.map(web::Form::into_inner).unwrap_or_default();
    if !csrf_ok(req, &form.csrf) {
        return Checked::Answer(Ok(refused_form()));
    }
    match By::caller(&v.caller) {
        Ok(by) => Checked::Go(by, form),
        Err(e) => Checked::Answer(Err(e.into())),
    }
}

/// `POST /directives/drafts/{id}/corrections`: one correction of the review.
pub async fn correct(
    state: web::Data<AppState>,
    v: Viewer,
    req: HttpRequest,
    path: web::Path<String>,
    form: Option<web::Form<ReviewForm>>,
) -> PageResult {
    let (by, form) = match checked(&v, &req, form) {
        Checked::Go(by, form) => (by, form),
        Checked::Answer(answer) => return answer,
    };
    let id = path.into_inner();
    let result = match (form.correction(), form.seen()) {
        (Ok(k), Ok(seen)) => drafts::correct(
            &state.db,
            &state.catalogue,
            &by,
            &id,
            std::slice::from_ref(&k),
            seen,
        )
        .await
        .map(|_| k),
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    let flash = match result {
        Ok(k) => Flash::done(corrected_line(&k, Lang::Vi), corrected_line(&k, Lang::En)),
        Err(e @ ApiError::Internal(_)) => return Err(e.into()),
        Err(ApiError::NotFound(_)) => {
            return Ok(back(
                &req,
                LIST_PATH,
                &Flash::failed(&ApiError::NotFound(format!("draft {id}"))),
            ));
        }
        Err(e) => Flash::failed(&e),
    };
    Ok(back(&req, &draft_path(&id), &flash))
}

/// `POST /directives/drafts/{id}/publish`: publish the draft as reviewed.
pub async fn publish(
    state: web::Data<AppState>,
    v: Viewer,
    req: HttpRequest,
    path: web::Path<String>,
    form: Option<web::Form<ReviewForm>>,
) -> PageResult {
    let (by, form) = match checked(&v, &req, form) {
        Checked::Go(by, form) => (by, form),
        Checked::Answer(answer) => return answer,
    };
    let id = path.into_inner();
    // The service refuses a draft changed since the page showed it (its `updated_at`).
    let result = match form.seen() {
        Ok(seen) => {
            drafts::publish(
                &state.db,
                &state.catalogue,
                &by,
                &id,
                seen,
                Some(state.office()),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(p) if p.revision.is_some() => {
            let r = p.revision.as_ref();
            let (revision, brought, behind) = r.map_or((0, 0, 0), |r| {
                (
                    r.revision,
                    r.documents
                        .iter()
                        .filter(|d| d.outcome == "revised")
                        .count(),
                    r.behind,
                )
            });
            let flash = Flash::done(
                format!(
                    "Đã ban hành bản sửa đổi {revision} của {}: {brought} tài liệu được cập nhật, {behind} chưa cập nhật được; điện thoại nhận được ở lần đồng bộ tới",
                    p.number
                ),
                format!(
                    "Revision {revision} of {} published: {brought} documents brought to it, {behind} still behind; the phones receive it at their next sync",
                    p.number
                ),
            );
            Ok(back(&req, LIST_PATH, &flash))
        }
        Ok(p) => {
            let tasks: usize = p.documents.iter().map(|d| d.tasks).sum();
            let flash = Flash::done(
                format!(
                    "Đã ban hành {}: {} đơn vị, {tasks} nhiệm vụ; điện thoại của các đơn vị nhận được ở lần đồng bộ tới",
                    p.number,
                    p.documents.len()
                ),
                format!(
                    "{} published: {} units, {tasks} tasks; the units' phones receive them at their next sync",
                    p.number,
                    p.documents.len()
                ),
            );
            Ok(back(&req, LIST_PATH, &flash))
        }
        Err(e @ ApiError::Internal(_)) => Err(e.into()),
        Err(e @ ApiError::NotFound(_)) => Ok(back(&req, LIST_PATH, &Flash::failed(&e))),
        Err(e) => Ok(back(&req, &draft_path(&id), &Flash::failed(&e))),
    }
}

/// `POST /directives/drafts/{id}/discard`: throw the draft away.
pub async fn discard(
    state: web::Data<AppState>,
    v: Viewer,
    req: HttpRequest,
    path: web::Path<String>,
    form: Option<web::Form<ReviewForm>>,
) -> PageResult {
    let (by, form) = match checked(&v, &req, form) {
        Checked::Go(by, form) => (by, form),
        Checked::Answer(answer) => return answer,
    };
    let id = path.into_inner();
    let result = match form.seen() {
        Ok(seen) => drafts::discard(&state.db, &by, &id, seen).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(number) => Ok(back(
            &req,
            LIST_PATH,
            &Flash::done(
                format!("Đã hủy bản nháp {number}"),
                format!("Draft {number} discarded"),
            ),
        )),
        Err(e @ ApiError::Internal(_)) => Err(e.into()),
        Err(e @ ApiError::NotFound(_)) => Ok(back(&req, LIST_PATH, &Flash::failed(&e))),
        Err(e) => Ok(back(&req, &draft_path(&id), &Flash::failed(&e))),
    }
}

/// `POST /directives/{id}/bring`: bring the documents behind the directive's revision to it.
pub async fn bring(
    state: web::Data<AppState>,
    v: Viewer,
    req: HttpRequest,
    path: web::Path<String>,
    form: Option<web::Form<ReviewForm>>,
) -> PageResult {
    match checked(&v, &req, form) {
        Checked::Go(..) => {}
        Checked::Answer(answer) => return answer,
    }
    let id = path.into_inner();
    let result = crate::revisions::bring_documents(
        &state.db,
        &state.writer,
        &state.audit_key,
        &state.catalogue,
        &v.caller,
        &id,
    )
    .await;
    match result {
        Ok(b) => {
            let brought = b.documents.len() as u64 - b.behind.min(b.documents.len() as u64);
            let flash = Flash::done(
                format!(
                    "Đã cập nhật {brought} tài liệu theo bản sửa đổi {}; còn {} chưa cập nhật được",
                    b.revision, b.behind
                ),
                format!(
                    "{brought} documents brought to revision {}; {} still behind",
                    b.revision, b.behind
                ),
            );
            Ok(back(&req, LIST_PATH, &flash))
        }
        Err(e @ ApiError::Internal(_)) => Err(e.into()),
        Err(e) => Ok(back(&req, LIST_PATH, &Flash::failed(&e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flash_reads_back_and_a_forged_or_huge_one_is_ignored() {
        let f = Flash::done("Đã nhập".into(), "Imported".into());
        assert_eq!(Flash::decode(&f.encode()), Some(f));
        assert_eq!(Flash::decode("not base64 !"), None);
        assert_eq!(Flash::decode(&"A".repeat(5000)), None);
    }

    #[test]
    fn a_form_becomes_the_correction_it_names_or_a_refusal() {
        let form = |action: &str, role: &str, value: &str| ReviewForm {
            action: action.into(),
            clause: " II.3 ".into(),
            unit: "cuc-vt".into(),
            role: role.into(),
            value: value.into(),
            ..ReviewForm::default()
        };
        assert_eq!(
            form("set_role", "lead", "").correction().ok(),
            Some(Correction::SetRole {
                clause: "II.3".into(),
                unit: "cuc-vt".into(),
                role: Role::Lead
            })
        );
        assert_eq!(
            form("not_actionable", "", "true").correction().ok(),
            Some(Correction::NotActionable {
                clause: "II.3".into(),
                value: true
            })
        );
        assert!(form("add", "boss", "").correction().is_err());
        assert!(form("publish", "", "").correction().is_err());
        let stale = ReviewForm {
            updated_at: "12x".into(),
            ..ReviewForm::default()
        };
        assert!(stale.seen().is_err());
        assert_eq!(ReviewForm::default().seen().ok(), Some(None));
    }

    #[test]
    fn the_way_back_stays_on_this_site() {
        assert_eq!(draft_path("07-ct-btttt"), "/directives/drafts/07-ct-btttt");
        assert_eq!(
            draft_path("/evil.test\r\nX: y"),
            "/directives/drafts/%2Fevil.test%0D%0AX%3A%20y"
        );
    }
}
