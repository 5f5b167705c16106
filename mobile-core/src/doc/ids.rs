//! Identities inside a unit document: actors, operation ids, tasks, the document itself.

use std::fmt;

use crdts::{Dot, VClock};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::directive::{Catalogue, Directive, Role};

/// A device, as the compact number the server gave it at registration.
pub type ActorId = u32;

/// What a replica has seen: for each actor, the highest contiguous sequence number applied.
pub type VersionVector = VClock<ActorId>;

/// One operation: the `seq`-th operation of `actor` on this document (from 1).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OpId {
    pub actor: ActorId,
    pub seq: u64,
}

impl OpId {
    pub fn new(actor: ActorId, seq: u64) -> Self {
        Self { actor, seq }
    }
    pub fn dot(self) -> Dot<ActorId> {
        Dot::new(self.actor, self.seq)
    }
}

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.actor, self.seq)
    }
}

/// A task of the document: one given by the directive (by its index in the header), one
/// a unit added (by the operation that created it), or one a revision of the directive gave
/// the unit after publishing (by the Ministry Office's `Assign` operation; decision 44).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TaskRef {
    Assigned(u32),
    Adhoc(OpId),
    /// Appended variant: stored changes decode as before.
    Added(OpId),
}

impl TaskRef {
    /// Whether the directive gives this task (in the header or by a revision), not the unit.
    pub fn is_directive(self) -> bool {
        matches!(self, TaskRef::Assigned(_) | TaskRef::Added(_))
    }
}

impl fmt::Display for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskRef::Assigned(i) => write!(f, "a{i}"),
            TaskRef::Adhoc(id) => write!(f, "t{id}"),
            TaskRef::Added(id) => write!(f, "r{id}"),
        }
    }
}

impl std::str::FromStr for TaskRef {
    type Err = String;

    /// `a3` (the directive's fourth task), `t2.17` (added by operation 17 of actor 2) or
    /// `r9.4` (given by a revision of the directive: operation 4 of actor 9).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a task id (a3, t2.17, r9.4)");
        if let Some(i) = s.strip_prefix('a') {
            return i.parse().map(TaskRef::Assigned).map_err(|_| bad());
        }
        let (make, rest): (fn(OpId) -> TaskRef, &str) = match s.split_at_checked(1) {
            Some(("t", rest)) => (TaskRef::Adhoc, rest),
            Some(("r", rest)) => (TaskRef::Added, rest),
            _ => return Err(bad()),
        };
        let (actor, seq) = rest.split_once('.').ok_or_else(bad)?;
        Ok(make(OpId::new(
            actor.parse().map_err(|_| bad())?,
            seq.parse().map_err(|_| bad())?,
        )))
    }
}

/// A task the directive gives the unit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HeaderTask {
    pub clause: String,
    pub role: Role,
}

/// What every replica of a document agrees on before the first operation: which directive,
/// which unit, and the tasks the directive gives that unit (in document order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocHeader {
    /// The directive's slug (`5-ct-btttt`).
    pub directive: String,
    /// The unit's catalogue id.
    pub unit: String,
    pub tasks: Vec<HeaderTask>,
}

impl DocHeader {
    /// The header of `unit`'s document for `directive`: every actionable clause assigned to
    /// the unit or to a group it belongs to. A unit that both leads and coordinates a clause
    /// (through a group) leads it.
    pub fn for_unit(directive: &Directive, catalogue: &Catalogue, unit: &str) -> Self {
        let groups: Vec<&str> = catalogue
            .get(unit)
            .map(|u| u.groups.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let tasks = directive
            .all_clauses()
            .filter(|c| c.is_actionable())
            .filter_map(|c| {
                c.units
                    .iter()
                    .filter(|a| a.unit == unit || groups.contains(&a.unit.as_str()))
                    .map(|a| a.role)
                    .min()
                    .map(|role| HeaderTask {
                        clause: c.id.clone(),
                        role,
                    })
            })
            .collect();
        Self {
            directive: directive.slug(),
            unit: unit.to_string(),
            tasks,
        }
    }

    /// The headers of every document `directive` gives: one per non-group unit its issuer can
    /// give tasks to, in force on its date, that some actionable clause falls to (directly or
    /// through a group). What publishing stores.
    pub fn all_for(directive: &Directive, catalogue: &Catalogue) -> Vec<Self> {
        let authority = crate::directive::Authority::of(directive);
        catalogue
            .in_force_on(directive.date)
            .filter(|u| catalogue.assignable_by(&u.id, authority) && !u.is_group())
            .map(|u| Self::for_unit(directive, catalogue, &u.id))
            .filter(|h| !h.tasks.is_empty())
            .collect()
    }

    /// Eight bytes that differ when two replicas would disagree on the header.
    pub fn fingerprint(&self) -> u64 {
        let bytes = postcard::to_stdvec(self).unwrap_or_default();
        let hash = Sha256::digest(&bytes);
        let mut first = [0u8; 8];
        first.copy_from_slice(&hash[..8]);
        u64::from_le_bytes(first)
    }

    pub fn task_index(&self, clause: &str) -> Option<u32> {
        self.tasks
            .iter()
            .position(|t| t.clause == clause)
            .and_then(|i| u32::try_from(i).ok())
    }
}
