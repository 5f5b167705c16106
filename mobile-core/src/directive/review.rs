//! The Ministry Office's review of an imported directive: its corrections of who does what,
//! kept as the directive's overrides (the format of `mobile-core/data/overrides/`), so the
//! reviewed directive is always `import(text, catalogue, Some(&overrides))` and a corrected
//! text can be imported again under the same review.
//!
//! A correction names a clause and what to change about it (add a unit, remove one, change a
//! unit's role, mark the clause as giving no task or as giving one again). It is applied to the
//! clause as the reviewer sees it (detected units, earlier corrections, roll-up) and saved as
//! that clause's complete list (`replace = true`), so what the reviewer saw is what stays,
//! whatever detection does next time.

use serde::{Deserialize, Serialize};

use super::{
    Authority, Catalogue, ClauseOverride, Directive, Overrides, Role,
    error::{OverridesError, ReviewError},
};

/// One correction of the review.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Correction {
    /// Give the clause to a unit (or a group of units) in a role.
    Add {
        clause: String,
        unit: String,
        role: Role,
    },
    /// Take the clause from a unit.
    Remove { clause: String, unit: String },
    /// Change the role of a unit the clause already names.
    SetRole {
        clause: String,
        unit: String,
        role: Role,
    },
    /// The clause asks nobody to do anything (`true`), or does after all (`false`).
    NotActionable { clause: String, value: bool },
}

impl Correction {
    /// The clause the correction concerns.
    pub fn clause(&self) -> &str {
        match self {
            Self::Add { clause, .. }
            | Self::Remove { clause, .. }
            | Self::SetRole { clause, .. }
            | Self::NotActionable { clause, .. } => clause,
        }
    }
}

/// Whether `directive` can give `unit` tasks: a unit its issuer assigns (a ministry its own
/// units; the Government ministries and provinces too), in force on the directive's date.
pub fn may_assign(catalogue: &Catalogue, directive: &Directive, unit: &str) -> bool {
    catalogue.assignable_by(unit, Authority::of(directive))
        && catalogue
            .get(unit)
            .is_some_and(|u| u.in_force_on(directive.date))
}

/// At most this many clauses carry a correction (a directive has a few hundred at most).
pub const MAX_CORRECTIONS: usize = 2_000;

impl Overrides {
    /// No corrections yet, for the directive numbered `number`.
    pub fn empty(number: &str) -> Self {
        Self {
            directive: number.to_string(),
            clause: Vec::new(),
        }
    }

    /// The overrides as the TOML the bundled ones are written in.
    pub fn to_toml(&self) -> String {
        // Serialising plain strings, booleans and lists cannot fail.
        toml::to_string(self).unwrap_or_default()
    }

    /// Apply `correction` to `reviewed` (the directive as imported under these overrides) and
    /// record it. Checks everything first: on an error neither changes. `note` says who
    /// corrected it and when (kept as the entry's `source`).
    pub fn correct(
        &mut self,
        reviewed: &Directive,
        catalogue: &Catalogue,
        correction: &Correction,
        note: &str,
    ) -> Result<(), ReviewError> {
        let id = correction.clause();
        let clause = reviewed
            .clause(id)
            .ok_or_else(|| ReviewError::UnknownClause(id.to_string()))?;
        let mut lead: Vec<String> = Vec::new();
        let mut coordinating: Vec<String> = Vec::new();
        for a in &clause.units {
            match a.role {
                Role::Lead => lead.push(a.unit.clone()),
                Role::Coordinating => coordinating.push(a.unit.clone()),
            }
        }
        let names = |unit: &str| lead.iter().chain(&coordinating).any(|u| u == unit);
        let mut not_actionable = clause.not_actionable;
        let assignable = |unit: &str| -> Result<(), ReviewError> {
            match catalogue.get(unit) {
                None => Err(ReviewError::UnknownUnit(unit.to_string())),
                Some(_) if !may_assign(catalogue, reviewed, unit) => {
                    Err(ReviewError::NotAssignable(unit.to_string()))
                }
                Some(_) => Ok(()),
            }
        };
        match correction {
            Correction::Add { unit, role, .. } => {
                assignable(unit)?;
                if clause.not_actionable {
                    return Err(ReviewError::NotActionable(id.to_string()));
                }
                if names(unit) {
                    return Err(ReviewError::AlreadyNamed {
                        clause: id.to_string(),
                        unit: unit.clone(),
                    });
                }
                match role {
                    Role::Lead => lead.push(unit.clone()),
                    Role::Coordinating => coordinating.push(unit.clone()),
                }
            }
            Correction::Remove { unit, .. } => {
                if !names(unit) {
                    return Err(ReviewError::NotNamed {
                        clause: id.to_string(),
                        unit: unit.clone(),
                    });
                }
                lead.retain(|u| u != unit);
                coordinating.retain(|u| u != unit);
                if lead.is_empty() && coordinating.is_empty() {
                    return Err(ReviewError::LastUnit(id.to_string()));
                }
            }
            Correction::SetRole { unit, role, .. } => {
                if !names(unit) {
                    return Err(ReviewError::NotNamed {
                        clause: id.to_string(),
                        unit: unit.clone(),
                    });
                }
                lead.retain(|u| u != unit);
                coordinating.retain(|u| u != unit);
                match role {
                    Role::Lead => lead.push(unit.clone()),
                    Role::Coordinating => coordinating.push(unit.clone()),
                }
            }
            Correction::NotActionable { value, .. } => not_actionable = *value,
        }
        if !self.clause.iter().any(|o| o.id == id) && self.clause.len() >= MAX_CORRECTIONS {
            return Err(ReviewError::TooMany(MAX_CORRECTIONS));
        }
        // The units are kept with a clause marked as giving no task (it takes none while it
        // is marked), so giving the task back returns them as the reviewer last saw them.
        let (lead, coordinating) = if clause.not_actionable {
            self.clause
                .iter()
                .find(|o| o.id == id)
                .map(|o| (o.lead.clone(), o.coordinating.clone()))
                .unwrap_or((lead, coordinating))
        } else {
            (lead, coordinating)
        };
        let entry = ClauseOverride {
            id: id.to_string(),
            replace: !(lead.is_empty() && coordinating.is_empty()),
            lead,
            coordinating,
            not_actionable,
            source: Some(note.to_string()),
            reviewed: Some(clause.digest()),
        };
        match self.clause.iter_mut().find(|o| o.id == id) {
            Some(old) => *old = entry,
            None => self.clause.push(entry),
        }
        Ok(())
    }

    /// Check the overrides against a directive and catalogue without keeping the result.
    pub fn check(
        &self,
        directive: &Directive,
        catalogue: &Catalogue,
    ) -> Result<(), OverridesError> {
        self.apply(&mut directive.clone(), catalogue)
    }

    /// For a new text of the directive (`fresh`, imported without these overrides): drop the
    /// corrections that no longer apply — a clause the text lost, a clause whose words changed
    /// since the review (its id may now name another clause: numbering shifts), a unit that
    /// cannot take tasks — and return the ids of the dropped ones.
    pub fn keep_applicable(&mut self, fresh: &Directive, catalogue: &Catalogue) -> Vec<String> {
        let mut dropped = Vec::new();
        self.clause.retain(|o| {
            let keep = fresh
                .clause(&o.id)
                .is_some_and(|c| o.reviewed.as_ref().is_none_or(|seen| *seen == c.digest()))
                && o.lead
                    .iter()
                    .chain(&o.coordinating)
                    .all(|u| may_assign(catalogue, fresh, u));
            if !keep {
                dropped.push(o.id.clone());
            }
            keep
        });
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `unwrap` for tests, saying what failed.
    trait Must<T> {
        fn must(self) -> T;
    }
    impl<T, E: std::fmt::Debug> Must<T> for Result<T, E> {
        fn must(self) -> T {
            self.unwrap_or_else(|e| panic!("{e:?}"))
        }
    }
    impl<T> Must<T> for Option<T> {
        fn must(self) -> T {
            self.unwrap_or_else(|| panic!("nothing"))
        }
    }
    /// `unwrap_err` for tests.
    trait MustErr<E> {
        fn must_err(self) -> E;
    }
    impl<T: std::fmt::Debug, E> MustErr<E> for Result<T, E> {
        fn must_err(self) -> E {
            match self {
                Ok(v) => panic!("expected an error, got {v:?}"),
                Err(e) => e,
            }
        }
    }

    use crate::directive::{SEED_DIRECTIVE, import};

    fn seed() -> (Catalogue, Overrides, Directive) {
        let c = Catalogue::bundled().must();
        let o = Overrides::bundled_for("5/CT-BTTTT").must().must();
        let d = import(SEED_DIRECTIVE.as_bytes(), &c, Some(&o)).must();
        (c, o, d)
    }

    fn units(d: &Directive, clause: &str) -> Vec<(String, Role)> {
        d.clause(clause)
            .must()
            .units
            .iter()
            .map(|a| (a.unit.clone(), a.role))
            .collect()
    }

    /// Correct, save as TOML, read back and import again: what the reviewer gets.
    fn corrected(c: &Catalogue, o: &mut Overrides, d: &Directive, k: Correction) -> Directive {
        o.correct(d, c, &k, "test").must();
        let back = Overrides::from_toml(&o.to_toml()).must();
        assert_eq!(&back, o, "the TOML holds every correction");
        import(SEED_DIRECTIVE.as_bytes(), c, Some(&back)).must()
    }

    #[test]
    fn adding_removing_and_changing_a_role_survive_a_fresh_import() {
        let (c, mut o, d) = seed();
        assert!(!units(&d, "II.1-1").iter().any(|(u, _)| u == "cuc-attt"));
        let d = corrected(
            &c,
            &mut o,
            &d,
            Correction::Add {
                clause: "II.1-1".into(),
                unit: "cuc-attt".into(),
                role: Role::Coordinating,
            },
        );
        assert!(units(&d, "II.1-1").contains(&("cuc-attt".into(), Role::Coordinating)));
        let d = corrected(
            &c,
            &mut o,
            &d,
            Correction::SetRole {
                clause: "II.1-1".into(),
                unit: "cuc-attt".into(),
                role: Role::Lead,
            },
        );
        assert!(units(&d, "II.1-1").contains(&("cuc-attt".into(), Role::Lead)));
        let d = corrected(
            &c,
            &mut o,
            &d,
            Correction::Remove {
                clause: "II.1-1".into(),
                unit: "cuc-vt".into(),
            },
        );
        assert!(!units(&d, "II.1-1").iter().any(|(u, _)| u == "cuc-vt"));
        // Other clauses are as they were.
        let (_, _, fresh) = seed();
        assert_eq!(units(&d, "I.3"), units(&fresh, "I.3"));
    }

    #[test]
    fn a_clause_marked_not_actionable_gives_no_task_and_can_give_one_again() {
        let (c, mut o, d) = seed();
        let before = crate::doc::DocHeader::for_unit(&d, &c, "cuc-vt");
        assert!(before.tasks.iter().any(|t| t.clause == "II.1-1"));
        let off = corrected(
            &c,
            &mut o,
            &d,
            Correction::NotActionable {
                clause: "II.1-1".into(),
                value: true,
            },
        );
        let clause = off.clause("II.1-1").must();
        assert!(clause.not_actionable && clause.units.is_empty() && !clause.is_actionable());
        let after = crate::doc::DocHeader::for_unit(&off, &c, "cuc-vt");
        assert!(!after.tasks.iter().any(|t| t.clause == "II.1-1"));
        // A clause that gives no task takes no unit.
        let err = o
            .correct(
                &off,
                &c,
                &Correction::Add {
                    clause: "II.1-1".into(),
                    unit: "cuc-vt".into(),
                    role: Role::Lead,
                },
                "t",
            )
            .must_err();
        assert_eq!(err, ReviewError::NotActionable("II.1-1".into()));
        let on = corrected(
            &c,
            &mut o,
            &off,
            Correction::NotActionable {
                clause: "II.1-1".into(),
                value: false,
            },
        );
        assert!(on.clause("II.1-1").must().is_actionable());
        assert_eq!(units(&on, "II.1-1"), units(&d, "II.1-1"));
    }

    #[test]
    fn bad_corrections_are_refused_and_change_nothing() {
        let (c, mut o, d) = seed();
        let before = o.clone();
        let only = units(&d, "II.1-1");
        let cases = [
            (
                Correction::Add {
                    clause: "IX.9".into(),
                    unit: "cuc-vt".into(),
                    role: Role::Lead,
                },
                ReviewError::UnknownClause("IX.9".into()),
            ),
            (
                Correction::Add {
                    clause: "II.1-1".into(),
                    unit: "no-such-unit".into(),
                    role: Role::Lead,
                },
                ReviewError::UnknownUnit("no-such-unit".into()),
            ),
            (
                Correction::Add {
                    clause: "II.1-1".into(),
                    unit: "bo-y-te".into(),
                    role: Role::Lead,
                },
                ReviewError::NotAssignable("bo-y-te".into()),
            ),
            (
                Correction::Add {
                    clause: "II.1-1".into(),
                    unit: only[0].0.clone(),
                    role: Role::Lead,
                },
                ReviewError::AlreadyNamed {
                    clause: "II.1-1".into(),
                    unit: only[0].0.clone(),
                },
            ),
            (
                Correction::Remove {
                    clause: "II.1-1".into(),
                    unit: "cuc-attt".into(),
                },
                ReviewError::NotNamed {
                    clause: "II.1-1".into(),
                    unit: "cuc-attt".into(),
                },
            ),
        ];
        for (k, want) in cases {
            assert_eq!(o.correct(&d, &c, &k, "t").must_err(), want, "{k:?}");
            assert_eq!(o, before, "{k:?} changed the overrides");
        }
        // Removing every unit: refused (mark the clause not actionable instead).
        let mut d = d;
        for (unit, _) in only.iter().skip(1) {
            d = corrected(
                &c,
                &mut o,
                &d,
                Correction::Remove {
                    clause: "II.1-1".into(),
                    unit: unit.clone(),
                },
            );
        }
        let kept = o.clone();
        let err = o
            .correct(
                &d,
                &c,
                &Correction::Remove {
                    clause: "II.1-1".into(),
                    unit: only[0].0.clone(),
                },
                "t",
            )
            .must_err();
        assert_eq!(err, ReviewError::LastUnit("II.1-1".into()));
        assert_eq!(o, kept);
    }

    #[test]
    fn a_government_directive_takes_ministries_and_the_provinces_of_its_date() {
        let c = Catalogue::bundled().must();
        let text = include_str!("../../tests/fixtures/ct-ttg-ubnd-2026.txt");
        let d = import(text.as_bytes(), &c, None).must();
        let mut o = Overrides::empty(&d.number);
        let add = |unit: &str| Correction::Add {
            clause: "2".into(),
            unit: unit.into(),
            role: Role::Coordinating,
        };
        // A ministry, by the Prime Minister's directive.
        o.correct(&d, &c, &add("bo-y-te"), "t").must();
        // A province of 2020, gone by 2026: refused; the merged one of 2025 is taken.
        assert_eq!(
            o.correct(&d, &c, &add("ubnd-ha-giang"), "t").must_err(),
            ReviewError::NotAssignable("ubnd-ha-giang".into())
        );
        o.correct(&d, &c, &add("ubnd-tuyen-quang-2025"), "t").must();
        // The same ministry in this ministry's own directive: refused.
        let (_, _, own) = seed();
        assert_eq!(
            Overrides::empty(&own.number)
                .correct(
                    &own,
                    &c,
                    &Correction::Add {
                        clause: "II.1-1".into(),
                        unit: "bo-y-te".into(),
                        role: Role::Coordinating,
                    },
                    "t",
                )
                .must_err(),
            ReviewError::NotAssignable("bo-y-te".into())
        );
    }

    #[test]
    fn corrections_read_as_json_the_api_takes() {
        let k: Correction = serde_json::from_str(
            r#"{"action": "set_role", "clause": "I.3", "unit": "vu-cntt", "role": "coordinating"}"#,
        )
        .must();
        assert_eq!(
            k,
            Correction::SetRole {
                clause: "I.3".into(),
                unit: "vu-cntt".into(),
                role: Role::Coordinating
            }
        );
        assert!(
            serde_json::from_str::<Correction>(r#"{"action": "delete_all", "clause": "I.3"}"#)
                .is_err()
        );
    }
}
