//! The error body of the original Python service, kept byte-compatible because
//! existing clients parse it: `{"message","detail","ruc"}`.

use serde::{Deserialize, Serialize};

/// Every error answer carries this body; the HTTP status says which error it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Always `Error al consultar RUC`.
    pub message: String,
    /// What went wrong, in Spanish.
    pub detail: String,
    /// The RUC as the client requested it (even when it is not a valid RUC).
    pub ruc: String,
}

impl ErrorBody {
    pub const MESSAGE: &'static str = "Error al consultar RUC";

    pub fn new(detail: impl Into<String>, ruc: impl Into<String>) -> Self {
        ErrorBody {
            message: Self::MESSAGE.to_string(),
            detail: detail.into(),
            ruc: ruc.into(),
        }
    }
}
