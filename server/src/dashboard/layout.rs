//! The page shell: head, inline stylesheet (no CDN), navigation, language switch.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::i18n::{Lang, t};
use crate::auth::Caller;

const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header{background:#b71c1c;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:1rem;align-items:center}
header a{color:#fff;text-decoration:none}header nav a{margin-right:.8rem}header .right{margin-left:auto}
header form{display:inline}header button{background:none;border:1px solid #fff;color:#fff;border-radius:3px;cursor:pointer}
main{padding:1rem;max-width:1400px}h1{font-size:1.3rem}h2{font-size:1.1rem;margin-top:1.5rem}
table{border-collapse:collapse;background:#fff}th,td{border:1px solid #ddd;padding:.3rem .45rem;font-size:.85rem;vertical-align:top}
th{background:#f1f1f1;text-align:left}.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{background:#e0e0e0;height:.7rem;width:10rem;display:inline-block;border-radius:2px;overflow:hidden;vertical-align:middle}
.bar span{display:block;height:100%;background:#2e7d32}
.s-done{background:#2e7d32;color:#fff}.s-in_progress{background:#f9a825}.s-todo{background:#e0e0e0}.s-blocked{background:#c62828;color:#fff}
.overdue{outline:3px solid #4a0000;outline-offset:-3px;font-weight:bold}
.legend span{display:inline-block;padding:.1rem .4rem;margin-right:.3rem;font-size:.8rem}
.matrix td{text-align:center;min-width:2.2rem}.matrix th.v{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:normal;font-size:.75rem}
.clause-text{max-width:40rem}.muted{color:#666}.cards{display:flex;gap:1rem;flex-wrap:wrap}
.card{background:#fff;border:1px solid #ddd;padding:.6rem 1rem;min-width:8rem}.card b{font-size:1.4rem;display:block}
@media print{header,nav,.noprint{display:none}body{background:#fff}}
"#;

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
                    }
                    span class="right" {
                        a id="lang-switch" href={ (path) (sep) "lang=" (other.code()) } { (if other == Lang::En { "English" } else { "Tiếng Việt" }) }
                        " · " (caller.display_name) " · "
                        form method="post" action="/logout" { button type="submit" { (t(lang, "sign_out")) } }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

pub fn login(lang: Lang, failed: bool) -> Markup {
    bare(
        t(lang, "sign_in"),
        html! {
            main {
                h1 { "taskforce — " (t(lang, "app")) }
                @if failed { p style="color:#c62828" id="login-error" { (t(lang, "bad_login")) } }
                form method="post" action="/login" {
                    p { label { (t(lang, "username")) br; input name="username" id="username" autocomplete="username" required; } }
                    p { label { (t(lang, "password")) br; input name="password" id="password" type="password" autocomplete="current-password" required; } }
                    p { button type="submit" id="sign-in" { (t(lang, "sign_in")) } }
                }
                p { a href={ "/login?lang=" (lang.other().code()) } { (if lang == Lang::Vi { "English" } else { "Tiếng Việt" }) } }
            }
        },
    )
}

/// A progress bar with its percentage.
pub fn bar(percent: u8) -> Markup {
    html! { span class="bar" title={ (percent) "%" } { span style={ "width:" (percent) "%" } {} } " " span class="num" { (percent) "%" } }
}
