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
    #[error("unit {0:?} has an empty name or alias (one without a letter or digit)")]
    EmptyName(String),
    #[error("unit {unit:?} belongs to {group:?}, which is not a group in the catalogue")]
    UnknownGroup { unit: String, group: String },
    #[error("group {0:?} has no members")]
    EmptyGroup(String),
    #[error("unit {unit:?} ends ({until}) before it begins ({from})")]
    BadDates {
        unit: String,
        from: chrono::NaiveDate,
        until: chrono::NaiveDate,
    },
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

/// A correction of the Ministry Office's review that cannot be made; nothing changed.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ReviewError {
    #[error("chỉ thị không có điều khoản {0:?} / the directive has no clause {0:?}")]
    UnknownClause(String),
    #[error("danh mục không có đơn vị {0:?} / the catalogue has no unit {0:?}")]
    UnknownUnit(String),
    #[error(
        "đơn vị {0:?} không thể được giao nhiệm vụ của chỉ thị này / unit {0:?} cannot be given this directive's tasks"
    )]
    NotAssignable(String),
    #[error(
        "điều khoản {0:?} đã được đánh dấu không giao nhiệm vụ / clause {0:?} is marked as giving no task"
    )]
    NotActionable(String),
    #[error(
        "điều khoản {clause:?} đã giao cho {unit:?} / clause {clause:?} already names {unit:?}"
    )]
    AlreadyNamed { clause: String, unit: String },
    #[error(
        "điều khoản {clause:?} không giao cho {unit:?} / clause {clause:?} does not name {unit:?}"
    )]
    NotNamed { clause: String, unit: String },
    #[error(
        "không thể bỏ đơn vị cuối cùng của điều khoản {0:?}: hãy đánh dấu điều khoản không giao nhiệm vụ / cannot remove the last unit of clause {0:?}: mark the clause as giving no task instead"
    )]
    LastUnit(String),
    #[error("at most {0} clauses can be corrected")]
    TooMany(usize),
}
