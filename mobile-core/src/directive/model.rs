//! The directive as data: clauses in a tree with ids derived from the numbering, and the
//! units assigned to each clause.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// A parsed directive (chỉ thị).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directive {
    /// The number as written, spacing normalised: `5/CT-BTTTT`.
    pub number: String,
    /// The issuing body: `Bộ Thông tin và Truyền thông`, `Thủ tướng Chính phủ` …
    pub issuer: String,
    /// Place of issue as written in the date line (`Hà Nội`), when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    pub date: NaiveDate,
    /// The subject line: `Về việc …`.
    pub title: String,
    /// Paragraphs between the title and the first clause.
    pub preamble: Vec<String>,
    pub signer: Signer,
    /// The "Nơi nhận" list; empty when the text has none.
    pub recipients: Vec<String>,
    /// Top-level clauses: sections (or numbered items when there are no sections), then the
    /// closing paragraphs.
    pub clauses: Vec<Clause>,
    /// What the importer repaired or guessed, for the reviewer; empty for a clean text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<ImportWarning>,
}

/// A field or clause the importer could not read with confidence: what it repaired or
/// guessed, in Vietnamese and English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportWarning {
    /// `number`, `date`, `title`, `signer`, `recipients`, or `clause:II.3`.
    pub field: String,
    pub vi: String,
    pub en: String,
}

impl ImportWarning {
    pub fn new(field: impl Into<String>, vi: impl Into<String>, en: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            vi: vi.into(),
            en: en.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signer {
    /// `BỘ TRƯỞNG`, or several lines joined with ` / ` (`KT. THỦ TƯỚNG / PHÓ THỦ TƯỚNG`).
    pub title: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClauseKind {
    /// `I. YÊU CẦU CHUNG`
    Section,
    /// `1. …`, `1.2. …`
    Item,
    /// `a) …`, `đ) …`
    Lettered,
    /// `- …` or `+ …`
    Bullet,
    /// A closing paragraph after the last clause.
    Closing,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Chủ trì: the unit that must deliver.
    Lead,
    /// Phối hợp: a unit that works with the lead.
    Coordinating,
}

/// A unit responsible for a clause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The catalogue id of the unit (or group).
    pub unit: String,
    /// The unit's Vietnamese name, for display.
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clause {
    /// Stable id from the numbering: `I`, `I.1.a`, `II.2-3`, `III.10`, `closing-1`.
    pub id: String,
    pub kind: ClauseKind,
    /// A title line (`Vụ Bưu chính`, `YÊU CẦU CHUNG`), when the clause has one.
    #[serde(default)]
    pub heading: Option<String>,
    /// The clause's own text, paragraphs joined with `\n`; empty for pure headings.
    pub text: String,
    /// Units responsible for this clause (filled by assignment detection).
    pub units: Vec<Assignment>,
    pub children: Vec<Clause>,
    /// The Ministry Office's review said the clause asks nobody to do anything (a reminder,
    /// a statement of aims): it gives no task, whatever its text.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_actionable: bool,
}

impl Clause {
    /// Whether the clause asks somebody to do something: it has text of its own.
    pub fn is_actionable(&self) -> bool {
        !self.not_actionable && !self.text.trim().is_empty() && self.kind != ClauseKind::Section
    }

    /// A digest of what the clause says (its kind, heading and text; not its units): 16 hex
    /// digits of SHA-256. Two imports of one text give the same digest.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(format!("{:?}", self.kind));
        h.update([0]);
        h.update(self.heading.as_deref().unwrap_or(""));
        h.update([0]);
        h.update(&self.text);
        h.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Depth-first iteration over this clause and all its descendants.
    pub fn walk(&self) -> impl Iterator<Item = &Clause> {
        let mut stack = vec![self];
        std::iter::from_fn(move || {
            let next = stack.pop()?;
            stack.extend(next.children.iter().rev());
            Some(next)
        })
    }
}

impl Directive {
    /// Every clause, depth first in document order.
    pub fn all_clauses(&self) -> impl Iterator<Item = &Clause> {
        self.clauses.iter().flat_map(Clause::walk)
    }

    /// The clause with this id.
    pub fn clause(&self, id: &str) -> Option<&Clause> {
        self.all_clauses().find(|c| c.id == id)
    }

    /// A stable identifier for storage and URLs: the number as [`slug`] makes it.
    pub fn slug(&self) -> String {
        slug(&self.number)
    }
}

/// `5/CT-BTTTT` → `5-ct-btttt`; `07/CT-BGDĐT` → `07-ct-bgddt`. ASCII only (`[a-z0-9.-]`): ids
/// go into URLs, cookies and file names. Diacritics are dropped, `đ` is `d`, `/` and anything
/// else is `-`.
pub fn slug(number: &str) -> String {
    use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};
    number
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'đ' => 'd',
            'a'..='z' | '0'..='9' | '.' | '-' => c,
            _ => '-',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::slug;

    #[test]
    fn a_slug_is_ascii_whatever_the_number_holds() {
        assert_eq!(slug("5/CT-BTTTT"), "5-ct-btttt");
        assert_eq!(slug("112/TTg"), "112-ttg");
        assert_eq!(slug("07/CT-BGDĐT"), "07-ct-bgddt");
        assert_eq!(
            slug("13/CT-UBND Thừa Thiên Huế"),
            "13-ct-ubnd-thua-thien-hue"
        );
        // An OCR misread into another script, a hostile character: no longer than the number,
        // and only `[a-z0-9.-]`.
        for number in ["07/CT-ВТТТТ", "1/CT\n;x=\"y\"", "9/CT-BTTTT/../..", "٣/CT"] {
            let s = slug(number);
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'.'
                    || b == b'-'),
                "{number:?} → {s:?}"
            );
            assert!(s.chars().count() <= number.chars().count());
        }
    }
}
