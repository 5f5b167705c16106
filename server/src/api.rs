//! JSON handlers: health, metrics, sign-in, devices, the directive and the units.

use actix_web::{HttpRequest, HttpResponse, web};
use base64::{Engine, engine::general_purpose::STANDARD};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, ModelTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    accounts,
    auth::{Caller, Role, bearer, token_hash},
    entity::{directives, documents, memberships, tokens, units, users},
    error::{ApiError, ApiResult, ErrorBody},
    metrics::Metrics,
    progress_api::DEFAULT_DIRECTIVE,
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`
    status: &'static str,
    /// `ok` once the database answered.
    database: &'static str,
}

/// Liveness and readiness: answers once the database answers.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, body = Health), (status = 500, body = ErrorBody)))]
pub async fn healthz(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    state.db.execute_unprepared("SELECT 1").await?;
    Ok(HttpResponse::Ok().json(Health {
        status: "ok",
        database: "ok",
    }))
}

/// Counters and gauges in Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, body = String, content_type = "text/plain; version=0.0.4")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render(state.docs.usage()))
}

#[derive(Deserialize, ToSchema)]
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

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    username: String,
    display_name: String,
    role: Role,
    units: Vec<MeUnit>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeUnit {
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

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginReply {
    /// The bearer token for `Authorization: Bearer …`.
    token: String,
    /// Unix seconds.
    expires_at: i64,
    user: Me,
}

/// Sign in: a bearer token for the API and the phone's sync.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts", request_body = Login,
    responses((status = 200, body = LoginReply), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
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
            Ok(HttpResponse::Ok().json(LoginReply {
                token,
                expires_at,
                user: me(&caller),
            }))
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

/// Sign out: the token stops working.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(
    state: web::Data<AppState>,
    _caller: Caller,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    if let Some(token) = bearer(&req) {
        tokens::Entity::delete_by_id(token_hash(&token))
            .exec(&state.db)
            .await?;
        state.auth.forget_callers();
    }
    Ok(HttpResponse::NoContent().finish())
}

/// The signed-in user, their role and units.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn whoami(caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(me(&caller))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    name: String,
    /// The device's ed25519 public key, base64.
    public_key: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceCreated {
    /// The device's actor id: it names the device in `X-Taskforce-Device` and in its changes.
    actor_id: u32,
}

/// Register a phone: its ed25519 public key, bound to the caller; returns its actor id.
#[utoipa::path(post, path = "/api/v1/devices", tag = "sync", request_body = NewDevice,
    security(("bearer" = [])),
    responses((status = 201, body = DeviceCreated), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn register_device(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<NewDevice>,
) -> ApiResult<HttpResponse> {
    let key = STANDARD
        .decode(body.public_key.trim())
        .map_err(|_| ApiError::BadRequest("public_key must be base64".into()))?;
    let actor = accounts::register_device(&state.db, &caller, &body.name, &key).await?;
    let actor_id = u32::try_from(actor).map_err(ApiError::internal)?;
    Ok(HttpResponse::Created().json(DeviceCreated { actor_id }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DirectiveSummary {
    id: String,
    number: String,
    issuer: String,
    /// ISO date of issue.
    date: String,
    title: String,
}

/// The directives the server tracks.
#[utoipa::path(get, path = "/api/v1/directives", tag = "directive", security(("bearer" = [])),
    responses((status = 200, body = Vec<DirectiveSummary>), (status = 401, body = ErrorBody)))]
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
        .map(|d| DirectiveSummary {
            id: d.id,
            number: d.number,
            issuer: d.issuer,
            date: d.date,
            title: d.title,
        })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

/// The whole directive: header, clauses with their text, and each clause's units.
#[utoipa::path(get, path = "/api/v1/directives/{id}", tag = "directive",
    security(("bearer" = [])), params(("id" = String, Path, description = "directive id, e.g. 5-ct-btttt")),
    responses((status = 200, body = Object, description = "the imported directive (mobile-core's model as JSON) with its `id`"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
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

#[derive(Debug, Serialize, ToSchema)]
pub struct UnitInfo {
    id: String,
    /// Vietnamese name.
    name: String,
    /// English name.
    en: String,
    kind: String,
    /// The groups the unit belongs to (e.g. the 63 provincial departments).
    groups: Vec<String>,
    aliases: Vec<String>,
}

/// The unit catalogue.
#[utoipa::path(get, path = "/api/v1/units", tag = "directive", security(("bearer" = [])),
    responses((status = 200, body = Vec<UnitInfo>), (status = 401, body = ErrorBody)))]
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
            UnitInfo {
                id: u.id,
                name: u.name,
                en: u.en,
                kind: u.kind,
                groups,
                aliases,
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DocQuery {
    /// The directive (default `5-ct-btttt`).
    directive: Option<String>,
}

/// A unit's stored document row, if the caller may read the unit.
async fn readable_row(
    state: &AppState,
    caller: &Caller,
    directive: &str,
    unit: &str,
) -> ApiResult<documents::Model> {
    caller.require(caller.may_read_unit(unit), &format!("read {unit}"))?;
    documents::Entity::find_by_id((directive.to_string(), unit.to_string()))
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("document {directive}/{unit}")))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnitDocumentInfo {
    directive: String,
    unit: String,
    /// The document's fingerprint (a u64, as a decimal string): the phone's sync checks it.
    fingerprint: String,
    /// The document header: the tasks the directive gives the unit.
    #[schema(value_type = Object)]
    header: taskforce_core::doc::DocHeader,
    /// Operations merged so far.
    ops: i64,
}

/// The header of a unit's document (its tasks) and the fingerprint a device syncs with.
#[utoipa::path(get, path = "/api/v1/units/{id}/document", tag = "sync", security(("bearer" = [])),
    params(("id" = String, Path, description = "unit id"), DocQuery),
    responses((status = 200, body = UnitDocumentInfo), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
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
    let row = readable_row(&state, &caller, &directive, &unit).await?;
    // The header is in the snapshot; the op-log tail past it does not change it.
    let snapshot =
        taskforce_core::sync::wire::decode_snapshot(&row.state).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(UnitDocumentInfo {
        directive,
        unit,
        fingerprint: u64::from_ne_bytes(row.fingerprint.to_ne_bytes()).to_string(),
        header: snapshot.header,
        ops: row.ops,
    }))
}

#[derive(Deserialize, ToSchema)]
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

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberCreated {
    id: i64,
    username: String,
    unit: String,
}

/// A unit lead (or the Ministry Office) adds a member to the unit.
#[utoipa::path(post, path = "/api/v1/units/{id}/members", tag = "accounts", security(("bearer" = [])),
    params(("id" = String, Path, description = "unit id")), request_body = NewMember,
    responses((status = 201, body = MemberCreated), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
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
    Ok(HttpResponse::Created().json(MemberCreated {
        id,
        username: body.username.clone(),
        unit,
    }))
}

/// Remove a member from a unit (the account stays).
#[utoipa::path(delete, path = "/api/v1/units/{id}/members/{username}", tag = "accounts",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "unit id"), ("username" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
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
    state.auth.forget_callers();
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
#[utoipa::path(get, path = "/api/v1/units/{id}/progress", tag = "progress", security(("bearer" = [])),
    params(("id" = String, Path, description = "unit id"), DocQuery),
    responses((status = 200, body = taskforce_core::progress::UnitProgress),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
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
    let row = readable_row(&state, &caller, &directive, &unit).await?;
    let doc = crate::docstore::load_row(&state.db, &row).await?;
    let progress = taskforce_core::progress::unit_progress(&doc, chrono::Utc::now().date_naive());
    Ok(HttpResponse::Ok().json(progress))
}
