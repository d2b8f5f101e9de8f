//! The authenticated user (what `req.user` is in a passport app).
use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};

use super::{ApiTags, security::UserBearer};
use crate::{error::ApiError, state::AppState, store::entities::users};

pub struct MeApi;

/// A user as shown to the user and to admins. Never carries the password hash.
#[derive(Object, serde::Serialize, serde::Deserialize)]
pub struct UserView {
    pub id: uuid::Uuid,
    /// The normalised username.
    pub username: String,
    #[oai(skip_serializing_if_is_none)]
    pub email: Option<String>,
    pub email_verified: bool,
    /// `active` or `disabled`.
    pub status: String,
    pub roles: Vec<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<users::Model> for UserView {
    fn from(u: users::Model) -> Self {
        let roles = crate::auth::roles_of(&u);
        Self {
            id: u.id,
            username: u.username,
            email: u.email,
            email_verified: u.email_verified,
            roles,
            status: u.status,
            created_at: u.created_at,
        }
    }
}

#[derive(ApiResponse)]
pub enum MeResponse {
    /// The user the token belongs to.
    #[oai(status = 200)]
    Ok(Json<UserView>),
}

#[OpenApi(tag = "ApiTags::Me")]
impl MeApi {
    /// Current user
    ///
    /// Returns the user the bearer token was issued to. A revoked, expired or foreign token
    /// gets 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
    #[oai(path = "/t/:tenant/me", method = "get", operation_id = "getMe")]
    async fn me(
        &self,
        Data(state): Data<&Arc<AppState>>,
        auth: UserBearer,
        #[oai(name = "tenant", validator(max_length = 63))] tenant: Path<String>,
    ) -> Result<MeResponse, ApiError> {
        let _ = tenant;
        let user = crate::auth::current_user(state, &auth.0).await?;
        Ok(MeResponse::Ok(Json(user.into())))
    }
}
