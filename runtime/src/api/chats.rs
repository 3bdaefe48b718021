//! `POST|GET /v1/chats`, `GET /v1/chats/{chat}`, `POST|GET /v1/chats/{chat}/apps`,
//! `DELETE /v1/chats/{chat}/apps/{app}`,
//! `POST /v1/chats/{chat}/members`, `DELETE /v1/chats/{chat}/members/{account}`,
//! `GET /v1/invitations`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::AccountCaller;
use super::extract::ApiJson;
use super::{ApiResult, AppState};
use crate::chat::Joined;

/// Body of `POST /v1/chats`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewChat {
    title: String,
    #[serde(default)]
    members: Vec<String>,
}

/// Creates a chat; the creator is always a member.
pub(super) async fn create(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    ApiJson(body): ApiJson<NewChat>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    state.rate.post(&me.id)?;
    let chat = state.chat.create_chat(&me.id, &body.title, &body.members).await?;
    let invited = state.chat.invited(&chat.id).await?;
    let mut answer = json!(chat);
    answer["invited"] = json!(invited);
    Ok((StatusCode::CREATED, Json(answer)))
}

/// Body of `POST /v1/chats/{chat}/members`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewMember {
    account: String,
}

/// Adds a member: a contact of the caller (someone who shares a chat with
/// them) joins at once (201 `{"status": "member"}`); anyone else is
/// invited (202 `{"status": "invited"}`). An invitee adding themself
/// accepts the invitation (201).
pub(super) async fn add_member(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(chat): Path<String>,
    ApiJson(body): ApiJson<NewMember>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    state.rate.post(&me.id)?;
    Ok(match state.chat.add_member(&chat, &me.id, &body.account).await? {
        Joined::Member => (StatusCode::CREATED, Json(json!({ "status": "member" }))),
        Joined::Invited => (StatusCode::ACCEPTED, Json(json!({ "status": "invited" }))),
    })
}

/// Takes a member out of the chat (204): anyone leaves, or declines an
/// invitation, naming themself; the chat's creator removes anyone else, or
/// withdraws their invitation. Others get 403, a non-member caller 404,
/// and removing someone who is neither a member nor invited 404.
pub(super) async fn remove_member(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path((chat, account)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.chat.remove_member(&chat, &me.id, &account).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's pending invitations.
pub(super) async fn invitations(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "invitations": state.chat.invitations(&me.id).await? })))
}

/// The caller's chats.
pub(super) async fn list(State(state): State<AppState>, AccountCaller(me): AccountCaller) -> ApiResult<Json<Value>> {
    let chats = state.chat.chats_of(&me.id).await?;
    Ok(Json(json!({ "chats": chats })))
}

/// One chat, with members and installed apps.
pub(super) async fn show(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(chat): Path<String>,
) -> ApiResult<Json<Value>> {
    let (found, apps, people) = state.chat.details_for_member(&chat, &me.id).await?;
    let people: Vec<Value> = people
        .into_iter()
        .map(|(id, name)| json!({ "id": id, "name": name }))
        .collect();
    let mut value = json!(found);
    value["apps"] = json!(apps);
    // Members' display names, for clients (fellow members may see them).
    value["people"] = json!(people);
    Ok(Json(value))
}

/// Body of `POST /v1/chats/{chat}/apps`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Install {
    app: String,
}

/// Installs an approved app into the chat (members only).
pub(super) async fn install(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(chat): Path<String>,
    ApiJson(body): ApiJson<Install>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let new = state.chat.install(&chat, &me.id, &body.app).await?;
    let status = if new { StatusCode::CREATED } else { StatusCode::OK };
    Ok((
        status,
        Json(json!({ "chat": chat, "app": body.app, "installed": true })),
    ))
}

/// Uninstalls an app from the chat (members only); its web sessions there
/// end at once, on every node.
pub(super) async fn uninstall(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path((chat, app)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.chat.uninstall(&chat, &me.id, &app).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Apps installed in the chat.
pub(super) async fn installed(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(chat): Path<String>,
) -> ApiResult<Json<Value>> {
    let list: Vec<Value> = state
        .chat
        .installed_apps(&chat, &me.id)
        .await?
        .into_iter()
        .map(|(app, kind)| {
            json!({
                "id": app.id, "name": app.name, "status": app.status, "version": app.active_version,
                "web": kind.is_some_and(|k| k.is_web()), "kind": kind.map_or("", |k| k.as_str()),
            })
        })
        .collect();
    Ok(Json(json!({ "apps": list })))
}
