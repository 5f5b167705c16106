//! The mails' words (issue 22): each digest, reminder and urge as a subject, a plain-text part
//! and an HTML part, rendered with the dashboard's templates (its stylesheet, labels, report
//! tables), in the recipient's language, linking to the dashboard's pages. No image, no
//! remote resource, no script.

use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;
use maud::{Markup, html};
use std::fmt::Write as _;
use taskforce_core::{doc::ReviewState, progress::Counts};

use super::{
    i18n::{Lang, review_label, t},
    layout,
    office::segment,
    pages::{report_summary, report_tables},
};
use crate::{
    config::mail::Language,
    progress::{
        DirectiveProgress,
        digest::{
            Cut, DirectiveDigest, HotlineLine, MovedClause, OfficeDigest, TaskLine, UnitName,
            UnitReminder, Urge,
        },
    },
};

/// A mail's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl From<Language> for Lang {
    fn from(l: Language) -> Self {
        match l {
            Language::Vi => Lang::Vi,
            Language::En => Lang::En,
        }
    }
}

fn w(lang: Lang, vi: &'static str, en: &'static str) -> &'static str {
    match lang {
        Lang::Vi => vi,
        Lang::En => en,
    }
}

fn name(lang: Lang, u: &UnitName) -> &str {
    match lang {
        Lang::Vi => &u.vi,
        Lang::En => &u.en,
    }
}

/// Text a phone typed (a title, a hotline, a carrier's words) as one line of the plain-text
/// part: line breaks, tabs and other control characters become spaces and the bidirectional
/// overrides and isolates are dropped, so a title cannot start a line of its own (a forged
/// signature, a link that seems the digest's) or turn the text around.
pub fn one_line(s: &str) -> String {
    s.chars()
        .filter(|c| {
            !matches!(
                c,
                '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
            )
        })
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// Words of the Ministry Office's (an urge's message) in the plain-text part: its lines kept,
/// each indented under the heading, control characters and bidirectional controls as
/// [`one_line`].
fn indented(s: &str) -> String {
    s.lines().map(one_line).collect::<Vec<_>>().join("\n    ")
}

fn date(lang: Lang, d: NaiveDate) -> String {
    match lang {
        Lang::Vi => d.format("%d/%m/%Y").to_string(),
        Lang::En => d.format("%Y-%m-%d").to_string(),
    }
}

fn time(tz: Tz, at: i64) -> String {
    DateTime::from_timestamp(at, 0).map_or_else(
        || at.to_string(),
        |t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
    )
}

/// Where a mail links to.
#[derive(Debug, Clone, Copy)]
pub struct Links<'a> {
    pub base: &'a str,
    pub tz: Tz,
}

impl Links<'_> {
    fn overview(&self, directive: &str) -> String {
        format!("{}/?directive={}", self.base, segment(directive))
    }
    fn page(&self, page: &str, directive: &str) -> String {
        format!("{}/{page}?directive={}", self.base, segment(directive))
    }
    fn unit(&self, unit: &str, directive: &str) -> String {
        format!(
            "{}/units/{}?directive={}",
            self.base,
            segment(unit),
            segment(directive)
        )
    }
    fn task(&self, unit: &str, task: &str, directive: &str) -> String {
        format!(
            "{}/units/{}/tasks/{}/history?directive={}",
            self.base,
            segment(unit),
            segment(task),
            segment(directive)
        )
    }
}

fn counts_line(lang: Lang, c: &Counts, percent: u8) -> String {
    format!(
        "{} {}/{} ({percent}%) · {} {} · {} {} · {} {}",
        t(lang, "done"),
        c.done,
        c.assigned,
        t(lang, "blocked"),
        c.blocked,
        t(lang, "overdue"),
        c.overdue,
        review_label(lang, ReviewState::Reported),
        c.reported,
    )
}

fn more_line(lang: Lang, more: usize) -> String {
    format!(
        "{} {more} {}",
        w(lang, "… và", "… and"),
        w(lang, "mục nữa trên trang", "more on the page")
    )
}

fn task_text(lang: Lang, tz: Tz, l: &TaskLine) -> String {
    let mut s = format!(
        "{} · {} · {}",
        one_line(name(lang, &l.unit)),
        one_line(&l.task),
        one_line(&l.title)
    );
    if let Some(c) = &l.clause {
        let _ = write!(s, " ({} {})", t(lang, "clause"), one_line(c));
    }
    if let Some(d) = l.due {
        let _ = write!(s, " · {} {}", w(lang, "hạn", "due"), date(lang, d));
    }
    if l.urges > 0 {
        let _ = write!(s, " · {} {}×", w(lang, "đã đôn đốc", "urged"), l.urges);
        if let Some(at) = l.last_urged_at {
            let _ = write!(s, " ({})", time(tz, at));
        }
    }
    s
}

fn text_list<T>(
    out: &mut String,
    heading: &str,
    cut: &Cut<T>,
    lang: Lang,
    line: impl Fn(&T) -> String,
) {
    let _ = writeln!(out, "\n{heading} ({})", cut.len());
    if cut.is_empty() {
        let _ = writeln!(out, "  —");
    }
    for x in &cut.shown {
        let _ = writeln!(out, "  - {}", line(x));
    }
    if cut.more > 0 {
        let _ = writeln!(out, "  {}", more_line(lang, cut.more));
    }
}

fn task_rows(lang: Lang, links: Links<'_>, directive: &str, cut: &Cut<TaskLine>) -> Markup {
    html! {
        @if cut.is_empty() { p class="muted" { "—" } } @else {
            table {
                tr { th { (t(lang, "unit")) } th { (w(lang, "Nhiệm vụ", "Task")) } th { (t(lang, "clause")) } th { (w(lang, "Hạn", "Due")) } th { (t(lang, "review")) } }
                @for l in &cut.shown {
                    tr {
                        td { a href=(links.unit(&l.unit.id, directive)) { (name(lang, &l.unit)) } }
                        td { a href=(links.task(&l.unit.id, &l.task, directive)) { (l.task) } " " (l.title) }
                        td { (l.clause.as_deref().unwrap_or("—")) }
                        td class="nowrap" { (l.due.map(|d| date(lang, d)).unwrap_or_else(|| "—".into())) }
                        td { (review_label(lang, l.review))
                            @if l.urges > 0 { " · " (w(lang, "đã đôn đốc", "urged")) " " (l.urges) "×" } }
                    }
                }
            }
            @if cut.more > 0 { p class="muted" { (more_line(lang, cut.more)) } }
        }
    }
}

fn hotline_text(lang: Lang, tz: Tz, h: &HotlineLine) -> String {
    format!(
        "{} · {} · {} · {} {} · {}",
        one_line(name(lang, &h.carrier)),
        one_line(&h.hotline),
        t(lang, &h.state),
        t(lang, "free_from"),
        one_line(&h.free_from),
        time(tz, h.at)
    )
}

fn hotline_rows(lang: Lang, tz: Tz, cut: &Cut<HotlineLine>) -> Markup {
    html! {
        @if cut.is_empty() { p class="muted" { "—" } } @else {
            table {
                tr { th { (t(lang, "carrier")) } th { (t(lang, "hotline")) } th { (w(lang, "Trạng thái", "State")) } th { (t(lang, "free_from")) } th { (w(lang, "Lúc", "At")) } }
                @for h in &cut.shown {
                    tr { td { (name(lang, &h.carrier)) } td { (h.hotline) } td { (t(lang, &h.state)) } td { (h.free_from) } td class="nowrap" { (time(tz, h.at)) } }
                }
            }
            @if cut.more > 0 { p class="muted" { (more_line(lang, cut.more)) } }
        }
    }
}

fn office_directive_text(
    out: &mut String,
    lang: Lang,
    links: Links<'_>,
    silent_days: i64,
    d: &DirectiveDigest,
) {
    let p = &d.progress;
    let _ = writeln!(out, "\n== {} — {}", p.number, p.title);
    let _ = writeln!(out, "{}", counts_line(lang, &p.counts, p.percent_done));
    let _ = writeln!(out, "{}", links.overview(&p.directive));
    if d.new_directive {
        let _ = writeln!(
            out,
            "\n{}",
            w(
                lang,
                "Chỉ thị được ban hành sau bản tổng hợp trước.",
                "Published since the last digest."
            )
        );
    }
    match &d.moved {
        None if d.new_directive => {}
        None => {
            let _ = writeln!(
                out,
                "\n{}: {}",
                w(lang, "Điều khoản có thay đổi", "Clauses that moved"),
                w(
                    lang,
                    "đây là bản tổng hợp đầu tiên, chưa có bản trước để so sánh",
                    "this is the first digest, there is none before to compare with"
                )
            );
        }
        Some(m) => text_list(
            out,
            w(
                lang,
                "Điều khoản có thay đổi từ bản trước",
                "Clauses that moved since the last digest",
            ),
            m,
            lang,
            |c| moved_text(lang, c),
        ),
    }
    text_list(
        out,
        w(
            lang,
            "Báo cáo hoàn thành chờ nghiệm thu",
            "Reported done, waiting for acceptance",
        ),
        &d.reported,
        lang,
        |l| task_text(lang, links.tz, l),
    );
    text_list(
        out,
        w(lang, "Nhiệm vụ quá hạn", "Overdue tasks"),
        &d.overdue,
        lang,
        |l| task_text(lang, links.tz, l),
    );
    let silent_heading = match lang {
        Lang::Vi => format!("Đơn vị không báo cáo quá {silent_days} ngày"),
        Lang::En => format!("Units silent for more than {silent_days} days"),
    };
    text_list(out, &silent_heading, &d.silent, lang, |s| {
        format!(
            "{} · {}",
            name(lang, &s.unit),
            s.days_since_report.map_or_else(
                || w(lang, "chưa từng báo cáo", "never reported").to_string(),
                |n| format!("{n} {}", w(lang, "ngày", "days"))
            )
        )
    });
    text_list(
        out,
        w(
            lang,
            "Xác nhận miễn cước mới",
            "New hotline-free confirmations",
        ),
        &d.new_confirmations,
        lang,
        |h| hotline_text(lang, links.tz, h),
    );
    text_list(
        out,
        w(
            lang,
            "Xác nhận miễn cước bị rút hoặc mâu thuẫn",
            "Confirmations withdrawn or contradicted",
        ),
        &d.contradicted,
        lang,
        |h| hotline_text(lang, links.tz, h),
    );
}

fn moved_text(lang: Lang, c: &MovedClause) -> String {
    if c.gone {
        format!(
            "{}: {}/{} → {}",
            c.clause,
            c.before.0,
            c.before.1,
            w(lang, "không còn giao nhiệm vụ", "gives no task any more")
        )
    } else {
        format!(
            "{} {}: {}/{} → {}/{}",
            c.clause,
            one_line(&c.label),
            c.before.0,
            c.before.1,
            c.now.0,
            c.now.1
        )
    }
}

fn office_directive_html(
    lang: Lang,
    links: Links<'_>,
    silent_days: i64,
    d: &DirectiveDigest,
) -> Markup {
    let p = &d.progress;
    let silent_heading = match lang {
        Lang::Vi => format!("Đơn vị không báo cáo quá {silent_days} ngày"),
        Lang::En => format!("Units silent for more than {silent_days} days"),
    };
    html! {
        h2 { a href=(links.overview(&p.directive)) { (p.number) } " — " (p.title) }
        div class="cards" {
            div class="card" { b { (p.percent_done) "%" } (t(lang, "done")) " " (p.counts.done) "/" (p.counts.assigned) }
            div class="card" { b { (p.counts.overdue) } (t(lang, "overdue")) }
            div class="card" { b { (p.counts.blocked) } (t(lang, "blocked")) }
            div class="card" { b { (p.counts.reported) } (review_label(lang, ReviewState::Reported)) }
        }
        p { (layout::bar(p.percent_done)) }
        h2 { (w(lang, "Điều khoản có thay đổi từ bản trước", "Clauses that moved since the last digest")) }
        @if d.new_directive { p class="muted" { (w(lang, "Chỉ thị được ban hành sau bản tổng hợp trước.", "Published since the last digest.")) } }
        @match &d.moved {
            None if d.new_directive => {},
            None => p class="muted" { (w(lang, "Đây là bản tổng hợp đầu tiên, chưa có bản trước để so sánh.", "This is the first digest: there is none before to compare with.")) },
            Some(m) => {
                @if m.is_empty() { p class="muted" { "—" } } @else {
                    table {
                        tr { th { (t(lang, "clause")) } th { (t(lang, "text")) } th { (w(lang, "Trước", "Before")) } th { (w(lang, "Nay", "Now")) } }
                        @for c in &m.shown { tr { td { (c.clause) } td class="clause-text" { (c.label) } td class="num" { (c.before.0) "/" (c.before.1) }
                            td class="num" { @if c.gone { (w(lang, "không còn giao nhiệm vụ", "gives no task any more")) } @else { (c.now.0) "/" (c.now.1) } } } }
                    }
                    @if m.more > 0 { p class="muted" { (more_line(lang, m.more)) } }
                }
            },
        }
        h2 { (w(lang, "Báo cáo hoàn thành chờ nghiệm thu", "Reported done, waiting for acceptance")) " (" (d.reported.len()) ")" }
        (task_rows(lang, links, &p.directive, &d.reported))
        h2 { (w(lang, "Nhiệm vụ quá hạn", "Overdue tasks")) " (" (d.overdue.len()) ")" }
        (task_rows(lang, links, &p.directive, &d.overdue))
        h2 { a href=(links.page("stale", &p.directive)) { (silent_heading) } " (" (d.silent.len()) ")" }
        @if d.silent.is_empty() { p class="muted" { "—" } } @else {
            table {
                tr { th { (t(lang, "unit")) } th { (w(lang, "Ngày từ báo cáo cuối", "Days since the last report")) } }
                @for s in &d.silent.shown { tr { td { a href=(links.unit(&s.unit.id, &p.directive)) { (name(lang, &s.unit)) } } td class="num" { (s.days_since_report.map_or_else(|| w(lang, "chưa từng báo cáo", "never reported").to_string(), |n| n.to_string())) } } }
            }
            @if d.silent.more > 0 { p class="muted" { (more_line(lang, d.silent.more)) } }
        }
        h2 { a href=(links.page("hotlines", &p.directive)) { (w(lang, "Xác nhận miễn cước mới", "New hotline-free confirmations")) } " (" (d.new_confirmations.len()) ")" }
        (hotline_rows(lang, links.tz, &d.new_confirmations))
        h2 { (w(lang, "Xác nhận miễn cước bị rút hoặc mâu thuẫn", "Confirmations withdrawn or contradicted")) " (" (d.contradicted.len()) ")" }
        (hotline_rows(lang, links.tz, &d.contradicted))
    }
}

/// A mail from its subject, its text (the signature added) and its HTML body (in the mails'
/// page, titled as the subject says without its tag).
fn finish(
    lang: Lang,
    links: Links<'_>,
    subject: String,
    mut text: String,
    body: Markup,
) -> Rendered {
    let _ = writeln!(text, "\n-- \ntaskforce · {}", links.base);
    let title = subject.trim_start_matches("[taskforce] ").to_string();
    let html = layout::mail(lang, &title, links.base, body).into_string();
    Rendered {
        subject,
        text,
        html,
    }
}

/// The Ministry Office's daily digest of `day` (the schedule's day).
pub fn office_digest(
    language: Language,
    links: Links<'_>,
    day: NaiveDate,
    digest: &OfficeDigest,
) -> Rendered {
    let lang = Lang::from(language);
    let subject = match lang {
        Lang::Vi => format!("[taskforce] Tổng hợp tiến độ ngày {}", date(lang, day)),
        Lang::En => format!("[taskforce] Daily progress digest, {}", date(lang, day)),
    };
    let mut text = format!(
        "{}\n{}\n",
        subject.trim_start_matches("[taskforce] "),
        w(
            lang,
            "Số liệu như trang tổng quan tại thời điểm lập bản tổng hợp.",
            "Figures as the dashboard showed them when this digest was made."
        )
    );
    for d in &digest.directives {
        office_directive_text(&mut text, lang, links, digest.silent_days, d);
    }
    let body = html! {
        p class="muted" { (w(lang, "Số liệu như trang tổng quan tại thời điểm lập bản tổng hợp.", "Figures as the dashboard showed them when this digest was made.")) }
        @for d in &digest.directives { (office_directive_html(lang, links, digest.silent_days, d)) }
    };
    finish(lang, links, subject, text, body)
}

/// A unit lead's daily reminder.
pub fn unit_reminder(
    language: Language,
    links: Links<'_>,
    day: NaiveDate,
    r: &UnitReminder,
) -> Rendered {
    let lang = Lang::from(language);
    let unit = name(lang, &r.unit);
    let subject = match lang {
        Lang::Vi => format!("[taskforce] {unit}: việc cần làm ngày {}", date(lang, day)),
        Lang::En => format!("[taskforce] {unit}: to do on {}", date(lang, day)),
    };
    let mut text = format!("{}\n", subject.trim_start_matches("[taskforce] "));
    for d in &r.directives {
        let _ = writeln!(text, "\n== {} — {}", d.number, d.title);
        let _ = writeln!(text, "{}", links.unit(&r.unit.id, &d.directive));
        text_list(
            &mut text,
            w(lang, "Nhiệm vụ quá hạn", "Overdue tasks"),
            &d.overdue,
            lang,
            |l| task_text(lang, links.tz, l),
        );
        text_list(
            &mut text,
            w(
                lang,
                "Văn phòng Bộ trả lại, cần làm lại",
                "Returned by the Ministry Office",
            ),
            &d.returned,
            lang,
            |l| task_text(lang, links.tz, l),
        );
        text_list(
            &mut text,
            w(lang, "Văn phòng Bộ đôn đốc", "Urged by the Ministry Office"),
            &d.urged,
            lang,
            |l| task_text(lang, links.tz, l),
        );
        if d.report_missing {
            let _ = writeln!(text, "\n{}", missing_report(lang, d.days_since_report));
        }
    }
    let body = html! {
        @for d in &r.directives {
            h2 { a href=(links.unit(&r.unit.id, &d.directive)) { (d.number) } " — " (d.title) }
            @if d.report_missing { p class="notice notice-error" { (missing_report(lang, d.days_since_report)) } }
            h2 { (w(lang, "Nhiệm vụ quá hạn", "Overdue tasks")) " (" (d.overdue.len()) ")" }
            (task_rows(lang, links, &d.directive, &d.overdue))
            h2 { (w(lang, "Văn phòng Bộ trả lại, cần làm lại", "Returned by the Ministry Office")) " (" (d.returned.len()) ")" }
            (task_rows(lang, links, &d.directive, &d.returned))
            h2 { (w(lang, "Văn phòng Bộ đôn đốc", "Urged by the Ministry Office")) " (" (d.urged.len()) ")" }
            (task_rows(lang, links, &d.directive, &d.urged))
        }
    };
    finish(lang, links, subject, text, body)
}

fn missing_report(lang: Lang, days: Option<i64>) -> String {
    match (lang, days) {
        (Lang::Vi, None) => "Đơn vị chưa gửi báo cáo nào: đề nghị gửi báo cáo tiến độ.".into(),
        (Lang::Vi, Some(n)) => {
            format!("Đã {n} ngày đơn vị chưa gửi báo cáo: đề nghị gửi báo cáo tiến độ.")
        }
        (Lang::En, None) => "The unit has never reported: please send a progress report.".into(),
        (Lang::En, Some(n)) => {
            format!("The unit last reported {n} days ago: please send a progress report.")
        }
    }
}

/// The Minister's weekly summary: the printable report's figures, per directive.
pub fn minister_summary(
    language: Language,
    links: Links<'_>,
    week: &str,
    directives: &[DirectiveProgress],
) -> Rendered {
    let lang = Lang::from(language);
    let subject = match lang {
        Lang::Vi => format!("[taskforce] Báo cáo Bộ trưởng, tuần {week}"),
        Lang::En => format!("[taskforce] Report to the Minister, week {week}"),
    };
    let mut text = format!("{}\n", subject.trim_start_matches("[taskforce] "));
    for p in directives {
        let _ = writeln!(text, "\n== {} — {}", p.number, p.title);
        let _ = writeln!(text, "{}: {}", t(lang, "generated"), p.today);
        let _ = writeln!(text, "{}", counts_line(lang, &p.counts, p.percent_done));
        let _ = writeln!(
            text,
            "{}: {} {} · {} {} · {} {} · {} {}",
            t(lang, "review"),
            review_label(lang, ReviewState::Reported),
            p.counts.reported,
            review_label(lang, ReviewState::Accepted),
            p.counts.accepted,
            review_label(lang, ReviewState::Returned),
            p.counts.returned,
            review_label(lang, ReviewState::ChangedAfterAcceptance),
            p.counts.changed_after_acceptance
        );
        let _ = writeln!(text, "{}", links.page("report", &p.directive));
        let _ = writeln!(text, "\n{}:", t(lang, "clause"));
        for c in &p.clauses {
            let _ = writeln!(
                text,
                "  {} {}: {} {}/{} · {} {} · {} {}",
                c.clause,
                crate::progress::digest::clause_label(c),
                t(lang, "done"),
                c.counts.done,
                c.counts.assigned,
                t(lang, "blocked"),
                c.counts.blocked,
                t(lang, "overdue"),
                c.counts.overdue
            );
        }
        if !p.groups.is_empty() {
            let _ = writeln!(text, "\n{}:", t(lang, "group"));
            for g in &p.groups {
                let _ = writeln!(
                    text,
                    "  {} ({} {}): {} {}/{} · {} {}",
                    if lang == Lang::En { &g.en } else { &g.name },
                    g.members,
                    t(lang, "members"),
                    t(lang, "done"),
                    g.counts.done,
                    g.counts.assigned,
                    t(lang, "stale"),
                    g.members_not_reporting
                );
            }
        }
    }
    let body = html! {
        @for p in directives {
            h2 { a href=(links.page("report", &p.directive)) { (t(lang, "report")) } }
            (report_summary(lang, p))
            (report_tables(lang, p))
        }
    };
    finish(lang, links, subject, text, body)
}

/// The Ministry Office's urge on one task, to the unit's lead.
pub fn urge(language: Language, links: Links<'_>, u: &Urge) -> Rendered {
    let lang = Lang::from(language);
    let l = &u.task;
    let subject = match lang {
        Lang::Vi => format!(
            "[taskforce] Văn phòng Bộ đôn đốc: {} · {}",
            name(lang, &l.unit),
            l.task
        ),
        Lang::En => format!(
            "[taskforce] The Ministry Office urges: {} · {}",
            name(lang, &l.unit),
            l.task
        ),
    };
    let link = links.task(&l.unit.id, &l.task, &u.directive);
    let intro = match lang {
        Lang::Vi => format!(
            "Văn phòng Bộ đề nghị đơn vị khẩn trương thực hiện nhiệm vụ sau của {}.",
            u.number
        ),
        Lang::En => format!(
            "The Ministry Office asks the unit to act on this task of {} without delay.",
            u.number
        ),
    };
    let said = u.message.as_deref().map(|m| {
        format!(
            "{}: «{m}»",
            w(lang, "Ý kiến của Văn phòng Bộ", "The Ministry Office says")
        )
    });
    let due = u
        .due
        .map(|d| format!("{}: {}", w(lang, "Hạn mới", "New deadline"), date(lang, d)));
    let said_text = u.message.as_deref().map(|m| {
        format!(
            "{}: «{}»",
            w(lang, "Ý kiến của Văn phòng Bộ", "The Ministry Office says"),
            indented(m)
        )
    });
    let mut text = format!("{intro}\n\n  - {}\n", task_text(lang, links.tz, l));
    for line in said_text.iter().chain(due.iter()) {
        let _ = writeln!(text, "\n{line}");
    }
    let _ = writeln!(text, "\n{link}");
    let body = html! {
        p { (intro) }
        (task_rows(lang, links, &u.directive, &Cut { shown: vec![l.clone()], more: 0 }))
        @if let Some(s) = &said { p { b { (s) } } }
        @if let Some(d) = &due { p { (d) } }
        p { a href=(link) { (w(lang, "Mở nhiệm vụ trên trang", "Open the task")) } }
    };
    finish(lang, links, subject, text, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(title: &str) -> TaskLine {
        TaskLine {
            unit: UnitName {
                id: "cuc-vt".into(),
                vi: "Cục Viễn thông".into(),
                en: "Telecommunications Authority".into(),
            },
            task: "x1".into(),
            clause: None,
            title: title.into(),
            due: None,
            review: ReviewState::Open,
            urges: 1,
            last_urged_at: Some(1_580_601_600),
        }
    }

    fn links() -> Links<'static> {
        Links {
            base: "https://taskforce.mic.gov.vn",
            tz: chrono_tz::Asia::Ho_Chi_Minh,
        }
    }

    #[test]
    fn a_title_typed_on_a_phone_stays_on_its_line_in_the_text_and_is_escaped_in_the_html() {
        let forged =
            "Báo cáo\r\n-- \nĐăng nhập lại: https://evil.example/\u{202e}gpj.exe\t<b>x</b>";
        let u = Urge {
            directive: "5-ct-btttt".into(),
            number: "5/CT-BTTTT".into(),
            task: line(forged),
            message: Some("Khẩn trương\nhttps://giả.example".into()),
            due: None,
        };
        let r = urge(Language::Vi, links(), &u);
        for l in r.text.lines() {
            assert!(!l.starts_with("Đăng nhập lại"), "{}", r.text);
            assert!(!l.starts_with("https://evil"), "{}", r.text);
            assert!(!l.contains('\u{2028}'), "{}", r.text);
            assert!(
                !l.starts_with("https://giả"),
                "the office's words are indented: {}",
                r.text
            );
        }
        assert_eq!(
            r.text.matches("\n-- \n").count(),
            1,
            "one signature: {}",
            r.text
        );
        assert!(!r.text.contains('\u{202e}') && !r.text.contains('\r'));
        assert!(r.text.contains("Báo cáo  --  Đăng nhập lại"), "{}", r.text);
        assert!(r.html.contains("&lt;b&gt;x&lt;/b&gt;"), "{}", r.html);
        assert!(!r.html.contains("<b>x</b>"));
        // Times are Vietnam's: 1 580 601 600 is 2020-02-02 00:00 UTC, 07:00 in Hanoi.
        assert!(r.text.contains("(2020-02-02 07:00)"), "{}", r.text);
    }

    #[test]
    fn a_long_list_says_how_many_more_and_both_languages_render() {
        let mut out = String::new();
        let cut = Cut {
            shown: vec![line("a"), line("b")],
            more: 5,
        };
        text_list(&mut out, "Nhiệm vụ quá hạn", &cut, Lang::Vi, |l| {
            task_text(Lang::Vi, links().tz, l)
        });
        assert!(out.contains("Nhiệm vụ quá hạn (7)"), "{out}");
        assert!(out.contains("… và 5 mục nữa trên trang"), "{out}");
        let mut out = String::new();
        text_list(&mut out, "Overdue tasks", &cut, Lang::En, |l| {
            task_text(Lang::En, links().tz, l)
        });
        assert!(out.contains("… and 5 more on the page"), "{out}");
        assert!(
            out.contains("Telecommunications Authority · x1 · a"),
            "{out}"
        );
    }
}
