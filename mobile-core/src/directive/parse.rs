//! From repaired paragraphs to a [`Directive`]: header, preamble, clause tree, closing
//! paragraphs, recipients and signer.

use std::{collections::HashSet, sync::LazyLock};

use chrono::NaiveDate;
use regex::Regex;

use super::{
    error::DirectiveError,
    model::{Clause, ClauseKind, Directive, Signer},
    text::{Marker, Paragraph, ends_terminal, is_all_caps, marker, paragraphs},
};

/// Directives run to a few dozen pages; anything larger is not one.
pub const MAX_DIRECTIVE_BYTES: usize = 2 * 1024 * 1024;

static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(\d{1,4})\s*/\s*(CT)\s*-\s*([\p{Lu}\p{Ll}0-9Đđ]+(?:\s*-\s*[\p{Lu}0-9Đ]+)?)")
});
static DATE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?:^|,\s*)(?:(?P<place>[^,]*?),\s*)?ngày\s+(?P<d>\d{1,2})\s+tháng\s+(?P<m>\d{1,2})\s+năm\s+(?P<y>\d{4})",
    )
});

fn re(pattern: &str) -> Regex {
    match Regex::new(pattern) {
        Ok(r) => r,
        Err(e) => unreachable!("built-in pattern {pattern:?} does not compile: {e}"),
    }
}

/// Known issuers by the suffix of the number (`…/CT-TTg`).
const ISSUERS: &[(&str, &str)] = &[
    ("TTg", "Thủ tướng Chính phủ"),
    ("BTTTT", "Bộ Thông tin và Truyền thông"),
    ("BYT", "Bộ Y tế"),
    ("BCA", "Bộ Công an"),
    ("BQP", "Bộ Quốc phòng"),
    ("BCT", "Bộ Công Thương"),
    ("BTC", "Bộ Tài chính"),
    ("BGDĐT", "Bộ Giáo dục và Đào tạo"),
    ("BGTVT", "Bộ Giao thông vận tải"),
    ("BNG", "Bộ Ngoại giao"),
    ("BNV", "Bộ Nội vụ"),
    ("BTP", "Bộ Tư pháp"),
    ("BKHĐT", "Bộ Kế hoạch và Đầu tư"),
    ("BKHCN", "Bộ Khoa học và Công nghệ"),
    ("BLĐTBXH", "Bộ Lao động - Thương binh và Xã hội"),
    ("BNNPTNT", "Bộ Nông nghiệp và Phát triển nông thôn"),
    ("BTNMT", "Bộ Tài nguyên và Môi trường"),
    ("BVHTTDL", "Bộ Văn hóa, Thể thao và Du lịch"),
    ("BXD", "Bộ Xây dựng"),
    ("NHNN", "Ngân hàng Nhà nước Việt Nam"),
];

/// Parse a directive from raw bytes (as read from a file or an upload).
pub fn parse_bytes(bytes: &[u8]) -> Result<Directive, DirectiveError> {
    if bytes.len() > MAX_DIRECTIVE_BYTES {
        return Err(DirectiveError::TooLarge {
            size: bytes.len(),
            limit: MAX_DIRECTIVE_BYTES,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| DirectiveError::Binary {
        offset: e.valid_up_to(),
    })?;
    if let Some(offset) = text.find(|c: char| c == '\0' || (c.is_control() && !c.is_whitespace())) {
        return Err(DirectiveError::Binary { offset });
    }
    parse(text)
}

/// Parse a directive's text. Never panics; a text that is not a directive gets an error.
pub fn parse(text: &str) -> Result<Directive, DirectiveError> {
    if text.len() > MAX_DIRECTIVE_BYTES {
        return Err(DirectiveError::TooLarge {
            size: text.len(),
            limit: MAX_DIRECTIVE_BYTES,
        });
    }
    if text.trim().is_empty() {
        return Err(DirectiveError::Empty);
    }
    let paras = paragraphs(text);
    let heading_at = paras
        .iter()
        .position(|p| squash(&p.text) == "CHỈ THỊ")
        .ok_or(DirectiveError::NotADirective(
            "there is no \"CHỈ THỊ\" heading",
        ))?;

    let header = &paras[..heading_at];
    let number =
        header
            .iter()
            .find_map(|p| number_in(&p.text))
            .ok_or(DirectiveError::NotADirective(
                "there is no number such as \"Số: 5/CT-BTTTT\"",
            ))?;
    let (place, date) =
        header
            .iter()
            .find_map(|p| date_in(&p.text))
            .ok_or(DirectiveError::NotADirective(
                "there is no date such as \"ngày 2 tháng 02 năm 2020\"",
            ))?;
    let issuer = issuer_for(&number, header);

    let title_at = heading_at + 1;
    let title =
        paras
            .get(title_at)
            .map(|p| p.text.clone())
            .ok_or(DirectiveError::NotADirective(
                "the \"CHỈ THỊ\" heading has no subject line",
            ))?;

    let body = &paras[title_at + 1..];
    let trailer_at = trailer_start(body);
    let (body, trailer) = body.split_at(trailer_at);
    let first_clause = body
        .iter()
        .position(|p| {
            matches!(
                marker(&p.text),
                Some((Marker::Roman(_) | Marker::Number(_) | Marker::Letter(_), _))
            )
        })
        .ok_or(DirectiveError::NoClauses)?;
    let preamble = body[..first_clause]
        .iter()
        .map(|p| p.text.clone())
        .collect();
    let clauses = build_tree(&body[first_clause..]);
    let (recipients, signer) = read_trailer(trailer);

    Ok(Directive {
        number,
        issuer,
        place,
        date,
        title,
        preamble,
        signer,
        recipients,
        clauses,
    })
}

/// Collapse whitespace: `CHỈ  THỊ` → `CHỈ THỊ`.
fn squash(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end_matches(':')
        .to_string()
}

fn number_in(text: &str) -> Option<String> {
    let c = NUMBER.captures(text)?;
    let digits = c.get(1)?.as_str();
    let suffix: String = c
        .get(3)?
        .as_str()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    Some(format!("{digits}/CT-{suffix}"))
}

fn date_in(text: &str) -> Option<(Option<String>, NaiveDate)> {
    let c = DATE.captures(text)?;
    let n = |name: &str| c.name(name)?.as_str().parse::<u32>().ok();
    let y = i32::try_from(n("y")?).ok()?;
    let date = NaiveDate::from_ymd_opt(y, n("m")?, n("d")?)?;
    let place = c
        .name("place")
        .map(|p| p.as_str().trim().to_string())
        .filter(|p| !p.is_empty() && p.chars().count() <= 40);
    Some((place, date))
}

fn issuer_for(number: &str, header: &[Paragraph]) -> String {
    let suffix = number.rsplit("CT-").next().unwrap_or_default();
    if let Some((_, name)) = ISSUERS.iter().find(|(s, _)| *s == suffix) {
        return (*name).to_string();
    }
    // Otherwise the first all-caps line of the header that is not the national motto.
    header
        .iter()
        .map(|p| p.text.as_str())
        .find(|t| {
            is_all_caps(t)
                && !t.starts_with("CỘNG HÒA")
                && !t.starts_with("CỘNG HOÀ")
                && !t.contains("ĐỘC LẬP")
        })
        .map(sentence_case)
        .unwrap_or_else(|| suffix.to_string())
}

/// `BỘ Y TẾ` → `Bộ Y tế`.
fn sentence_case(text: &str) -> String {
    let lower = text.to_lowercase();
    let mut words = lower.split_whitespace();
    let mut out = String::new();
    if let Some(first) = words.next() {
        let mut cs = first.chars();
        if let Some(c) = cs.next() {
            out.extend(c.to_uppercase());
            out.push_str(cs.as_str());
        }
    }
    for w in words {
        out.push(' ');
        out.push_str(w);
    }
    out
}

/// Where the recipients and signature start: "Nơi nhận", or an all-caps line (the signer's
/// title) once the clauses have begun.
fn trailer_start(body: &[Paragraph]) -> usize {
    let mut seen_clause = false;
    for (i, p) in body.iter().enumerate() {
        let m = marker(&p.text);
        if p.text.to_lowercase().starts_with("nơi nhận") {
            return i;
        }
        if m.is_some() {
            seen_clause = true;
        } else if seen_clause && is_all_caps(&p.text) && p.text.chars().count() <= 60 {
            return i;
        }
    }
    body.len()
}

/// Rank in the tree: a clause nests under the nearest open clause of lower rank.
fn rank(m: &Marker) -> usize {
    match m {
        Marker::Roman(_) => 0,
        Marker::Number(path) => 10 + path.len(),
        Marker::Letter(_) => 20,
        Marker::Dash => 30,
        Marker::Plus => 40,
    }
}

/// A line after a marker that names something rather than says it: no closing punctuation,
/// or a short line introducing a list ("a) Bộ Tài chính:").
fn is_title(text: &str) -> bool {
    let mut t = text.trim_end();
    if t.ends_with(':') {
        return t.chars().count() <= 60;
    }
    // "… tại Việt Nam (Zalo, Lotus, …)": judge the words before the parenthesis.
    if t.ends_with(')')
        && let Some(open) = t.rfind('(')
    {
        t = t[..open].trim_end();
    }
    !t.is_empty() && !ends_terminal(t)
}

struct Open {
    rank: usize,
    clause: Clause,
    bullets: usize,
}

/// Build the clause tree from the paragraphs between the preamble and the trailer.
fn build_tree(paras: &[Paragraph]) -> Vec<Clause> {
    let last_marker = paras
        .iter()
        .rposition(|p| marker(&p.text).is_some())
        .unwrap_or(0);
    let mut top: Vec<Clause> = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut ids: HashSet<String> = HashSet::new();
    let mut top_bullets = 0;
    let mut closing: Vec<String> = Vec::new();

    for (i, p) in paras.iter().enumerate() {
        let Some((m, rest)) = marker(&p.text) else {
            let awaiting_text = stack.last().is_some_and(|o| o.clause.text.is_empty());
            if i > last_marker && !(awaiting_text && closing.is_empty()) {
                closing.push(p.text.clone());
                continue;
            }
            // Text of the innermost clause that is not a bullet (bullets are one paragraph).
            let target = stack
                .iter_mut()
                .rev()
                .find(|o| o.clause.kind != ClauseKind::Bullet || o.clause.text.is_empty());
            match target {
                Some(open) => push_text(&mut open.clause.text, &p.text),
                None => closing.push(p.text.clone()),
            }
            continue;
        };
        let r = rank(&m);
        while stack.last().is_some_and(|o| o.rank >= r) {
            close(&mut stack, &mut top);
        }
        let parent = stack.last_mut();
        let parent_id = parent.as_ref().map(|o| o.clause.id.clone());
        let (kind, own) = match &m {
            Marker::Roman(n) => (ClauseKind::Section, n.clone()),
            Marker::Number(path) => (
                ClauseKind::Item,
                path.last().map(u32::to_string).unwrap_or_default(),
            ),
            Marker::Letter(l) => (ClauseKind::Lettered, l.clone()),
            Marker::Dash | Marker::Plus => {
                let n = match parent {
                    Some(open) => {
                        open.bullets += 1;
                        open.bullets
                    }
                    None => {
                        top_bullets += 1;
                        top_bullets
                    }
                };
                (ClauseKind::Bullet, n.to_string())
            }
        };
        let id = match (&parent_id, kind) {
            (None, ClauseKind::Bullet) => format!("bullet-{own}"),
            (None, _) => own,
            (Some(parent), ClauseKind::Bullet) => format!("{parent}-{own}"),
            (Some(parent), _) => format!("{parent}.{own}"),
        };
        let id = unique(id, &mut ids);
        let (heading, text) = match kind {
            ClauseKind::Section => (Some(rest.to_string()), String::new()),
            ClauseKind::Bullet => (None, rest.to_string()),
            _ if is_title(rest) => (
                Some(rest.trim_end_matches(':').trim_end().to_string()),
                String::new(),
            ),
            _ => (None, rest.to_string()),
        };
        stack.push(Open {
            rank: r,
            clause: Clause {
                id,
                kind,
                heading,
                text,
                units: Vec::new(),
                children: Vec::new(),
            },
            bullets: 0,
        });
    }
    while !stack.is_empty() {
        close(&mut stack, &mut top);
    }
    for (n, text) in closing.into_iter().enumerate() {
        let id = unique(format!("closing-{}", n + 1), &mut ids);
        top.push(Clause {
            id,
            kind: ClauseKind::Closing,
            heading: None,
            text,
            units: Vec::new(),
            children: Vec::new(),
        });
    }
    top
}

fn push_text(text: &mut String, paragraph: &str) {
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(paragraph);
}

fn close(stack: &mut Vec<Open>, top: &mut Vec<Clause>) {
    if let Some(done) = stack.pop() {
        match stack.last_mut() {
            Some(parent) => parent.clause.children.push(done.clause),
            None => top.push(done.clause),
        }
    }
}

/// Numbering that restarts or repeats still yields distinct ids: `III.2`, `III.2~2`.
fn unique(id: String, ids: &mut HashSet<String>) -> String {
    if ids.insert(id.clone()) {
        return id;
    }
    let mut n = 2;
    loop {
        let candidate = format!("{id}~{n}");
        if ids.insert(candidate.clone()) {
            return candidate;
        }
        n += 1;
    }
}

fn read_trailer(trailer: &[Paragraph]) -> (Vec<String>, Signer) {
    let mut recipients = Vec::new();
    let mut titles: Vec<String> = Vec::new();
    let mut name = String::new();
    for p in trailer {
        let t = p.text.trim();
        let lower = t.to_lowercase();
        if lower.starts_with("nơi nhận") {
            let after = t.split_once(':').map_or("", |(_, r)| r.trim());
            if !after.is_empty() {
                recipients.push(after.trim_start_matches(['-', '–']).trim().to_string());
            }
        } else if let Some((Marker::Dash | Marker::Plus, rest)) = marker(t) {
            recipients.push(rest.to_string());
        } else if t.starts_with('(') || t == "/." || lower.contains("đã ký") {
            // "(Đã ký)", "(Ký tên, đóng dấu)": the seal, not the signer.
        } else if is_all_caps(t) {
            titles.push(t.to_string());
        } else {
            name = t.to_string();
        }
    }
    (
        recipients,
        Signer {
            title: titles.join(" / "),
            name,
        },
    )
}
