//! Probes for orchestrators and load balancers.
use std::{sync::Arc, time::Duration};

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::ApiTags;
use crate::state::AppState;

pub struct HealthApi;

#[derive(Object)]
pub struct HealthStatus {
    /// `ok` or `unavailable`.
    pub status: String,
    /// Per dependency: `ok` or `unavailable`.
    #[oai(skip_serializing_if_is_none)]
    pub database: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub token_store: Option<String>,
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// Healthy.
    #[oai(status = 200)]
    Ok(Json<HealthStatus>),
    /// A dependency does not answer.
    #[oai(status = 503)]
    Unavailable(Json<HealthStatus>),
}

fn word(ok: bool) -> String {
    if ok { "ok" } else { "unavailable" }.to_string()
}

#[OpenApi(prefix_path = "/health", tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness
    ///
    /// 200 while the process serves requests.
    #[oai(path = "/live", method = "get", operation_id = "live")]
    async fn live(&self) -> HealthResponse {
        HealthResponse::Ok(Json(HealthStatus { status: "ok".into(), database: None, token_store: None }))
    }

    /// Readiness
    ///
    /// 200 when the database and the token store (Redis) answer within a second; 503 otherwise.
    #[oai(path = "/ready", method = "get", operation_id = "ready")]
    async fn ready(&self, Data(state): Data<&Arc<AppState>>) -> HealthResponse {
        let limit = Duration::from_secs(1);
        let (db, kv) = tokio::join!(
            tokio::time::timeout(limit, state.db.ping()),
            tokio::time::timeout(limit, state.kv.ping())
        );
        let db_ok = matches!(db, Ok(Ok(())));
        let kv_ok = matches!(kv, Ok(Ok(())));
        let body = HealthStatus {
            status: word(db_ok && kv_ok),
            database: Some(word(db_ok)),
            token_store: Some(word(kv_ok)),
        };
        if db_ok && kv_ok { HealthResponse::Ok(Json(body)) } else { HealthResponse::Unavailable(Json(body)) }
    }
}
