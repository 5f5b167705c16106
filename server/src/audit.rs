//! The audit of the op log (issue 19): every document's hash chain and every signature
//! re-checked from the database ([`verify_db`]), and one document's log written out as a
//! self-contained file ([`export`]) that [`verify_export`] checks with nothing but the file.
//! The checks themselves are mobile-core's (`sync::audit::verify_chain`).
//!
//! What is and is not detectable: an edited, deleted, inserted or reordered entry breaks the
//! chain; an entry re-hashed after an edit fails its signature; a replaced device key fails
//! the signatures of its device. The chain alone is public arithmetic, so the writer also
//! seals, with the server's [`AuditKey`] (a file outside the database), the last row of each
//! document in each write batch; verification takes the server's public key from outside the
//! database too. Entries deleted or reordered anywhere before the last seal, everything after
//! re-hashed and the document row fixed, break a later seal (`Why::BadSeal`, at the first
//! seal after the change); rows after the last seal are an unsealed tail (`UnsealedTail`).
//! An entry received after its device's revocation is flagged (`AfterRevocation`).
//! **Not detected from the database alone:** whole trailing write batches removed together
//! with every claim of the document row (`chain_len`, `chain_head`, the operations it
//! counts, its version vector): what is left ends at a genuine seal. Only a head seen
//! before (an earlier export given to `--since`, a phone's own log) shows the loss. A
//! document with no seal at all (a database from before seals that no batch has written to
//! since, or every seal stripped) verifies as consistent but is reported *never sealed*,
//! which is not sound.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use base64::Engine as _;
use ed25519_dalek::{SigningKey, VerifyingKey};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use taskforce_core::{
    doc::ActorId,
    sync::{
        audit::{
            self, BadEntry, ChainDoc, ChainVerifier, Claimed, Entry, GENESIS, Hash, Seals, Trust,
            Why, check_checkpoint, checkpoint_position, verify_chain_trusted,
        },
        wire,
    },
};

use crate::db::entity::{changes, devices, documents, users};

/// The export file's format name and version.
pub const EXPORT_FORMAT: &str = "taskforce-audit-export";
/// Version 2 adds the server's public key and the seals; version 1 files are still read.
pub const EXPORT_VERSION: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("no document {0} / không có tài liệu {0}")]
    NoDocument(String),
    #[error(
        "unit {0} has documents in several directives: name one with --directive / đơn vị {0} có tài liệu trong nhiều chỉ thị: chọn một bằng --directive"
    )]
    AmbiguousUnit(String),
    #[error("not an audit export file: {0} / không phải tệp xuất kiểm toán: {0}")]
    BadFile(String),
    #[error(
        "the export's server key {file} is not the trusted one {trusted} / khóa máy chủ trong tệp xuất {file} không phải khóa tin cậy {trusted}"
    )]
    KeyMismatch { file: String, trusted: String },
}

/// The first word of an audit key file, whose one line is `taskforce-audit-key-v1 <hex>`:
/// the ed25519 secret key's 32 bytes in hex.
const KEY_FILE_TAG: &str = "taskforce-audit-key-v1";

/// Why the audit key cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "cannot read or create the audit key {path}: {source} / không đọc hoặc tạo được khóa kiểm toán {path}"
    )]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{0} is not an audit key file (one line: `taskforce-audit-key-v1 <64 hex digits>`) / {0} không phải tệp khóa kiểm toán"
    )]
    Malformed(String),
    #[error(
        "not a server public key (64 hex digits, a public key file, or the audit key file): {0} / không phải khóa công khai của máy chủ: {0}"
    )]
    BadPublicKey(String),
    #[error("no random bytes for a new audit key: {0}")]
    Random(String),
}

/// The server's ed25519 audit key, which seals the op log (decision 32). It is kept in a file
/// outside the database: whoever can write the database cannot seal with it.
pub struct AuditKey(SigningKey);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AuditKey(public {})",
            hex(self.0.verifying_key().as_bytes())
        )
    }
}

impl AuditKey {
    pub fn from_bytes(secret: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(secret))
    }

    /// The key in `path`; created there (mode 0600, atomically: replicas starting together
    /// end with one key) when there is no file.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        match Self::load(path) {
            Err(KeyError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Self::create(path)
            }
            other => other,
        }
    }

    /// The key in `path`.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).ok_or_else(|| KeyError::Malformed(path.display().to_string()))
    }

    fn parse(text: &str) -> Option<Self> {
        let (tag, secret) = text.trim().split_once(' ')?;
        let bytes: [u8; 32] = unhex(secret.trim())?.try_into().ok()?;
        (tag == KEY_FILE_TAG).then(|| Self::from_bytes(&bytes))
    }

    fn create(path: &Path) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| KeyError::Random(e.to_string()))?;
        let key = Self::from_bytes(&secret);
        // A temporary name of this attempt alone: threads of one process (or two processes
        // with one pid in different containers on a shared volume) must not meet on it.
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| KeyError::Random(e.to_string()))?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".{}.{}.tmp", std::process::id(), hex(&nonce)));
        let tmp = std::path::PathBuf::from(tmp);
        {
            use std::io::Write as _;
            let mut o = std::fs::OpenOptions::new();
            o.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
            let mut f = o.open(&tmp).map_err(io)?;
            let written =
                writeln!(f, "{KEY_FILE_TAG} {}", hex(&secret)).and_then(|()| f.sync_all());
            if let Err(e) = written {
                let _ = std::fs::remove_file(&tmp);
                return Err(io(e));
            }
        }
        // A hard link never replaces a file: a replica that got there first keeps its key.
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(key),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load(path),
            Err(e) => Err(io(e)),
        }
    }

    /// The secret key's bytes: what keys derived from this one are made from (the dashboard
    /// devices, `office`). Never written anywhere.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn public(&self) -> VerifyingKey {
        self.0.verifying_key()
    }

    /// The seal of the entry at `position` of a document, with hash `hash`.
    pub fn seal(&self, directive: &str, unit: &str, position: i64, hash: &Hash) -> Vec<u8> {
        audit::seal(&self.0, directive, unit, position, hash).to_vec()
    }
}

/// The trusted server public key `arg` names: 64 hex digits, or a file holding them (a
/// public key file) or the audit key file itself (its public half).
pub fn server_key(arg: &str) -> Result<VerifyingKey, KeyError> {
    let parse = |hexed: &str| {
        unhex(hexed.trim())
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .and_then(|b| VerifyingKey::from_bytes(&b).ok())
    };
    if let Some(key) = parse(arg) {
        return Ok(key);
    }
    let text = std::fs::read_to_string(arg).map_err(|source| KeyError::Io {
        path: arg.to_string(),
        source,
    })?;
    if let Some(key) = AuditKey::parse(&text) {
        return Ok(key.public());
    }
    parse(&text).ok_or_else(|| KeyError::BadPublicKey(arg.to_string()))
}

/// One document's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocResult {
    pub directive: String,
    pub unit: String,
    /// Entries read and operations they hold (up to the first bad entry when there is one).
    pub entries: u64,
    pub ops: u64,
    pub bad: Option<BadEntry>,
    /// No bad entry, but nothing is sealed (or no server key was there to check seals with):
    /// consistent, not proven.
    pub never_sealed: bool,
}

/// What an audit found, document by document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub docs: Vec<DocResult>,
}

impl Report {
    /// The first bad entry of the first document with one.
    pub fn first_bad(&self) -> Option<&BadEntry> {
        self.docs.iter().find_map(|d| d.bad.as_ref())
    }

    /// The documents that are consistent but never sealed.
    pub fn never_sealed(&self) -> impl Iterator<Item = &DocResult> {
        self.docs
            .iter()
            .filter(|d| d.bad.is_none() && d.never_sealed)
    }

    /// No bad entry and every document's chain sealed.
    pub fn is_sound(&self) -> bool {
        self.first_bad().is_none() && self.never_sealed().next().is_none()
    }
}

fn check(
    doc: &ChainDoc,
    entries: &[Entry],
    keys: &BTreeMap<ActorId, Vec<u8>>,
    trust: &Trust,
    claimed: &Claimed,
) -> DocResult {
    let result = verify_chain_trusted(doc, entries, keys, trust, Some(claimed));
    let (n, ops, bad, never_sealed) = match result {
        Ok(s) => (s.entries, s.ops, None, s.seals != Seals::Sound),
        Err(bad) => {
            let before = u64::try_from(bad.position).unwrap_or(0);
            (before.min(entries.len() as u64), 0, Some(bad), false)
        }
    };
    DocResult {
        directive: doc.directive.clone(),
        unit: doc.unit.clone(),
        entries: n,
        ops,
        bad,
        never_sealed,
    }
}

fn claimed_of(doc: &documents::Model) -> Claimed {
    Claimed {
        len: doc.chain_len,
        head: doc.chain_head.clone().unwrap_or_else(|| GENESIS.to_vec()),
        ops: Some(doc.ops),
        // A document never written to has no stored version vector; one that does not decode
        // is reported as not the log's.
        version: doc
            .head
            .as_deref()
            .map(|h| wire::decode_version(h).unwrap_or_default()),
    }
}

fn chain_doc(doc: &documents::Model) -> ChainDoc {
    ChainDoc {
        directive: doc.directive_id.clone(),
        unit: doc.unit_id.clone(),
        fingerprint: u64::from_ne_bytes(doc.fingerprint.to_ne_bytes()),
    }
}

fn entry_of(row: changes::Model) -> Entry {
    Entry {
        position: row.position,
        actor: i64::from(row.actor_id),
        start: row.start_seq,
        end: row.end_seq,
        received_at: row.received_at,
        body: row.body,
        hash: row.hash,
        seal: row.seal,
    }
}

/// A document's entries in chain order.
async fn entries_of(
    db: &impl ConnectionTrait,
    doc: &documents::Model,
) -> Result<Vec<Entry>, AuditError> {
    Ok(changes::Entity::find()
        .filter(changes::Column::DirectiveId.eq(doc.directive_id.as_str()))
        .filter(changes::Column::UnitId.eq(doc.unit_id.as_str()))
        .order_by_asc(changes::Column::Position)
        .all(db)
        .await?
        .into_iter()
        .map(entry_of)
        .collect())
}

/// Every device's stored public key, and when the revoked ones were revoked.
async fn device_keys(
    db: &impl ConnectionTrait,
) -> Result<(BTreeMap<ActorId, Vec<u8>>, BTreeMap<ActorId, i64>), AuditError> {
    let mut keys = BTreeMap::new();
    let mut revoked = BTreeMap::new();
    for d in devices::Entity::find().all(db).await? {
        let Ok(actor) = ActorId::try_from(d.actor_id) else {
            continue;
        };
        if let Some(at) = d.revoked_at {
            revoked.insert(actor, at);
        }
        keys.insert(actor, d.public_key);
    }
    Ok((keys, revoked))
}

/// A chain seen before: a document's length and head (from an earlier export).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub directive: String,
    pub unit: String,
    pub len: i64,
    pub head: Vec<u8>,
}

impl Export {
    /// The chain this export saw, for a later audit to check the log still extends it.
    pub fn checkpoint(&self) -> Result<Checkpoint, AuditError> {
        Ok(Checkpoint {
            directive: self.directive.clone(),
            unit: self.unit.clone(),
            len: self.chain_len,
            head: unhex(&self.chain_head)
                .ok_or_else(|| AuditError::BadFile("chain_head is not hex".into()))?,
        })
    }
}

/// Re-check every document's chain, every signature and every seal (with `server_key`, the
/// server's public key, from outside the database) in the database.
pub async fn verify_db(
    db: &impl ConnectionTrait,
    server_key: &VerifyingKey,
) -> Result<Report, AuditError> {
    verify_db_since(db, server_key, &[]).await
}

/// [`verify_db`], and each document a checkpoint names must still extend the chain seen then
/// (which shows entries removed from the end even with every claim of the document row
/// moved back with them).
pub async fn verify_db_since(
    db: &impl ConnectionTrait,
    server_key: &VerifyingKey,
    checkpoints: &[Checkpoint],
) -> Result<Report, AuditError> {
    let (keys, revoked) = device_keys(db).await?;
    let trust = Trust {
        server_key: Some(*server_key),
        revoked,
    };
    let docs = documents::Entity::find()
        .order_by_asc(documents::Column::DirectiveId)
        .order_by_asc(documents::Column::UnitId)
        .all(db)
        .await?;
    let mut report = Report::default();
    let mut known = BTreeSet::new();
    for doc in &docs {
        known.insert((doc.directive_id.clone(), doc.unit_id.clone()));
        let ours: Vec<&Checkpoint> = checkpoints
            .iter()
            .filter(|c| c.directive == doc.directive_id && c.unit == doc.unit_id)
            .collect();
        report
            .docs
            .push(verify_document(db, doc, &keys, &trust, &ours).await?);
    }
    for c in checkpoints {
        if !known.contains(&(c.directive.clone(), c.unit.clone())) {
            report.docs.push(DocResult {
                directive: c.directive.clone(),
                unit: c.unit.clone(),
                entries: 0,
                ops: 0,
                bad: Some(BadEntry {
                    directive: c.directive.clone(),
                    unit: c.unit.clone(),
                    position: 0,
                    why: Why::BehindCheckpoint {
                        checkpoint: c.len,
                        found: 0,
                    },
                }),
                never_sealed: false,
            });
        }
    }
    Ok(report)
}

/// Entries read at once: a document's log is checked a page at a time.
const PAGE: u64 = 1000;

/// One document's chain from the database, read in pages by position (every row of the
/// document, whatever its position), checked against its row and the checkpoints.
async fn verify_document(
    db: &impl ConnectionTrait,
    doc: &documents::Model,
    keys: &BTreeMap<ActorId, Vec<u8>>,
    trust: &Trust,
    checkpoints: &[&Checkpoint],
) -> Result<DocResult, AuditError> {
    let cd = chain_doc(doc);
    let wanted: BTreeSet<i64> = checkpoints
        .iter()
        .filter_map(|c| checkpoint_position(c.len))
        .collect();
    let mut there: BTreeMap<i64, Vec<u8>> = BTreeMap::new();
    let mut v = ChainVerifier::trusting(&cd, keys, trust);
    let result = |entries: i64, ops: u64, bad: Option<BadEntry>, never_sealed: bool| DocResult {
        directive: doc.directive_id.clone(),
        unit: doc.unit_id.clone(),
        entries: entries.unsigned_abs(),
        ops,
        bad,
        never_sealed,
    };
    let mut after: Option<i64> = None;
    loop {
        let mut q = changes::Entity::find()
            .filter(changes::Column::DirectiveId.eq(doc.directive_id.as_str()))
            .filter(changes::Column::UnitId.eq(doc.unit_id.as_str()));
        if let Some(p) = after {
            q = q.filter(changes::Column::Position.gt(p));
        }
        let page = q
            .order_by_asc(changes::Column::Position)
            .limit(PAGE)
            .all(db)
            .await?;
        let full = page.len() as u64 == PAGE;
        for row in page {
            after = Some(row.position);
            let e = entry_of(row);
            if let Err(bad) = v.push(&e) {
                return Ok(result(v.entries(), 0, Some(bad), false));
            }
            if wanted.contains(&e.position) {
                there.insert(e.position, e.hash);
            }
        }
        if !full {
            break;
        }
    }
    let summary = match v.finish(Some(&claimed_of(doc))) {
        Ok(s) => s,
        Err(bad) => return Ok(result(bad.position, 0, Some(bad), false)),
    };
    let rows = changes::Entity::find()
        .filter(changes::Column::DirectiveId.eq(doc.directive_id.as_str()))
        .filter(changes::Column::UnitId.eq(doc.unit_id.as_str()))
        .count(db)
        .await?;
    if rows != summary.entries {
        let bad = BadEntry {
            directive: doc.directive_id.clone(),
            unit: doc.unit_id.clone(),
            position: i64::try_from(summary.entries).unwrap_or(i64::MAX),
            why: Why::UnchainedRows {
                rows,
                chained: summary.entries,
            },
        };
        return Ok(result(bad.position, 0, Some(bad), false));
    }
    for c in checkpoints {
        let hash = checkpoint_position(c.len).and_then(|p| there.get(&p));
        if let Err(bad) = check_checkpoint(
            &cd,
            summary.entries,
            hash.map(Vec::as_slice),
            c.len,
            &c.head,
        ) {
            return Ok(result(bad.position, 0, Some(bad), false));
        }
    }
    Ok(result(
        i64::try_from(summary.entries).unwrap_or(i64::MAX),
        summary.ops,
        None,
        summary.seals != Seals::Sound,
    ))
}

/// One entry of an export file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportEntry {
    pub position: i64,
    pub actor: i64,
    pub start: i64,
    pub end: i64,
    pub received_at: i64,
    /// The change as stored (`wire::encode_change`), base64 (standard, padded).
    pub body: String,
    /// The entry's hash, hex.
    pub hash: String,
    /// The server's seal of the entry (hex), on the last entry of each write batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<String>,
}

/// A device that signed entries of the export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportDevice {
    pub actor: ActorId,
    /// ed25519 public key, hex.
    pub public_key: String,
    pub name: String,
    /// The username of the account the device belongs to (absent if the account is gone).
    pub user: Option<String>,
    /// When it was registered (Unix seconds).
    pub registered_at: i64,
    /// When it was revoked, if it was (Unix seconds): its changes before stay valid.
    pub revoked_at: Option<i64>,
}

/// A self-contained export of one document's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Export {
    pub format: String,
    pub version: u32,
    pub directive: String,
    pub unit: String,
    /// The document header's fingerprint (which every signature covers), as a decimal
    /// string (JSON numbers lose 64-bit integers).
    pub fingerprint: String,
    /// What the document row claims: the chain's length and head (hex), the operations it
    /// counts and its version vector (actor → last sequence number).
    pub chain_len: i64,
    pub chain_head: String,
    pub ops: i64,
    pub version_vector: Option<BTreeMap<ActorId, u64>>,
    pub entries: Vec<ExportEntry>,
    pub devices: Vec<ExportDevice>,
    /// The server's audit public key (hex) that made the seals (absent in version 1 files).
    #[serde(default)]
    pub server_key: Option<String>,
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// The unit's document (in `directive`, or the only directive that has one).
async fn find_document(
    db: &impl ConnectionTrait,
    unit: &str,
    directive: Option<&str>,
) -> Result<documents::Model, AuditError> {
    let mut q = documents::Entity::find().filter(documents::Column::UnitId.eq(unit));
    if let Some(d) = directive {
        q = q.filter(documents::Column::DirectiveId.eq(d));
    }
    let mut docs = q.all(db).await?;
    match docs.len() {
        0 => Err(AuditError::NoDocument(format!(
            "{}/{unit}",
            directive.unwrap_or("*")
        ))),
        1 => Ok(docs.remove(0)),
        _ => Err(AuditError::AmbiguousUnit(unit.to_string())),
    }
}

/// One document's log, its claims and the devices that signed it.
pub async fn export(
    db: &impl ConnectionTrait,
    unit: &str,
    directive: Option<&str>,
    server_key: &VerifyingKey,
) -> Result<Export, AuditError> {
    let doc = find_document(db, unit, directive).await?;
    let entries = entries_of(db, &doc).await?;
    let actors: BTreeSet<i32> = entries
        .iter()
        .filter_map(|e| i32::try_from(e.actor).ok())
        .collect();
    let devs = devices::Entity::find()
        .filter(devices::Column::ActorId.is_in(actors))
        .order_by_asc(devices::Column::ActorId)
        .all(db)
        .await?;
    let user_ids: BTreeSet<i64> = devs.iter().map(|d| d.user_id).collect();
    let names: BTreeMap<i64, String> = users::Entity::find()
        .filter(users::Column::Id.is_in(user_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect();
    let claimed = claimed_of(&doc);
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(Export {
        format: EXPORT_FORMAT.into(),
        version: EXPORT_VERSION,
        directive: doc.directive_id.clone(),
        unit: doc.unit_id.clone(),
        fingerprint: u64::from_ne_bytes(doc.fingerprint.to_ne_bytes()).to_string(),
        chain_len: claimed.len,
        chain_head: hex(&claimed.head),
        ops: doc.ops,
        version_vector: claimed.version,
        entries: entries
            .into_iter()
            .map(|e| ExportEntry {
                position: e.position,
                actor: e.actor,
                start: e.start,
                end: e.end,
                received_at: e.received_at,
                body: b64.encode(&e.body),
                hash: hex(&e.hash),
                seal: e.seal.as_deref().map(hex),
            })
            .collect(),
        devices: devs
            .into_iter()
            .filter_map(|d| {
                Some(ExportDevice {
                    actor: ActorId::try_from(d.actor_id).ok()?,
                    public_key: hex(&d.public_key),
                    name: d.name,
                    user: names.get(&d.user_id).cloned(),
                    registered_at: d.created_at,
                    revoked_at: d.revoked_at,
                })
            })
            .collect(),
        server_key: Some(hex(server_key.as_bytes())),
    })
}

/// Check an export with nothing but itself: its seals with the server key it carries, and
/// when `trusted` is given, that this key is the trusted one. `Err` when the file is not an
/// export (or its fields do not decode) or carries another key; a decoded file's bad entry
/// is in the report. A file without a server key (version 1) is never sealed.
pub fn verify_export(e: &Export, trusted: Option<&VerifyingKey>) -> Result<Report, AuditError> {
    let bad = |what: &str| AuditError::BadFile(what.to_string());
    if e.format != EXPORT_FORMAT || !(1..=EXPORT_VERSION).contains(&e.version) {
        return Err(bad("unknown format or version"));
    }
    let server_key = match &e.server_key {
        None => None,
        Some(k) => Some(
            unhex(k)
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .and_then(|b| VerifyingKey::from_bytes(&b).ok())
                .ok_or_else(|| bad("server_key is not an ed25519 public key"))?,
        ),
    };
    if let Some(t) = trusted
        && server_key.as_ref() != Some(t)
    {
        return Err(AuditError::KeyMismatch {
            file: e.server_key.clone().unwrap_or_else(|| "(none)".into()),
            trusted: hex(t.as_bytes()),
        });
    }
    let fingerprint: u64 = e.fingerprint.parse().map_err(|_| bad("fingerprint"))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut entries = Vec::with_capacity(e.entries.len());
    for x in &e.entries {
        entries.push(Entry {
            position: x.position,
            actor: x.actor,
            start: x.start,
            end: x.end,
            received_at: x.received_at,
            body: b64
                .decode(&x.body)
                .map_err(|_| bad(&format!("entry {}: body is not base64", x.position)))?,
            hash: unhex(&x.hash)
                .ok_or_else(|| bad(&format!("entry {}: hash is not hex", x.position)))?,
            seal: match &x.seal {
                None => None,
                Some(s) => Some(
                    unhex(s)
                        .ok_or_else(|| bad(&format!("entry {}: seal is not hex", x.position)))?,
                ),
            },
        });
    }
    let mut keys = BTreeMap::new();
    let mut revoked = BTreeMap::new();
    for d in &e.devices {
        let key = unhex(&d.public_key)
            .ok_or_else(|| bad(&format!("device {}: key is not hex", d.actor)))?;
        if keys.insert(d.actor, key).is_some() {
            return Err(bad(&format!("device {} listed twice", d.actor)));
        }
        if let Some(at) = d.revoked_at {
            revoked.insert(d.actor, at);
        }
    }
    let trust = Trust {
        server_key,
        revoked,
    };
    let claimed = Claimed {
        len: e.chain_len,
        head: unhex(&e.chain_head).ok_or_else(|| bad("chain_head is not hex"))?,
        ops: Some(e.ops),
        version: e.version_vector.clone(),
    };
    let doc = ChainDoc {
        directive: e.directive.clone(),
        unit: e.unit.clone(),
        fingerprint,
    };
    Ok(Report {
        docs: vec![check(&doc, &entries, &keys, &trust, &claimed)],
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
        let d =
            std::env::temp_dir().join(format!("taskforce-audit-key-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
        d
    }

    /// Servers in one process (the test harness's parallel apps, or replicas started by one
    /// supervisor) creating the same absent key at once all start, with one key. CI saw
    /// "File exists" when two threads shared the process-id temporary file name.
    #[test]
    fn threads_of_one_process_creating_the_same_key_at_once_all_get_one_key() {
        for round in 0..20 {
            let d = dir(&format!("race-{round}"));
            let path = d.join("taskforce-audit.key");
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
            let keys: Vec<_> = (0..8)
                .map(|_| {
                    let (path, barrier) = (path.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        AuditKey::load_or_create(&path).map(|k| k.public())
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|t| t.join().unwrap_or_else(|_| panic!("thread panicked")))
                .collect();
            for key in &keys {
                match key {
                    Ok(k) => assert_eq!(Some(k), keys[0].as_ref().ok(), "one key"),
                    Err(e) => panic!("round {round}: a server could not start: {e}"),
                }
            }
            let left = std::fs::read_dir(&d)
                .unwrap_or_else(|e| panic!("{e}"))
                .filter_map(Result::ok)
                .count();
            assert_eq!(left, 1, "round {round}: no temporary file left");
            let _ = std::fs::remove_dir_all(&d);
        }
    }

    #[test]
    fn an_absent_key_is_created_private_and_then_read_back_the_same() {
        let d = dir("create");
        let path = d.join("taskforce-audit.key");
        let made = AuditKey::load_or_create(&path).unwrap_or_else(|e| panic!("{e}"));
        let mode = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = AuditKey::load_or_create(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            made.public(),
            again.public(),
            "the file is kept, not replaced"
        );
        let files: Vec<_> = std::fs::read_dir(&d)
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(Result::ok)
            .collect();
        assert_eq!(files.len(), 1, "no temporary file left");
        let arg = path.to_string_lossy().to_string();
        let public = server_key(&arg).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(public, made.public(), "the key file names its public half");
        let hexed = hex(made.public().as_bytes());
        assert_eq!(server_key(&hexed).ok(), Some(made.public()));
        let pub_file = d.join("server.pub");
        std::fs::write(&pub_file, format!("{hexed}\n")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            server_key(&pub_file.to_string_lossy()).ok(),
            Some(made.public())
        );
        assert!(
            !format!("{made:?}").contains(&hex(made.0.as_bytes())),
            "never printed"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_malformed_key_file_is_refused_not_replaced() {
        let d = dir("malformed");
        let path = d.join("taskforce-audit.key");
        for text in [
            "",
            "taskforce-audit-key-v1 abcd",
            "other-tag 0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                matches!(AuditKey::load_or_create(&path), Err(KeyError::Malformed(_))),
                "{text:?}"
            );
            assert_eq!(std::fs::read_to_string(&path).ok().as_deref(), Some(text));
        }
        assert!(
            matches!(AuditKey::load_or_create(&d), Err(KeyError::Io { .. })),
            "a directory is not readable as a key"
        );
        assert!(server_key("not a key").is_err());
        let _ = std::fs::remove_dir_all(&d);
    }
}
