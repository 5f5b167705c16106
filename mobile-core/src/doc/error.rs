//! What can be wrong with an operation or a change applied to a unit document.

use thiserror::Error;

use super::{
    ids::{ActorId, TaskRef},
    room::DocLimit,
};

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum DocError {
    #[error("operation refers to task {0}, which this document does not have")]
    UnknownTask(TaskRef),
    #[error("{field} is longer than {limit}")]
    TooLong { field: &'static str, limit: usize },
    #[error("invalid operation: {0}")]
    Invalid(&'static str),
    #[error("operations of actor {actor} are missing: have up to {have}, received from {from}")]
    Gap {
        actor: ActorId,
        have: u64,
        from: u64,
    },
    #[error("the document does not match: {0}")]
    Mismatch(&'static str),
    /// A value a new operation may not carry (`Op::admissible`): one some reader of the
    /// document cannot hold. Refused when made or first accepted, never when replayed.
    #[error("{field}: {reason}")]
    Inadmissible { field: &'static str, reason: String },
    /// A change of `actor` from `start` differs from what is held under the same sequence
    /// numbers: the device's store was restored from a backup or copied, and it numbered new
    /// operations again. Its device must register anew and re-issue them (issue 18).
    #[error(
        "operations of actor {actor} from {start} differ from those already held under the same numbers: the device's store was restored or copied"
    )]
    Reused { actor: ActorId, start: u64 },
    /// Changes that would take the document past one of its limits (`doc::check_room`):
    /// refused whole; a change that adds nothing past the limit is still taken.
    #[error("the document is full: its {limit} would be {after}, past the limit of {max}")]
    Full {
        limit: DocLimit,
        after: usize,
        max: usize,
    },
}
