//! What can go wrong reading a directive, a unit catalogue or an overrides file.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DirectiveError {
    #[error("the text is empty")]
    Empty,
    #[error("the text is {size} bytes; a directive is at most {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("the file is binary, not text (byte {offset} is not UTF-8 text)")]
    Binary { offset: usize },
    #[error("this is not a directive: {0}")]
    NotADirective(&'static str),
    #[error("the directive has no clauses: no numbered sections or items were found")]
    NoClauses,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CatalogueError {
    #[error("the catalogue is not valid TOML: {0}")]
    Syntax(String),
    #[error("unit {index} has an invalid id {id:?}: use lower-case letters, digits and '-'")]
    BadId { index: usize, id: String },
    #[error("unit id {0:?} appears twice")]
    DuplicateId(String),
    #[error("unit {0:?} has an empty name")]
    EmptyName(String),
    #[error("unit {unit:?} belongs to {group:?}, which is not a group in the catalogue")]
    UnknownGroup { unit: String, group: String },
    #[error("group {0:?} has no members")]
    EmptyGroup(String),
    #[error("the name or alias {alias:?} is used by both {first:?} and {second:?}")]
    AmbiguousAlias {
        alias: String,
        first: String,
        second: String,
    },
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum OverridesError {
    #[error("the overrides file is not valid TOML: {0}")]
    Syntax(String),
    #[error("the overrides are for directive {expected}, not {found}")]
    WrongDirective { expected: String, found: String },
    #[error("the overrides name clause {0:?}, which the directive does not have")]
    UnknownClause(String),
    #[error(
        "the overrides for clause {clause:?} name unit {unit:?}, which the catalogue does not have"
    )]
    UnknownUnit { clause: String, unit: String },
}
