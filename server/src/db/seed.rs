//! First start: the unit catalogue, the bundled directive with its clauses and assignments,
//! and an empty document (with its task projections) for every unit the directive gives work.

use anyhow::Context;
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait, sea_query::OnConflict,
};
use taskforce_core::{
    directive::{Catalogue, Clause, Directive, Role, SEED_DIRECTIVE, import},
    doc::{DocHeader, ReviewState, TaskRef, UnitDocument},
    sync::wire,
};

use super::{
    entity::{assignments, clauses, directives, documents, tasks, units},
    insert_chunked,
};
use crate::clock::now;

pub fn role_str(r: Role) -> &'static str {
    match r {
        Role::Lead => "lead",
        Role::Coordinating => "coordinating",
    }
}

/// Store the catalogue's units (new ones added, existing ones updated).
pub async fn store_units(db: &impl ConnectionTrait, catalogue: &Catalogue) -> anyhow::Result<()> {
    let rows: Vec<units::ActiveModel> = catalogue
        .units()
        .iter()
        .map(|u| units::ActiveModel {
            id: Set(u.id.clone()),
            name: Set(u.name.clone()),
            en: Set(u.en.clone()),
            kind: Set(serde_json::to_value(u.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()),
            groups: Set(serde_json::to_string(&u.groups).unwrap_or_default()),
            aliases: Set(serde_json::to_string(&u.aliases).unwrap_or_default()),
        })
        .collect();
    let upsert = OnConflict::column(units::Column::Id)
        .update_columns([
            units::Column::Name,
            units::Column::En,
            units::Column::Kind,
            units::Column::Groups,
            units::Column::Aliases,
        ])
        .to_owned();
    insert_chunked(db, &rows, Some(&upsert)).await?;
    Ok(())
}

/// The units with a document for this directive (mobile-core's `DocHeader::all_for`).
pub fn document_headers(directive: &Directive, catalogue: &Catalogue) -> Vec<DocHeader> {
    DocHeader::all_for(directive, catalogue)
}

/// Store a directive, its clauses, assignments and unit documents. A directive already
/// stored is left as it is (documents carry edits; re-importing is a decision for a person).
pub async fn store_directive(
    db: &DatabaseConnection,
    d: &Directive,
    catalogue: &Catalogue,
) -> anyhow::Result<bool> {
    let txn = super::begin_write(db).await?;
    let stored = store_directive_in(&txn, d, catalogue, None).await?;
    txn.commit().await?;
    Ok(stored)
}

/// What a directive was imported from: its text and the review's overrides (TOML).
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub text: &'a str,
    pub overrides: &'a str,
}

/// [`store_directive`] inside the caller's transaction (publishing a draft deletes the draft
/// in the same one). `false`, and nothing written, when the directive is already stored.
pub async fn store_directive_in(
    txn: &impl ConnectionTrait,
    d: &Directive,
    catalogue: &Catalogue,
    source: Option<Source<'_>>,
) -> anyhow::Result<bool> {
    let slug = d.slug();
    if directives::Entity::find_by_id(slug.clone())
        .one(txn)
        .await?
        .is_some()
    {
        return Ok(false);
    }
    directives::Entity::insert(directives::ActiveModel {
        id: Set(slug.clone()),
        number: Set(d.number.clone()),
        issuer: Set(d.issuer.clone()),
        date: Set(d.date.to_string()),
        title: Set(d.title.clone()),
        document: Set(serde_json::to_string(d)?),
        imported_at: Set(now()),
        source: Set(source.as_ref().map(|s| s.text.to_string())),
        overrides: Set(source.as_ref().map(|s| s.overrides.to_string())),
        revision: Set(0),
    })
    .exec_without_returning(txn)
    .await?;
    store_clauses(txn, d).await?;
    insert_documents(txn, &slug, &document_headers(d, catalogue), 0).await?;
    Ok(true)
}

/// Store a directive's clauses and assignments (its rows none yet: a directive published, or
/// one whose rows a revision has just deleted).
pub async fn store_clauses(txn: &impl ConnectionTrait, d: &Directive) -> anyhow::Result<()> {
    let slug = d.slug();
    let mut clause_rows = Vec::new();
    let mut assignment_rows = Vec::new();
    fn walk(
        c: &Clause,
        parent: Option<&str>,
        slug: &str,
        out: &mut Vec<clauses::ActiveModel>,
        asg: &mut Vec<assignments::ActiveModel>,
    ) {
        let position = i32::try_from(out.len()).unwrap_or(i32::MAX);
        out.push(clauses::ActiveModel {
            directive_id: Set(slug.to_string()),
            id: Set(c.id.clone()),
            parent_id: Set(parent.map(str::to_string)),
            kind: Set(serde_json::to_value(c.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()),
            heading: Set(c.heading.clone()),
            text: Set(c.text.clone()),
            position: Set(position),
        });
        for a in &c.units {
            asg.push(assignments::ActiveModel {
                directive_id: Set(slug.to_string()),
                clause_id: Set(c.id.clone()),
                unit_id: Set(a.unit.clone()),
                role: Set(role_str(a.role).to_string()),
            });
        }
        for child in &c.children {
            walk(child, Some(&c.id), slug, out, asg);
        }
    }
    for c in &d.clauses {
        walk(c, None, &slug, &mut clause_rows, &mut assignment_rows);
    }
    insert_chunked(txn, &clause_rows, None).await?;
    insert_chunked(txn, &assignment_rows, None).await?;
    Ok(())
}

/// Store an empty document for each header, with its task projections, as brought to
/// `revision` of the directive.
pub async fn insert_documents(
    txn: &impl ConnectionTrait,
    slug: &str,
    headers: &[DocHeader],
    revision: i32,
) -> anyhow::Result<()> {
    let t = now();
    let mut task_rows = Vec::new();
    for header in headers {
        let doc = UnitDocument::new(header.clone());
        documents::Entity::insert(documents::ActiveModel {
            directive_id: Set(slug.to_string()),
            unit_id: Set(header.unit.clone()),
            fingerprint: Set(i64::from_ne_bytes(header.fingerprint().to_ne_bytes())),
            state: Set(wire::encode_snapshot(&doc.to_canonical())),
            ops: Set(0),
            updated_at: Set(t),
            state_ops: Set(0),
            head: Set(None),
            chain_len: Set(0),
            chain_head: Set(None),
            revision: Set(revision),
        })
        .exec_without_returning(txn)
        .await?;
        for (i, task) in header.tasks.iter().enumerate() {
            let r = TaskRef::Assigned(u32::try_from(i).unwrap_or(u32::MAX));
            task_rows.push(tasks::ActiveModel {
                directive_id: Set(slug.to_string()),
                unit_id: Set(header.unit.clone()),
                task_ref: Set(r.to_string()),
                clause_id: Set(Some(task.clause.clone())),
                role: Set(Some(role_str(task.role).to_string())),
                title: Set(None),
                status: Set("todo".into()),
                progress: Set(0),
                assignee: Set(None),
                due: Set(None),
                conflicted: Set(false),
                updated_at: Set(t),
                review: Set(ReviewState::Open.as_str().into()),
                urges: Set(0),
                last_urged_at: Set(None),
            });
        }
    }
    insert_chunked(txn, &task_rows, None).await?;
    Ok(())
}

/// The catalogue and the bundled directive 05/CT-BTTTT, on first start.
pub async fn seed(db: &DatabaseConnection, catalogue: &Catalogue) -> anyhow::Result<Directive> {
    store_units(db, catalogue)
        .await
        .context("storing the unit catalogue")?;
    let directive =
        import(SEED_DIRECTIVE.as_bytes(), catalogue, None).context("the bundled directive")?;
    if store_directive(db, &directive, catalogue)
        .await
        .context("storing the bundled directive")?
    {
        tracing::info!(directive = %directive.number, "imported the bundled directive");
    }
    Ok(directive)
}
