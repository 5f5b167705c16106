//! Who is calling and what they may do: roles and their rules, argon2id passwords, bearer
//! tokens stored hashed, a short-lived cache of checked tokens and device keys, and a limiter
//! for failed logins. No HTTP here: the extractor that reads a request's token is in
//! `crate::http`.

mod cache;
mod device_token;
mod limiter;
mod password;
mod token;

pub use cache::{AuthCache, CALLER_TTL, DEVICE_TTL};
pub use device_token::{DeviceKey, DeviceKeyError, DeviceToken, shared_key};
pub use limiter::{Attempt, LoginLimiter, LoginLimits, normalise};
pub use password::{
    Argon2Slot, MAX_PASSWORD_BYTES, argon2_slot, check_password_strength, hash_password,
    hash_password_off_loop, verify_password, verify_password_in, verify_password_off_loop,
};
pub use token::{caller_for_token, new_token, token_hash};

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};

/// A user's role across the ministry. Unit members and leads are `member` with memberships.
#[derive(utoipa::ToSchema)]
#[schema(as = UserRole)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A task-force member of one or more units (a membership may make them its lead).
    Member,
    /// Văn phòng Bộ: reads everything, manages the directive and the units.
    MinistryOffice,
    /// The Minister: reads everything.
    Minister,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::MinistryOffice => "ministry_office",
            Role::Minister => "minister",
            Role::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            Role::Member,
            Role::MinistryOffice,
            Role::Minister,
            Role::Admin,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// (unit id, lead) for each membership.
    pub units: Vec<(String, bool)>,
}

impl Caller {
    pub fn reads_everything(&self) -> bool {
        matches!(
            self.role,
            Role::MinistryOffice | Role::Minister | Role::Admin
        )
    }
    pub fn is_member_of(&self, unit: &str) -> bool {
        self.units.iter().any(|(u, _)| u == unit)
    }
    pub fn leads(&self, unit: &str) -> bool {
        self.units.iter().any(|(u, lead)| u == unit && *lead)
    }
    pub fn may_read_unit(&self, unit: &str) -> bool {
        self.reads_everything() || self.is_member_of(unit)
    }
    /// Only the unit's own members write its document as the unit; the Ministry Office (and
    /// an admin) write its own operations into any unit's document (decision 39).
    pub fn may_write_unit(&self, unit: &str) -> bool {
        self.is_member_of(unit) || self.acts_for_office()
    }
    /// Whether the caller acts as the Ministry Office: reviews, deadlines, urges.
    pub fn acts_for_office(&self) -> bool {
        matches!(self.role, Role::MinistryOffice | Role::Admin)
    }
    /// Whether the caller may make `op` in `unit`'s document: as one of its members (any
    /// operation but the Ministry Office's), or as the Ministry Office (its operations and
    /// comments). Checked per operation (decision 39).
    pub fn may_make(&self, unit: &str, op: &taskforce_core::doc::Op) -> bool {
        use taskforce_core::doc::Author;
        (self.is_member_of(unit) && op.permitted(Author::Unit))
            || (self.acts_for_office() && op.permitted(Author::Office))
    }
    pub fn may_manage_members(&self, unit: &str) -> bool {
        matches!(self.role, Role::MinistryOffice | Role::Admin) || self.leads(unit)
    }
    pub fn require(&self, allowed: bool, what: &str) -> ApiResult<()> {
        if allowed {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "{} may not {what}",
                self.username
            )))
        }
    }
}

/// Whether some account could have this name: 2–64 of a-z, 0-9, '.', '_', '-' (what
/// `accounts::check_username` lets an account be created with).
pub fn is_possible_username(name: &str) -> bool {
    (2..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}
