//! The Ministry Office acting (issue 20, decision 39): accepting or returning a unit's
//! work, urging, setting deadlines and commenting, on a task, a clause (every unit it names)
//! or a unit. Each action is operations in the unit's document, made over the document as
//! stored, signed by a device the server holds for the acting account, and written through the
//! same writer as a phone's sync: the unit's phones get them on their next sync, and the
//! audit chain covers them.
//!
//! The account's device key is derived from the server's audit key and the account's id
//! (SHA-256, domain-separated): it is never stored, never leaves the server, and every replica
//! sharing the audit key derives the same one. Its public key is registered in `devices` like
//! a phone's, so each operation names its account.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use ed25519_dalek::SigningKey;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use sha2::{Digest, Sha256};
use taskforce_core::{
    doc::{Context, Day, Op, ReviewState, TaskField, TaskRef, UnitDocument, Urge, Verdict},
    sync::{Change, DocKey},
};

use crate::{
    audit::AuditKey,
    auth::Caller,
    db::entity::{devices, tasks},
    docstore,
    error::{ApiError, ApiResult},
    sync::{GroupWriter, WriteJob},
};

/// What the Ministry Office does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Accept reported work, with an optional remark.
    Accept { remark: String },
    /// Return work to the unit with a reason.
    Return { reason: String },
    /// Urge the unit, with an optional new deadline (also set as the task's deadline).
    Urge {
        message: String,
        due: Option<NaiveDate>,
    },
    /// Set (or clear) the deadline.
    Deadline { due: Option<NaiveDate> },
    /// Comment on a task.
    Comment { text: String },
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Accept { .. } => "accept",
            Action::Return { .. } => "return",
            Action::Urge { .. } => "urge",
            Action::Deadline { .. } => "deadline",
            Action::Comment { .. } => "comment",
        }
    }

    /// Whether a task in `state` (status `done` or not) is one a group target acts on.
    fn applies_to(&self, state: ReviewState, done: bool) -> bool {
        match self {
            Action::Accept { .. } | Action::Return { .. } => {
                done && matches!(
                    state,
                    ReviewState::Reported | ReviewState::ChangedAfterAcceptance
                )
            }
            Action::Urge { .. } => matches!(
                state,
                ReviewState::Open | ReviewState::Returned | ReviewState::Conflict
            ),
            Action::Deadline { .. } | Action::Comment { .. } => true,
        }
    }
}

/// Which tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One task; `seen`: its unit clock as the reviewer saw it (a review covers that).
    Task {
        unit: String,
        task: TaskRef,
        seen: Option<Context>,
    },
    /// Every directive task of a unit.
    Unit { unit: String },
    /// The clause's task in every unit it names.
    Clause { clause: String },
}

/// An operation made.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Applied {
    pub unit: String,
    pub task: String,
    /// The operation's id (`actor.seq`).
    pub operation: String,
}

/// A task of a group target left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Skipped {
    pub unit: String,
    pub task: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Outcome {
    pub applied: Vec<Applied>,
    pub skipped: Vec<Skipped>,
}

/// The name of the device the server holds for a dashboard account.
pub const DEVICE_NAME: &str =
    "Văn phòng Bộ — bảng điều khiển (máy chủ giữ khóa) / dashboard (key held by the server)";

/// How many times an action is made again over the document as stored after another write of
/// the same account took its sequence numbers first (on another replica: within one process
/// the actions take turns, [`TURNS`]).
pub(crate) const ATTEMPTS: usize = 8;

/// The Ministry Office's actions in this process take turns: each reads the document, makes
/// its operations under the account's next sequence numbers and writes them, so two at once
/// (two tabs, a double click) would otherwise take the same numbers and one be made again.
/// People act at the pace of clicks; a turn takes one write.
pub(crate) static TURNS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The key of the device the server holds for account `user_id`, of `generation` (how many
/// of the account's dashboard devices were revoked before it).
fn device_key(audit: &AuditKey, user_id: i64, generation: u64) -> SigningKey {
    let mut h = Sha256::new();
    h.update(b"taskforce dashboard device v1\0");
    h.update(audit.secret_bytes());
    h.update(user_id.to_le_bytes());
    h.update(generation.to_le_bytes());
    SigningKey::from_bytes(&h.finalize().into())
}

/// The actor id and key of the device the server holds for `caller`, registered on first use
/// (with an entry in the audit log). Revoking it (an admin, as a phone's) ends it: the next
/// action derives the next generation's key and registers that device, so every replica
/// sharing the audit key agrees on the key without storing it.
pub async fn server_device(
    db: &DatabaseConnection,
    audit: &AuditKey,
    caller: &Caller,
) -> ApiResult<(u32, SigningKey)> {
    server_device_named(db, audit, caller, DEVICE_NAME).await
}

/// [`server_device`] under the device name `name` (the dashboard's, or the call-record
/// verifier's).
pub async fn server_device_named(
    db: &DatabaseConnection,
    audit: &AuditKey,
    caller: &Caller,
    name: &str,
) -> ApiResult<(u32, SigningKey)> {
    let revoked = devices::Entity::find()
        .filter(devices::Column::UserId.eq(caller.user_id))
        .filter(devices::Column::Name.eq(name))
        .filter(devices::Column::RevokedAt.is_not_null())
        .count(db)
        .await?;
    let key = device_key(audit, caller.user_id, revoked);
    let public = key.verifying_key().to_bytes().to_vec();
    let found = devices::Entity::find()
        .filter(devices::Column::PublicKey.eq(public.clone()))
        .one(db)
        .await?;
    let row = match found {
        Some(row) => row,
        None => {
            let inserted = devices::ActiveModel {
                user_id: Set(caller.user_id),
                name: Set(name.to_string()),
                public_key: Set(public.clone()),
                created_at: Set(crate::clock::now()),
                revoked_at: Set(None),
                revoked_by: Set(None),
                ..Default::default()
            }
            .insert(db)
            .await;
            match inserted {
                Ok(row) => {
                    crate::accounts::audit(
                        db,
                        Some(caller.user_id),
                        "device.register",
                        &caller.username,
                        serde_json::json!({
                            "actor": row.actor_id,
                            "name": name,
                            "held_by_server": true,
                        }),
                    )
                    .await?;
                    row
                }
                // Another request (or replica) registered it first: read it back.
                Err(_) => devices::Entity::find()
                    .filter(devices::Column::PublicKey.eq(public))
                    .one(db)
                    .await?
                    .ok_or_else(|| {
                        ApiError::internal(anyhow::anyhow!("the dashboard device vanished"))
                    })?,
            }
        }
    };
    if row.user_id != caller.user_id {
        return Err(ApiError::internal(anyhow::anyhow!(
            "the dashboard device key of user {} is registered to user {}",
            caller.user_id,
            row.user_id
        )));
    }
    if row.revoked_at.is_some() {
        // Revoked between the count and here: the next action gets the next generation.
        return Err(ApiError::Conflict(
            "thiết bị bảng điều khiển vừa bị thu hồi; hãy thử lại / the dashboard device was just revoked; try again".into(),
        ));
    }
    let actor = u32::try_from(row.actor_id).map_err(ApiError::internal)?;
    Ok((actor, key))
}

/// The (unit, task) pairs `target` names in `directive`, from the task projections (every
/// directive task has a row from the seed on).
async fn tasks_of(
    db: &DatabaseConnection,
    directive: &str,
    target: &Target,
) -> ApiResult<Vec<(String, TaskRef)>> {
    let rows: Vec<(String, String)> = match target {
        Target::Task { unit, task, .. } => return Ok(vec![(unit.clone(), *task)]),
        Target::Unit { unit } => {
            tasks::Entity::find()
                .select_only()
                .column(tasks::Column::UnitId)
                .column(tasks::Column::TaskRef)
                .filter(tasks::Column::DirectiveId.eq(directive))
                .filter(tasks::Column::UnitId.eq(unit.as_str()))
                .filter(tasks::Column::ClauseId.is_not_null())
                .order_by_asc(tasks::Column::TaskRef)
                .into_tuple()
                .all(db)
                .await?
        }
        Target::Clause { clause } => {
            tasks::Entity::find()
                .select_only()
                .column(tasks::Column::UnitId)
                .column(tasks::Column::TaskRef)
                .filter(tasks::Column::DirectiveId.eq(directive))
                .filter(tasks::Column::ClauseId.eq(clause.as_str()))
                .order_by_asc(tasks::Column::UnitId)
                .into_tuple()
                .all(db)
                .await?
        }
    };
    let out: Vec<(String, TaskRef)> = rows
        .into_iter()
        .filter_map(|(u, t)| t.parse().ok().map(|t| (u, t)))
        .collect();
    if out.is_empty() {
        return Err(ApiError::NotFound(match target {
            Target::Unit { unit } => format!("đơn vị / unit {unit}"),
            Target::Clause { clause } => format!("điều khoản / clause {clause}"),
            Target::Task { .. } => "task".into(),
        }));
    }
    Ok(out)
}

/// The operations `action` makes on task `t` of `doc` (none when a group target leaves it).
fn ops_for(
    doc: &UnitDocument,
    t: TaskRef,
    action: &Action,
    seen: Option<&Context>,
    one: bool,
    at: i64,
) -> Result<Vec<Op>, String> {
    let done = doc.reported_done(t);
    let state = doc.review_state(t);
    if !one && !action.applies_to(state, done) {
        return Err(format!(
            "{} / {}",
            state.label_vi(),
            state.label_en().to_lowercase()
        ));
    }
    let review = |verdict, text: &str| match seen {
        Some(seen) => doc.review_op_over(t, verdict, text.to_string(), seen.clone(), at),
        None => doc.review_op(t, verdict, text.to_string(), at),
    };
    Ok(match action {
        Action::Accept { remark } => {
            if !done {
                return Err(
                    "đơn vị chưa báo cáo hoàn thành / the unit has not reported it done".into(),
                );
            }
            vec![review(Verdict::Accepted, remark)]
        }
        Action::Return { reason } => vec![review(Verdict::Returned, reason)],
        Action::Urge { message, due } => {
            let due = due.map(Day::from_date);
            let mut ops = vec![Op::Urge {
                task: t,
                urge: Urge {
                    message: message.clone(),
                    due,
                    at,
                },
            }];
            if due.is_some() {
                ops.push(doc.set_op(t, TaskField::Deadline(due)));
            }
            ops
        }
        Action::Deadline { due } => {
            vec![doc.set_op(t, TaskField::Deadline(due.map(Day::from_date)))]
        }
        Action::Comment { text } => vec![Op::Comment {
            task: t,
            text: text.clone(),
            at,
        }],
    })
}

/// Check what a person typed before anything is made.
fn check_action(action: &Action, target: &Target) -> ApiResult<()> {
    let blank = |s: &str| s.trim().is_empty();
    match action {
        Action::Return { reason } if blank(reason) => Err(ApiError::BadRequest(
            "hãy ghi lý do trả lại / a return needs a reason".into(),
        )),
        Action::Urge { message, .. } if blank(message) => Err(ApiError::BadRequest(
            "hãy ghi nội dung đôn đốc / an urge needs a message".into(),
        )),
        Action::Comment { text } if blank(text) => Err(ApiError::BadRequest(
            "bình luận trống / the comment is empty".into(),
        )),
        Action::Comment { .. } if !matches!(target, Target::Task { .. }) => {
            Err(ApiError::BadRequest(
                "chỉ bình luận được trên một nhiệm vụ / a comment is on one task".into(),
            ))
        }
        _ => Ok(()),
    }
}

/// Act as the Ministry Office: `action` on `target` of `directive`, as `caller` (who must
/// act for the Ministry Office), at Unix time `at`. Each unit document gets one change; a
/// document is made over as stored (and made again if another write of the same account
/// took its sequence numbers first).
#[allow(clippy::too_many_arguments)]
pub async fn act(
    db: &DatabaseConnection,
    writer: &GroupWriter,
    audit: &AuditKey,
    caller: &Caller,
    directive: &str,
    target: &Target,
    action: &Action,
    at: i64,
) -> ApiResult<Outcome> {
    caller.require(caller.acts_for_office(), "act for the Ministry Office")?;
    check_action(action, target)?;
    let pairs = tasks_of(db, directive, target).await?;
    let (actor, key) = server_device(db, audit, caller).await?;
    let mut by_unit: BTreeMap<String, Vec<TaskRef>> = BTreeMap::new();
    for (unit, t) in pairs {
        by_unit.entry(unit).or_default().push(t);
    }
    let one = matches!(target, Target::Task { .. });
    let seen = match target {
        Target::Task { seen, .. } => seen.as_ref(),
        _ => None,
    };
    let mut outcome = Outcome::default();
    let _turn = TURNS.lock().await;
    for (unit, refs) in by_unit {
        let key_of = DocKey {
            directive: directive.to_string(),
            unit: unit.clone(),
        };
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let attempt = act_on_doc(
                db, writer, caller, &key_of, actor, &key, &refs, action, seen, one, at,
            )
            .await;
            match attempt {
                // The account's sequence numbers were taken by another of its writes since
                // the document was read: read it again and make the operations again.
                Err(ApiError::Reused { .. } | ApiError::Gap { .. }) => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
                other => {
                    last = Some(other);
                    break;
                }
            }
        }
        let result = last.unwrap_or_else(|| {
            Err(ApiError::Conflict(
                "tài liệu đang được ghi liên tục; hãy thử lại / the document kept changing; try again".into(),
            ))
        });
        match result {
            Ok((applied, skipped)) => {
                outcome.applied.extend(applied);
                outcome.skipped.extend(skipped);
            }
            Err(e) if one => return Err(e),
            // A group target goes on with the other units: one unit's refusal (its document
            // full, the writer overloaded) is listed, not the end of the action, so acting
            // again does not repeat what was done.
            Err(e) => outcome.skipped.extend(refs.iter().map(|t| Skipped {
                unit: unit.clone(),
                task: t.to_string(),
                reason: format!("không ghi được / not written: {e}"),
            })),
        }
    }
    Ok(outcome)
}

#[allow(clippy::too_many_arguments)]
async fn act_on_doc(
    db: &DatabaseConnection,
    writer: &GroupWriter,
    caller: &Caller,
    doc_key: &DocKey,
    actor: u32,
    key: &SigningKey,
    refs: &[TaskRef],
    action: &Action,
    seen: Option<&Context>,
    one: bool,
    at: i64,
) -> ApiResult<(Vec<Applied>, Vec<Skipped>)> {
    let Some((doc, _)) = docstore::load_whole(db, doc_key).await? else {
        return Err(ApiError::NotFound(format!(
            "tài liệu / document {}/{}",
            doc_key.directive, doc_key.unit
        )));
    };
    let mut ops: Vec<Op> = Vec::new();
    let mut made: Vec<(TaskRef, usize)> = Vec::new();
    let mut skipped = Vec::new();
    for &t in refs {
        if !doc.is_listed(t) {
            return Err(ApiError::NotFound(format!(
                "nhiệm vụ / task {t} of {}",
                doc_key.unit
            )));
        }
        match ops_for(&doc, t, action, seen, one, at) {
            Ok(new) => {
                made.push((t, new.len()));
                ops.extend(new);
            }
            Err(reason) if one => return Err(ApiError::Conflict(reason)),
            Err(reason) => skipped.push(Skipped {
                unit: doc_key.unit.clone(),
                task: t.to_string(),
                reason,
            }),
        }
    }
    if ops.is_empty() {
        return Ok((Vec::new(), skipped));
    }
    let start = write_change(writer, caller, doc_key, &doc, actor, key, ops).await?;
    let mut seq = start;
    let applied = made
        .into_iter()
        .map(|(t, n)| {
            let a = Applied {
                unit: doc_key.unit.clone(),
                task: t.to_string(),
                operation: format!("{actor}.{seq}"),
            };
            seq += n as u64;
            a
        })
        .collect();
    Ok((applied, skipped))
}

/// Write `ops`, made on `doc` as stored, as one change of `caller`'s server-held device
/// (`actor`, `key`) through the sync writer: checked there as a phone's change is. Its first
/// sequence number. (The office's actions, and a revision's operations.)
pub(crate) async fn write_change(
    writer: &GroupWriter,
    caller: &Caller,
    doc_key: &DocKey,
    doc: &UnitDocument,
    actor: u32,
    key: &SigningKey,
    ops: Vec<Op>,
) -> ApiResult<u64> {
    // The rule a phone's sync meets (routes/sync.rs), kept here too: the service makes only
    // what the account may make.
    if let Some(op) = ops.iter().find(|op| !caller.may_make(&doc_key.unit, op)) {
        return Err(ApiError::internal(anyhow::anyhow!(
            "the office service made an operation its caller may not make: {op:?}"
        )));
    }
    let start = doc.next_id(actor).seq;
    let fingerprint = doc.header().fingerprint();
    let change = Change::sign(fingerprint, actor, start, ops, key);
    writer
        .write(WriteJob {
            key: doc_key.clone(),
            fingerprint,
            vv: doc.version().dots.clone(),
            changes: vec![change],
        })
        .await?;
    Ok(start)
}

/// Each listed task's unit clock in `unit`'s document as stored (`actor.seq` pairs joined by
/// commas): what a dashboard form carries so that a review covers what the page showed.
pub async fn unit_clocks(
    db: &DatabaseConnection,
    directive: &str,
    unit: &str,
) -> ApiResult<BTreeMap<String, String>> {
    let key = DocKey {
        directive: directive.to_string(),
        unit: unit.to_string(),
    };
    let Some((doc, _)) = docstore::load_whole(db, &key).await? else {
        return Ok(BTreeMap::new());
    };
    Ok(doc
        .task_refs()
        .into_iter()
        .map(|t| (t.to_string(), format_seen(&doc.unit_clock(t))))
        .collect())
}

/// `actor.seq` pairs joined by commas.
pub fn format_seen(seen: &Context) -> String {
    seen.iter()
        .map(|(a, s)| format!("{a}.{s}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// [`format_seen`]'s inverse: sorted by actor, one entry each, counters from 1.
pub fn parse_seen(s: &str) -> ApiResult<Context> {
    let bad = || {
        ApiError::BadRequest(format!(
            "{s:?}: `seen` is a list of actor.seq pairs (1.5,3.2) / `seen` là danh sách cặp actor.seq"
        ))
    };
    let mut out: Context = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, n) = part.split_once('.').ok_or_else(bad)?;
        let (a, n): (u32, u64) = (a.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
        if n == 0 {
            return Err(bad());
        }
        out.push((a, n));
    }
    out.sort_by_key(|&(a, _)| a);
    let actors: BTreeSet<u32> = out.iter().map(|&(a, _)| a).collect();
    if actors.len() != out.len() || out.len() > taskforce_core::doc::limits::SEEN {
        return Err(bad());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_reads_back_what_it_wrote_and_refuses_the_rest() {
        let seen: Context = vec![(1, 5), (3, 2)];
        assert_eq!(parse_seen(&format_seen(&seen)).ok(), Some(seen));
        assert_eq!(parse_seen("").ok(), Some(Vec::new()));
        assert_eq!(parse_seen("3.2,1.5").ok(), Some(vec![(1, 5), (3, 2)]));
        for bad in ["1", "1.0", "a.1", "1.5,1.6", "1.-1", "1.5;2.1"] {
            assert!(parse_seen(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_account_has_its_own_key_and_it_follows_the_audit_key() {
        let a = AuditKey::from_bytes(&[7; 32]);
        let b = AuditKey::from_bytes(&[8; 32]);
        let k = |audit: &AuditKey, user, generation| {
            device_key(audit, user, generation).verifying_key()
        };
        assert_eq!(k(&a, 1, 0), k(&a, 1, 0));
        assert_ne!(k(&a, 1, 0), k(&a, 2, 0));
        assert_ne!(k(&a, 1, 0), k(&b, 1, 0));
        assert_ne!(
            k(&a, 1, 0),
            k(&a, 1, 1),
            "a revoked device's successor has a new key"
        );
    }
}
