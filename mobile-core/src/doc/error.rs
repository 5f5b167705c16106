//! What can be wrong with an operation or a change applied to a unit document.

use thiserror::Error;

use super::ids::{ActorId, TaskRef};

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
}
