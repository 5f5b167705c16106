//! Repairs what PDF extraction does to a directive's text and cuts it into paragraphs.
//!
//! The rules, in order: CRLF and lone CR become LF; NFC normalisation; markdown emphasis
//! (`**x**`, `__x__`) is stripped; bare page numbers (`12`, `- 12 -`, `Trang 3/7`), separator
//! rules (`-----`), running page headers (a short line repeated on several pages), what
//! scans and gazettes add between pages (`--- Trang 2 ---`, `[Page 3]`, `Ký bởi: …` stamps,
//! `CÔNG BÁO/Số …` headers) and stray one- or two-character OCR noise are dropped;
//! hard-wrapped lines are joined into paragraphs; a paragraph split across a blank
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

// The markers' heads only: the text after the head is the rest (see `after_head`), which
// keeps the regexes off the length of the paragraph.
static ROMAN: LazyLock<Regex> = LazyLock::new(|| re(r"^([IVXL]{1,6})\.\s+"));
static NUMBER: LazyLock<Regex> = LazyLock::new(|| re(r"^(\d{1,2}(?:\.\d{1,2}){0,3})(?:\.|\))\s+"));
static DOTTED: LazyLock<Regex> = LazyLock::new(|| re(r"^(\d{1,2}(?:\.\d{1,2}){1,3})\s+"));
static LETTER: LazyLock<Regex> = LazyLock::new(|| re(r"^([a-zđ])\)\s+"));
static DASH: LazyLock<Regex> = LazyLock::new(|| re(r"^[-–—•]\s+"));
static PLUS: LazyLock<Regex> = LazyLock::new(|| re(r"^\+\s+"));
static PAGE_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^(?:\d{1,3}|[-–]\s*\d{1,3}\s*[-–]|(?:trang|page)\s+\d{1,3}(?:\s*(?:/|trên|of)\s*\d{1,3})?)$",
    )
});
/// Page-break markers left by converters and OCR: `--- Trang 2 ---`, `[Page 3]`, `<<PAGE BREAK>>`.
static PAGE_BREAK: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^(?:[-=–_<\[\s]*(?:page\s*break|ngắt\s*trang|(?:trang|page)\s*\d{1,3}(?:\s*(?:/|trên|of)\s*\d{1,3})?)[-=–_>\]\s]*)$",
    )
});
/// A digital-signature stamp's lines: `Ký bởi: …`, `Email: …`, `Thời gian ký: …`.
static STAMP: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)^(?:ký\s*bởi|signed\s*by|người\s*ký|email|cơ\s*quan|thời\s*gian\s*ký)\s*:")
});
/// A gazette's running header: `CÔNG BÁO/Số 245 + 246/Ngày 20-3-2021`, page number beside it.
static GAZETTE: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)công\s*báo\s*/\s*số\s*\d"));
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
    // Every marker starts with one of these; most paragraphs do not.
    let first = text.chars().next()?;
    if !(matches!(
        first,
        'I' | 'V' | 'X' | 'L' | 'a'..='z' | 'đ' | '-' | '–' | '—' | '•' | '+'
    ) || first.is_ascii_digit())
    {
        return None;
    }
    let head = |pattern: &Regex| -> Option<(Option<&str>, &str)> {
        let c = pattern.captures(text)?;
        let rest = after_head(text, c.get(0)?.end())?;
        Some((c.get(1).map(|m| m.as_str()), rest))
    };
    if let Some((numeral, rest)) = head(&ROMAN) {
        return Some((Marker::Roman(numeral.unwrap_or_default().to_string()), rest));
    }
    for pattern in [&*NUMBER, &*DOTTED] {
        if let Some((path, rest)) = head(pattern) {
            let path: Option<Vec<u32>> = path
                .unwrap_or_default()
                .split('.')
                .map(|n| n.parse().ok())
                .collect();
            if let Some(path) = path {
                return Some((Marker::Number(path), rest));
            }
        }
    }
    if let Some((letter, rest)) = head(&LETTER) {
        return Some((Marker::Letter(letter.unwrap_or_default().to_string()), rest));
    }
    if let Some((_, rest)) = head(&DASH) {
        return Some((Marker::Dash, rest));
    }
    if let Some((_, rest)) = head(&PLUS) {
        return Some((Marker::Plus, rest));
    }
    None
}

/// The text after a marker's head (which ends in whitespace): what `(\S.*)$` would capture,
/// that is the rest of the line, when there is one.
fn after_head(text: &str, end: usize) -> Option<&str> {
    let rest = text.get(end..)?;
    (!rest.is_empty() && !rest.contains('\n')).then_some(rest)
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

/// A heading in capitals, its numeral perhaps misread (`Ill. TỔ CHỨC THỰC HIỆN`).
fn is_heading_line(text: &str) -> bool {
    is_all_caps(text)
        || text.split_once(' ').is_some_and(|(numeral, rest)| {
            numeral.chars().count() <= 6
                && numeral.ends_with(['.', ','])
                && rest.split_whitespace().count() >= 2
                && is_all_caps(rest)
        })
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
    let text = raw
        .trim_start_matches('\u{feff}')
        .replace("\r\n", "\n")
        .replace('\r', "\n");
    // Most texts are already NFC: checking is much cheaper than normalising.
    let text: String = match unicode_normalization::is_nfc_quick(text.chars()) {
        unicode_normalization::IsNormalized::Yes => text,
        _ => text.nfc().collect(),
    };
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
        if PAGE_NUMBER.is_match(&line)
            || SEPARATOR.is_match(&line)
            || running.contains(&line)
            || is_scan_artifact(&line)
        {
            // A page artifact: as if it were not there. The break it stood in still counts
            // as a blank line between paragraphs.
            after_blank = true;
            in_block = false;
            continue;
        }
        let joins_previous = in_block
            && !starts_paragraph(&line)
            && out.last().is_some_and(|p| {
                !is_heading_line(&p.text)
                    && !is_recipients_line(&p.text)
                    && !is_number_line(&p.text)
            });
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

/// What scanning, OCR and gazettes add between pages: page-break markers, signature stamps,
/// the gazette's running header, and stray one- or two-character noise.
fn is_scan_artifact(line: &str) -> bool {
    if PAGE_BREAK.is_match(line) || STAMP.is_match(line) {
        return true;
    }
    if line.chars().count() <= 100 && GAZETTE.is_match(line) {
        return true;
    }
    let n = line.chars().count();
    n <= 2 && line != "/." && !line.ends_with(')') && !line.chars().any(|c| c.is_ascii_digit())
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
    let masks: Vec<Option<String>> = lines
        .iter()
        .map(|l| candidate(l).then(|| mask(l)))
        .collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for m in masks.iter().flatten() {
        *counts.entry(m.as_str()).or_default() += 1;
    }
    lines
        .iter()
        .zip(&masks)
        .filter(|(_, m)| {
            m.as_deref()
                .is_some_and(|m| counts.get(m).is_some_and(|&n| n >= 2))
        })
        .map(|(l, _)| l.clone())
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
        || is_heading_line(prev)
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
    fn scan_artifacts_are_dropped() {
        let raw = "- Một câu bị cắt ngang bởi\n\n--- Trang 2 ---\n\nKý bởi: Văn phòng Chính phủ\n\
                   Email: vpcp@chinhphu.vn\nThời gian ký: 22.03.2021 16:22:41 +07:00\n\n\
                   CÔNG BÁO/Số 245 + 246/Ngày 20-3-2021 25\n\nii\n\nmột trang mới.\n\n[Page 3]\n\n- Hai.";
        assert_eq!(
            texts(raw),
            ["- Một câu bị cắt ngang bởi một trang mới.", "- Hai."]
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
