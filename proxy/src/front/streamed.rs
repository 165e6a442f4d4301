//! A batch request on a connection: its body read, then its items written
//! as one JSON array once all are out, or line by line (NDJSON) as each
//! comes, the items ready together in one write. The connection is
//! watched meanwhile: a client that hangs up drops the batch, which
//! cancels what only waited for a slot ([`crate::batch`]).

use startup::TraceParent;
use tokio::sync::watch;

use super::connection::{BodyError, Connection};
use super::head::Framing;
use crate::batch::ask::{self, Ask, Format};
use crate::batch::{Batches, Run};
use crate::responses::{self, Reply};
use ruc_contract::RouteError;

/// How a batch request left its connection.
pub(crate) enum Served {
    /// Answered with `status`; the connection carries the next request if
    /// it `persists`.
    Answered { status: u16, persists: bool },
    /// The client hung up, or the connection broke: nothing more to write.
    Gone,
}

/// How the answer's framing goes: whether the connection persists after
/// it, and whether the client takes chunks (HTTP/1.1).
#[derive(Clone, Copy)]
pub(crate) struct Framed {
    pub(crate) persistent: bool,
    pub(crate) http_1_1: bool,
}

/// Serves the batch `ask` announced: reads its body, starts it (its
/// lookups pass the request's `trace` on), writes its answer.
pub(crate) async fn serve(
    connection: &mut Connection,
    ask: Ask,
    body: Framing,
    framed: Framed,
    batches: &Batches,
    closing: watch::Receiver<bool>,
    trace: Option<TraceParent>,
) -> Served {
    let body = match connection.read_body(body, ask::MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(BodyError::Closed) => return Served::Gone,
        Err(why) => {
            batches.refused();
            let reply = unreadable(why);
            connection.write(&reply, false, false);
            return Served::Answered {
                status: reply.status,
                persists: false,
            };
        }
    };
    let run = match batches.start(&body, closing.clone(), trace) {
        Ok(run) => run,
        Err(reply) => {
            connection.write(&reply, false, framed.persistent);
            return Served::Answered {
                status: reply.status,
                persists: framed.persistent,
            };
        }
    };
    drop(body);
    let persists = match ask.format {
        Format::Array => array(connection, run, framed, &closing).await,
        Format::Lines => lines(connection, run, framed, &closing).await,
    };
    match persists {
        Some(persists) => Served::Answered { status: 200, persists },
        None => Served::Gone,
    }
}

/// The answer to a body that could not be read.
fn unreadable(why: BodyError) -> Reply {
    match why {
        BodyError::TooLarge => ask::too_large(),
        BodyError::Malformed => responses::route_error(
            400,
            &RouteError::bad_request("El cuerpo no está bien dividido en chunks."),
        ),
        BodyError::TimedOut | BodyError::Closed => {
            let detail = "El cuerpo de la solicitud no llegó entero a tiempo.";
            responses::route_error(408, &RouteError::new("Request Timeout", detail))
        }
    }
}

/// Every item, then one array in request order; whether the connection
/// persists (not once the process stops), `None` if the client hung up
/// first.
async fn array(
    connection: &mut Connection,
    mut run: Run,
    framed: Framed,
    closing: &watch::Receiver<bool>,
) -> Option<bool> {
    let mut items = vec![Vec::new(); run.len()];
    loop {
        tokio::select! {
            biased;
            next = run.next() => match next {
                Some((index, item)) => items[index] = item,
                None => break,
            },
            () = connection.hung_up() => return None,
        }
    }
    let mut body = Vec::with_capacity(items.iter().map(|item| item.len() + 1).sum::<usize>() + 2);
    body.push(b'[');
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item);
    }
    body.push(b']');
    let persists = framed.persistent && !*closing.borrow();
    connection.write(&Reply::json(200, body.into()), false, persists);
    Some(persists)
}

/// Each item as a line as it comes, those ready together in one write;
/// whether the connection persists (an HTTP/1.0 client's answer ends with
/// it; none once the process stops), `None` if the client hung up, or did
/// not take what was written.
async fn lines(
    connection: &mut Connection,
    mut run: Run,
    framed: Framed,
    closing: &watch::Receiver<bool>,
) -> Option<bool> {
    let chunked = framed.http_1_1;
    let persists = framed.persistent && chunked;
    connection.write_streamed_head(&responses::lines_head(), chunked, persists);
    loop {
        let next = match futures_util::FutureExt::now_or_never(run.next()) {
            Some(next) => next,
            None => {
                if !connection.flush().await {
                    return None;
                }
                tokio::select! {
                    biased;
                    next = run.next() => next,
                    () = connection.hung_up() => return None,
                }
            }
        };
        let Some((_, mut item)) = next else {
            break;
        };
        item.push(b'\n');
        connection.write_part(&item, chunked);
    }
    if chunked {
        connection.write_part(b"", chunked);
    }
    Some(persists && !*closing.borrow())
}
