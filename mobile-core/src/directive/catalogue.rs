//! The unit catalogue: who can be given a task. A TOML file the Ministry Office can edit,
//! validated when it is loaded.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::error::CatalogueError;

/// The catalogue shipped with taskforce (`mobile-core/data/units.toml`).
pub const BUNDLED_CATALOGUE: &str = include_str!("../../data/units.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// Vụ, Cục, Văn phòng Bộ, Thanh tra Bộ.
    Department,
    /// Sở Thông tin và Truyền thông of a province.
    ProvincialDepartment,
    Carrier,
    Postal,
    Platform,
    DigitalTech,
    TaskForce,
    Staff,
    /// A set of units named together ("các doanh nghiệp viễn thông").
    Group,
    /// Outside the ministry (Bộ Y tế, Bộ Ngoại giao …): recognised in the text, never assigned.
    External,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unit {
    pub id: String,
    /// Vietnamese name.
    pub name: String,
    /// English name.
    pub en: String,
    pub kind: UnitKind,
    /// Other ways the text names the unit: abbreviations, longer forms.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Groups this unit belongs to.
    #[serde(default)]
    pub groups: Vec<String>,
}

impl Unit {
    pub fn is_group(&self) -> bool {
        self.kind == UnitKind::Group
    }
    /// Whether a directive's tasks can be given to this unit.
    pub fn is_assignable(&self) -> bool {
        self.kind != UnitKind::External
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    unit: Vec<Unit>,
}

/// A validated catalogue.
#[derive(Debug, Clone)]
pub struct Catalogue {
    units: Vec<Unit>,
    index: HashMap<String, usize>,
}

impl Catalogue {
    /// The catalogue shipped with taskforce.
    pub fn bundled() -> Result<Self, CatalogueError> {
        Self::from_toml(BUNDLED_CATALOGUE)
    }

    /// Load and validate a catalogue file.
    pub fn from_toml(text: &str) -> Result<Self, CatalogueError> {
        let file: CatalogueFile =
            toml::from_str(text).map_err(|e| CatalogueError::Syntax(e.to_string()))?;
        Self::new(file.unit)
    }

    pub fn new(units: Vec<Unit>) -> Result<Self, CatalogueError> {
        let mut index = HashMap::new();
        for (i, u) in units.iter().enumerate() {
            let valid = !u.id.is_empty()
                && u.id.len() <= 64
                && u.id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !valid {
                return Err(CatalogueError::BadId {
                    index: i + 1,
                    id: u.id.clone(),
                });
            }
            if u.name.trim().is_empty() {
                return Err(CatalogueError::EmptyName(u.id.clone()));
            }
            if index.insert(u.id.clone(), i).is_some() {
                return Err(CatalogueError::DuplicateId(u.id.clone()));
            }
        }
        let mut members: HashMap<&str, usize> = HashMap::new();
        for u in &units {
            for g in &u.groups {
                match index.get(g).map(|&i| &units[i]) {
                    Some(group) if group.is_group() => *members.entry(g).or_default() += 1,
                    _ => {
                        return Err(CatalogueError::UnknownGroup {
                            unit: u.id.clone(),
                            group: g.clone(),
                        });
                    }
                }
            }
        }
        if let Some(empty) = units
            .iter()
            .find(|u| u.is_group() && !members.contains_key(u.id.as_str()))
        {
            return Err(CatalogueError::EmptyGroup(empty.id.clone()));
        }
        let mut owners: BTreeMap<String, &str> = BTreeMap::new();
        for u in &units {
            for alias in std::iter::once(&u.name).chain(&u.aliases) {
                let key = fold(alias);
                if let Some(first) = owners.insert(key, &u.id)
                    && first != u.id
                {
                    return Err(CatalogueError::AmbiguousAlias {
                        alias: alias.clone(),
                        first: first.to_string(),
                        second: u.id.clone(),
                    });
                }
            }
        }
        Ok(Self { units, index })
    }

    pub fn units(&self) -> &[Unit] {
        &self.units
    }

    pub fn get(&self, id: &str) -> Option<&Unit> {
        self.index.get(id).map(|&i| &self.units[i])
    }

    /// The direct members of a group.
    pub fn members(&self, group: &str) -> impl Iterator<Item = &Unit> {
        self.units
            .iter()
            .filter(move |u| u.groups.iter().any(|g| g == group))
    }

    /// The units a task given to `id` falls to: the unit itself, or a group's members.
    pub fn expand(&self, id: &str) -> Vec<&Unit> {
        match self.get(id) {
            Some(u) if u.is_group() => self.members(id).collect(),
            Some(u) => vec![u],
            None => Vec::new(),
        }
    }
}

/// The form names are compared in: NFC, lower case, single spaces.
pub fn fold(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    text.nfc()
        .collect::<String>()
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundled() -> Catalogue {
        match Catalogue::bundled() {
            Ok(c) => c,
            Err(e) => panic!("bundled catalogue: {e}"),
        }
    }

    #[test]
    fn bundled_catalogue_has_the_units_the_directive_names() {
        let c = bundled();
        assert_eq!(c.members("so-tttt").count(), 63);
        let carriers: Vec<_> = c.members("carriers").map(|u| u.id.as_str()).collect();
        for id in [
            "viettel",
            "vnpt-vinaphone",
            "mobifone",
            "vietnamobile",
            "gmobile",
            "itelecom",
        ] {
            assert!(carriers.contains(&id), "{id} missing from carriers");
        }
        let platforms: Vec<_> = c.members("platforms").map(|u| u.name.as_str()).collect();
        for name in [
            "Zalo",
            "Lotus",
            "Cốc Cốc",
            "Gapo",
            "Be",
            "Mocha",
            "Fastgo",
            "Facebook",
            "Google",
            "Grab",
        ] {
            assert!(platforms.contains(&name), "{name} missing from platforms");
        }
        assert!(c.members("postal").any(|u| u.id == "vnpost"));
        assert_eq!(
            c.get("cuc-vt").map(|u| u.en.as_str()),
            Some("Authority of Telecommunications")
        );
        assert_eq!(c.get("vp-bo").map(|u| u.kind), Some(UnitKind::Department));
        assert!(c.get("to-cong-tac").is_some() && c.get("staff").is_some());
    }

    #[test]
    fn invalid_catalogues_are_refused_with_a_reason() {
        let unit = |id: &str, name: &str, kind: &str, groups: &str| {
            format!(
                "[[unit]]\nid = \"{id}\"\nname = \"{name}\"\nen = \"x\"\nkind = \"{kind}\"\ngroups = [{groups}]\n"
            )
        };
        let cases = [
            (unit("A b", "n", "department", ""), "invalid id"),
            (
                unit("a", "n", "department", "") + &unit("a", "m", "department", ""),
                "appears twice",
            ),
            (unit("a", " ", "department", ""), "empty name"),
            (unit("a", "n", "department", "\"g\""), "not a group"),
            (unit("g", "G", "group", ""), "no members"),
            (
                unit("a", "Cục", "department", "") + &unit("b", "cục", "department", ""),
                "used by both",
            ),
            ("unit = 3".to_string(), "not valid TOML"),
            (unit("a", "n", "planet", ""), "not valid TOML"),
        ];
        for (text, expected) in cases {
            match Catalogue::from_toml(&text) {
                Ok(_) => panic!("accepted: {text}"),
                Err(e) => assert!(e.to_string().contains(expected), "{e} lacks {expected:?}"),
            }
        }
    }
}
