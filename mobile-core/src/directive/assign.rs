//! Who is responsible for each clause: units recognised in the text through the catalogue,
//! then a reviewed overrides file for what the text leaves implicit.
//!
//! The rules: a unit named in an item's or lettered clause's heading leads that clause and
//! everything under it ("3. Cục Viễn thông", "a) Bộ Tài chính:"); a unit that opens a
//! clause's text ("Văn phòng Bộ chịu trách nhiệm …") or is followed by "chủ trì" leads it;
//! every other unit named in the text coordinates. A group named together with some of its
//! members keeps only the group.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{
    catalogue::{Catalogue, fold},
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
}

/// The text folded as [`fold`] does, with, for every byte of the result, whether the
/// character there was a capital.
fn fold_marking_capitals(text: &str) -> (String, Vec<bool>) {
    use unicode_normalization::UnicodeNormalization;
    let normalised: String = text.nfc().collect();
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
    pub fn new(catalogue: &Catalogue) -> Self {
        let mut aliases: Vec<(String, String, bool)> = catalogue
            .units()
            .iter()
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
        Self { aliases }
    }

    /// The units named in `text`, in order of appearance.
    pub fn find(&self, text: &str) -> Vec<Mention> {
        let (folded, capital) = fold_marking_capitals(text);
        let mut taken: Vec<Mention> = Vec::new();
        for (alias, unit, needs_capital) in &self.aliases {
            for (start, _) in folded.match_indices(alias.as_str()) {
                let end = start + alias.len();
                let before = folded[..start].chars().next_back();
                let after = folded[end..].chars().next();
                let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
                if !boundary(before) || !boundary(after) {
                    continue;
                }
                if *needs_capital && !capital.get(start).copied().unwrap_or(false) {
                    continue;
                }
                if taken.iter().any(|m| start < m.end && m.start < end) {
                    continue;
                }
                taken.push(Mention {
                    unit: unit.clone(),
                    start,
                    end,
                });
            }
        }
        taken.sort_by_key(|m| m.start);
        taken
    }
}

/// Fill every clause's `units` from its text.
pub fn detect(directive: &mut Directive, catalogue: &Catalogue) {
    let matcher = UnitMatcher::new(catalogue);
    for clause in &mut directive.clauses {
        detect_clause(clause, &[], &matcher, catalogue);
    }
}

fn detect_clause(clause: &mut Clause, inherited: &[String], m: &UnitMatcher, c: &Catalogue) {
    let assignable = |id: &String| c.get(id).is_some_and(|u| u.is_assignable());
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
    let mut leads: Vec<String> = if from_heading.is_empty() {
        inherited.to_vec()
    } else {
        from_heading
    };
    let folded = fold(&clause.text);
    let mut coordinating = Vec::new();
    for mention in m.find(&clause.text) {
        if !assignable(&mention.unit) {
            continue;
        }
        let rest = folded[mention.end..].trim_start_matches([' ', ',']);
        let opens = folded[..mention.start]
            .trim()
            .trim_start_matches("các")
            .trim()
            .is_empty();
        if (opens && inherited.is_empty()) || rest.starts_with("chủ trì") {
            leads.push(mention.unit);
        } else {
            coordinating.push(mention.unit);
        }
    }
    let inherited_down = leads.clone();
    clause.units = assignments(leads, coordinating, c);
    for child in &mut clause.children {
        detect_clause(child, &inherited_down, m, c);
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
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// The directive number these overrides are for (`5/CT-BTTTT`).
    pub directive: String,
    #[serde(default)]
    pub clause: Vec<ClauseOverride>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClauseOverride {
    pub id: String,
    #[serde(default)]
    pub lead: Vec<String>,
    #[serde(default)]
    pub coordinating: Vec<String>,
    /// Replace what was detected instead of adding to it.
    #[serde(default)]
    pub replace: bool,
    /// Why: the clause of the text that says so. For reviewers.
    #[serde(default)]
    pub source: Option<String>,
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
        let detected = if o.replace {
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
        clause.units = assignments(leads, coordinating, c);
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
