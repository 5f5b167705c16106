//! The Ministry Office acting from the dashboard (issue 20): the forms on the unit and clause
//! pages (accept, return, urge, set a deadline, comment; on a task, a unit or a clause), the
//! one route they post to, and the confirmation the page shows after it.
//!
//! The forms are plain HTML (no script: the policy allows none), shown only to accounts that
//! act for the Ministry Office, each carrying the session's CSRF token; a task's review forms
//! carry the task's unit clock as the page showed it (`seen`), so that a review covers what
//! the reviewer saw. `POST /office/actions` checks the token, then the role, then hands the
//! form to the API's rules (`routes::office::parse`, `office::act`) and answers 303 back to
//! the page, with what was done (or why nothing was) in a short-lived cookie the page reads
//! once: the confirmation is the server's, never text a link could carry.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

use super::{PageResult, Viewer, i18n::Lang, layout::csrf_input, refused_form};
use crate::{
    error::ApiError,
    http::{self, TOKEN_COOKIE, cross_site, session_csrf},
    office,
    progress::DEFAULT_DIRECTIVE,
    routes::office::{OfficeAction, parse},
    state::AppState,
};

/// Where the forms post.
pub const ACTION_PATH: &str = "/office/actions";

/// The cookie carrying an action's outcome to the page it returns to.
pub const FLASH_COOKIE: &str = "tf_flash";

/// How many applied and skipped tasks the confirmation lists (the rest are counted): a cookie
/// holds about 4 KB.
const LISTED: usize = 12;

/// A text in the page's language.
fn w(lang: Lang, vi: &'static str, en: &'static str) -> &'static str {
    if lang == Lang::Vi { vi } else { en }
}

/// A form's fields. All optional, so that any post reaches the CSRF check (and a missing
/// field is the API's 400, shown on the page, not a bare one).
#[derive(Debug, Default, Deserialize)]
pub struct ActForm {
    #[serde(default)]
    csrf: String,
    /// The directive the page showed; blank: the bundled one.
    #[serde(default)]
    directive: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    task: String,
    #[serde(default)]
    clause: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    due: String,
    #[serde(default)]
    seen: String,
}

/// What an action did, as the page it returns to shows it.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    #[serde(rename = "a")]
    action: String,
    /// (unit, task) acted on, the first [`LISTED`].
    #[serde(rename = "d")]
    applied: Vec<(String, String)>,
    #[serde(rename = "dn")]
    applied_more: usize,
    /// (unit, task, reason) left alone, the first [`LISTED`].
    #[serde(rename = "s")]
    skipped: Vec<(String, String, String)>,
    #[serde(rename = "sn")]
    skipped_more: usize,
    /// Why nothing was done.
    #[serde(rename = "e")]
    error: Option<String>,
}

/// At most `n` characters of `s`.
fn short(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

impl Flash {
    fn done(action: &str, outcome: office::Outcome) -> Flash {
        let (a, s) = (outcome.applied.len(), outcome.skipped.len());
        Flash {
            action: short(action, 16),
            applied: outcome
                .applied
                .into_iter()
                .take(LISTED)
                .map(|x| (short(&x.unit, 40), short(&x.task, 20)))
                .collect(),
            applied_more: a.saturating_sub(LISTED),
            skipped: outcome
                .skipped
                .into_iter()
                .take(LISTED)
                .map(|x| (short(&x.unit, 40), short(&x.task, 20), short(&x.reason, 80)))
                .collect(),
            skipped_more: s.saturating_sub(LISTED),
            error: None,
        }
    }

    fn failed(action: &str, why: &str) -> Flash {
        Flash {
            action: short(action, 16),
            error: Some(short(why, 300)),
            ..Flash::default()
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

/// The outcome a request carries back from an action, if any (the page then drops the
/// cookie: `super::page`).
pub fn take_flash(req: &HttpRequest) -> Option<Flash> {
    req.cookie(FLASH_COOKIE)
        .and_then(|c| Flash::decode(c.value()))
}

/// "Returned" and the like: what an action did, to a task.
fn verb(lang: Lang, action: &str) -> &'static str {
    match action {
        "accept" => w(lang, "Đã nghiệm thu", "Accepted"),
        "return" => w(lang, "Đã trả lại", "Returned"),
        "urge" => w(lang, "Đã đôn đốc", "Urged"),
        "deadline" => w(lang, "Đã đặt hạn cho", "Set the deadline of"),
        _ => w(lang, "Đã góp ý về", "Commented on"),
    }
}

/// One task acted on, in words: "Đã trả lại nhiệm vụ a0 của cuc-vt".
pub fn done_line(lang: Lang, action: &str, unit: &str, task: &str) -> String {
    match lang {
        Lang::Vi => format!("{} nhiệm vụ {task} của {unit}", verb(lang, action)),
        Lang::En => format!("{} task {task} of {unit}", verb(lang, action)),
    }
}

/// The confirmation (or the error) at the top of a page.
pub fn flash_box(lang: Lang, flash: &Flash) -> Markup {
    html! {
        @if let Some(e) = &flash.error {
            div class="notice notice-error" id="office-error" role="alert" {
                b { (w(lang, "Không thực hiện được; không có gì thay đổi", "Not done; nothing changed")) } ": " (e)
            }
        } @else {
            div class="notice" id="office-done" role="status" {
                @if flash.applied.is_empty() {
                    p { (w(lang, "Không có nhiệm vụ nào phù hợp với thao tác này.", "No task fitted this action.")) }
                }
                @for (unit, task) in &flash.applied { p class="office-applied" { (done_line(lang, &flash.action, unit, task)) } }
                @if flash.applied_more > 0 {
                    p { (w(lang, "và thêm ", "and ")) (flash.applied_more) (w(lang, " nhiệm vụ khác", " more tasks")) }
                }
                @if !flash.skipped.is_empty() {
                    p { b { (w(lang, "Bỏ qua", "Skipped")) } }
                    ul id="office-skipped" {
                        @for (unit, task, reason) in &flash.skipped { li { (task) " — " (unit) ": " (reason) } }
                        @if flash.skipped_more > 0 { li { "+" (flash.skipped_more) } }
                    }
                }
            }
        }
    }
}

/// The CSRF token a signed-in page's forms carry.
pub fn page_csrf(req: &HttpRequest) -> String {
    req.cookie(TOKEN_COOKIE)
        .map(|c| session_csrf(c.value()))
        .unwrap_or_default()
}

/// What every form of a page carries: the session's CSRF token and the directive the page
/// shows (a form acts on the directive it was shown with, whatever another tab picked since).
#[derive(Debug, Clone, Copy)]
pub struct FormCtx<'a> {
    pub csrf: &'a str,
    pub directive: &'a str,
}

/// A form's hidden fields: its token, its directive, its action and its target.
fn hidden(ctx: &FormCtx<'_>, action: &str, target: [(&str, &str); 2]) -> Markup {
    html! {
        (csrf_input(ctx.csrf))
        input type="hidden" name="directive" value=(ctx.directive);
        input type="hidden" name="action" value=(action);
        @for (k, v) in target { @if !v.is_empty() { input type="hidden" name=(k) value=(v); } }
    }
}

/// The five forms of one task of a unit's page, folded under "Act".
pub fn task_forms(
    lang: Lang,
    ctx: &FormCtx<'_>,
    unit: &str,
    task: &str,
    seen: Option<&str>,
) -> Markup {
    let target = [("unit", unit), ("task", task)];
    let seen = html! { @if let Some(s) = seen { input type="hidden" name="seen" value=(s); } };
    html! {
        details class="office" {
            summary { (w(lang, "Thao tác", "Act")) }
            form method="post" action=(ACTION_PATH) class="office-accept" {
                (hidden(ctx, "accept", target)) (seen)
                input type="text" name="text" maxlength="2000" placeholder=(w(lang, "Ghi chú (không bắt buộc)", "Remark (optional)"));
                " " button type="submit" { (w(lang, "Nghiệm thu", "Accept")) }
            }
            form method="post" action=(ACTION_PATH) class="office-return" {
                (hidden(ctx, "return", target)) (seen)
                input type="text" name="text" maxlength="2000" required placeholder=(w(lang, "Lý do trả lại", "Reason for returning"));
                " " button type="submit" { (w(lang, "Trả lại", "Return")) }
            }
            form method="post" action=(ACTION_PATH) class="office-urge" {
                (hidden(ctx, "urge", target))
                input type="text" name="text" maxlength="2000" required placeholder=(w(lang, "Nội dung đôn đốc", "Message"));
                " " label { (w(lang, "Hạn mới", "New deadline")) " " input type="date" name="due"; }
                " " button type="submit" { (w(lang, "Đôn đốc", "Urge")) }
            }
            form method="post" action=(ACTION_PATH) class="office-deadline" {
                (hidden(ctx, "deadline", target))
                label { (w(lang, "Hạn", "Deadline")) " " input type="date" name="due"; }
                " " button type="submit" { (w(lang, "Đặt hạn", "Set deadline")) }
            }
            form method="post" action=(ACTION_PATH) class="office-comment" {
                (hidden(ctx, "comment", target))
                input type="text" name="text" maxlength="2000" required placeholder=(w(lang, "Góp ý", "Comment"));
                " " button type="submit" { (w(lang, "Gửi góp ý", "Comment")) }
            }
        }
    }
}

/// The forms acting on a whole unit: urge it, accept everything it reported done.
pub fn unit_forms(lang: Lang, ctx: &FormCtx<'_>, unit: &str) -> Markup {
    let target = [("unit", unit), ("clause", "")];
    html! {
        div class="office-group noprint" id="office-unit" {
            h2 { (w(lang, "Thao tác của Văn phòng Bộ", "The Ministry Office acts")) }
            form method="post" action=(ACTION_PATH) id="office-unit-urge" {
                (hidden(ctx, "urge", target))
                input type="text" name="text" maxlength="2000" required placeholder=(w(lang, "Đôn đốc đơn vị: nội dung", "Urge the unit: message"));
                " " label { (w(lang, "Hạn mới", "New deadline")) " " input type="date" name="due"; }
                " " button type="submit" { (w(lang, "Đôn đốc mọi nhiệm vụ chưa xong", "Urge every task not done")) }
            }
            form method="post" action=(ACTION_PATH) id="office-unit-accept" {
                (hidden(ctx, "accept", target))
                input type="text" name="text" maxlength="2000" placeholder=(w(lang, "Ghi chú (không bắt buộc)", "Remark (optional)"));
                " " button type="submit" { (w(lang, "Nghiệm thu mọi nhiệm vụ đã báo cáo", "Accept everything reported")) }
            }
        }
    }
}

/// The forms acting on a clause in every unit it names.
pub fn clause_forms(lang: Lang, ctx: &FormCtx<'_>, clause: &str) -> Markup {
    let target = [("clause", clause), ("unit", "")];
    html! {
        div class="office-group noprint" id="office-clause" {
            h2 { (w(lang, "Thao tác của Văn phòng Bộ", "The Ministry Office acts")) }
            form method="post" action=(ACTION_PATH) id="office-clause-urge" {
                (hidden(ctx, "urge", target))
                input type="text" name="text" maxlength="2000" required placeholder=(w(lang, "Đôn đốc các đơn vị: nội dung", "Urge the units: message"));
                " " label { (w(lang, "Hạn mới", "New deadline")) " " input type="date" name="due"; }
                " " button type="submit" { (w(lang, "Đôn đốc mọi đơn vị chưa xong", "Urge every unit not done")) }
            }
            form method="post" action=(ACTION_PATH) id="office-clause-deadline" {
                (hidden(ctx, "deadline", target))
                label { (w(lang, "Hạn cho mọi đơn vị", "Deadline for every unit")) " " input type="date" name="due"; }
                " " button type="submit" { (w(lang, "Đặt hạn", "Set deadline")) }
            }
            form method="post" action=(ACTION_PATH) id="office-clause-accept" {
                (hidden(ctx, "accept", target))
                input type="text" name="text" maxlength="2000" placeholder=(w(lang, "Ghi chú (không bắt buộc)", "Remark (optional)"));
                " " button type="submit" { (w(lang, "Nghiệm thu mọi đơn vị đã báo cáo", "Accept every unit that reported")) }
            }
        }
    }
}

/// A path segment with every byte but the unreserved ones percent-encoded.
pub(super) fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The page a form came from, from its target: a clause's page for a clause, else the unit's;
/// on the form's directive.
fn back_to(form: &ActForm) -> String {
    let (unit, clause) = (form.unit.trim(), form.clause.trim());
    let page = if !unit.is_empty() {
        format!("/units/{}", segment(unit))
    } else if !clause.is_empty() {
        format!("/clauses/{}", segment(clause))
    } else {
        "/".into()
    };
    match form.directive.trim() {
        "" => page,
        d => format!("{page}?directive={}", segment(d)),
    }
}

/// `POST /office/actions`: one of the forms above. The session's CSRF token first (else 403,
/// the CSRF page), then the role (else 403), then the API's rules; 303 back to the page,
/// which shows what was done, or the error with nothing changed.
pub async fn act(
    state: web::Data<AppState>,
    v: Viewer,
    req: HttpRequest,
    form: Option<web::Form<ActForm>>,
) -> PageResult {
    let form = form.map(web::Form::into_inner).unwrap_or_default();
    let expected = page_csrf(&req);
    if cross_site(&req) || expected.is_empty() || !http::csrf_matches(&expected, &form.csrf) {
        return Ok(refused_form());
    }
    v.caller
        .require(v.caller.acts_for_office(), "act for the Ministry Office")?;
    let body = OfficeAction::from_form(
        &form.action,
        [&form.unit, &form.task, &form.clause],
        &form.text,
        &form.due,
        &form.seen,
    );
    let directive = match form.directive.trim() {
        "" => DEFAULT_DIRECTIVE,
        d => d,
    };
    let result = match parse(&body, directive) {
        Ok((directive, target, action)) => {
            office::act(
                &state.db,
                &state.writer,
                &state.audit_key,
                &v.caller,
                &directive,
                &target,
                &action,
                crate::clock::now(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    let flash = match result {
        Ok(outcome) => {
            // An urge's mail goes out at once (issue 22).
            state.mail_wake.notify_one();
            Flash::done(&form.action, outcome)
        }
        Err(e @ ApiError::Internal(_)) => return Err(e.into()),
        Err(e) => Flash::failed(&form.action, &e.to_string()),
    };
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, back_to(&form)))
        .cookie(http::cookie(&req, FLASH_COOKIE, flash.encode()))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flash_reads_back_and_a_forged_or_huge_one_is_ignored() {
        let f = Flash {
            action: "return".into(),
            applied: vec![("cuc-vt".into(), "a0".into())],
            skipped: vec![(
                "cuc-vt".into(),
                "a1".into(),
                "Đã nghiệm thu / accepted".into(),
            )],
            ..Flash::default()
        };
        assert_eq!(Flash::decode(&f.encode()), Some(f));
        assert_eq!(Flash::decode("not base64 !"), None);
        assert_eq!(Flash::decode(&URL_SAFE_NO_PAD.encode(b"[1,2]")), None);
        assert_eq!(Flash::decode(&"A".repeat(5000)), None);
    }

    #[test]
    fn the_confirmation_names_the_task_in_either_language() {
        assert_eq!(
            done_line(Lang::Vi, "return", "cuc-vt", "a0"),
            "Đã trả lại nhiệm vụ a0 của cuc-vt"
        );
        assert_eq!(
            done_line(Lang::En, "return", "cuc-vt", "a0"),
            "Returned task a0 of cuc-vt"
        );
    }

    #[test]
    fn the_way_back_stays_on_this_site() {
        let form = |unit: &str, clause: &str| ActForm {
            unit: unit.into(),
            clause: clause.into(),
            ..ActForm::default()
        };
        assert_eq!(back_to(&form("cuc-vt", "")), "/units/cuc-vt");
        assert_eq!(back_to(&form("", "II.1-1")), "/clauses/II.1-1");
        assert_eq!(back_to(&form("", "")), "/");
        let on = ActForm {
            directive: "07-ct-btttt&x=1".into(),
            ..form("cuc-vt", "")
        };
        assert_eq!(back_to(&on), "/units/cuc-vt?directive=07-ct-btttt%26x%3D1");
        assert_eq!(
            back_to(&form("/evil.test\r\nX: y", "")),
            "/units/%2Fevil.test%0D%0AX%3A%20y"
        );
    }
}
