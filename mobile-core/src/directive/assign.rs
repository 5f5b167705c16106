//! Who is responsible for each clause: units recognised in the text through the catalogue,
//! then a reviewed overrides file for what the text leaves implicit.
//!
//! The rules: a unit named in an item's or lettered clause's heading leads that clause and
//! everything under it ("3. Cục Viễn thông", "a) Bộ Tài chính:"); a unit that opens a
//! clause's text ("Văn phòng Bộ chịu trách nhiệm …") or is followed by "chủ trì" leads it;
//! every other unit named in the text coordinates. A group named together with some of its
//! members keeps only the group.
//!
//! Which units: those of the catalogue in force on the directive's date, and of those the
//! ones its issuer can give tasks to ([`Authority`]): a ministry's directive its own units,
//! a Government directive also ministries, government agencies and provincial committees.
//! In a Government directive, units listed together at a clause's opening all lead ("Các Bộ
//! trưởng, Chủ tịch Ủy ban nhân dân các tỉnh … chịu trách nhiệm"), and under a heading that
//! names a ministry, a unit of this ministry opening a clause leads it beside the ministry.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{
    catalogue::{Authority, Catalogue, Scope, Unit, fold},
    error::OverridesError,
    model::{Assignment, Clause, Directive, Role},
};

/// Finds catalogue units in a text: longest names first, whole words, no overlaps, case
/// folded except that a name written with a capital must start with one in the text too
/// ("Sở Y tế" is a unit, "cơ sở y tế" is not).
#[derive(Debug)]
pub struct UnitMatcher {
    /// (folded alias, unit id, starts with a capital), longest alias first.
    aliases: Vec<(String, String, bool)>,
    /// The aliases (positions in `aliases`, in that order) by their first two words (the
    /// runs of letters and digits they start with, see [`first_words`]). A text is looked up
    /// at each word's start only, so the cost does not grow with the number of aliases (the
    /// catalogue has some 1,600, hundreds of them starting "Ủy ban nhân dân").
    by_first_words: HashMap<String, Vec<usize>>,
    /// Aliases that start with something else than a letter or digit: searched everywhere.
    other: Vec<usize>,
}

/// `char::is_alphanumeric`, without its table lookup for the Latin letters Vietnamese is
/// written in (the lookup was the importer's hottest spot on a large text).
fn is_word_char(c: char) -> bool {
    match c {
        'a'..='z' | 'A'..='Z' | '0'..='9' => true,
        '\0'..='\x7f' | '\u{d7}' | '\u{f7}' => false,
        '\u{c0}'..='\u{24f}' | '\u{1e00}'..='\u{1eff}' => true,
        _ => c.is_alphanumeric(),
    }
}

/// The letters and digits `text` starts with.
fn first_word(text: &str) -> &str {
    let end = text
        .char_indices()
        .find(|(_, c)| !is_word_char(*c))
        .map_or(text.len(), |(i, _)| i);
    &text[..end]
}

/// The key of a text's first two words: the first run of letters and digits, and the next
/// one after whatever separates them (empty when there is none). `one_word` gets the key
/// with the first word only.
fn first_words(text: &str, key: &mut String, one_word: &mut String) {
    let one = first_word(text);
    let rest = text[one.len()..].trim_start_matches(|c: char| !is_word_char(c));
    key.clear();
    key.push_str(one);
    key.push('\0');
    one_word.clear();
    one_word.push_str(key);
    key.push_str(first_word(rest));
}

/// The text folded as [`fold`] does, with, for every byte of the result, whether the
/// character there was a capital.
fn fold_marking_capitals(text: &str) -> (String, Vec<bool>) {
    use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};
    let normalised: std::borrow::Cow<'_, str> = match is_nfc_quick(text.chars()) {
        IsNormalized::Yes => text.into(),
        _ => text.nfc().collect::<String>().into(),
    };
    let mut folded = String::with_capacity(normalised.len());
    let mut capital = Vec::with_capacity(normalised.len());
    for word in normalised.split_whitespace() {
        if !folded.is_empty() {
            folded.push(' ');
            capital.push(false);
        }
        for c in word.chars() {
            for lower in c.to_lowercase() {
                folded.push(lower);
                capital.extend(std::iter::repeat_n(c.is_uppercase(), lower.len_utf8()));
            }
        }
    }
    (folded, capital)
}

/// A unit found in a text, at a byte offset of the folded text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    pub unit: String,
    pub start: usize,
    pub end: usize,
}

impl UnitMatcher {
    /// A matcher for every unit of the catalogue, whatever its dates.
    pub fn new(catalogue: &Catalogue) -> Self {
        Self::of(catalogue.units().iter())
    }

    /// A matcher for the units that existed on `date`: a name two units had at different
    /// times (Tuyên Quang before and after the 2025 merger) finds the one of that day.
    pub fn on(catalogue: &Catalogue, date: NaiveDate) -> Self {
        Self::of(catalogue.in_force_on(date))
    }

    fn of<'c>(units: impl Iterator<Item = &'c Unit>) -> Self {
        let mut aliases: Vec<(String, String, bool)> = units
            .flat_map(|u| {
                std::iter::once(&u.name).chain(&u.aliases).map(move |a| {
                    let capital = a.chars().next().is_some_and(char::is_uppercase);
                    (fold(a), u.id.clone(), capital)
                })
            })
            .filter(|(a, _, _)| !a.is_empty())
            .collect();
        aliases.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        aliases.dedup();
        let mut by_first_words: HashMap<String, Vec<usize>> = HashMap::new();
        let mut other = Vec::new();
        let (mut key, mut one_word) = (String::new(), String::new());
        for (i, (alias, _, _)) in aliases.iter().enumerate() {
            if first_word(alias).is_empty() {
                other.push(i);
            } else {
                first_words(alias, &mut key, &mut one_word);
                by_first_words.entry(key.clone()).or_default().push(i);
            }
        }
        Self {
            aliases,
            by_first_words,
            other,
        }
    }

    /// The units named in `text`, in order of appearance. Every whole-word occurrence of
    /// every alias is a candidate; longer aliases win, then earlier occurrences, and a
    /// candidate overlapping one already taken is dropped.
    pub fn find(&self, text: &str) -> Vec<Mention> {
        self.find_folded(text).1
    }

    /// [`UnitMatcher::find`], with the folded text the mentions' offsets are in.
    fn find_folded(&self, text: &str) -> (String, Vec<Mention>) {
        let (folded, capital) = fold_marking_capitals(text);
        let boundary = |c: Option<char>| c.is_none_or(|c| !is_word_char(c));
        // (alias rank, start, end)
        let mut candidates: Vec<(usize, usize, usize)> = Vec::new();
        let mut consider = |rank: usize, start: usize| {
            let (alias, _, needs_capital) = &self.aliases[rank];
            let end = start + alias.len();
            if !folded[start..].starts_with(alias.as_str())
                || !boundary(folded[..start].chars().next_back())
                || !boundary(folded[end..].chars().next())
                || (*needs_capital && !capital.get(start).copied().unwrap_or(false))
            {
                return;
            }
            candidates.push((rank, start, end));
        };
        let mut previous: Option<char> = None;
        let (mut key, mut one_word) = (String::new(), String::new());
        for (start, c) in folded.char_indices() {
            if is_word_char(c) && boundary(previous) {
                // An alias of two words or more has the text's two first words; an alias of
                // one word has an empty second one.
                first_words(&folded[start..], &mut key, &mut one_word);
                let two = self.by_first_words.get(key.as_str());
                let one = (key != one_word)
                    .then(|| self.by_first_words.get(one_word.as_str()))
                    .flatten();
                for &rank in two.into_iter().chain(one).flatten() {
                    consider(rank, start);
                }
            }
            previous = Some(c);
        }
        for &rank in &self.other {
            let alias = self.aliases[rank].0.as_str();
            for (start, _) in folded.match_indices(alias) {
                consider(rank, start);
            }
        }
        candidates.sort_unstable();
        // The mentions taken so far, disjoint, by start: a candidate overlaps one of them
        // exactly when the last one starting before its end reaches past its start (their
        // ends grow with their starts). O(log n) a candidate: a text of a hundred thousand
        // mentions stays fast.
        let mut taken: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
        for (rank, start, end) in candidates {
            if taken
                .range(..end)
                .next_back()
                .is_some_and(|(_, &(taken_end, _))| taken_end > start)
            {
                continue;
            }
            taken.insert(start, (end, rank));
        }
        let taken = taken
            .into_iter()
            .map(|(start, (end, rank))| Mention {
                unit: self.aliases[rank].1.clone(),
                start,
                end,
            })
            .collect();
        (folded, taken)
    }
}

/// Fill every clause's `units` from its text: the units that existed on the directive's
/// date, and of those the ones its issuer can give tasks to (a ministry its own units, the
/// Government also ministries, agencies and provinces).
pub fn detect(directive: &mut Directive, catalogue: &Catalogue) {
    let matcher = UnitMatcher::on(catalogue, directive.date);
    let authority = Authority::of(directive);
    for clause in &mut directive.clauses {
        detect_clause(clause, &[], &matcher, catalogue, authority);
    }
}

fn detect_clause(
    clause: &mut Clause,
    inherited: &[String],
    m: &UnitMatcher,
    c: &Catalogue,
    authority: Authority,
) {
    let assignable = |id: &String| c.assignable_by(id, authority);
    let from_heading: Vec<String> = clause
        .heading
        .as_deref()
        .map(|h| {
            m.find(h)
                .into_iter()
                .map(|x| x.unit)
                .filter(assignable)
                .collect()
        })
        .unwrap_or_default();
    let from_heading_empty = from_heading.is_empty();
    let mut leads: Vec<String> = if from_heading_empty {
        inherited.to_vec()
    } else {
        from_heading
    };
    let (folded, mentions) = m.find_folded(&clause.text);
    let mut coordinating = Vec::new();
    // Where the units that open a Government directive's clause end: "Các Bộ trưởng, Chủ
    // tịch Ủy ban nhân dân các tỉnh … chịu trách nhiệm" has two subjects, both leading.
    let mut subjects_end: Option<usize> = None;
    // A unit of this ministry leads a clause under a heading that gave it to a ministry as a
    // whole: it takes the task from the ministry.
    let mut more_specific = false;
    for mention in mentions {
        if !assignable(&mention.unit) {
            continue;
        }
        let rest = folded[mention.end..].trim_start_matches([' ', ',']);
        let opens = folded[..mention.start]
            .trim()
            .trim_start_matches("các")
            .trim()
            .is_empty();
        let another_subject = authority == Authority::Government
            && subjects_end.is_some_and(|end| {
                let between = folded[end..mention.start].trim_matches([' ', ',', ';']);
                matches!(between, "" | "và" | "các" | "và các")
            });
        let opens = opens || another_subject;
        if opens {
            subjects_end = Some(mention.end);
        }
        // Under a ministry as a whole ("I. NHIỆM VỤ CỦA BỘ …" in a Government directive), a
        // unit of this ministry that opens a clause, or "chủ trì" it, leads it instead of the
        // ministry.
        let under_a_ministry = from_heading_empty
            && !inherited.is_empty()
            && inherited
                .iter()
                .all(|u| c.scope(u) == Some(Scope::Government))
            && c.scope(&mention.unit) == Some(Scope::Ministry);
        if (opens && (inherited.is_empty() || under_a_ministry)) || rest.starts_with("chủ trì") {
            more_specific |= under_a_ministry;
            leads.push(mention.unit);
        } else {
            coordinating.push(mention.unit);
        }
    }
    if more_specific {
        leads.retain(|u| !inherited.contains(u));
    }
    let inherited_down = leads.clone();
    clause.units = assignments(leads, coordinating, c);
    for child in &mut clause.children {
        detect_clause(child, &inherited_down, m, c, authority);
    }
}

/// Deduplicated assignments: leads first, a unit that leads does not also coordinate, and a
/// group named with its members stands for them.
fn assignments(leads: Vec<String>, coordinating: Vec<String>, c: &Catalogue) -> Vec<Assignment> {
    let mut out: Vec<Assignment> = Vec::new();
    for (role, ids) in [(Role::Lead, leads), (Role::Coordinating, coordinating)] {
        for id in ids {
            if out.iter().any(|a| a.unit == id) {
                continue;
            }
            if let Some(unit) = c.get(&id) {
                out.push(Assignment {
                    unit: id,
                    name: unit.name.clone(),
                    role,
                });
            }
        }
    }
    let groups: Vec<(String, Role)> = out
        .iter()
        .filter(|a| c.get(&a.unit).is_some_and(|u| u.is_group()))
        .map(|a| (a.unit.clone(), a.role))
        .collect();
    out.retain(|a| {
        let member_of = c
            .get(&a.unit)
            .map(|u| u.groups.as_slice())
            .unwrap_or_default();
        !groups
            .iter()
            .any(|(g, role)| *role <= a.role && member_of.contains(g))
    });
    out
}

/// A reviewed file that assigns what the text leaves implicit.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// The directive number these overrides are for (`5/CT-BTTTT`).
    pub directive: String,
    #[serde(default)]
    pub clause: Vec<ClauseOverride>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClauseOverride {
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lead: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coordinating: Vec<String>,
    /// Replace what was detected instead of adding to it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replace: bool,
    /// The clause gives no task (a reminder, an aim): its units are cleared.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_actionable: bool,
    /// Why: the clause of the text that says so. For reviewers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The review's corrections: a digest of the clause's words as the reviewer saw them
    /// (`Clause::digest`), so a text imported again keeps a correction only where the clause
    /// still says the same thing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed: Option<String>,
}

/// Overrides shipped for the bundled directives, by directive number.
pub const BUNDLED_OVERRIDES: &[(&str, &str)] = &[(
    "5/CT-BTTTT",
    include_str!("../../data/overrides/05-CT-BTTTT.toml"),
)];

impl Overrides {
    pub fn from_toml(text: &str) -> Result<Self, OverridesError> {
        toml::from_str(text).map_err(|e| OverridesError::Syntax(e.to_string()))
    }

    /// The bundled overrides for this directive number, if any.
    pub fn bundled_for(number: &str) -> Option<Result<Self, OverridesError>> {
        BUNDLED_OVERRIDES
            .iter()
            .find(|(n, _)| *n == number)
            .map(|(_, text)| Self::from_toml(text))
    }

    /// Apply to a directive whose units were detected. Checks everything first, so that a
    /// bad file changes nothing.
    pub fn apply(&self, directive: &mut Directive, c: &Catalogue) -> Result<(), OverridesError> {
        if self.directive != directive.number {
            return Err(OverridesError::WrongDirective {
                expected: self.directive.clone(),
                found: directive.number.clone(),
            });
        }
        for o in &self.clause {
            if directive.clause(&o.id).is_none() {
                return Err(OverridesError::UnknownClause(o.id.clone()));
            }
            if let Some(unit) = o
                .lead
                .iter()
                .chain(&o.coordinating)
                .find(|u| c.get(u).is_none())
            {
                return Err(OverridesError::UnknownUnit {
                    clause: o.id.clone(),
                    unit: unit.clone(),
                });
            }
        }
        let by_id: BTreeMap<&str, &ClauseOverride> =
            self.clause.iter().map(|o| (o.id.as_str(), o)).collect();
        for clause in &mut directive.clauses {
            apply_clause(clause, &by_id, c);
        }
        Ok(())
    }
}

fn apply_clause(clause: &mut Clause, by_id: &BTreeMap<&str, &ClauseOverride>, c: &Catalogue) {
    if let Some(o) = by_id.get(clause.id.as_str()) {
        clause.not_actionable = o.not_actionable;
        let detected = if o.replace || o.not_actionable {
            Vec::new()
        } else {
            std::mem::take(&mut clause.units)
        };
        let (mut leads, mut coordinating) = (o.lead.clone(), o.coordinating.clone());
        for a in detected {
            match a.role {
                Role::Lead => leads.push(a.unit),
                Role::Coordinating => coordinating.push(a.unit),
            }
        }
        clause.units = if o.not_actionable {
            Vec::new()
        } else {
            assignments(leads, coordinating, c)
        };
    }
    for child in &mut clause.children {
        apply_clause(child, by_id, c);
    }
}

/// An introduction with nobody named ("1. Bám sát …, trong đó:") falls to the units of the
/// clauses it introduces.
pub fn roll_up_introductions(directive: &mut Directive, c: &Catalogue) {
    fn visit(clause: &mut Clause, c: &Catalogue) {
        for child in &mut clause.children {
            visit(child, c);
        }
        if clause.units.is_empty() && clause.is_actionable() && !clause.children.is_empty() {
            let (mut leads, mut coordinating) = (Vec::new(), Vec::new());
            for a in clause.children.iter().flat_map(|ch| &ch.units) {
                match a.role {
                    Role::Lead => leads.push(a.unit.clone()),
                    Role::Coordinating => coordinating.push(a.unit.clone()),
                }
            }
            clause.units = assignments(leads, coordinating, c);
        }
    }
    for clause in &mut directive.clauses {
        visit(clause, c);
    }
}
