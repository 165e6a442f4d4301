//! What each route of the API answers: a record's lookup, the health
//! report, the liveness answer, or the refusal the route already made. The front reads the
//! requests and writes these answers ([`crate::front`]).

use std::sync::Arc;

use crate::health::Health;
use crate::lookup::outcome::Answered;
use crate::lookup::Lookups;
use crate::metrics::CacheResult;
use crate::responses;
use crate::routes::Route;

/// The routes' handlers.
pub(crate) struct Api {
    lookups: Arc<Lookups>,
    health: Health,
}

impl Api {
    pub(crate) fn new(lookups: Arc<Lookups>, health: Health) -> Api {
        Api { lookups, health }
    }

    /// The answer to a request for `route`.
    pub(crate) async fn answer(&self, route: Route) -> Answered {
        let reply = match route {
            Route::Record(ruc) => return self.lookups.answer(ruc).await,
            Route::Health => {
                let (status, report) = self.health.report().await;
                responses::json_value(status, &report)
            }
            Route::Live => responses::alive(),
            Route::Refused(reply) => reply,
        };
        Answered {
            reply,
            cache: CacheResult::None,
        }
    }
}
