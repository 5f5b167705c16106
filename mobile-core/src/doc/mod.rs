//! Unit documents: the CRDT holding one unit's tasks, confirmations and reports for one
//! directive, and the operations that change it.

mod bounded;
mod error;
mod footprint;
mod ids;
mod ops;
mod register;
mod review;
mod revision;
mod room;
mod state;
mod verification;

pub use bounded::BoundedDocument;
pub use error::DocError;
pub use footprint::Footprint;
pub use ids::{ActorId, DocHeader, HeaderTask, OpId, TaskRef, VersionVector};
pub use ops::{
    Author, Confirmation, ConfirmationState, Context, Day, Evidence, FieldKind, Figure, Op, Report,
    Review, Status, TaskField, Urge, Verdict, limits,
};
pub use register::{Register, compare as compare_clocks};
pub use review::{ReviewState, office_deadline, review_state};
pub use revision::{RevisionSummary, diff_tasks, revision_ops};
pub use room::{DocLimit, Measured, check_room, check_room_ops};
pub use state::{CanonicalDoc, CanonicalReg, CanonicalTask, Conflict, TaskState, UnitDocument};
pub use verification::{
    Amount, HotlineCheck, MAX_CURRENCIES, MAX_HOTLINES, MAX_OFFENDING, NUMBER_DIGITS,
    OffendingCall, Verification, check_of, contradicts, national, national_digits,
};

/// A one-task document header for the crate's unit tests.
#[cfg(test)]
pub(crate) fn test_header() -> DocHeader {
    DocHeader {
        directive: "5-ct-btttt".into(),
        unit: "cuc-vt".into(),
        tasks: vec![HeaderTask {
            clause: "2.a".into(),
            role: crate::directive::Role::Lead,
        }],
    }
}
