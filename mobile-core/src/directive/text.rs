//! Repairs what PDF extraction does to a directive's text and cuts it into paragraphs.
//!
//! The rules, in order: CRLF and lone CR become LF; NFC normalisation; markdown emphasis
//! (`**x**`, `__x__`) is stripped; bare page numbers (`12`, `- 12 -`, `Trang 3/7`), separator
//! rules (`-----`) and running page headers (a short line repeated on several pages) are
//! dropped; hard-wrapped lines are joined into paragraphs; a paragraph split across a blank
//! line mid-sentence ("… của Việt" / "Nam, …") is joined again.

use std::{collections::HashMap, sync::LazyLock};

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

/// How a paragraph starts, which decides where it sits in the clause tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    /// `II. NHIỆM VỤ CỤ THỂ`
    Roman(String),
    /// `3.` or `1.2.`: the numbers of the dotted path.
    Number(Vec<u32>),
    /// `a)`, `đ)`
    Letter(String),
    /// `- …`
    Dash,
    /// `+ …`
    Plus,
}

static ROMAN: LazyLock<Regex> = LazyLock::new(|| re(r"^([IVXL]{1,6})\.\s+(\S.*)$"));
static NUMBER: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(\d{1,2}(?:\.\d{1,2}){0,3})(?:\.|\))\s+(\S.*)$"));
static DOTTED: LazyLock<Regex> = LazyLock::new(|| re(r"^(\d{1,2}(?:\.\d{1,2}){1,3})\s+(\S.*)$"));
static LETTER: LazyLock<Regex> = LazyLock::new(|| re(r"^([a-zđ])\)\s+(\S.*)$"));
static DASH: LazyLock<Regex> = LazyLock::new(|| re(r"^[-–—•]\s+(\S.*)$"));
static PLUS: LazyLock<Regex> = LazyLock::new(|| re(r"^\+\s+(\S.*)$"));
static PAGE_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^(?:\d{1,3}|[-–]\s*\d{1,3}\s*[-–]|(?:trang|page)\s+\d{1,3}(?:\s*(?:/|trên|of)\s*\d{1,3})?)$",
    )
});
static SEPARATOR: LazyLock<Regex> = LazyLock::new(|| re(r"^[-_=*.–—…\s]{3,}$"));
static COLUMN_GAP: LazyLock<Regex> = LazyLock::new(|| re(r"(?:[ \u{a0}]{4,}|\t+)"));
static EMPHASIS: LazyLock<Regex> = LazyLock::new(|| re(r"\*\*([^*\n]*)\*\*|__([^_\n]+)__"));
static SPACES: LazyLock<Regex> =
    LazyLock::new(|| re(r"[ \t\u{a0}\u{2000}-\u{200b}\u{202f}\u{3000}]+"));
static DATE_LINE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)ngày\s+\d{1,2}\s+tháng\s+\d{1,2}\s+năm\s+\d{4}"));

/// A pattern of our own: compiled once, checked by the unit tests below.
fn re(pattern: &str) -> Regex {
    match Regex::new(pattern) {
        Ok(r) => r,
        Err(e) => unreachable!("built-in pattern {pattern:?} does not compile: {e}"),
    }
}

/// A paragraph of the repaired text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paragraph {
    pub text: String,
    /// It followed a blank line (or started the text) rather than a line of its own block.
    pub after_blank: bool,
}

/// Which marker starts this paragraph, and the text after it.
pub fn marker(text: &str) -> Option<(Marker, &str)> {
    fn rest<'t>(c: regex::Captures<'t>, i: usize) -> &'t str {
        c.get(i).map_or("", |m| m.as_str())
    }
    if let Some(c) = ROMAN.captures(text) {
        let numeral = c.get(1).map_or("", |m| m.as_str()).to_string();
        return Some((Marker::Roman(numeral), rest(c, 2)));
    }
    for pattern in [&*NUMBER, &*DOTTED] {
        if let Some(c) = pattern.captures(text) {
            let path: Option<Vec<u32>> = c
                .get(1)
                .map_or("", |m| m.as_str())
                .split('.')
                .map(|n| n.parse().ok())
                .collect();
            if let Some(path) = path {
                return Some((Marker::Number(path), rest(c, 2)));
            }
        }
    }
    if let Some(c) = LETTER.captures(text) {
        let letter = c.get(1).map_or("", |m| m.as_str()).to_string();
        return Some((Marker::Letter(letter), rest(c, 2)));
    }
    if let Some(c) = DASH.captures(text) {
        return Some((Marker::Dash, rest(c, 1)));
    }
    if let Some(c) = PLUS.captures(text) {
        return Some((Marker::Plus, rest(c, 1)));
    }
    None
}

/// Every letter is upper case and there are at least two: `BỘ TRƯỞNG`, `KT. THỦ TƯỚNG`.
pub fn is_all_caps(text: &str) -> bool {
    let mut letters = 0;
    for c in text.chars().filter(|c| c.is_alphabetic()) {
        if c.is_lowercase() {
            return false;
        }
        letters += 1;
    }
    letters >= 2
}

/// Ends like a sentence, a list entry or an introduction to a list.
pub fn ends_terminal(text: &str) -> bool {
    text.trim_end()
        .ends_with(['.', ';', ':', '!', '?', '…', '"', '”', ')'])
}

fn is_date_line(text: &str) -> bool {
    DATE_LINE.is_match(text)
}

fn is_number_line(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with("Số:") || t.starts_with("Số :") || t.starts_with("SỐ:")
}

fn is_recipients_line(text: &str) -> bool {
    let lower = text.to_lowercase();
    lower.starts_with("nơi nhận")
}

/// A line that always begins a paragraph of its own, even without a blank line before it.
fn starts_paragraph(line: &str) -> bool {
    marker(line).is_some()
        || is_all_caps(line)
        || is_number_line(line)
        || is_date_line(line)
        || is_recipients_line(line)
        || line.starts_with('(')
}

/// Strip, normalise and split the raw text into paragraphs.
pub fn paragraphs(raw: &str) -> Vec<Paragraph> {
    let text: String = raw
        .trim_start_matches('\u{feff}')
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .nfc()
        .collect();
    let text = EMPHASIS.replace_all(&text, "$1$2");
    // Two columns side by side (the issuer beside the national motto, the recipients beside
    // the signer) come out of a PDF as one line with a wide gap: the left column first.
    let lines: Vec<String> = text
        .lines()
        .flat_map(|l| {
            COLUMN_GAP
                .split(l.trim())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .map(|l| SPACES.replace_all(&l, " ").trim().to_string())
        .collect();
    let running = running_headers(&lines);

    let mut out: Vec<Paragraph> = Vec::new();
    let mut after_blank = true;
    let mut in_block = false;
    for line in lines {
        if line.is_empty() {
            after_blank = true;
            in_block = false;
            continue;
        }
        if PAGE_NUMBER.is_match(&line) || SEPARATOR.is_match(&line) || running.contains(&line) {
            // A page artifact: as if it were not there. The break it stood in still counts
            // as a blank line between paragraphs.
            after_blank = true;
            in_block = false;
            continue;
        }
        let joins_previous = in_block
            && !starts_paragraph(&line)
            && out
                .last()
                .is_some_and(|p| !is_all_caps(&p.text) && !is_recipients_line(&p.text));
        match out.last_mut() {
            Some(prev) if joins_previous => {
                prev.text.push(' ');
                prev.text.push_str(&line);
            }
            _ => out.push(Paragraph {
                text: line,
                after_blank,
            }),
        }
        after_blank = false;
        in_block = true;
    }
    join_split_paragraphs(out)
}

/// Short lines repeated on several pages, page numbers aside: running headers and footers.
fn running_headers(lines: &[String]) -> std::collections::HashSet<String> {
    let mask = |line: &str| -> String {
        line.chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .collect()
    };
    let candidate = |line: &str| {
        !line.is_empty()
            && line.chars().count() <= 80
            && marker(line).is_none()
            && !is_signature_noise(line)
    };
    let mut counts: HashMap<String, usize> = HashMap::new();
    for line in lines.iter().filter(|l| candidate(l)) {
        *counts.entry(mask(line)).or_default() += 1;
    }
    lines
        .iter()
        .filter(|l| candidate(l) && counts.get(&mask(l)).is_some_and(|&n| n >= 2))
        .cloned()
        .collect()
}

/// Lines that may legitimately repeat ("(Đã ký)", "/.").
fn is_signature_noise(line: &str) -> bool {
    line.starts_with('(') || line == "/."
}

/// Joins a paragraph that a page break cut in two.
fn join_split_paragraphs(paragraphs: Vec<Paragraph>) -> Vec<Paragraph> {
    let mut out: Vec<Paragraph> = Vec::with_capacity(paragraphs.len());
    for p in paragraphs {
        if let Some(prev) = out.last_mut()
            && p.after_blank
            && continues(&prev.text, &p.text)
        {
            prev.text.push(' ');
            prev.text.push_str(&p.text);
            continue;
        }
        out.push(p);
    }
    out
}

/// Whether `next` is the rest of the sentence that `prev` breaks off.
fn continues(prev: &str, next: &str) -> bool {
    if ends_terminal(prev)
        || starts_paragraph(next)
        || is_all_caps(prev)
        || is_number_line(prev)
        || is_date_line(prev)
        || is_recipients_line(prev)
    {
        return false;
    }
    let next_lower = next.chars().next().is_some_and(char::is_lowercase);
    if next_lower {
        return true;
    }
    match marker(prev) {
        // A bullet never ends without punctuation: the rest is on the next page.
        Some((Marker::Dash | Marker::Plus, _)) => true,
        // A numbered or lettered line without punctuation is a heading; its text follows.
        Some(_) => false,
        // A plain paragraph broken inside a proper name ("Việt" / "Nam").
        None => {
            !prev.starts_with("Về ")
                && prev
                    .split_whitespace()
                    .last()
                    .and_then(|w| w.chars().next())
                    .is_some_and(char::is_uppercase)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(raw: &str) -> Vec<String> {
        paragraphs(raw).into_iter().map(|p| p.text).collect()
    }

    #[test]
    fn markers_are_recognised() {
        assert_eq!(
            marker("II. NHIỆM VỤ"),
            Some((Marker::Roman("II".into()), "NHIỆM VỤ"))
        );
        assert_eq!(marker("12. Cục"), Some((Marker::Number(vec![12]), "Cục")));
        assert_eq!(
            marker("1.2. Cục"),
            Some((Marker::Number(vec![1, 2]), "Cục"))
        );
        assert_eq!(marker("1.2 Cục"), Some((Marker::Number(vec![1, 2]), "Cục")));
        assert_eq!(marker("đ) Bộ"), Some((Marker::Letter("đ".into()), "Bộ")));
        assert_eq!(marker("- Chỉ đạo"), Some((Marker::Dash, "Chỉ đạo")));
        assert_eq!(marker("+ Chỉ đạo"), Some((Marker::Plus, "Chỉ đạo")));
        assert_eq!(marker("79-CV/TW ngày"), None);
        assert_eq!(marker("2020. Năm"), None);
    }

    #[test]
    fn crlf_emphasis_and_hard_wraps() {
        let raw = "- Phát động **#ICT_anti_nCoV**,\r\nthống nhất mẫu.\r\n\r\n- Tiếp;\r\n";
        assert_eq!(
            texts(raw),
            ["- Phát động #ICT_anti_nCoV, thống nhất mẫu.", "- Tiếp;"]
        );
    }

    #[test]
    fn split_across_a_blank_line_is_joined() {
        let raw = "- trách nhiệm quốc tế của Việt\n\nNam, tinh thần hợp tác.\n\n\
                   - đang quản\n\nlý, cách ly.";
        assert_eq!(
            texts(raw),
            [
                "- trách nhiệm quốc tế của Việt Nam, tinh thần hợp tác.",
                "- đang quản lý, cách ly."
            ]
        );
    }

    #[test]
    fn headings_are_not_joined_to_their_text() {
        let raw = "2. Vụ Bưu chính\n\nChỉ đạo các doanh nghiệp.";
        assert_eq!(texts(raw), ["2. Vụ Bưu chính", "Chỉ đạo các doanh nghiệp."]);
    }

    #[test]
    fn page_artifacts_are_dropped() {
        let raw = "- Một câu bị cắt ngang bởi\n\n2\n\nChỉ thị 05 - trang 2\n\nmột trang mới.\n\n\
                   - Hai.\n\nChỉ thị 05 - trang 3\n\n- 3 -\n\n- Ba.";
        assert_eq!(
            texts(raw),
            [
                "- Một câu bị cắt ngang bởi một trang mới.",
                "- Hai.",
                "- Ba."
            ]
        );
    }

    #[test]
    fn consecutive_bullets_stay_apart() {
        let raw = "Nơi nhận:\n- Như trên;\n- Lưu: VT.\nKT. THỦ TƯỚNG\nPHÓ THỦ TƯỚNG\nNguyễn Văn A";
        assert_eq!(
            texts(raw),
            [
                "Nơi nhận:",
                "- Như trên;",
                "- Lưu: VT.",
                "KT. THỦ TƯỚNG",
                "PHÓ THỦ TƯỚNG",
                "Nguyễn Văn A"
            ]
        );
    }
}
