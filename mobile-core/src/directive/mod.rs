//! Directives: the model, the importer (text repair, parser), the unit catalogue and the
//! assignment of clauses to units.

mod assign;
mod catalogue;
mod error;
mod model;
mod parse;
mod review;
mod text;

pub use assign::{ClauseOverride, Mention, Overrides, UnitMatcher};
pub use catalogue::{
    Authority, BUNDLED_CATALOGUE, BUNDLED_FILES, BUNDLED_GOVERNMENT, BUNDLED_PROVINCES, Catalogue,
    Scope, Unit, UnitKind, fold,
};
pub use error::{CatalogueError, DirectiveError, OverridesError, ReviewError};
pub use model::{Assignment, Clause, ClauseKind, Directive, ImportWarning, Role, Signer, slug};
pub use parse::{MAX_DIRECTIVE_BYTES, parse, parse_bytes};
pub use review::{Correction, MAX_CORRECTIONS, may_assign};

/// The directive taskforce ships with: 05/CT-BTTTT of 2 February 2020.
pub const SEED_DIRECTIVE: &str = include_str!("../../data/05-CT-BTTTT.txt");

/// Everything that can go wrong importing a directive.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImportError {
    #[error(transparent)]
    Directive(#[from] DirectiveError),
    #[error(transparent)]
    Overrides(#[from] OverridesError),
}

/// Parse a directive and assign its clauses: units named in the text, then `overrides` (or
/// the bundled overrides for this directive's number when `overrides` is `None`), then
/// introductions rolled up from the clauses they introduce.
pub fn import(
    bytes: &[u8],
    catalogue: &Catalogue,
    overrides: Option<&Overrides>,
) -> Result<Directive, ImportError> {
    let mut directive = parse_bytes(bytes)?;
    assign::detect(&mut directive, catalogue);
    let bundled = match overrides {
        Some(_) => None,
        None => Overrides::bundled_for(&directive.number).transpose()?,
    };
    if let Some(o) = overrides.or(bundled.as_ref()) {
        o.apply(&mut directive, catalogue)?;
    }
    assign::roll_up_introductions(&mut directive, catalogue);
    Ok(directive)
}
