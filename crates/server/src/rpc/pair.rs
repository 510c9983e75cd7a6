//! `POST /pair` (SPEC §6.1), outside `/rpc/`: not signed (no keys are known yet); the HMAC
//! proofs of the code authenticate both sides.

use crate::api::ApiJson;
use crate::error::AppError;
use crate::services::pairing;
use crate::web::AppState;
use axum::extract::State;
use axum::Json;
use pf_net::{PairHello, PairWelcome};

/// Answers a redeemer's hello with our welcome, or an error envelope.
pub async fn pair(
    State(state): State<AppState>,
    ApiJson(hello): ApiJson<PairHello>,
) -> Result<Json<PairWelcome>, AppError> {
    Ok(Json(pairing::answer(&state.platform, &hello).await?))
}
