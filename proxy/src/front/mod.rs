//! The API listener: a Pingora [`ServerApp`] that speaks HTTP/1.1 on each
//! connection itself, request after request, as Pingora's own echo example
//! does. Every request goes the same way, whatever it is and whatever the
//! cache holds:
//!
//! 1. its head is read whole, within its deadline and size bound
//!    ([`connection`]), and judged ([`head`]): a malformed one gets a 400,
//!    an oversized one a 431, a late one a 408, and the connection closes;
//! 2. it is routed ([`crate::routes`]) and answered ([`crate::api`]): a
//!    hit at once, a miss once its lookup has ended; a batch request has
//!    its body read and its items written as they come ([`streamed`]);
//! 3. its answer is written ([`wire`]) with `Connection: keep-alive` or
//!    `close`, in request order: pipelined answers go out together.
//!
//! Pingora's HTTP session is not used here: it costs a hit more than the
//! rest of its work (a boxed session, header maps, the answer serialised
//! field by field), and its keep-alive and head limits are not this
//! service's. The admin listener stays on Pingora's HTTP server
//! ([`crate::admin`]).

pub(crate) mod connection;
pub(crate) mod head;
pub(crate) mod streamed;
pub(crate) mod wire;

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use ruc_contract::RouteError;
use startup::{telemetry, TraceParent};
use tokio::sync::watch;
use tracing::{debug, info, info_span, Instrument, Span};

use crate::api::{Answer, Api};
use crate::batch::ask::{self, Announced};
use crate::drain::Drain;
use crate::metrics::{CacheResult, Metrics};
use crate::responses::{self, Reply};
use crate::routes::{self, Route};
use crate::subject::Subject;
use connection::{ClientTimeouts, Connection, Stop, FLUSH_BYTES};
use head::{Framing, Head, Parsed};
use streamed::{Framed, Served};

/// The API listener's application.
pub(crate) struct Front {
    api: Api,
    timeouts: ClientTimeouts,
    drain: Arc<Drain>,
    metrics: &'static Metrics,
}

/// A whole request, as far as answering it goes.
struct Request {
    route: Route,
    /// `HEAD`: the answer's head only.
    head_only: bool,
    /// The connection stays open after the answer.
    persistent: bool,
    /// HTTP/1.1 (else 1.0).
    http_1_1: bool,
    /// How its body is framed, if it has one.
    body: Framing,
    /// The head's length.
    len: usize,
    /// The request's trace context, passed on to the scrapers and logged:
    /// the caller's `traceparent` as it came when traces are off
    /// ([`telemetry::root`]).
    trace: Option<TraceParent>,
    /// The request's span when its trace is exported (else none): a child
    /// of the caller's, or the root of a new trace.
    span: Span,
}

impl Request {
    /// What `head` asks for; nothing more is read after a head that
    /// announces a body its route does not read, nor once the process is
    /// stopping.
    fn of(head: &Head<'_>, stopping: bool) -> Request {
        let route = match &head.host {
            Err(malformed) => Route::Refused(responses::route_error(400, malformed)),
            Ok(()) => routes::route(head.method, head.path, head.announces_body(), || {
                let announced = match head.body {
                    Framing::None => Announced::Nothing,
                    Framing::Length(length) => Announced::Length(length),
                    Framing::Chunked => Announced::Chunked,
                };
                ask::judge(head.content_type, head.accept.as_deref(), announced)
            }),
        };
        let body_read = matches!(route, Route::Batch(Ok(_)));
        // Lookups only: health checks would flood the traces.
        let (span, trace) = match route {
            Route::Record(_) | Route::Batch(_) => telemetry::root(head.traceparent, || request_span(head, &route)),
            _ => (Span::none(), head.traceparent),
        };
        Request {
            trace,
            span,
            route,
            head_only: head.method == "HEAD",
            persistent: head.persistent && (body_read || !head.announces_body()) && !stopping,
            http_1_1: head.http_1_1,
            body: head.body,
            len: head.len,
        }
    }
}

impl Front {
    pub(crate) fn new(api: Api, timeouts: ClientTimeouts, drain: Arc<Drain>, metrics: &'static Metrics) -> Front {
        Front {
            api,
            timeouts,
            drain,
            metrics,
        }
    }

    /// One connection, request after request, until it closes (idle, at
    /// once when `closing` turns true).
    async fn serve(&self, mut connection: Connection, mut closing: watch::Receiver<bool>) {
        loop {
            let request = match head::parse(connection.buffered()) {
                Parsed::Whole(head) => Request::of(&head, self.drain.is_stopping()),
                Parsed::Partial => {
                    if !connection.flush().await {
                        return;
                    }
                    match connection.read_more(&mut closing).await {
                        Ok(()) => continue,
                        Err(Stop::Closed) => return,
                        Err(Stop::HeadTimedOut) => {
                            let timeout = self.timeouts.header.as_secs();
                            let detail = format!("La cabecera de la solicitud no llegó entera en {timeout} s.");
                            let late = RouteError::new("Request Timeout", detail);
                            return self.refuse(connection, responses::route_error(408, &late)).await;
                        }
                    }
                }
                Parsed::Malformed(why) => {
                    return self
                        .refuse(connection, responses::route_error(why.status(), &why.error()))
                        .await
                }
            };
            connection.consume(request.len);
            let (started, subject) = (Instant::now(), request.route.subject());
            let (trace, span) = (request.trace, request.span);
            let answering = self.answer(&mut connection, request.route, trace);
            let persists = match answering.instrument(span.clone()).await {
                Answer::Whole(answered) => {
                    // The process may have begun to stop meanwhile.
                    let persistent = request.persistent && !self.drain.is_stopping();
                    connection.write(&answered.reply, request.head_only, persistent);
                    let status = answered.reply.status;
                    self.log(subject.as_ref(), status, answered.cache, started, trace);
                    persistent
                }
                Answer::Batch(ask) => {
                    let framed = Framed {
                        persistent: request.persistent,
                        http_1_1: request.http_1_1,
                    };
                    let (batches, body) = (self.api.batches(), request.body);
                    let serving = streamed::serve(&mut connection, ask, body, framed, batches, closing.clone(), trace);
                    match serving.instrument(span.clone()).await {
                        Served::Answered { status, persists } => {
                            self.log(None, status, CacheResult::Batch, started, trace);
                            persists
                        }
                        Served::Gone => return,
                    }
                }
            };
            if !persists {
                return connection.close().await;
            }
            if connection.unwritten() >= FLUSH_BYTES && !connection.flush().await {
                return;
            }
        }
    }

    /// The answer to `route`. An answer that is not ready at once (a
    /// lookup reading Redis or waiting for a scraper) first lets the
    /// answers gathered before it go out.
    async fn answer(&self, connection: &mut Connection, route: Route, trace: Option<TraceParent>) -> Answer {
        let mut answering = std::pin::pin!(self.api.answer(route, trace));
        match std::future::poll_fn(|cx| Poll::Ready(answering.as_mut().poll(cx))).await {
            Poll::Ready(answered) => answered,
            Poll::Pending => {
                connection.flush().await;
                answering.await
            }
        }
    }

    /// Answers a request that cannot be read, and closes the connection.
    async fn refuse(&self, mut connection: Connection, reply: Reply) {
        connection.write(&reply, false, false);
        self.log(None, reply.status, CacheResult::None, Instant::now(), None);
        connection.close().await;
    }

    /// Counts an answer and writes its access-log line (hits at debug
    /// level: there are many), with the request's trace id.
    fn log(
        &self,
        subject: Option<&Subject>,
        status: u16,
        cache: CacheResult,
        started: Instant,
        trace: Option<TraceParent>,
    ) {
        let elapsed = started.elapsed();
        self.metrics.answered(status, cache, elapsed);
        let hit = cache == CacheResult::Hit;
        if let Some(subject) = subject {
            self.metrics.looked_up(subject.kind, cache);
        }
        let ruc = subject.map(|subject| tracing::field::display(subject.ruc));
        let (page, cache) = (subject.map(Subject::label), cache.label());
        let trace_id = trace.as_ref().map(|trace| tracing::field::display(trace.trace_id()));
        if hit {
            debug!(ruc, page, cache, status, ?elapsed, trace_id, "answered");
        } else {
            info!(ruc, page, cache, status, ?elapsed, trace_id, "answered");
        }
    }
}

/// The span of a lookup or batch request (only made when its trace is
/// exported): the route's RUC and page are attributes, never its name.
fn request_span(head: &Head<'_>, route: &Route) -> Span {
    let subject = route.subject();
    info_span!(
        "request",
        http.method = head.method,
        ruc = subject.as_ref().map(|subject| tracing::field::display(subject.ruc)),
        page = subject.as_ref().map(Subject::label),
    )
}

#[async_trait]
impl ServerApp for Front {
    /// Pingora's shutdown watch is not used: it turns when Pingora is
    /// told to terminate, after the drain ([`crate::drain`]). A connection
    /// that arrives once the process is closing is closed unread.
    async fn process_new(self: &Arc<Self>, stream: Stream, _shutdown: &ShutdownWatch) -> Option<Stream> {
        let admitted = self.drain.admit()?;
        self.serve(Connection::new(stream, self.timeouts), admitted.closing.clone())
            .await;
        None
    }
}
