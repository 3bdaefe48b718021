//! `POST|GET /v1/chats`, `GET /v1/chats/{chat}`, `POST|GET /v1/chats/{chat}/apps`,
//! `DELETE /v1/chats/{chat}/apps/{app}`,
//! `POST /v1/chats/{chat}/members`, `DELETE /v1/chats/{chat}/members/{account}`,
//! `GET /v1/invitations`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::AccountCaller;
use super::error::ErrorBody;
use super::extract::ApiJson;
use super::{ApiResult, AppState};
use crate::chat::Joined;
use crate::store::chats::Chat;
use crate::store::membership::Invitation;
use crate::store::status::AppStatus;

/// Body of `POST /v1/chats`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewChat {
    /// The chat's title.
    title: String,
    /// Account ids to add (contacts join, anyone else is invited).
    #[serde(default)]
    members: Vec<String>,
}

/// Answer of `POST /v1/chats`: the chat and who was only invited.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CreatedChat {
    #[serde(flatten)]
    chat: Chat,
    /// Account ids invited rather than added.
    invited: Vec<String>,
}

/// Creates a chat; the creator is always a member.
#[utoipa::path(
    post,
    path = "/v1/chats",
    tag = "chats",
    summary = "Create a chat",
    security(("account" = [])),
    request_body = NewChat,
    responses(
        (status = 201, description = "The new chat", body = CreatedChat),
        (status = 400, response = ErrorBody),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 422, response = ErrorBody),
        (status = 429, response = ErrorBody),
    )
)]
pub(super) async fn create(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    ApiJson(body): ApiJson<NewChat>,
) -> ApiResult<(StatusCode, Json<CreatedChat>)> {
    state.rate.post(&me.id)?;
    let chat = state.chat.create_chat(&me.id, &body.title, &body.members).await?;
    let invited = state.chat.invited(&chat.id).await?;
    Ok((StatusCode::CREATED, Json(CreatedChat { chat, invited })))
}

/// Body of `POST /v1/chats/{chat}/members`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewMember {
    /// The account id to add.
    account: String,
}

/// Answer of `POST /v1/chats/{chat}/members`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Membership {
    /// `member` (201) or `invited` (202).
    status: &'static str,
}

/// Adds a member: a contact of the caller (someone who shares a chat with
/// them) joins at once (201 `{"status": "member"}`); anyone else is
/// invited (202 `{"status": "invited"}`). An invitee adding themself
/// accepts the invitation (201).
#[utoipa::path(
    post,
    path = "/v1/chats/{chat}/members",
    tag = "chats",
    summary = "Add a member, or invite someone who is not a contact",
    security(("account" = [])),
    params(("chat" = String, Path, description = "The chat's id")),
    request_body = NewMember,
    responses(
        (status = 201, description = "Joined at once", body = Membership),
        (status = 200, description = "A member already: nothing changed", body = Membership),
        (status = 202, description = "Invited", body = Membership),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 422, response = ErrorBody),
        (status = 429, response = ErrorBody),
    )
)]
pub(super) async fn add_member(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(chat): Path<String>,
    ApiJson(body): ApiJson<NewMember>,
) -> ApiResult<(StatusCode, Json<Membership>)> {
    state.rate.post(&me.id)?;
    Ok(match state.chat.add_member(&chat, &me.id, &body.account).await? {
        Joined::Member => (StatusCode::CREATED, Json(Membership { status: "member" })),
        Joined::AlreadyMember => (StatusCode::OK, Json(Membership { status: "member" })),
        Joined::Invited => (StatusCode::ACCEPTED, Json(Membership { status: "invited" })),
    })
}

/// Takes a member out of the chat (204): anyone leaves, or declines an
/// invitation, naming themself; the chat's creator removes anyone else, or
/// withdraws their invitation. Others get 403, a non-member caller 404,
/// and removing someone who is neither a member nor invited 404.
#[utoipa::path(
    delete,
    path = "/v1/chats/{chat}/members/{account}",
    tag = "chats",
    summary = "Leave, decline, or remove a member (the creator)",
    security(("account" = [])),
    params(
        ("chat" = String, Path, description = "The chat's id"),
        ("account" = String, Path, description = "The member's (or invitee's) account id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
    )
)]
pub(super) async fn remove_member(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path((chat, account)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state.chat.remove_member(&chat, &me.id, &account).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Answer of `GET /v1/invitations`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Invitations {
    /// Pending invitations.
    invitations: Vec<Invitation>,
}

/// The caller's pending invitations.
#[utoipa::path(
    get,
    path = "/v1/invitations",
    tag = "chats",
    summary = "The caller's pending invitations",
    security(("account" = [])),
    responses(
        (status = 200, description = "Invitations", body = Invitations),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
    )
)]
pub(super) async fn invitations(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
) -> ApiResult<Json<Invitations>> {
    Ok(Json(Invitations {
        invitations: state.chat.invitations(&me.id).await?,
    }))
}

/// Answer of `GET /v1/chats`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Chats {
    /// The caller's chats.
    chats: Vec<Chat>,
}

/// The caller's chats.
#[utoipa::path(
    get,
    path = "/v1/chats",
    tag = "chats",
    summary = "The caller's chats",
    security(("account" = [])),
    responses(
        (status = 200, description = "Chats", body = Chats),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
    )
)]
pub(super) async fn list(State(state): State<AppState>, AccountCaller(me): AccountCaller) -> ApiResult<Json<Chats>> {
    let chats = state.chat.chats_of(&me.id).await?;
    Ok(Json(Chats { chats }))
}

/// A fellow member, by name.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Person {
    /// Account id.
    id: String,
    /// Display name.
    name: String,
}

/// Answer of `GET /v1/chats/{chat}`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ChatDetails {
    #[serde(flatten)]
    chat: Chat,
    /// Ids of the installed apps.
    apps: Vec<String>,
    /// Members' display names, for clients (fellow members may see them).
    people: Vec<Person>,
}

/// One chat, with members and installed apps.
#[utoipa::path(
    get,
    path = "/v1/chats/{chat}",
    tag = "chats",
    summary = "One chat, with members and installed apps",
    security(("account" = [])),
    params(("chat" = String, Path, description = "The chat's id")),
    responses(
        (status = 200, description = "The chat", body = ChatDetails),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
    )
)]
pub(super) async fn show(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(chat): Path<String>,
) -> ApiResult<Json<ChatDetails>> {
    let (found, apps, people) = state.chat.details_for_member(&chat, &me.id).await?;
    let people = people.into_iter().map(|(id, name)| Person { id, name }).collect();
    Ok(Json(ChatDetails {
        chat: found,
        apps,
        people,
    }))
}

/// Body of `POST /v1/chats/{chat}/apps`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Install {
    /// The app's id, or its name.
    app: String,
}

/// Answer of `POST /v1/chats/{chat}/apps`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Installed {
    /// The chat's id.
    chat: String,
    /// The app's id.
    app: String,
    /// Always true.
    installed: bool,
}

/// Installs an approved app into the chat (members only).
#[utoipa::path(
    post,
    path = "/v1/chats/{chat}/apps",
    tag = "chats",
    summary = "Install an approved app into the chat",
    security(("account" = [])),
    params(("chat" = String, Path, description = "The chat's id")),
    request_body = Install,
    responses(
        (status = 201, description = "Installed now", body = Installed),
        (status = 200, description = "Was installed already", body = Installed),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 422, response = ErrorBody),
    )
)]
pub(super) async fn install(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(chat): Path<String>,
    ApiJson(body): ApiJson<Install>,
) -> ApiResult<(StatusCode, Json<Installed>)> {
    // An app id, or its name (as the CLI takes).
    let app = state.registry.resolve_app(&body.app).await?;
    let new = state.chat.install(&chat, &me.id, &app).await?;
    let status = if new { StatusCode::CREATED } else { StatusCode::OK };
    Ok((
        status,
        Json(Installed {
            chat,
            app,
            installed: true,
        }),
    ))
}

/// Uninstalls an app from the chat (members only); its web sessions there
/// end at once, on every node.
#[utoipa::path(
    delete,
    path = "/v1/chats/{chat}/apps/{app}",
    tag = "chats",
    summary = "Uninstall an app from the chat",
    security(("account" = [])),
    params(
        ("chat" = String, Path, description = "The chat's id"),
        ("app" = String, Path, description = "The app's id or name"),
    ),
    responses(
        (status = 204, description = "Uninstalled"),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
        (status = 422, response = ErrorBody),
    )
)]
pub(super) async fn uninstall(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path((chat, app)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let app = state.registry.resolve_app(&app).await?;
    state.chat.uninstall(&chat, &me.id, &app).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An app installed in a chat.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct InstalledApp {
    /// The app's id.
    id: String,
    /// Its name.
    name: String,
    /// Whether it runs.
    status: AppStatus,
    /// The running version, if any.
    version: Option<String>,
    /// Whether it has a web UI to launch.
    web: bool,
    /// `bot`, `web-app` or `app`; empty when no version runs.
    kind: &'static str,
}

/// Answer of `GET /v1/chats/{chat}/apps`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct InstalledApps {
    /// The installed apps.
    apps: Vec<InstalledApp>,
}

/// Apps installed in the chat.
#[utoipa::path(
    get,
    path = "/v1/chats/{chat}/apps",
    tag = "chats",
    summary = "Apps installed in the chat",
    security(("account" = [])),
    params(("chat" = String, Path, description = "The chat's id")),
    responses(
        (status = 200, description = "Installed apps", body = InstalledApps),
        (status = 401, response = ErrorBody),
        (status = 403, response = ErrorBody),
        (status = 404, response = ErrorBody),
    )
)]
pub(super) async fn installed(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(chat): Path<String>,
) -> ApiResult<Json<InstalledApps>> {
    let apps = state
        .chat
        .installed_apps(&chat, &me.id)
        .await?
        .into_iter()
        .map(|(app, kind)| InstalledApp {
            id: app.id,
            name: app.name,
            status: app.status,
            version: app.active_version,
            web: kind.is_some_and(|k| k.is_web()),
            kind: kind.map_or("", |k| k.as_str()),
        })
        .collect();
    Ok(Json(InstalledApps { apps }))
}
