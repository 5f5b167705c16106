//! A task's history from the op log (issue 19): every operation of one unit document's stored
//! changes that names the task — a field set, a comment, evidence, the task's creation, a
//! sub-task added under it — with when the server received it, the phone's own time where the
//! operation carries one, and which device of which user made it.
//!
//! A document may hold 100,000 operations, so the log is read in bounded pages: the changes of
//! the document in the order the server received them (`received_at`, then actor and first
//! sequence number: the index `changes_doc_received`), [`CHUNK_ROWS`] rows a query, at most
//! [`SCAN_ROWS`] rows and about [`SCAN_BYTES`] of bodies a request. Each change is decoded with
//! mobile-core's bounded decoder and only the operations naming the task are kept. A page
//! that ran out of its scan budget before filling up still carries a cursor, so a task with
//! few operations in a long log is found page by page, every request bounded.
//!
//! The order is the server's: two changes received in the same second are ordered by actor,
//! which may differ from the order they were accepted in; one device's operations are always
//! in their own order. Nothing here depends on the audit chain's columns.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait},
};
use serde::Serialize;
use taskforce_core::{
    doc::{Op, OpId, TaskField, TaskRef},
    sync::wire,
};

use crate::{
    auth::Caller,
    db::entity::{changes, devices, documents, tasks, users},
    error::{ApiError, ApiResult},
};

/// Rows of the op log read by one query.
pub const CHUNK_ROWS: u64 = 256;
/// Rows of the op log one request reads at most.
pub const SCAN_ROWS: usize = 4096;
/// Bytes of change bodies one request reads before it stops at the end of a chunk.
pub const SCAN_BYTES: usize = 8 << 20;
/// The most entries a page holds.
pub const MAX_LIMIT: usize = 500;
/// Entries a page holds when the caller names no limit.
pub const DEFAULT_LIMIT: usize = 50;

/// Oldest first or newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    #[default]
    Oldest,
    Newest,
}

impl Order {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "oldest" | "asc" => Some(Order::Oldest),
            "newest" | "desc" => Some(Order::Newest),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Oldest => "oldest",
            Order::Newest => "newest",
        }
    }
}

/// Where a page ends: the last operation it looked at, in the log's order. The next page
/// starts just past it. Written `received_at.actor.start.index` in URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub received_at: i64,
    pub actor: i32,
    pub start: i64,
    /// The operation's index within its change.
    pub index: u32,
}

impl Cursor {
    pub fn parse(s: &str) -> Option<Self> {
        let mut it = s.split('.');
        let c = Cursor {
            received_at: it.next()?.parse().ok()?,
            actor: it.next()?.parse().ok()?,
            start: it.next()?.parse().ok()?,
            index: it.next()?.parse().ok()?,
        };
        it.next().is_none().then_some(c)
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{}.{}.{}",
            self.received_at, self.actor, self.start, self.index
        )
    }
}

/// Which page of which task's history.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    pub directive: String,
    pub unit: String,
    pub task: TaskRef,
    pub order: Order,
    pub after: Option<Cursor>,
    pub limit: usize,
    /// Rows of the op log this request may read: [`SCAN_ROWS`] from a request's parameters.
    pub scan_rows: usize,
}

impl HistoryQuery {
    /// A query from a request's path and parameters: the task as `a3` or `t2.17`, the order
    /// `oldest` (the default) or `newest`, the cursor a previous page gave, a limit (at most
    /// [`MAX_LIMIT`]).
    pub fn from_params(
        directive: &str,
        unit: &str,
        task: &str,
        order: Option<&str>,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> ApiResult<Self> {
        let task = task.parse::<TaskRef>().map_err(|_| {
            ApiError::BadRequest(format!(
                "mã nhiệm vụ {task:?} không hợp lệ (a3, t2.17) / {task:?} is not a task id (a3, t2.17)"
            ))
        })?;
        let order = match order {
            None => Order::default(),
            Some(o) => Order::parse(o).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "thứ tự {o:?} không hợp lệ (oldest, newest) / order {o:?} is not oldest or newest"
                ))
            })?,
        };
        let after = match after {
            None | Some("") => None,
            Some(a) => Some(Cursor::parse(a).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "con trỏ trang {a:?} không hợp lệ / {a:?} is not a page cursor"
                ))
            })?),
        };
        Ok(Self {
            directive: directive.to_string(),
            unit: unit.to_string(),
            task,
            order,
            after,
            limit: match limit.unwrap_or(DEFAULT_LIMIT) {
                n @ 1..=MAX_LIMIT => n,
                n => {
                    return Err(ApiError::BadRequest(format!(
                        "số mục mỗi trang phải từ 1 đến {MAX_LIMIT}, không phải {n} / limit must \
                         be 1 to {MAX_LIMIT}, not {n}"
                    )));
                }
            },
            scan_rows: SCAN_ROWS,
        })
    }
}

/// What an operation did to the task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum What {
    Status {
        status: String,
    },
    Progress {
        progress: u8,
    },
    Assignee {
        assignee: String,
    },
    /// `None`: the due date cleared.
    Due {
        due: Option<NaiveDate>,
    },
    Notes {
        notes: String,
    },
    Title {
        title: String,
    },
    Removed {
        removed: bool,
    },
    Comment {
        text: String,
    },
    Evidence {
        file_name: String,
        size: u64,
        /// Lower-case hex.
        sha256: String,
    },
    /// The ad-hoc task itself was added by this operation.
    TaskAdded {
        title: String,
        parent: Option<String>,
    },
    /// An ad-hoc task was added under this one.
    SubtaskAdded {
        task: String,
        title: String,
    },
    /// A revision of the directive changed the unit's role on the task (`lead`,
    /// `coordinating`) or withdrew it (`None`) (decision 44).
    Assignment {
        role: Option<String>,
    },
    /// A revision of the directive gave the unit this task (decision 44).
    Assigned {
        clause: String,
        role: String,
    },
    /// The Ministry Office set the task's deadline (`None`: cleared).
    Deadline {
        deadline: Option<NaiveDate>,
    },
    /// The Ministry Office accepted or returned the task.
    Review {
        /// `accepted` or `returned`.
        verdict: String,
        reason: String,
    },
    /// The Ministry Office urged the unit on the task.
    Urged {
        message: String,
        /// The new deadline the urge set, if any.
        due: Option<NaiveDate>,
    },
}

impl What {
    /// The key of its label in the dashboard's dictionary.
    pub fn kind(&self) -> &'static str {
        match self {
            What::Status { .. } => "status",
            What::Progress { .. } => "progress",
            What::Assignee { .. } => "assignee",
            What::Due { .. } => "due",
            What::Notes { .. } => "notes",
            What::Title { .. } => "title",
            What::Removed { .. } => "removed",
            What::Comment { .. } => "comment",
            What::Evidence { .. } => "evidence",
            What::TaskAdded { .. } => "task_added",
            What::SubtaskAdded { .. } => "subtask_added",
            What::Deadline { .. } => "deadline",
            What::Assignment { .. } => "assignment",
            What::Assigned { .. } => "assigned",
            What::Review { .. } => "review",
            What::Urged { .. } => "urged",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DeviceInfo {
    pub actor: u32,
    /// `None` if the device row is gone.
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UserInfo {
    pub username: String,
    pub display_name: String,
}

/// One operation of the task's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// The operation's id: `actor.seq`.
    pub op: String,
    /// When the server received it (Unix seconds).
    pub received_at: i64,
    /// The phone's own time, if the operation carries one (comments, evidence; Unix seconds).
    pub phone_at: Option<i64>,
    pub device: DeviceInfo,
    /// The device's owner; `None` if the account is gone.
    pub user: Option<UserInfo>,
    pub what: What,
}

/// One page of a task's history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HistoryPage {
    pub unit: String,
    pub task: String,
    /// The clause of a task the directive gives; `None` for an ad-hoc task.
    pub clause: Option<String>,
    /// An ad-hoc task's title, as last projected.
    pub title: Option<String>,
    pub order: Order,
    pub entries: Vec<HistoryEntry>,
    /// The cursor of the next page (`after=`), `None` at the end of the log. A page may hold
    /// fewer entries than asked and still have a next one: its scan budget ran out.
    pub next: Option<String>,
    /// Changes of the op log this page read.
    pub scanned: usize,
}

/// What an operation did to `task`, if it names it. `id` is the operation's own id.
pub fn what_of(op: &Op, id: OpId, task: TaskRef) -> Option<(What, Option<i64>)> {
    match op {
        Op::Set {
            task: t,
            value: TaskField::Review(r),
            ..
        } if *t == task => Some((
            What::Review {
                verdict: r.verdict.as_str().to_string(),
                reason: r.reason.clone(),
            },
            Some(r.at),
        )),
        Op::Set { task: t, value, .. } if *t == task => Some((
            match value {
                TaskField::Status(s) => What::Status {
                    status: s.as_str().to_string(),
                },
                TaskField::Progress(p) => What::Progress { progress: *p },
                TaskField::Assignee(a) => What::Assignee {
                    assignee: a.clone(),
                },
                TaskField::Due(d) => What::Due {
                    due: d.and_then(|d| d.date()),
                },
                TaskField::Notes(n) => What::Notes { notes: n.clone() },
                TaskField::Title(t) => What::Title { title: t.clone() },
                TaskField::Removed(r) => What::Removed { removed: *r },
                TaskField::Deadline(d) => What::Deadline {
                    deadline: d.and_then(|d| d.date()),
                },
                TaskField::Review(r) => What::Review {
                    verdict: r.verdict.as_str().to_string(),
                    reason: r.reason.clone(),
                },
                TaskField::Assignment(role) => What::Assignment {
                    role: role.map(|r| crate::db::seed::role_str(r).to_string()),
                },
            },
            None,
        )),
        Op::Assign(h) if task == TaskRef::Added(id) => Some((
            What::Assigned {
                clause: h.clause.clone(),
                role: crate::db::seed::role_str(h.role).to_string(),
            },
            None,
        )),
        Op::Urge { task: t, urge } if *t == task => Some((
            What::Urged {
                message: urge.message.clone(),
                due: urge.due.and_then(|d| d.date()),
            },
            Some(urge.at),
        )),
        Op::Comment { task: t, text, at } if *t == task => {
            Some((What::Comment { text: text.clone() }, Some(*at)))
        }
        Op::AddEvidence { task: t, evidence } if *t == task => Some((
            What::Evidence {
                file_name: evidence.file_name.clone(),
                size: evidence.size,
                sha256: evidence.sha256.iter().map(|b| format!("{b:02x}")).collect(),
            },
            Some(evidence.at),
        )),
        Op::AddTask { parent, title } if task == TaskRef::Adhoc(id) => Some((
            What::TaskAdded {
                title: title.clone(),
                parent: parent.map(|p| p.to_string()),
            },
            None,
        )),
        Op::AddTask { parent, title } if *parent == Some(task) => Some((
            What::SubtaskAdded {
                task: TaskRef::Adhoc(id).to_string(),
                title: title.clone(),
            },
            None,
        )),
        _ => None,
    }
}

/// Whether `caller` may read this unit's task history: whoever may read the unit's tasks
/// (the Ministry Office, the Minister, admins; members their own units).
pub fn may_read(caller: &Caller, unit: &str) -> bool {
    caller.may_read_unit(unit)
}

/// Rows of the document's op log strictly past `(received_at, actor, start)` in `order`, or
/// from that row itself when `inclusive`: one row-value comparison, which both stores answer
/// as a range of the index `changes_doc_received`.
fn past(order: Order, key: (i64, i32, i64), inclusive: bool) -> Expr {
    let (r, a, s) = key;
    let columns = Expr::tuple([
        Expr::col(changes::Column::ReceivedAt),
        Expr::col(changes::Column::ActorId),
        Expr::col(changes::Column::StartSeq),
    ]);
    let values = Expr::tuple([Expr::val(r), Expr::val(a), Expr::val(s)]);
    match (order, inclusive) {
        (Order::Oldest, false) => columns.gt(values),
        (Order::Oldest, true) => columns.gte(values),
        (Order::Newest, false) => columns.lt(values),
        (Order::Newest, true) => columns.lte(values),
    }
}

type Row = (i32, i64, i64, Vec<u8>);

async fn chunk(
    db: &impl ConnectionTrait,
    q: &HistoryQuery,
    from: Option<(i64, i32, i64)>,
    inclusive: bool,
    rows: u64,
) -> ApiResult<Vec<Row>> {
    let mut find = changes::Entity::find()
        .select_only()
        .column(changes::Column::ActorId)
        .column(changes::Column::StartSeq)
        .column(changes::Column::ReceivedAt)
        .column(changes::Column::Body)
        .filter(changes::Column::DirectiveId.eq(q.directive.as_str()))
        .filter(changes::Column::UnitId.eq(q.unit.as_str()));
    if let Some(key) = from {
        find = find.filter(past(q.order, key, inclusive));
    }
    find = match q.order {
        Order::Oldest => find
            .order_by_asc(changes::Column::ReceivedAt)
            .order_by_asc(changes::Column::ActorId)
            .order_by_asc(changes::Column::StartSeq),
        Order::Newest => find
            .order_by_desc(changes::Column::ReceivedAt)
            .order_by_desc(changes::Column::ActorId)
            .order_by_desc(changes::Column::StartSeq),
    };
    let rows: Vec<Row> = find.limit(rows).into_tuple().all(db).await?;
    Ok(rows)
}

/// Whether the operation at `index` of the row keyed `key` lies past `after` in `order`.
fn beyond(order: Order, after: Option<Cursor>, key: (i64, i32, i64), index: u32) -> bool {
    let Some(c) = after else { return true };
    if (key.0, key.1, key.2) != (c.received_at, c.actor, c.start) {
        return true;
    }
    match order {
        Order::Oldest => index > c.index,
        Order::Newest => index < c.index,
    }
}

/// One page of the history of `q.task` in `q.unit`'s document, if `caller` may read it.
pub async fn task_history(
    db: &impl ConnectionTrait,
    caller: &Caller,
    q: &HistoryQuery,
) -> ApiResult<HistoryPage> {
    caller.require(may_read(caller, &q.unit), &format!("read {}", q.unit))?;
    let task_name = q.task.to_string();
    documents::Entity::find_by_id((q.directive.clone(), q.unit.clone()))
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("document {}/{}", q.directive, q.unit)))?;
    let not_found = || ApiError::NotFound(format!("task {task_name} of {}", q.unit));
    let row = tasks::Entity::find_by_id((q.directive.clone(), q.unit.clone(), task_name.clone()))
        .one(db)
        .await?;
    let (clause, title) = match row {
        Some(row) => (row.clause_id, row.title),
        // A task a revision withdrew has no projection row (it is out of every count) but
        // keeps its history (decision 44). Only a directive's task can be withdrawn.
        None if q.task.is_directive() => {
            let key = taskforce_core::sync::DocKey {
                directive: q.directive.clone(),
                unit: q.unit.clone(),
            };
            let given = crate::docstore::load_whole(db, &key)
                .await?
                .filter(|(doc, _)| doc.is_withdrawn(q.task))
                .and_then(|(doc, _)| doc.given_task(q.task));
            match given {
                Some(g) => (Some(g.clause), None),
                None => return Err(not_found()),
            }
        }
        None => return Err(not_found()),
    };
    let limit = q.limit.clamp(1, MAX_LIMIT);

    // Each entry without who made it, and its cursor.
    let mut found: Vec<(OpId, i64, Option<i64>, What, Cursor)> = Vec::new();
    // The first query reads from the cursor's own row (a page may end inside a change); the
    // others strictly past the last row read.
    let mut from = q.after.map(|c| (c.received_at, c.actor, c.start));
    let mut inclusive = true;
    let (mut scanned, mut bytes) = (0usize, 0usize);
    let mut last: Option<Cursor> = None;
    let mut at_end = false;
    let budget = q.scan_rows.max(1);
    'scan: loop {
        let want = std::cmp::min(
            CHUNK_ROWS,
            u64::try_from(budget - scanned).unwrap_or(CHUNK_ROWS),
        );
        let rows = chunk(db, q, from, inclusive, want).await?;
        inclusive = false;
        let exhausted = (rows.len() as u64) < want;
        for (actor, start, received_at, body) in rows {
            let key = (received_at, actor, start);
            from = Some(key);
            scanned += 1;
            bytes += body.len();
            let change = wire::decode_change(&body).map_err(|e| {
                ApiError::internal(anyhow::anyhow!(
                    "op log {}/{} actor {actor} from {start}: {e}",
                    q.directive,
                    q.unit
                ))
            })?;
            let n = u32::try_from(change.ops.len()).unwrap_or(u32::MAX);
            let indices: Box<dyn Iterator<Item = u32>> = match q.order {
                Order::Oldest => Box::new(0..n),
                Order::Newest => Box::new((0..n).rev()),
            };
            for index in indices {
                if !beyond(q.order, q.after, key, index) {
                    continue;
                }
                let cursor = Cursor {
                    received_at,
                    actor,
                    start,
                    index,
                };
                last = Some(cursor);
                let Some(op) = change.ops.get(index as usize) else {
                    continue;
                };
                let id = OpId::new(change.actor, change.start + u64::from(index));
                if let Some((what, phone_at)) = what_of(op, id, q.task) {
                    found.push((id, received_at, phone_at, what, cursor));
                    if found.len() == limit {
                        break 'scan;
                    }
                }
            }
            if scanned >= budget {
                break 'scan;
            }
        }
        if exhausted {
            at_end = true;
            break;
        }
        if bytes >= SCAN_BYTES {
            break;
        }
    }
    // A full page ends at its last entry; a page out of budget at the last operation it read.
    let next = if found.len() == limit {
        found.last().map(|f| f.4)
    } else if at_end {
        None
    } else {
        last
    };
    let entries = with_who(db, found).await?;
    Ok(HistoryPage {
        unit: q.unit.clone(),
        task: task_name,
        clause,
        title,
        order: q.order,
        entries,
        next: next.map(|c| c.to_string()),
        scanned,
    })
}

async fn with_who(
    db: &impl ConnectionTrait,
    found: Vec<(OpId, i64, Option<i64>, What, Cursor)>,
) -> ApiResult<Vec<HistoryEntry>> {
    let actors: BTreeSet<i32> = found
        .iter()
        .filter_map(|f| i32::try_from(f.0.actor).ok())
        .collect();
    let devs: BTreeMap<i32, devices::Model> = if actors.is_empty() {
        BTreeMap::new()
    } else {
        devices::Entity::find()
            .filter(devices::Column::ActorId.is_in(actors))
            .all(db)
            .await?
            .into_iter()
            .map(|d| (d.actor_id, d))
            .collect()
    };
    let owners: BTreeSet<i64> = devs.values().map(|d| d.user_id).collect();
    let people: BTreeMap<i64, users::Model> = if owners.is_empty() {
        BTreeMap::new()
    } else {
        users::Entity::find()
            .filter(users::Column::Id.is_in(owners))
            .all(db)
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect()
    };
    Ok(found
        .into_iter()
        .map(|(id, received_at, phone_at, what, _)| {
            let dev = i32::try_from(id.actor).ok().and_then(|a| devs.get(&a));
            let user = dev.and_then(|d| people.get(&d.user_id)).map(|u| UserInfo {
                username: u.username.clone(),
                display_name: u.display_name.clone(),
            });
            HistoryEntry {
                op: id.to_string(),
                received_at,
                phone_at,
                device: DeviceInfo {
                    actor: id.actor,
                    name: dev.map(|d| d.name.clone()),
                },
                user,
                what,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_what_it_writes_and_refuses_anything_else() {
        let c = Cursor {
            received_at: 1_580_000_000,
            actor: 7,
            start: 12,
            index: 3,
        };
        assert_eq!(Cursor::parse(&c.to_string()), Some(c));
        for bad in ["", "1.2.3", "1.2.3.4.5", "a.2.3.4", "1.2.3.-4"] {
            assert_eq!(Cursor::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn an_operation_on_another_task_is_not_in_the_history() {
        let op = Op::Comment {
            task: TaskRef::Assigned(1),
            text: "x".into(),
            at: 5,
        };
        assert_eq!(what_of(&op, OpId::new(1, 1), TaskRef::Assigned(2)), None);
        assert_eq!(
            what_of(&op, OpId::new(1, 1), TaskRef::Assigned(1)),
            Some((What::Comment { text: "x".into() }, Some(5)))
        );
    }

    #[test]
    fn an_added_task_shows_in_its_own_history_and_in_its_parents() {
        let op = Op::AddTask {
            parent: Some(TaskRef::Assigned(0)),
            title: "con".into(),
        };
        let id = OpId::new(3, 9);
        assert!(matches!(
            what_of(&op, id, TaskRef::Adhoc(id)),
            Some((What::TaskAdded { .. }, None))
        ));
        assert!(matches!(
            what_of(&op, id, TaskRef::Assigned(0)),
            Some((What::SubtaskAdded { .. }, None))
        ));
        assert_eq!(what_of(&op, id, TaskRef::Assigned(1)), None);
    }

    #[test]
    fn the_ministry_offices_operations_read_as_review_deadline_and_urge() {
        use taskforce_core::doc::{Day, Review, Urge, Verdict};
        let t = TaskRef::Assigned(2);
        let id = OpId::new(4, 1);
        let d = NaiveDate::from_ymd_opt(2020, 3, 1).unwrap_or_default();
        let returned = Op::Set {
            task: t,
            value: TaskField::Review(Review {
                verdict: Verdict::Returned,
                reason: "Thiếu số liệu".into(),
                seen: vec![(1, 3)],
                at: 77,
            }),
            ctx: Vec::new(),
        };
        assert_eq!(
            what_of(&returned, id, t),
            Some((
                What::Review {
                    verdict: "returned".into(),
                    reason: "Thiếu số liệu".into(),
                },
                Some(77)
            ))
        );
        let deadline = Op::Set {
            task: t,
            value: TaskField::Deadline(Some(Day::from_date(d))),
            ctx: Vec::new(),
        };
        assert_eq!(
            what_of(&deadline, id, t),
            Some((What::Deadline { deadline: Some(d) }, None))
        );
        let urge = Op::Urge {
            task: t,
            urge: Urge {
                message: "Đề nghị khẩn trương".into(),
                due: Some(Day::from_date(d)),
                at: 88,
            },
        };
        assert_eq!(
            what_of(&urge, id, t),
            Some((
                What::Urged {
                    message: "Đề nghị khẩn trương".into(),
                    due: Some(d),
                },
                Some(88)
            ))
        );
        assert_eq!(what_of(&urge, id, TaskRef::Assigned(3)), None);
    }
}
