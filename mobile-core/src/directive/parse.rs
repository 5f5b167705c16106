//! From repaired paragraphs to a [`Directive`]: header, preamble, clause tree, closing
//! paragraphs, recipients and signer.
//!
//! Texts arrive from OCR, websites and the gazette as well as from clean files. What cannot be
//! read with confidence is repaired or guessed and recorded in [`Directive::warnings`] for the
//! reviewer: OCR's letters for digits in the number and the date, a doubled letter in the
//! number's symbol, a `CHI THI` heading, a heading, title and first paragraph collapsed onto
//! one line, misread section numerals (`1.`, `Il.`, `Ill.`), `©)`, a repeated letter, a
//! signature merged into the recipients. Only a text that is not a directive is refused.

use std::{
    collections::{HashMap, HashSet},
    sync::LazyLock,
};

use chrono::NaiveDate;
use regex::Regex;

use super::{
    error::DirectiveError,
    model::{Clause, ClauseKind, Directive, ImportWarning, Signer},
    text::{Marker, Paragraph, ends_terminal, is_all_caps, marker, paragraphs},
};

/// Directives run to a few dozen pages; anything larger is not one.
pub const MAX_DIRECTIVE_BYTES: usize = 2 * 1024 * 1024;

static DATE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?:^|,\s*)(?:(?P<place>[^,]*?),\s*)?ngày\s+(?P<d>\d{1,2})\s+tháng\s+(?P<m>\d{1,2})\s+năm\s+(?P<y>\d{4})",
    )
});

/// The number as OCR reads it: `O` and `l` for digits, the dash after `CT` lost.
static NUMBER_OCR: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:^|[^\p{L}\p{N}])([0-9OolI]{1,4})\s*/\s*CT\s*([-–]?)\s*([\p{Lu}\p{Ll}0-9Đđ]+(?:\s*-\s*[\p{Lu}0-9Đ]+)?)",
    )
});
/// Older numbering without `CT-`: `37/TTg`, `15/CT`.
static NUMBER_OLD: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?:^|[^\p{L}\p{N}])([0-9OolI]{1,4})\s*/\s*(TTg|CT)(?:$|[^\p{L}\p{N}-])"));
/// The date line as OCR reads it: letters for digits, diacritics lost.
static DATE_OCR: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?:^|,\s*)(?:(?P<place>[^,]*?),\s*)?(?P<w>ng[àa]y\s+(?P<d>[0-9OolI]{1,2})\s+th[áa]ng\s+(?P<m>[0-9OolI]{1,2})\s+n[ăa]m\s+(?P<y>[0-9OolI]{4}))",
    )
});
/// A signer's title at the start of a line: `KT. THỦ TƯỚNG`, `K/T BỘ TRƯỞNG`, `PHÓ THỦ TƯỚNG`.
static SIGNER_TITLE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:(?:KT\.?|K/T|TM\.?|T/M|TL\.?|T/L|Q\.)\s*)?(?:PHÓ\s+)?(?:THỦ\s+TƯỚNG(?:\s+CHÍNH\s+PHỦ)?|BỘ\s+TRƯỞNG|THỨ\s+TRƯỞNG|CHỦ\s+TỊCH(?:\s+HỘI\s+ĐỒNG\s+(?:CHÍNH\s+PHỦ|BỘ\s+TRƯỞNG))?|CHÁNH\s+VĂN\s+PHÒNG|CHỦ\s+NHIỆM|HỘI\s+ĐỒNG\s+CHÍNH\s+PHỦ|HỘI\s+ĐỒNG\s+BỘ\s+TRƯỞNG|CHÍNH\s+PHỦ)",
    )
});
/// A section numeral as OCR misreads it: `1.` for `I.`, `Il.` or `Ill.` for `III.`.
static ROMAN_OCR: LazyLock<Regex> = LazyLock::new(|| re(r"^([IVXLl1|]{1,5})[.,]\s+"));
/// A signer's name left at the end of the last recipient: `- Lưu: VT, ATTT. Nguyễn Văn A`.
static NAME_AFTER_RECIPIENT: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(.*[.;,])\s+(\p{Lu}\p{Ll}+(?:\s+\p{Lu}\p{Ll}*){1,4})$"));

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

/// Issuers named by the header's first line in older directives, and their proper spelling.
const HEADER_ISSUERS: &[(&str, &str)] = &[
    ("PHỦ THỦ TƯỚNG", "Phủ Thủ tướng"),
    ("HỘI ĐỒNG CHÍNH PHỦ", "Hội đồng Chính phủ"),
    ("HỘI ĐỒNG BỘ TRƯỞNG", "Hội đồng Bộ trưởng"),
    ("THỦ TƯỚNG CHÍNH PHỦ", "Thủ tướng Chính phủ"),
];

/// Openers of a preamble's first sentence, where a title collapsed onto it ends.
const OPENERS: &[&str] = &[
    "Thời",
    "Trong",
    "Thực",
    "Nhằm",
    "Để",
    "Những",
    "Hiện",
    "Qua",
    "Với",
    "Sau",
    "Theo",
    "Triển",
    "Căn",
    "Ngày",
    "Năm",
    "Nhìn",
    "Từ",
    "Tuy",
    "Thời gian",
];

/// Words after which a capitalised word still belongs to the title.
const CONNECTIVES: &[&str] = &[
    "của", "và", "với", "tại", "cho", "về", "trên", "trong", "theo",
];

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
    let mut paras = paragraphs(text);
    let mut warnings = Vec::new();
    let heading_at = find_heading(&mut paras, &mut warnings).ok_or(
        DirectiveError::NotADirective("there is no \"CHỈ THỊ\" heading"),
    )?;

    let header = &paras[..heading_at];
    let number = read_number(header, &mut warnings).ok_or(DirectiveError::NotADirective(
        "there is no number such as \"Số: 5/CT-BTTTT\"",
    ))?;
    let (place, date) = read_date(header, &paras[heading_at..], &mut warnings).ok_or(
        DirectiveError::NotADirective("there is no date such as \"ngày 2 tháng 02 năm 2020\""),
    )?;
    let issuer = issuer_for(&number, header);

    let title_at = heading_at + 1;
    let title =
        paras
            .get(title_at)
            .map(|p| p.text.clone())
            .ok_or(DirectiveError::NotADirective(
                "the \"CHỈ THỊ\" heading has no subject line",
            ))?;

    let mut body = paras[title_at + 1..].to_vec();
    let notes = repair_markers(&mut body);
    let body = &body[..];
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
    let clauses = build_tree(
        &body[first_clause..],
        &notes[first_clause..trailer_at],
        &mut warnings,
    );
    let (recipients, signer) = read_trailer(trailer, &mut warnings);

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
        warnings,
    })
}

/// `CHỈ THỊ` and OCR's `CHI THI` alike.
fn strip_marks(text: &str) -> String {
    use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};
    text.nfd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| match c {
            'Đ' => 'D',
            'đ' => 'd',
            c => c,
        })
        .collect()
}

/// Where the `CHỈ THỊ` heading is. A heading misread by OCR is accepted with a warning; a
/// heading collapsed onto one line with the header, the title and the first paragraph (as
/// legal-document websites give it) is cut out into paragraphs of its own.
fn find_heading(paras: &mut Vec<Paragraph>, warnings: &mut Vec<ImportWarning>) -> Option<usize> {
    if let Some(at) = paras.iter().position(|p| squash(&p.text) == "CHỈ THỊ") {
        return Some(at);
    }
    if let Some(at) = paras
        .iter()
        .position(|p| p.text.chars().count() <= 12 && strip_marks(&squash(&p.text)) == "CHI THI")
    {
        warnings.push(ImportWarning::new(
            "heading",
            format!("Dòng «{}» được đọc là «CHỈ THỊ».", paras[at].text),
            format!("The line \"{}\" was read as \"CHỈ THỊ\".", paras[at].text),
        ));
        return Some(at);
    }
    let (at, split) = paras.iter().enumerate().find_map(|(i, p)| {
        let cut = p.text.find("CHỈ THỊ")?;
        let before = p.text[..cut].trim();
        let after = p.text[cut + "CHỈ THỊ".len()..].trim();
        let numbered = std::iter::once(before)
            .chain(paras[..i].iter().map(|p| p.text.as_str()))
            .any(|t| NUMBER_OCR.is_match(t) || NUMBER_OLD.is_match(t));
        let starts_word = after.chars().next().is_some_and(char::is_alphabetic);
        (numbered && starts_word).then(|| (i, (before.to_string(), after.to_string())))
    })?;
    let (before, after) = split;
    let (title, rest) = split_title(&after);
    warnings.push(ImportWarning::new(
        "title",
        format!("Tiêu đề được tách khỏi dòng bị dồn: «{title}»; cần kiểm tra."),
        format!("The title was cut out of a collapsed line: \"{title}\"; please check it."),
    ));
    let mut parts = Vec::new();
    if !before.is_empty() {
        parts.push(before);
    }
    let heading = parts.len();
    parts.push("CHỈ THỊ".to_string());
    parts.push(title);
    parts.extend(rest);
    let replacement = parts.into_iter().map(|text| Paragraph {
        text,
        after_blank: true,
    });
    paras.splice(at..=at, replacement);
    Some(at + heading)
}

/// A title and the first paragraph run together: the title in capitals ends at the first word
/// that is not; one in sentence case ends before a word that opens a preamble.
fn split_title(text: &str) -> (String, Option<String>) {
    let words: Vec<&str> = text.split_whitespace().collect();
    let caps = |w: &str| {
        is_all_caps(w)
            || !w.chars().any(char::is_alphabetic)
            || w.chars().filter(|c| c.is_alphabetic()).count() == 1
                && w.chars().all(|c| !c.is_lowercase())
    };
    let end = if words.len() >= 2 && is_all_caps(words[0]) && is_all_caps(words[1]) {
        words.iter().position(|w| !caps(w))
    } else {
        (3..words.len()).find(|&i| {
            OPENERS.contains(&words[i])
                && !CONNECTIVES.contains(&words[i - 1].to_lowercase().as_str())
        })
    };
    match end {
        Some(end) if end > 0 => (words[..end].join(" "), Some(words[end..].join(" "))),
        _ => (words.join(" "), None),
    }
}

/// OCR's letters for digits: `O` → `0`, `l`/`I` → `1`.
fn ocr_digits(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'O' | 'o' => '0',
            'l' | 'I' | 'i' | 'L' | '|' => '1',
            c => c,
        })
        .collect()
}

/// The number: as written, then as OCR misreads it, then in the older form without `CT-`.
fn read_number(header: &[Paragraph], warnings: &mut Vec<ImportWarning>) -> Option<String> {
    let found = header.iter().find_map(|p| {
        let c = NUMBER_OCR.captures(&p.text)?;
        let written = c.get(1)?.as_str();
        let suffix: String = c
            .get(3)?
            .as_str()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if c.get(2)?.as_str().is_empty() {
            // `15/CT Hà Nội` is the older form followed by the place, not a lost dash.
            if suffix.chars().filter(|c| c.is_uppercase()).count() < 2 {
                return None;
            }
            warnings.push(ImportWarning::new(
                "number",
                format!("Ký hiệu thiếu gạch nối, đọc là «CT-{suffix}»."),
                format!("The symbol lacks its dash; read as \"CT-{suffix}\"."),
            ));
        }
        Some((
            written.to_string(),
            Some(suffix),
            c.get(0)?.as_str().trim().to_string(),
        ))
    });
    let found = found.or_else(|| {
        header.iter().find_map(|p| {
            let c = NUMBER_OLD.captures(&p.text)?;
            Some((
                c.get(1)?.as_str().to_string(),
                None,
                c.get(2)?.as_str().to_string(),
            ))
        })
    });
    let (written, suffix, whole) = found?;
    let digits = ocr_digits(&written);
    if digits != written {
        warnings.push(ImportWarning::new(
            "number",
            format!("Số hiệu đọc từ bản quét đã được sửa: «{written}» thành «{digits}»."),
            format!("The number, read from a scan, was repaired: \"{written}\" to \"{digits}\"."),
        ));
    }
    let Some(suffix) = suffix else {
        return Some(format!("{digits}/{whole}"));
    };
    let suffix = match known_suffix(&suffix) {
        Some(fixed) if fixed != suffix => {
            warnings.push(ImportWarning::new(
                "number",
                format!("Ký hiệu «CT-{suffix}» được đọc là «CT-{fixed}»."),
                format!("The symbol \"CT-{suffix}\" was read as \"CT-{fixed}\"."),
            ));
            fixed
        }
        _ => suffix,
    };
    Some(format!("{digits}/CT-{suffix}"))
}

/// The suffix, or the known suffix it becomes without one doubled letter (`BTTTTT`).
fn known_suffix(suffix: &str) -> Option<String> {
    if ISSUERS.iter().any(|(s, _)| *s == suffix) {
        return Some(suffix.to_string());
    }
    let chars: Vec<char> = suffix.chars().collect();
    (1..chars.len())
        .filter(|&i| chars[i] == chars[i - 1])
        .find_map(|i| {
            let candidate: String = chars[..i].iter().chain(&chars[i + 1..]).collect();
            ISSUERS
                .iter()
                .any(|(s, _)| *s == candidate)
                .then_some(candidate)
        })
}

/// The date: from the header as written, as OCR misreads it, or else the first date in the
/// text (a gazette may print it only there).
fn read_date(
    header: &[Paragraph],
    rest: &[Paragraph],
    warnings: &mut Vec<ImportWarning>,
) -> Option<(Option<String>, NaiveDate)> {
    if let Some(found) = header.iter().find_map(|p| date_in(&p.text)) {
        return Some(found);
    }
    if let Some((written, found)) = header.iter().find_map(|p| ocr_date_in(&p.text)) {
        warnings.push(ImportWarning::new(
            "date",
            format!(
                "Ngày ban hành đọc từ bản quét đã được sửa: «{written}» thành {}.",
                found.1
            ),
            format!(
                "The date, read from a scan, was repaired: \"{written}\" to {}.",
                found.1
            ),
        ));
        return Some(found);
    }
    let found = rest.iter().find_map(|p| date_in(&p.text))?;
    warnings.push(ImportWarning::new(
        "date",
        format!(
            "Phần đầu không có ngày ban hành; lấy ngày {} trong văn bản.",
            found.1
        ),
        format!(
            "The header has no date; {} was taken from the text.",
            found.1
        ),
    ));
    Some(found)
}

fn ocr_date_in(text: &str) -> Option<(String, (Option<String>, NaiveDate))> {
    let c = DATE_OCR.captures(text)?;
    let n = |name: &str| ocr_digits(c.name(name)?.as_str()).parse::<u32>().ok();
    let y = i32::try_from(n("y")?).ok()?;
    let date = NaiveDate::from_ymd_opt(y, n("m")?, n("d")?)?;
    let written = c.name("w")?.as_str().to_string();
    let place = c.name("place").and_then(|p| place_in(p.as_str()));
    Some((written, (place, date)))
}

/// The place before the date: the whole text before it when short, or (a header collapsed onto
/// one line, `… Số: 21/CT-TTg Hà Nội`) the capitalised words that end it.
fn place_in(before: &str) -> Option<String> {
    let before = before.trim();
    if before.is_empty() {
        return None;
    }
    if before.chars().count() <= 40 {
        return Some(before.to_string());
    }
    let words: Vec<&str> = before.split_whitespace().collect();
    let tail = words
        .iter()
        .rev()
        .take_while(|w| {
            w.chars().next().is_some_and(char::is_uppercase)
                && !w.chars().any(|c| c.is_ascii_digit() || c == '/')
        })
        .take(5)
        .count();
    (tail > 0).then(|| words[words.len() - tail..].join(" "))
}

/// Repairs clause markers that OCR misread, before the tree is built: section numerals (`1.`
/// or `Il.` for a Roman numeral), `©)` for `c)`, a letter repeated where the next was meant.
/// Returns, per paragraph, what was repaired.
fn repair_markers(body: &mut [Paragraph]) -> Vec<Option<(String, String)>> {
    let mut notes = vec![None; body.len()];
    let genuine_roman = body
        .iter()
        .any(|p| matches!(marker(&p.text), Some((Marker::Roman(_), _))));
    let misread_roman = body
        .iter()
        .any(|p| roman_ocr(&p.text).is_some_and(|(numeral, _)| numeral.contains(['l', '|'])));
    let mut last_letter: Option<String> = None;
    for (p, note) in body.iter_mut().zip(notes.iter_mut()) {
        if (genuine_roman || misread_roman)
            && let Some((numeral, rest)) = roman_ocr(&p.text)
            && is_all_caps(rest)
            && rest.split_whitespace().count() >= 2
            && !matches!(marker(&p.text), Some((Marker::Roman(_), _)))
        {
            let written = numeral.to_string();
            let fixed: String = written
                .chars()
                .map(|c| if matches!(c, 'l' | '1' | '|') { 'I' } else { c })
                .collect();
            if ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"]
                .contains(&fixed.as_str())
            {
                p.text = format!("{fixed}. {rest}");
                *note = Some((
                    format!("Số mục «{written}.» được đọc là «{fixed}.»."),
                    format!("The section numeral \"{written}.\" was read as \"{fixed}.\"."),
                ));
            }
        }
        if let Some(rest) = p.text.strip_prefix('©') {
            let rest = rest
                .trim_start()
                .trim_start_matches(')')
                .trim_start()
                .to_string();
            p.text = format!("c) {rest}");
            *note = Some((
                "Ký hiệu «©)» được đọc là «c)».".to_string(),
                "The marker \"©)\" was read as \"c)\".".to_string(),
            ));
        }
        match marker(&p.text) {
            Some((Marker::Roman(_) | Marker::Number(_), _)) => last_letter = None,
            Some((Marker::Letter(l), rest)) => {
                let letter = if last_letter.as_deref() == Some(l.as_str())
                    && let Some(next) = next_letter(&l)
                {
                    let rest = rest.to_string();
                    p.text = format!("{next}) {rest}");
                    *note = Some((
                        format!("Chữ «{l})» lặp lại được đọc là «{next})»."),
                        format!("The repeated letter \"{l})\" was read as \"{next})\"."),
                    ));
                    next.to_string()
                } else {
                    l
                };
                last_letter = Some(letter);
            }
            _ => {}
        }
    }
    notes
}

/// A section numeral as OCR may misread it, and the rest of the line.
fn roman_ocr(text: &str) -> Option<(&str, &str)> {
    let c = ROMAN_OCR.captures(text)?;
    let rest = text.get(c.get(0)?.end()..)?;
    if rest.is_empty() || rest.contains('\n') {
        return None;
    }
    Some((c.get(1)?.as_str(), rest))
}

/// The Vietnamese alphabet as directives letter their items.
fn next_letter(letter: &str) -> Option<&'static str> {
    const LETTERS: &[&str] = &[
        "a", "b", "c", "d", "đ", "e", "g", "h", "i", "k", "l", "m", "n", "o", "p", "q", "r", "s",
        "t", "u", "v", "x", "y",
    ];
    let at = LETTERS.iter().position(|l| *l == letter)?;
    LETTERS.get(at + 1).copied()
}

/// Collapse whitespace: `CHỈ  THỊ` → `CHỈ THỊ`.
fn squash(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end_matches(':')
        .to_string()
}

fn date_in(text: &str) -> Option<(Option<String>, NaiveDate)> {
    let c = DATE.captures(text)?;
    let n = |name: &str| c.name(name)?.as_str().parse::<u32>().ok();
    let y = i32::try_from(n("y")?).ok()?;
    let date = NaiveDate::from_ymd_opt(y, n("m")?, n("d")?)?;
    let place = c.name("place").and_then(|p| place_in(p.as_str()));
    Some((place, date))
}

fn issuer_for(number: &str, header: &[Paragraph]) -> String {
    if let Some((_, name)) = header.iter().find_map(|p| {
        let line = squash(&p.text);
        HEADER_ISSUERS.iter().find(|(caps, _)| line == *caps)
    }) {
        return (*name).to_string();
    }
    let suffix = match number.rsplit_once("CT-") {
        Some((_, suffix)) => suffix,
        None => number.rsplit('/').next().unwrap_or_default(),
    };
    if let Some((_, name)) = ISSUERS.iter().find(|(s, _)| *s == suffix) {
        return (*name).to_string();
    }
    // Otherwise the first all-caps line of the header that is not the national motto.
    header
        .iter()
        .map(|p| p.text.as_str())
        .find(|t| is_all_caps(t) && !is_motto(t))
        .map(sentence_case)
        .unwrap_or_else(|| suffix.to_string())
}

/// The national motto's lines, however OCR garbled their letters (`CQNG HOA XA HOI …`).
fn is_motto(line: &str) -> bool {
    if line.starts_with("CỘNG HÒA") || line.starts_with("CỘNG HOÀ") || line.contains("ĐỘC LẬP")
    {
        return true;
    }
    let plain = strip_marks(line).to_uppercase();
    plain.contains("XA HOI CHU NGHIA")
        || plain.contains("CHU NGHIA VIET NAM")
        || plain.contains("DOC LAP")
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
        } else if seen_clause
            && ((is_all_caps(&p.text) && p.text.chars().count() <= 60)
                || (p.text.chars().count() <= 120 && split_signature(&p.text).is_some()))
        {
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
fn build_tree(
    paras: &[Paragraph],
    notes: &[Option<(String, String)>],
    warnings: &mut Vec<ImportWarning>,
) -> Vec<Clause> {
    let last_marker = paras
        .iter()
        .rposition(|p| marker(&p.text).is_some())
        .unwrap_or(0);
    let mut top: Vec<Clause> = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut ids = Ids::default();
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
        if let Some(Some((vi, en))) = notes.get(i) {
            warnings.push(ImportWarning::new(format!("clause:{id}"), vi, en));
        }
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
                not_actionable: false,
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
            not_actionable: false,
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

/// The ids given so far, and for each repeated id the next `~n` to try.
#[derive(Default)]
struct Ids {
    taken: HashSet<String>,
    next: HashMap<String, usize>,
}

/// Numbering that restarts or repeats still yields distinct ids: `III.2`, `III.2~2`. The
/// counter per id keeps a text whose numbering repeats thousands of times linear.
fn unique(id: String, ids: &mut Ids) -> String {
    if ids.taken.insert(id.clone()) {
        return id;
    }
    let n = ids.next.entry(id.clone()).or_insert(2);
    loop {
        let candidate = format!("{id}~{n}");
        *n += 1;
        if ids.taken.insert(candidate.clone()) {
            return candidate;
        }
    }
}

fn read_trailer(trailer: &[Paragraph], warnings: &mut Vec<ImportWarning>) -> (Vec<String>, Signer) {
    let mut recipients = Vec::new();
    let mut titles: Vec<String> = Vec::new();
    let mut name = String::new();
    let mut merged = false;
    let take = |signature: (Vec<String>, String), titles: &mut Vec<String>, name: &mut String| {
        titles.extend(signature.0);
        if !signature.1.is_empty() {
            *name = signature.1;
        }
    };
    for p in trailer {
        let t = p.text.trim();
        let lower = t.to_lowercase();
        if lower.starts_with("nơi nhận") {
            let after = t.split_once(':').map_or("", |(_, r)| r.trim());
            if let Some(signature) = split_signature(after) {
                merged = true;
                take(signature, &mut titles, &mut name);
            } else {
                let after = after.trim_start_matches(['-', '–']).trim();
                recipients.extend(
                    after
                        .split(" - ")
                        .map(str::trim)
                        .filter(|r| !r.is_empty())
                        .map(str::to_string),
                );
            }
        } else if let Some((Marker::Dash | Marker::Plus, rest)) = marker(t) {
            let (recipient, signature) = split_recipient(rest);
            if let Some(signature) = signature {
                merged = true;
                take(signature, &mut titles, &mut name);
            }
            recipients.push(recipient);
        } else if t.starts_with('(') || t == "/." || lower.contains("đã ký") {
            // "(Đã ký)", "(Ký tên, đóng dấu)": the seal, not the signer.
        } else if let Some(signature) = split_signature(t) {
            take(signature, &mut titles, &mut name);
        } else if is_all_caps(t) {
            titles.push(t.to_string());
        } else {
            name = t.to_string();
        }
    }
    if merged {
        warnings.push(ImportWarning::new(
            "signer",
            "Chữ ký nằm chung dòng với nơi nhận; đã tách ra, cần kiểm tra.",
            "The signature shared lines with the recipients; it was separated, please check it.",
        ));
    }
    (
        recipients,
        Signer {
            title: titles.join(" / "),
            name,
        },
    )
}

/// A recipient with the signature column run into it: `Như trên; THỨ TRƯỞNG`, `Lưu: VT.
/// Nguyễn Văn A`.
fn split_recipient(rest: &str) -> (String, Option<(Vec<String>, String)>) {
    let boundaries = rest
        .char_indices()
        .filter(|&(i, c)| c == ' ' && i > 0)
        .map(|(i, _)| i + 1);
    for at in boundaries {
        let (left, right) = rest.split_at(at);
        if left.trim_end().ends_with([';', '.', ',', ':'])
            && let Some(signature) = split_signature(right)
        {
            return (left.trim().to_string(), Some(signature));
        }
    }
    if let Some(c) = NAME_AFTER_RECIPIENT.captures(rest)
        && let (Some(left), Some(name)) = (c.get(1), c.get(2))
        && left.as_str().contains("Lưu")
    {
        return (
            left.as_str().trim().to_string(),
            Some((Vec::new(), name.as_str().to_string())),
        );
    }
    (rest.to_string(), None)
}

/// A signature block on one line: titles (`K/T THỦ TƯỚNG`, `PHÓ THỦ TƯỚNG`), the seal, then
/// the name. `None` when the line does not start with a title or leaves capitals unread.
fn split_signature(line: &str) -> Option<(Vec<String>, String)> {
    let mut titles = Vec::new();
    let mut rest = line.trim();
    loop {
        if let Some(m) = SIGNER_TITLE.find(rest) {
            titles.push(normalise_title(m.as_str()));
            rest = rest[m.end()..].trim_start();
        } else if rest.starts_with('(')
            && let Some(close) = rest.find(')')
        {
            rest = rest[close + 1..].trim_start();
        } else if let Some(after) = rest.strip_prefix("/.") {
            rest = after.trim_start();
        } else {
            break;
        }
    }
    if titles.is_empty() || (!rest.is_empty() && is_all_caps(rest)) {
        return None;
    }
    // A name is a few capitalised words.
    let words = rest.split_whitespace().count();
    let capitalised = rest
        .split_whitespace()
        .all(|w| w.chars().next().is_some_and(char::is_uppercase));
    if !rest.is_empty() && (words > 5 || !capitalised) {
        return None;
    }
    Some((titles, rest.to_string()))
}

/// `K/T THỦ TƯỚNG` → `KT. THỦ TƯỚNG`: the older forms of the signing prefixes.
fn normalise_title(title: &str) -> String {
    let title = squash(title);
    for (old, new) in [("K/T", "KT."), ("T/M", "TM."), ("T/L", "TL.")] {
        if let Some(rest) = title.strip_prefix(old) {
            return format!("{new} {}", rest.trim_start());
        }
    }
    for prefix in ["KT", "TM", "TL"] {
        if let Some(rest) = title.strip_prefix(prefix)
            && rest.starts_with(' ')
        {
            return format!("{prefix}. {}", rest.trim_start());
        }
    }
    title
}
