//! The page shell: head, inline stylesheet (no CDN), navigation, language switch; and the
//! headers every response carries: a Content-Security-Policy that lets the browser run and
//! apply only this file's stylesheet and print script (by their SHA-256), nothing injected.

use std::sync::LazyLock;

use actix_web::middleware::DefaultHeaders;
use base64::{Engine, engine::general_purpose::STANDARD};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use sha2::{Digest, Sha256};

use super::i18n::{Lang, t};
use crate::{auth::Caller, http::CSRF_FIELD};

const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header{background:#b71c1c;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:1rem;align-items:center}
.nowrap{white-space:nowrap}
header a{color:#fff;text-decoration:none}header nav a{margin-right:.8rem}header .right{margin-left:auto}
header form{display:inline}header button{background:none;border:1px solid #fff;color:#fff;border-radius:3px;cursor:pointer}
main{padding:1rem;max-width:1400px}h1{font-size:1.3rem}h2{font-size:1.1rem;margin-top:1.5rem}
table{border-collapse:collapse;background:#fff}th,td{border:1px solid #ddd;padding:.3rem .45rem;font-size:.85rem;vertical-align:top}
th{background:#f1f1f1;text-align:left}.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{height:.7rem;width:10rem;display:inline-block;border-radius:2px;vertical-align:middle}
.s-done{background:#2e7d32;color:#fff}.s-in_progress{background:#f9a825}.s-todo{background:#e0e0e0}.s-blocked{background:#c62828;color:#fff}
.overdue{outline:3px solid #4a0000;outline-offset:-3px;font-weight:bold}
.legend span{display:inline-block;padding:.1rem .4rem;margin-right:.3rem;font-size:.8rem}
.mark{font-size:.75rem;font-weight:bold;background:#fff;color:#1b1b1b;border-radius:2px;padding:0 .15rem}.r-accepted{color:#1b5e20}.r-returned,.r-conflict{color:#b71c1c}.r-changed_after_acceptance{color:#e65100}
.matrix td{text-align:center;min-width:2.2rem}.matrix th.v{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:normal;font-size:.75rem}
.clause-text{max-width:40rem}.muted{color:#666}.cards{display:flex;gap:1rem;flex-wrap:wrap}
.card{background:#fff;border:1px solid #ddd;padding:.6rem 1rem;min-width:8rem}.card b{font-size:1.4rem;display:block}
.error{color:#c62828}
.notice{background:#e8f5e9;border:1px solid #2e7d32;padding:.4rem .8rem;margin:.5rem 0}.notice p{margin:.2rem 0}.notice-error{background:#ffebee;border-color:#c62828}
details.office summary{cursor:pointer;white-space:nowrap}details.office form{margin:.25rem 0;white-space:nowrap}details.office input[type=text]{width:11rem}
.office-group form{margin:.35rem 0}.office-group input[type=text]{width:18rem}
@media print{header,nav,.noprint{display:none}body{background:#fff}}
"#;

/// The report page's print button's handler (no inline `onclick`: the policy forbids them).
const PRINT_SCRIPT: &str =
    r#"document.getElementById("print").addEventListener("click",function(){window.print()});"#;

/// Live updates on every signed-in page (`GET /api/v1/events`, issue 24): when a unit
/// document the caller may read changes, the page reloads itself — at most every 10 s, and
/// never over a form being filled in: then, and when the sign-in ended, it shows the notice
/// `#live` with a link to reload instead. Browsers without EventSource keep the page as is.
const LIVE_SCRIPT: &str = r#"(function(){var n=document.getElementById("live");if(!n||!window.EventSource)return;var loaded=Date.now(),dirty=false,timer=null;document.addEventListener("input",function(){dirty=true},true);var es=new EventSource("/api/v1/events");es.onopen=function(){n.dataset.connected="1"};function show(){n.hidden=false}function changed(){if(dirty){show();return}if(timer)return;var wait=Math.max(1500,loaded+10000-Date.now());timer=setTimeout(function(){if(dirty){show();timer=null;return}location.reload()},wait)}es.addEventListener("change",changed);es.addEventListener("resync",changed);es.addEventListener("signed-out",function(){es.close();show()})})();"#;

/// `'sha256-…'`, a CSP source for exactly this inline text.
fn csp_hash(text: &str) -> String {
    format!(
        "'sha256-{}'",
        STANDARD.encode(Sha256::digest(text.as_bytes()))
    )
}

/// The Content-Security-Policy of every response: nothing from anywhere unless listed; the
/// one stylesheet and the two scripts of these pages by hash (inline `style=` attributes and
/// event handlers are refused, so none are used); images from here or `data:`; connections
/// (the live updates' stream) and forms here only; never framed; no `<base>`.
pub static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; style-src {}; img-src 'self' data:; script-src {} {}; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        csp_hash(STYLE),
        csp_hash(PRINT_SCRIPT),
        csp_hash(LIVE_SCRIPT)
    )
});

/// The headers every response carries (pages, exports and the API alike), unless a handler
/// set its own.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY.as_str()))
        .add(("X-Frame-Options", "DENY"))
        .add(("X-Content-Type-Options", "nosniff"))
        // Not `no-referrer`: under it a browser sends `Origin: null` with the pages' own
        // forms, which the sign-in's cross-site check must refuse. `same-origin` sends no
        // address to another site and a real `Origin` here.
        .add(("Referrer-Policy", "same-origin"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add(("Cross-Origin-Resource-Policy", "same-origin"))
}

/// Where a signed-in page's sign-out form takes its CSRF field: `super::page` puts the
/// session's token there. Only this code can write it: maud escapes every `<` of a text.
pub const CSRF_SLOT: &str = r#"<input type="hidden" name="csrf" data-tf-csrf-slot>"#;

/// The hidden CSRF field with its value, masked afresh for each answer (`http::mask_csrf`).
pub fn csrf_input(token: &str) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(crate::http::mask_csrf(token)); }
}

pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="vi" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
}

/// A mail's HTML part: the pages' stylesheet inline, no script, no image, no remote
/// resource; the title as the pages' header shows it and a link to the dashboard.
pub fn mail(lang: Lang, title: &str, dashboard: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header { a href=(dashboard) { b { "taskforce" } } span { (title) } }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// A signed-in page: navigation, language switch, sign-out.
pub fn shell(lang: Lang, caller: &Caller, title: &str, path: &str, body: Markup) -> Markup {
    let other = lang.other();
    let sep = if path.contains('?') { '&' } else { '?' };
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — taskforce" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    a href="/" { b { "taskforce" } }
                    nav {
                        a href="/" { (t(lang, "overview")) }
                        a href="/matrix" id="nav-matrix" { (t(lang, "matrix")) }
                        a href="/hotlines" { (t(lang, "hotlines")) }
                        a href="/stale" { (t(lang, "stale")) }
                        a href="/report" { (t(lang, "report")) }
                        a href="/directives" id="nav-directives" { (t(lang, "all_directives")) }
                    }
                    span class="right" {
                        a id="lang-switch" href={ (path) (sep) "lang=" (other.code()) } { (if other == Lang::En { "English" } else { "Tiếng Việt" }) }
                        " · " (caller.display_name) " · "
                        form method="post" action="/logout" { (PreEscaped(CSRF_SLOT)) button type="submit" { (t(lang, "sign_out")) } }
                    }
                }
                main {
                    p id="live" class="notice noprint" hidden { (t(lang, "live_changed")) " " a href=(path) { (t(lang, "reload")) } }
                    h1 { (title) } (body)
                }
                script { (PreEscaped(LIVE_SCRIPT)) }
            }
        }
    }
}

/// The sign-in form, carrying the pre-session CSRF token (the same as the `tf_csrf` cookie).
pub fn login(lang: Lang, failed: bool, csrf: &str) -> Markup {
    bare(
        t(lang, "sign_in"),
        html! {
            main {
                h1 { "taskforce — " (t(lang, "app")) }
                @if failed { p class="error" id="login-error" { (t(lang, "bad_login")) } }
                form method="post" action="/login" {
                    (csrf_input(csrf))
                    p { label { (t(lang, "username")) br; input name="username" id="username" autocomplete="username" required; } }
                    p { label { (t(lang, "password")) br; input name="password" id="password" type="password" autocomplete="current-password" required; } }
                    p { button type="submit" id="sign-in" { (t(lang, "sign_in")) } }
                }
                p { a href={ "/login?lang=" (lang.other().code()) } { (if lang == Lang::Vi { "English" } else { "Tiếng Việt" }) } }
            }
        },
    )
}

/// A progress bar with its percentage: SVG, whose sizes are attributes (a `style=` attribute
/// would need `'unsafe-inline'`).
pub fn bar(percent: u8) -> Markup {
    let filled = percent.min(100);
    html! {
        svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" aria-label={ (filled) "%" } {
            title { (filled) "%" }
            rect width="100" height="10" fill="#e0e0e0" {}
            rect width=(filled) height="10" fill="#2e7d32" {}
        }
        " " span class="num" { (percent) "%" }
    }
}

/// The print button and its handler.
pub fn print_button(lang: Lang) -> Markup {
    html! {
        p class="noprint" { button type="button" id="print" { (t(lang, "print")) } }
        script { (PreEscaped(PRINT_SCRIPT)) }
    }
}

/// The answer to a form posted without its CSRF token, or from another site: 403, in
/// Vietnamese and English.
pub fn forbidden_form() -> Markup {
    bare(
        "taskforce",
        html! {
            main {
                h1 { "Yêu cầu bị từ chối" }
                p id="csrf-refused" { "Biểu mẫu này không được gửi từ trang của taskforce, hoặc phiên đã hết hạn. Hãy tải lại trang và thử lại." }
                p lang="en" { "This form was not sent from a taskforce page, or the session has ended. Reload the page and try again." }
                p { a href="/login" { "←" } }
            }
        },
    )
}
