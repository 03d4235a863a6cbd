use axum::{
    Extension, Json,
    extract::{
        Path, Query, State,
        rejection::{JsonRejection, QueryRejection},
    },
    http::header,
    response::IntoResponse,
};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::{
    error::{ApiError, ErrorBody, excerpt},
    quality::check_reason,
    state::ApiState,
};
use crate::{
    cases::{
        Principal, Role,
        quality::VoidReason,
        whistles::WhistleLevel,
        workflow::{Action, Refusal, Status, Workflow},
    },
    store::{ActionOutcome, Case, CaseDetail, CaseFilter, OwnershipOutcome, ReportInOutcome, WhistleOutcome},
};

/// Longest note accepted with an action, in bytes.
const MAX_NOTE_BYTES: usize = 4000;

/// Refuses a note longer than [`MAX_NOTE_BYTES`], naming the field.
fn check_note(note: &str) -> Result<(), ApiError> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(ApiError::BadRequest(format!("note: longer than {MAX_NOTE_BYTES} bytes")));
    }
    Ok(())
}

/// The body of `POST /api/v1/cases/{id}/actions`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// What to do: `verify`, `void`, `dispatch`, `accept`, `return`, `request_extension`,
    /// `grant_extension`, `refuse_extension`, `suspend`, `resume`, `report_handled`, `close`, `reopen`,
    /// `evaluate`, `supervise`.
    pub action: Action,
    /// Why, for the case's timeline.
    #[serde(default)]
    pub note: String,
    /// Why a case is voided: `false_detection`, `not_a_violation`, `duplicate` or `other` (required to
    /// void a camera case; only void takes one).
    #[serde(default)]
    pub reason: Option<VoidReason>,
}

/// `GET /api/v1/cases`: cases matching the query's filters, newest first, a page of `limit`; the next
/// page is `before=<the last id>`.
#[utoipa::path(get, path = "/api/v1/cases", tag = "cases", params(CaseFilter), responses((status = 200, body = Vec<Case>), (status = 400, description = "a bad filter, named", body = ErrorBody), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn list(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    filter: Result<Query<CaseFilter>, QueryRejection>,
) -> Result<Json<Vec<Case>>, ApiError> {
    let Query(filter) = filter.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    check_filter(&filter)?;
    Ok(Json(state.store.list_cases_in(&filter, &state.read_scope(&who)).await?))
}

/// Refuses a `grid` filter that is not a grid code or the start of one (1 to 15 digits).
pub fn check_grid_prefix(grid: &str) -> Result<(), ApiError> {
    if grid.is_empty() || grid.len() > 15 || !grid.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::BadRequest(format!("grid: '{grid}' is not a grid code or prefix (1 to 15 digits)")));
    }
    Ok(())
}

/// Refuses a case filter with a malformed grid prefix or plate, or a page size outside 1..=1000,
/// naming the field.
pub fn check_filter(filter: &CaseFilter) -> Result<(), ApiError> {
    if let Some(grid) = &filter.grid {
        check_grid_prefix(grid)?;
    }
    if let Some(plate) = filter.plate.as_ref().filter(|p| {
        p.is_empty() || p.chars().count() > 8 || !p.chars().all(sharpeyes_inference::plate::is_plate_character)
    }) {
        return Err(ApiError::BadRequest(format!(
            "plate: '{plate}' is not a licence plate or the start of one (1 to 8 plate characters, e.g. 苏ED51712)"
        )));
    }
    if !(1..=1000).contains(&filter.limit) {
        return Err(ApiError::BadRequest(format!("limit: {} is outside 1..=1000", filter.limit)));
    }
    Ok(())
}

/// A case as one person sees it: the case with its objects, evidence, timeline and whistles, and
/// what the caller may do with it now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CaseView {
    /// The case.
    #[serde(flatten)]
    pub detail: CaseDetail,
    /// The workflow actions the caller's role may take in the case's state.
    pub actions: Vec<Action>,
    /// Whether the caller may call departments to the case.
    pub may_whistle: bool,
    /// Whether the caller may acknowledge the case (nobody else owns it, and the caller has not yet).
    pub may_acknowledge: bool,
    /// Whether the caller may hand the case to someone else (they own it, or are an admin).
    pub may_hand_over: bool,
}

impl CaseView {
    fn new(state: &ApiState, who: &Principal, mut detail: CaseDetail) -> Self {
        detail.responsible = state
            .whistles
            .responsible(detail.case.category.as_str(), &detail.case.grid)
            .iter()
            .map(|d| d.id.clone())
            .collect();
        let status = Some(detail.case.status);
        let actions = status
            .map(|status| Workflow {
                status,
                extension_requested: detail.case.extension_requested,
                supervised: detail.case.supervised,
            })
            .map(|workflow| workflow.allowed(who.role))
            .unwrap_or_default();
        let open = status.is_some_and(Status::is_open);
        let may_whistle = who.role.may_blow_whistles() && open;
        let case = &detail.case;
        let mine = *case.owner == *who.name;
        let may_acknowledge =
            who.role.may_acknowledge() && open && (case.owner.is_empty() || (mine && case.acknowledged_at.is_none()));
        let may_hand_over =
            who.role.may_acknowledge() && open && !case.owner.is_empty() && (mine || who.role == Role::Admin);
        Self { detail, actions, may_whistle, may_acknowledge, may_hand_over }
    }
}

/// `GET /api/v1/cases/{id}`: a case with its objects, evidence list, timeline, whistles, the
/// departments responsible for it and the actions the caller may take.
#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "cases", params(("id" = i64, Path, description = "case id")), responses((status = 200, body = CaseView), (status = 404, body = ErrorBody), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn detail(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<i64>,
) -> Result<Json<CaseView>, ApiError> {
    state.check_visible(&who, id).await?;
    let mut detail = state.store.case_detail(id).await?.ok_or_else(|| ApiError::NotFound(format!("no case {id}")))?;
    // Earlier cases of the same plate are listed only where the caller may read them.
    let scope = state.read_scope(&who);
    let mut visible = Vec::with_capacity(detail.same_plate.len());
    for earlier in std::mem::take(&mut detail.same_plate) {
        if state.store.case_in_scope(earlier.id, &scope).await? {
            visible.push(earlier);
        }
    }
    detail.same_plate = visible;
    Ok(Json(CaseView::new(&state, &who, detail)))
}

/// `GET /api/v1/cases/{id}/evidence/{index}`: an evidence JPEG, found through its case only.
#[utoipa::path(get, path = "/api/v1/cases/{id}/evidence/{index}", tag = "cases", params(("id" = i64, Path, description = "case id"), ("index" = i64, Path, description = "evidence index within the case")), responses((status = 200, description = "the JPEG", content_type = "image/jpeg", body = Vec<u8>), (status = 404, body = ErrorBody), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn evidence(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path((id, index)): Path<(i64, i64)>,
) -> Result<impl IntoResponse, ApiError> {
    state.check_visible(&who, id).await?;
    let not_found = || ApiError::NotFound(format!("no evidence {index} for case {id}"));
    let info = state.store.evidence(id, index).await?.ok_or_else(not_found)?;
    let path = state.evidence.path_of(&info.sha256).ok_or_else(not_found)?;
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|source| ApiError::Internal(crate::Error::Io { path: path.clone(), source }))?;
    Ok(([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "no-store")], bytes))
}

/// `POST /api/v1/cases/{id}/actions`: the caller takes a workflow action on the case. 403 when the
/// caller's role may not take it, 409 when the case's status does not allow it; the case with its
/// timeline otherwise.
#[utoipa::path(post, path = "/api/v1/cases/{id}/actions", tag = "cases", params(("id" = i64, Path, description = "case id")), request_body = ActionRequest, responses((status = 200, body = CaseView), (status = 400, body = ErrorBody), (status = 403, description = "the role may not take the action", body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "the case's status does not allow it", body = ErrorBody), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn act(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<i64>,
    body: Result<Json<ActionRequest>, JsonRejection>,
) -> Result<Json<CaseView>, ApiError> {
    let Json(request) = body?;
    check_note(&request.note)?;
    state.check_visible(&who, id).await?;
    // Only a void without a reason needs to know where the case came from.
    let camera_case = match (request.action, request.reason) {
        (Action::Void, None) => state.store.case_detail(id).await?.is_some_and(|detail| detail.case.source == "camera"),
        _ => false,
    };
    check_reason(request.action, request.reason, camera_case)?;
    let now = state.clock.now();
    let outcome = state
        .store
        .apply_action_for(id, &who, request.action, request.reason, &request.note, now, &state.policy)
        .await?;
    match outcome {
        ActionOutcome::Applied(detail) => {
            tracing::info!(case = id, who = %who.name, action = request.action.as_str(), status = detail.case.status.as_str(), "case action");
            count_decision(&state, &detail.case, request.action, request.reason);
            Ok(Json(CaseView::new(&state, &who, *detail)))
        }
        ActionOutcome::Refused(refusal @ Refusal::Role { .. }) => Err(ApiError::Forbidden(refusal.to_string())),
        ActionOutcome::Refused(refusal) => Err(ApiError::Conflict(refusal.to_string())),
        ActionOutcome::NotFound => Err(ApiError::NotFound(format!("no case {id}"))),
    }
}

/// Counts an operator's verify or void of a camera case in `/metrics`.
fn count_decision(state: &ApiState, case: &Case, action: Action, reason: Option<VoidReason>) {
    if case.source != "camera" {
        return;
    }
    let labels = [case.camera.as_str(), case.zone.as_str(), case.category.as_str()];
    match (action, reason) {
        (Action::Verify, _) => state.quality.verified_total.with_label_values(&labels).inc(),
        (Action::Void, Some(reason)) => {
            let [camera, zone, category] = labels;
            state.quality.voided_total.with_label_values(&[camera, zone, category, reason.as_str()]).inc();
        }
        _ => {}
    }
}

/// The body of `POST /api/v1/cases/{id}/acknowledge`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeRequest {
    /// Why, for the case's timeline.
    #[serde(default)]
    pub note: String,
}

/// The body of `POST /api/v1/cases/{id}/hand_over`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandOverRequest {
    /// The name of the person (token) who takes the case on; they acknowledge it in turn.
    pub to: String,
    /// Why, for the case's timeline.
    #[serde(default)]
    pub note: String,
}

fn ownership_answer(id: i64, outcome: OwnershipOutcome) -> Result<(), ApiError> {
    match outcome {
        OwnershipOutcome::Done => Ok(()),
        OwnershipOutcome::OwnedBy(owner) => Err(ApiError::Conflict(format!("case {id} is owned by {owner}"))),
        OwnershipOutcome::Unowned => Err(ApiError::Conflict(format!("nobody owns case {id}: acknowledge it"))),
        OwnershipOutcome::Finished(status) => Err(ApiError::Conflict(format!("case {id} is {status}"))),
        OwnershipOutcome::NotFound => Err(ApiError::NotFound(format!("no case {id}"))),
    }
}

/// `POST /api/v1/cases/{id}/acknowledge`: the caller acknowledges the case and owns it until they
/// hand it on; its escalation stops. 409 when someone else owns it.
#[utoipa::path(post, path = "/api/v1/cases/{id}/acknowledge", tag = "cases", params(("id" = i64, Path, description = "case id")), request_body = AcknowledgeRequest, responses((status = 200, body = CaseView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "owned by someone else, or finished", body = ErrorBody), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn acknowledge(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<i64>,
    body: Result<Json<AcknowledgeRequest>, JsonRejection>,
) -> Result<Json<CaseView>, ApiError> {
    let Json(request) = body?;
    check_note(&request.note)?;
    if !who.role.may_acknowledge() {
        return Err(ApiError::Forbidden(format!("a {} may not acknowledge cases", who.role.as_str())));
    }
    state.check_visible(&who, id).await?;
    ownership_answer(id, state.store.acknowledge(id, &who, &request.note, state.clock.now()).await?)?;
    tracing::info!(case = id, who = %who.name, "case acknowledged");
    detail(State(state), Extension(who), Path(id)).await
}

/// `POST /api/v1/cases/{id}/hand_over`: the owner (or an admin) hands the case to another person, who
/// must acknowledge it; escalation counts again from now.
#[utoipa::path(post, path = "/api/v1/cases/{id}/hand_over", tag = "cases", params(("id" = i64, Path, description = "case id")), request_body = HandOverRequest, responses((status = 200, body = CaseView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "not the owner's, unowned, or finished", body = ErrorBody), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn hand_over(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<i64>,
    body: Result<Json<HandOverRequest>, JsonRejection>,
) -> Result<Json<CaseView>, ApiError> {
    let Json(request) = body?;
    check_note(&request.note)?;
    if !who.role.may_acknowledge() {
        return Err(ApiError::Forbidden(format!("a {} may not hand cases over", who.role.as_str())));
    }
    state.check_visible(&who, id).await?;
    match state.auth.role_of(&request.to).filter(|_| request.to != *who.name) {
        None => {
            let to = excerpt(&request.to);
            return Err(ApiError::BadRequest(format!("to: '{to}' is not another configured person")));
        }
        Some(role) if !role.may_acknowledge() => {
            let (to, role) = (&request.to, role.as_str());
            return Err(ApiError::BadRequest(format!("to: '{to}' is a {role}, who may not acknowledge (own) cases")));
        }
        Some(_) => {}
    }
    ownership_answer(id, state.store.hand_over(id, &who, &request.to, &request.note, state.clock.now()).await?)?;
    tracing::info!(case = id, from = %who.name, to = %request.to, "case handed over");
    detail(State(state), Extension(who), Path(id)).await
}

/// The body of `POST /api/v1/cases/{id}/whistles`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhistleRequest {
    /// `ordinary`, `major` or `urgent`: sets the time by which each department must report in.
    pub level: WhistleLevel,
    /// Ids of the departments called (from the directory).
    pub departments: Vec<String>,
    /// Why, for the case's timeline.
    #[serde(default)]
    pub note: String,
}

/// `POST /api/v1/cases/{id}/whistles`: a dispatcher calls departments to the case (吹哨).
#[utoipa::path(post, path = "/api/v1/cases/{id}/whistles", tag = "cases", params(("id" = i64, Path, description = "case id")), request_body = WhistleRequest, responses((status = 200, description = "`{\"id\": whistle id, \"due_at\": report-in time}`", body = Object), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn whistle(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<i64>,
    body: Result<Json<WhistleRequest>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(request) = body?;
    if !who.role.may_blow_whistles() {
        return Err(ApiError::Forbidden(format!("a {:?} may not blow a whistle", who.role)));
    }
    state.check_visible(&who, id).await?;
    if request.departments.is_empty() {
        return Err(ApiError::BadRequest("departments: call at least one".into()));
    }
    for (index, department) in request.departments.iter().enumerate() {
        if !state.whistles.knows(department) {
            return Err(ApiError::BadRequest(format!(
                "departments[{index}]: '{}' is not in the directory",
                excerpt(department)
            )));
        }
        if request.departments[..index].contains(department) {
            return Err(ApiError::BadRequest(format!("departments[{index}]: '{department}' is listed twice")));
        }
    }
    check_note(&request.note)?;
    let now = state.clock.now();
    let due = now
        + chrono::TimeDelta::from_std(state.whistles.report_in(request.level)).unwrap_or(chrono::TimeDelta::hours(1));
    let calls: Vec<(String, chrono::DateTime<Utc>)> = request.departments.iter().map(|d| (d.clone(), due)).collect();
    match state.store.blow_whistle(id, &who, request.level, &calls, &request.note, now).await? {
        WhistleOutcome::Called(whistle) => {
            tracing::info!(case = id, whistle, level = request.level.as_str(), departments = ?request.departments, "whistle blown");
            Ok(Json(serde_json::json!({ "id": whistle, "due_at": due })))
        }
        WhistleOutcome::NotFound => Err(ApiError::NotFound(format!("no case {id}"))),
        WhistleOutcome::Finished(status) => Err(ApiError::Conflict(format!("the case is {status}"))),
    }
}

/// The body of `POST /api/v1/cases/{id}/whistles/{whistle}/report`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportInRequest {
    /// The department reporting in.
    pub department: String,
    /// What it reports.
    #[serde(default)]
    pub note: String,
}

/// `POST /api/v1/cases/{id}/whistles/{whistle}/report`: a called department reports in (报到).
#[utoipa::path(post, path = "/api/v1/cases/{id}/whistles/{whistle}/report", tag = "cases", params(("id" = i64, Path, description = "case id"), ("whistle" = i64, Path, description = "whistle id")), request_body = ReportInRequest, responses((status = 200, body = CaseView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn report_in(
    State(state): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path((id, whistle)): Path<(i64, i64)>,
    body: Result<Json<ReportInRequest>, JsonRejection>,
) -> Result<Json<CaseView>, ApiError> {
    let Json(request) = body?;
    if !who.role.may_report_in() {
        return Err(ApiError::Forbidden(format!("a {:?} may not report in for a department", who.role)));
    }
    if let Some(own) = who.department.as_deref().filter(|own| **own != *request.department) {
        return Err(ApiError::Forbidden(format!("this token reports in for '{own}' only")));
    }
    state.check_visible(&who, id).await?;
    check_note(&request.note)?;
    match state.store.report_in(id, whistle, &request.department, &who, &request.note, state.clock.now()).await? {
        ReportInOutcome::Reported => detail(State(state), Extension(who), Path(id)).await,
        ReportInOutcome::NotCalled => {
            Err(ApiError::NotFound(format!("whistle {whistle} of case {id} did not call '{}'", request.department)))
        }
        ReportInOutcome::AlreadyReported => {
            Err(ApiError::Conflict(format!("'{}' already reported in", request.department)))
        }
    }
}
