//! The unit catalogue: who can be given a task. TOML files the Ministry Office can edit,
//! validated when they are loaded.
//!
//! Two kinds of unit: the ministry's own (its departments, the provincial departments, the
//! carriers and platforms it directs), which any directive the Ministry Office tracks can
//! give tasks to; and the rest of the government (ministries, government agencies,
//! provincial people's committees), which only a directive of the Prime Minister or the
//! Government can give tasks to. Units that came and went (the provinces merged in 2025,
//! the ministries restructured in 2025) carry the dates they existed, and a directive's
//! date picks the ones in force.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{error::CatalogueError, model::Directive};

/// The ministry's own units (`mobile-core/data/units.toml`).
pub const BUNDLED_CATALOGUE: &str = include_str!("../../data/units.toml");

/// Ministries, ministry-level agencies and government agencies, 2020 and after the 2025
/// restructuring (`mobile-core/data/government.toml`).
pub const BUNDLED_GOVERNMENT: &str = include_str!("../../data/government.toml");

/// Provincial people's committees: the 63 provinces of 2020 and the 34 after the 2025
/// merger (`mobile-core/data/provinces.toml`).
pub const BUNDLED_PROVINCES: &str = include_str!("../../data/provinces.toml");

/// Every bundled catalogue file, in the order they are read, with its name for errors.
pub const BUNDLED_FILES: &[(&str, &str)] = &[
    ("units.toml", BUNDLED_CATALOGUE),
    ("government.toml", BUNDLED_GOVERNMENT),
    ("provinces.toml", BUNDLED_PROVINCES),
];

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
    /// A ministry or ministry-level agency (Bộ, cơ quan ngang bộ): Bộ Y tế, Ngân hàng Nhà
    /// nước Việt Nam. Assigned only by a Government directive.
    Ministry,
    /// An agency of the Government (cơ quan thuộc Chính phủ): Đài Truyền hình Việt Nam,
    /// Viện Hàn lâm Khoa học xã hội. Assigned only by a Government directive.
    GovernmentAgency,
    /// A provincial people's committee (Ủy ban nhân dân tỉnh, thành phố trực thuộc trung
    /// ương). Assigned only by a Government directive.
    ProvincialCommittee,
    /// Outside the executive (Ban Tuyên giáo Trung ương, a steering committee …): recognised
    /// in the text, never assigned.
    External,
}

/// Which directives can give a unit tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The ministry's own units: any directive the Ministry Office tracks.
    Ministry,
    /// The rest of the government: only a directive of the Prime Minister or the Government.
    Government,
    /// Never: named in texts, not given tasks.
    Never,
}

/// Who issued a directive, as far as assignment goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Authority {
    /// A ministry (this one or another): it gives tasks to its own units only.
    Ministry,
    /// The Prime Minister or the Government (Thủ tướng Chính phủ, Chính phủ, Phủ Thủ tướng,
    /// Hội đồng Chính phủ, Hội đồng Bộ trưởng): it gives tasks to ministries and provinces.
    Government,
}

impl Authority {
    /// The issuer names of the Government, folded.
    const GOVERNMENT_ISSUERS: &'static [&'static str] = &[
        "thủ tướng chính phủ",
        "thủ tướng",
        "chính phủ",
        "phủ thủ tướng",
        "hội đồng chính phủ",
        "hội đồng bộ trưởng",
    ];

    /// From the issuer line; the number's issuer code (`…/CT-TTg`, `…/TTg`) decides when the
    /// issuer line was not read as one of the Government's names (a garbled scan header).
    pub fn of(directive: &Directive) -> Self {
        let issuer = fold(&directive.issuer);
        let by_issuer = Self::GOVERNMENT_ISSUERS.contains(&issuer.as_str());
        let code = fold(&directive.number);
        let code = code.rsplit(['/', '-']).next().unwrap_or_default();
        if by_issuer || code == "ttg" {
            Self::Government
        } else {
            Self::Ministry
        }
    }

    /// Whether a unit of this scope can be given tasks by a directive of this authority.
    pub fn assigns(self, scope: Scope) -> bool {
        match scope {
            Scope::Ministry => true,
            Scope::Government => self == Self::Government,
            Scope::Never => false,
        }
    }
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
    /// The first day the unit existed, when it did not always (`"2025-07-01"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<NaiveDate>,
    /// The last day the unit existed, when it is gone (`"2025-06-30"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<NaiveDate>,
}

impl Unit {
    pub fn is_group(&self) -> bool {
        self.kind == UnitKind::Group
    }
    /// Whether a ministry's own directive can give tasks to this unit: the ministry's own
    /// units, not the government's, not `external` ones. A Government directive can give
    /// tasks to more: ask [`Catalogue::assignable_by`] with the directive's [`Authority`].
    pub fn is_assignable(&self) -> bool {
        self.own_scope() == Scope::Ministry
    }
    /// Whether the unit existed on `date`.
    pub fn in_force_on(&self, date: NaiveDate) -> bool {
        self.valid_from.is_none_or(|from| from <= date)
            && self.valid_until.is_none_or(|until| date <= until)
    }
    /// Whether the unit existed on some day of both periods.
    fn overlaps(&self, other: &Unit) -> bool {
        let from = self.valid_from.max(other.valid_from);
        let until = match (self.valid_until, other.valid_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match (from, until) {
            (Some(f), Some(u)) => f <= u,
            _ => true,
        }
    }
    /// The scope of a unit that is not a group (a group's comes from its members).
    fn own_scope(&self) -> Scope {
        match self.kind {
            UnitKind::External => Scope::Never,
            UnitKind::Ministry | UnitKind::GovernmentAgency | UnitKind::ProvincialCommittee => {
                Scope::Government
            }
            _ => Scope::Ministry,
        }
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
    /// Per unit, which directives can give it tasks.
    scopes: Vec<Scope>,
    /// Every name and alias, folded, with the units that have it (several only if they
    /// never existed on the same day).
    names: BTreeMap<String, Vec<usize>>,
}

impl Catalogue {
    /// The catalogue shipped with taskforce: the ministry's units, the government's, and the
    /// provinces ([`BUNDLED_FILES`]).
    pub fn bundled() -> Result<Self, CatalogueError> {
        Self::from_tomls(BUNDLED_FILES.iter().map(|(_, text)| *text))
    }

    /// Load and validate a catalogue file.
    pub fn from_toml(text: &str) -> Result<Self, CatalogueError> {
        Self::from_tomls([text])
    }

    /// Load several catalogue files as one catalogue (ids and aliases unique across them).
    pub fn from_tomls<'a>(
        texts: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, CatalogueError> {
        let mut units = Vec::new();
        for text in texts {
            let file: CatalogueFile =
                toml::from_str(text).map_err(|e| CatalogueError::Syntax(e.to_string()))?;
            units.extend(file.unit);
        }
        Self::new(units)
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
            // A name or alias without a letter or digit would match everywhere (an empty one
            // at every position of every text).
            if std::iter::once(&u.name)
                .chain(&u.aliases)
                .any(|n| !n.chars().any(char::is_alphanumeric))
            {
                return Err(CatalogueError::EmptyName(u.id.clone()));
            }
            if index.insert(u.id.clone(), i).is_some() {
                return Err(CatalogueError::DuplicateId(u.id.clone()));
            }
            if let (Some(from), Some(until)) = (u.valid_from, u.valid_until)
                && until < from
            {
                return Err(CatalogueError::BadDates {
                    unit: u.id.clone(),
                    from,
                    until,
                });
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
        // A name may be used by two units that never existed on the same day (the Tuyên
        // Quang of 2020 and the merged one of 2025), never by two at once.
        let mut owners: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, u) in units.iter().enumerate() {
            for alias in std::iter::once(&u.name).chain(&u.aliases) {
                let owned = owners.entry(fold(alias)).or_default();
                if owned.contains(&i) {
                    continue;
                }
                if let Some(&first) = owned.iter().find(|&&j| units[j].overlaps(u)) {
                    return Err(CatalogueError::AmbiguousAlias {
                        alias: alias.clone(),
                        first: units[first].id.clone(),
                        second: u.id.clone(),
                    });
                }
                owned.push(i);
            }
        }
        let scopes = units
            .iter()
            .map(|u| {
                if !u.is_group() {
                    return u.own_scope();
                }
                // A group reaches as far as its widest member: "các Bộ, ngành" is the
                // government's, "các doanh nghiệp viễn thông" the ministry's.
                units
                    .iter()
                    .filter(|m| m.groups.contains(&u.id))
                    .map(Unit::own_scope)
                    .filter(|s| *s != Scope::Never)
                    .max()
                    .unwrap_or(Scope::Never)
            })
            .collect();
        Ok(Self {
            units,
            index,
            scopes,
            names: owners,
        })
    }

    /// Which directives can give this unit tasks; `None` for an unknown id.
    pub fn scope(&self, id: &str) -> Option<Scope> {
        self.index.get(id).map(|&i| self.scopes[i])
    }

    /// Whether a directive of `authority` can give this unit tasks.
    pub fn assignable_by(&self, id: &str, authority: Authority) -> bool {
        self.scope(id).is_some_and(|s| authority.assigns(s))
    }

    /// The units that existed on `date`.
    pub fn in_force_on(&self, date: NaiveDate) -> impl Iterator<Item = &Unit> {
        self.units.iter().filter(move |u| u.in_force_on(date))
    }

    /// The unit that `name` (a name or alias, any case) meant on `date`.
    pub fn lookup(&self, name: &str, date: NaiveDate) -> Option<&Unit> {
        self.names
            .get(&fold(name))?
            .iter()
            .map(|&i| &self.units[i])
            .find(|u| u.in_force_on(date))
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

    /// [`Catalogue::expand`] for a directive of `date`: a group's members that existed then.
    pub fn expand_on(&self, id: &str, date: NaiveDate) -> Vec<&Unit> {
        match self.get(id) {
            Some(u) if u.is_group() => self.members(id).filter(|m| m.in_force_on(date)).collect(),
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

    #[test]
    fn a_blank_or_punctuation_alias_is_refused() {
        for alias in ["", "  ", "-", ", ."] {
            let text = format!(
                "[[unit]]\nid = \"x\"\nname = \"Cục X\"\nen = \"X\"\nkind = \"department\"\naliases = [{alias:?}]\n"
            );
            assert_eq!(
                Catalogue::from_toml(&text).map(|_| ()),
                Err(CatalogueError::EmptyName("x".into())),
                "{alias:?}"
            );
        }
    }

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

    fn day(s: &str) -> NaiveDate {
        match s.parse() {
            Ok(d) => d,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn committees(c: &Catalogue, date: &str) -> Vec<String> {
        c.in_force_on(day(date))
            .filter(|u| u.kind == UnitKind::ProvincialCommittee)
            .map(|u| u.name.clone())
            .collect()
    }

    #[test]
    fn every_province_of_2020_and_of_after_the_merger_is_there_once() {
        let c = bundled();
        for (date, count) in [
            ("2020-02-02", 63),
            ("2024-12-31", 63),
            ("2025-01-01", 63),
            ("2025-06-30", 63),
            ("2025-07-01", 34),
            ("2026-03-20", 34),
        ] {
            let names = committees(&c, date);
            assert_eq!(names.len(), count, "{date}: {names:?}");
            let mut unique = names.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), count, "a province twice on {date}");
            // Every province's committee is in the group of them all.
            let group = c.expand_on("ubnd-tinh", day(date));
            assert_eq!(group.len(), count, "{date}");
        }
        // The provincial departments stay the 63 of 2020 (dated only when they are split).
        assert_eq!(c.members("so-tttt").count(), 63);
        let in_2020 = committees(&c, "2020-02-02");
        assert!(in_2020.contains(&"Ủy ban nhân dân tỉnh Thừa Thiên Huế".to_string()));
        assert!(in_2020.contains(&"Ủy ban nhân dân tỉnh Hà Giang".to_string()));
        let in_2026 = committees(&c, "2026-01-01");
        assert!(in_2026.contains(&"Ủy ban nhân dân thành phố Huế".to_string()));
        assert!(!in_2026.contains(&"Ủy ban nhân dân tỉnh Hà Giang".to_string()));
    }

    #[test]
    fn the_ministries_of_2020_and_after_the_2025_restructuring() {
        let c = bundled();
        let ministries = |date: &str| -> Vec<&str> {
            c.in_force_on(day(date))
                .filter(|u| u.kind == UnitKind::Ministry)
                .map(|u| u.id.as_str())
                .collect()
        };
        // 18 ministries and 4 ministry-level agencies; then 14 and 3.
        assert_eq!(ministries("2020-02-02").len(), 22);
        assert_eq!(ministries("2025-02-28").len(), 22);
        assert_eq!(ministries("2025-03-01").len(), 17);
        for (gone, until) in [
            ("bo-tttt", "2025-02-28"),
            ("bo-khdt", "2025-02-28"),
            ("bo-gtvt", "2025-02-28"),
            ("bo-tnmt", "2025-02-28"),
            ("bo-nnptnt", "2025-02-28"),
            ("bo-ldtbxh", "2025-02-28"),
            ("ubdt", "2025-02-28"),
        ] {
            assert_eq!(c.get(gone).and_then(|u| u.valid_until), Some(day(until)));
        }
        assert!(ministries("2025-03-01").contains(&"bo-nnmt"));
        assert!(!ministries("2025-02-28").contains(&"bo-nnmt"));
        assert!(ministries("2026-01-01").contains(&"bo-khcn"));
    }

    #[test]
    fn a_name_finds_the_unit_of_the_day() {
        let c = bundled();
        let on = |name: &str, date: &str| c.lookup(name, day(date)).map(|u| u.id.as_str());
        assert_eq!(
            on("UBND tỉnh Hà Giang", "2020-02-02"),
            Some("ubnd-ha-giang")
        );
        assert_eq!(
            on("UBND tỉnh Hà Giang", "2026-01-01"),
            Some("ubnd-tuyen-quang-2025")
        );
        assert_eq!(
            on("UBND tỉnh Tuyên Quang", "2025-06-30"),
            Some("ubnd-tuyen-quang")
        );
        assert_eq!(
            on("UBND tỉnh Tuyên Quang", "2025-07-01"),
            Some("ubnd-tuyen-quang-2025")
        );
        assert_eq!(
            on("Ủy ban nhân dân thành phố Hồ Chí Minh", "2020-02-02"),
            Some("ubnd-hcm")
        );
        assert_eq!(on("UBND TP. HCM", "2026-01-01"), Some("ubnd-hcm-2025"));
        assert_eq!(
            on("Ủy ban nhân dân tỉnh Bà Rịa - Vũng Tàu", "2026-01-01"),
            Some("ubnd-hcm-2025")
        );
        assert_eq!(
            on("UBND tỉnh Thừa Thiên Huế", "2020-02-02"),
            Some("ubnd-thua-thien-hue")
        );
        assert_eq!(
            on("UBND tỉnh Thừa Thiên Huế", "2026-01-01"),
            Some("ubnd-hue")
        );
        assert_eq!(
            on("UBND tinh Ha Giang", "2020-02-02"),
            Some("ubnd-ha-giang")
        );
        assert_eq!(
            on("Uỷ ban nhân dân tỉnh Cao Bằng", "2026-01-01"),
            Some("ubnd-cao-bang")
        );
        assert_eq!(
            on("UBND tỉnh Thanh Hoá", "2020-02-02"),
            Some("ubnd-thanh-hoa")
        );
        assert_eq!(
            on("UBND tỉnh Hoà Bình", "2020-02-02"),
            Some("ubnd-hoa-binh")
        );
        assert_eq!(
            on("UBND tỉnh Hoà Bình", "2026-01-01"),
            Some("ubnd-phu-tho-2025")
        );
        assert_eq!(on("Bộ TT&TT", "2020-02-02"), Some("bo-tttt"));
        assert_eq!(on("Bộ TT&TT", "2025-03-01"), None);
        assert_eq!(on("Bộ Nông nghiệp và Môi trường", "2025-02-28"), None);
        assert_eq!(on("Cục Viễn thông", "2026-01-01"), Some("cuc-vt"));
    }

    /// Every name of every unit, on every day the unit existed (its first, its last, and the
    /// days around the changes of 2025), finds that unit and no other.
    #[test]
    fn every_alias_resolves_to_one_unit_in_force() {
        let c = bundled();
        let days = [
            "2020-02-02",
            "2024-12-31",
            "2025-01-01",
            "2025-02-28",
            "2025-03-01",
            "2025-06-30",
            "2025-07-01",
            "2030-01-01",
        ];
        let mut checked = 0;
        for d in days.iter().map(|d| day(d)) {
            let mut owner: HashMap<String, &str> = HashMap::new();
            for u in c.in_force_on(d) {
                for alias in std::iter::once(&u.name).chain(&u.aliases) {
                    if let Some(other) = owner.insert(fold(alias), &u.id) {
                        assert_eq!(other, u.id, "{alias:?} on {d}: {other} and {}", u.id);
                    }
                    assert_eq!(
                        c.lookup(alias, d).map(|x| x.id.as_str()),
                        Some(u.id.as_str())
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 5000, "{checked}");
    }

    #[test]
    fn ids_are_unique_and_groups_reach_as_far_as_their_members() {
        let c = bundled();
        let mut ids: Vec<&str> = c.units().iter().map(|u| u.id.as_str()).collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n);
        assert!(n > 230, "{n} units");
        assert_eq!(c.scope("bo-nganh"), Some(Scope::Government));
        assert_eq!(c.scope("ubnd-tinh"), Some(Scope::Government));
        assert_eq!(c.scope("carriers"), Some(Scope::Ministry));
        assert_eq!(c.scope("ban-tuyen-giao"), Some(Scope::Never));
        assert_eq!(c.scope("nope"), None);
        assert!(c.assignable_by("bo-y-te", Authority::Government));
        assert!(!c.assignable_by("bo-y-te", Authority::Ministry));
        assert!(c.assignable_by("cuc-vt", Authority::Ministry));
        assert!(!c.assignable_by("ban-tuyen-giao", Authority::Government));
        // What a ministry's own directive may assign is what it always could.
        assert!(c.get("bo-y-te").is_some_and(|u| !u.is_assignable()));
        assert!(c.get("so-tttt-ha-noi").is_some_and(|u| u.is_assignable()));
    }

    #[test]
    fn a_name_is_shared_only_by_units_that_never_coexisted() {
        let unit = |id: &str, from: &str, until: &str| {
            let mut t = format!(
                "[[unit]]\nid = \"{id}\"\nname = \"Tỉnh X\"\nen = \"x\"\nkind = \"provincial_committee\"\n"
            );
            if !from.is_empty() {
                t += &format!("valid_from = \"{from}\"\n");
            }
            if !until.is_empty() {
                t += &format!("valid_until = \"{until}\"\n");
            }
            t
        };
        let before_after = unit("a", "", "2025-06-30") + &unit("b", "2025-07-01", "");
        assert!(Catalogue::from_toml(&before_after).is_ok());
        let overlapping = unit("a", "", "2025-07-01") + &unit("b", "2025-07-01", "");
        match Catalogue::from_toml(&overlapping) {
            Ok(_) => panic!("two units shared a name on 2025-07-01"),
            Err(e) => assert!(e.to_string().contains("used by both"), "{e}"),
        }
        match Catalogue::from_toml(&unit("a", "2025-07-01", "2025-06-30")) {
            Ok(_) => panic!("a unit that ends before it begins"),
            Err(e) => assert!(e.to_string().contains("before it begins"), "{e}"),
        }
        assert!(Catalogue::from_toml(&unit("a", "2025-07-01", "2025-07-01")).is_ok());
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
