//! JSON handlers: health, metrics, sign-in, devices, the directive and the units.

use actix_web::{HttpRequest, HttpResponse, web};
use base64::{Engine, engine::general_purpose::STANDARD};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, ModelTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};

use crate::{
    accounts,
    auth::{Caller, Role, bearer, token_hash},
    entity::{directives, documents, memberships, tokens, units, users},
    error::{ApiError, ApiResult},
    metrics::Metrics,
    progress_api::DEFAULT_DIRECTIVE,
    state::AppState,
};

pub async fn healthz(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    state.db.execute_unprepared("SELECT 1").await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ok", "database": "ok" })))
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    username: String,
    password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize)]
pub struct Me {
    username: String,
    display_name: String,
    role: Role,
    units: Vec<MeUnit>,
}

#[derive(Debug, Serialize)]
struct MeUnit {
    unit: String,
    lead: bool,
}

fn me(c: &Caller) -> Me {
    Me {
        username: c.username.clone(),
        display_name: c.display_name.clone(),
        role: c.role,
        units: c
            .units
            .iter()
            .map(|(u, l)| MeUnit {
                unit: u.clone(),
                lead: *l,
            })
            .collect(),
    }
}

pub async fn login(state: web::Data<AppState>, body: web::Json<Login>) -> ApiResult<HttpResponse> {
    state.limiter.check(&body.username)?;
    match accounts::login(
        &state.db,
        &body.username,
        &body.password,
        state.config.token_ttl_hours,
    )
    .await
    {
        Ok((token, expires_at, caller)) => {
            state.limiter.succeeded(&body.username);
            Metrics::add(&state.metrics.logins, 1);
            Ok(HttpResponse::Ok().json(serde_json::json!({ "token": token, "expires_at": expires_at, "user": me(&caller) })))
        }
        Err(e) => {
            if matches!(e, ApiError::BadCredentials) {
                state.limiter.failed(&body.username);
                Metrics::add(&state.metrics.login_failures, 1);
            }
            Err(e)
        }
    }
}

pub async fn logout(
    state: web::Data<AppState>,
    _caller: Caller,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    if let Some(token) = bearer(&req) {
        tokens::Entity::delete_by_id(token_hash(&token))
            .exec(&state.db)
            .await?;
    }
    Ok(HttpResponse::NoContent().finish())
}

pub async fn whoami(caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(me(&caller))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    name: String,
    /// The device's ed25519 public key, base64.
    public_key: String,
}

pub async fn register_device(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<NewDevice>,
) -> ApiResult<HttpResponse> {
    let key = STANDARD
        .decode(body.public_key.trim())
        .map_err(|_| ApiError::BadRequest("public_key must be base64".into()))?;
    let actor = accounts::register_device(&state.db, &caller, &body.name, &key).await?;
    Ok(HttpResponse::Created().json(serde_json::json!({ "actor_id": actor })))
}

pub async fn list_directives(
    state: web::Data<AppState>,
    _caller: Caller,
) -> ApiResult<HttpResponse> {
    let rows = directives::Entity::find()
        .order_by_asc(directives::Column::Date)
        .all(&state.db)
        .await?;
    let list: Vec<_> = rows
        .into_iter()
        .map(|d| serde_json::json!({ "id": d.id, "number": d.number, "issuer": d.issuer, "date": d.date, "title": d.title }))
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

/// The whole directive: header, clauses with their text, and each clause's units.
pub async fn get_directive(
    state: web::Data<AppState>,
    _caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let d = directives::Entity::find_by_id(id.clone())
        .one(&state.db)
        .await?
        .ok_or(ApiError::NotFound(format!("directive {id}")))?;
    let mut doc: serde_json::Value =
        serde_json::from_str(&d.document).map_err(ApiError::internal)?;
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("id".into(), serde_json::Value::String(d.id));
    }
    Ok(HttpResponse::Ok().json(doc))
}

pub async fn list_units(state: web::Data<AppState>, _caller: Caller) -> ApiResult<HttpResponse> {
    let rows = units::Entity::find()
        .order_by_asc(units::Column::Id)
        .all(&state.db)
        .await?;
    let list: Vec<_> = rows
        .into_iter()
        .map(|u| {
            let groups: Vec<String> = serde_json::from_str(&u.groups).unwrap_or_default();
            let aliases: Vec<String> = serde_json::from_str(&u.aliases).unwrap_or_default();
            serde_json::json!({ "id": u.id, "name": u.name, "en": u.en, "kind": u.kind, "groups": groups, "aliases": aliases })
        })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

#[derive(Debug, Deserialize)]
pub struct DocQuery {
    directive: Option<String>,
}

/// A unit's stored document and its decoded state, if the caller may read the unit.
async fn readable_document(
    state: &AppState,
    caller: &Caller,
    directive: &str,
    unit: &str,
) -> ApiResult<(documents::Model, taskforce_core::doc::CanonicalDoc)> {
    caller.require(caller.may_read_unit(unit), &format!("read {unit}"))?;
    let row = documents::Entity::find_by_id((directive.to_string(), unit.to_string()))
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("document {directive}/{unit}")))?;
    let canonical =
        taskforce_core::sync::wire::decode_snapshot(&row.state).map_err(ApiError::internal)?;
    Ok((row, canonical))
}

/// The header of a unit's document (its tasks) and the fingerprint a device syncs with.
pub async fn unit_document(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<DocQuery>,
) -> ApiResult<HttpResponse> {
    let unit = path.into_inner();
    let directive = q
        .directive
        .clone()
        .unwrap_or_else(|| DEFAULT_DIRECTIVE.into());
    let (row, canonical) = readable_document(&state, &caller, &directive, &unit).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "directive": directive,
        "unit": unit,
        "fingerprint": u64::from_ne_bytes(row.fingerprint.to_ne_bytes()).to_string(),
        "header": canonical.header,
        "ops": row.ops,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    username: String,
    #[serde(default)]
    display_name: String,
    password: String,
    #[serde(default)]
    lead: bool,
}

impl std::fmt::Debug for NewMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewMember")
            .field("username", &self.username)
            .field("lead", &self.lead)
            .finish_non_exhaustive()
    }
}

/// A unit lead (or the Ministry Office) adds a member to the unit.
pub async fn add_member(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<NewMember>,
) -> ApiResult<HttpResponse> {
    let unit = path.into_inner();
    caller.require(
        caller.may_manage_members(&unit),
        &format!("manage {unit}'s members"),
    )?;
    if body.lead && !matches!(caller.role, Role::MinistryOffice | Role::Admin) {
        return Err(ApiError::Forbidden(
            "only the Ministry Office appoints unit leads".into(),
        ));
    }
    let id = accounts::create_user(
        &state.db,
        &body.username,
        &body.display_name,
        &body.password,
        Role::Member,
        &[(unit.clone(), body.lead)],
        Some(caller.user_id),
    )
    .await?;
    Ok(HttpResponse::Created()
        .json(serde_json::json!({ "id": id, "username": body.username, "unit": unit })))
}

pub async fn remove_member(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (unit, username) = path.into_inner();
    caller.require(
        caller.may_manage_members(&unit),
        &format!("manage {unit}'s members"),
    )?;
    let user = users::Entity::find()
        .filter(users::Column::Username.eq(username.as_str()))
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {username}")))?;
    let m = memberships::Entity::find_by_id((user.id, unit.clone()))
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{username} in {unit}")))?;
    m.delete(&state.db).await?;
    accounts::audit(
        &state.db,
        Some(caller.user_id),
        "member.remove",
        &username,
        serde_json::json!({ "unit": unit }),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A unit's progress, computed from its document with the same rules as the phone.
pub async fn unit_progress(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<DocQuery>,
) -> ApiResult<HttpResponse> {
    let unit = path.into_inner();
    let directive = q
        .directive
        .clone()
        .unwrap_or_else(|| DEFAULT_DIRECTIVE.into());
    let (_, canonical) = readable_document(&state, &caller, &directive, &unit).await?;
    let doc =
        taskforce_core::doc::UnitDocument::from_canonical(canonical).map_err(ApiError::internal)?;
    let progress = taskforce_core::progress::unit_progress(&doc, chrono::Utc::now().date_naive());
    Ok(HttpResponse::Ok().json(progress))
}
