//! The progress-over-time chart as inline SVG (no script, no library).

use maud::{Markup, html};

use crate::db::entity::progress_history::Model;

/// Done and in-progress shares of the assigned tasks, day by day.
pub fn progress_chart(history: &[Model], label_done: &str, label_in_progress: &str) -> Markup {
    const W: f64 = 640.0;
    const H: f64 = 180.0;
    const PAD: f64 = 30.0;
    let n = history.len();
    let x = |i: usize| {
        if n <= 1 {
            PAD + (W - 2.0 * PAD) / 2.0
        } else {
            PAD + (W - 2.0 * PAD) * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: i32, of: i32| {
        H - PAD
            - (H - 2.0 * PAD)
                * if of > 0 {
                    f64::from(v) / f64::from(of)
                } else {
                    0.0
                }
    };
    let line = |f: &dyn Fn(&Model) -> i32| -> String {
        history
            .iter()
            .enumerate()
            .map(|(i, h)| format!("{:.1},{:.1}", x(i), y(f(h), h.assigned)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let done = line(&|h| h.done);
    let started = line(&|h| h.done + h.in_progress);
    html! {
        svg xmlns="http://www.w3.org/2000/svg" width=(W) height=(H) viewBox={ "0 0 " (W) " " (H) } role="img" id="progress-chart" {
            rect x="0" y="0" width=(W) height=(H) fill="#fff" {}
            @for pct in [0, 50, 100] {
                line x1=(PAD) x2=(W - PAD) y1=(y(pct, 100)) y2=(y(pct, 100)) stroke="#ddd" {}
                text x="2" y=(y(pct, 100) + 4.0) font-size="10" { (pct) "%" }
            }
            polyline points=(started) fill="none" stroke="#f9a825" stroke-width="2" {}
            polyline points=(done) fill="none" stroke="#2e7d32" stroke-width="2" {}
            @for (i, h) in history.iter().enumerate() {
                circle cx=(x(i)) cy=(y(h.done, h.assigned)) r="2.5" fill="#2e7d32" { title { (h.day) ": " (h.done) "/" (h.assigned) } }
            }
            @if let (Some(first), Some(last)) = (history.first(), history.last()) {
                text x=(PAD) y=(H - 8.0) font-size="10" { (first.day) }
                text x=(W - PAD) y=(H - 8.0) font-size="10" text-anchor="end" { (last.day) }
            }
            text x=(W - PAD) y="14" font-size="11" text-anchor="end" fill="#2e7d32" { (label_done) }
            text x=(W - PAD) y="28" font-size="11" text-anchor="end" fill="#b26a00" { (label_done) " + " (label_in_progress) }
        }
    }
}
