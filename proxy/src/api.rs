//! What each route of the API answers: a record's lookup, the health
//! report, the liveness answer, or the refusal the route already made;
//! and the batches ([`crate::batch`]), whose answers the front streams.
//! The front reads the requests and writes these answers
//! ([`crate::front`]).

use std::sync::Arc;

use startup::TraceParent;

use crate::batch::ask::Ask;
use crate::batch::Batches;
use crate::gate::Asker;
use crate::health::Health;
use crate::lookup::outcome::Answered;
use crate::lookup::Lookups;
use crate::metrics::CacheResult;
use crate::responses;
use crate::routes::Route;

/// What a request gets.
pub(crate) enum Answer {
    /// A whole answer.
    Whole(Answered),
    /// A batch request whose head was accepted: its body is read and its
    /// items written by the front, as they come ([`crate::front::streamed`]).
    Batch(Ask),
}

/// The routes' handlers.
pub(crate) struct Api {
    lookups: Arc<Lookups>,
    batches: Batches,
    health: Health,
}

impl Api {
    pub(crate) fn new(lookups: Arc<Lookups>, batches: Batches, health: Health) -> Api {
        Api {
            lookups,
            batches,
            health,
        }
    }

    /// What batch requests need.
    pub(crate) fn batches(&self) -> &Batches {
        &self.batches
    }

    /// The answer to a request for `route`, or the batch to stream;
    /// `trace` is the request's trace context, passed on to the scrapers.
    pub(crate) async fn answer(&self, route: Route, trace: Option<TraceParent>) -> Answer {
        let reply = match route {
            Route::Record(subject) => {
                return Answer::Whole(self.lookups.answer(subject, Asker::Single, trace).await);
            }
            Route::Batch(Ok(ask)) => return Answer::Batch(ask),
            Route::Batch(Err(reply)) => {
                self.batches.refused();
                reply
            }
            Route::Health => {
                let (status, report) = self.health.report().await;
                responses::json_value(status, &report)
            }
            Route::Live => responses::alive(),
            Route::Refused(reply) => reply,
        };
        Answer::Whole(Answered {
            reply,
            cache: CacheResult::None,
        })
    }
}
