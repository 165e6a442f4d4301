//! The W3C `traceparent` header (Trace Context, level 1): checked when it
//! comes in, passed on from the proxy to the scraper, and the link between
//! a request's spans and the caller's. Kept inline ([u8; 55]) so that a
//! request that carries one allocates nothing for it.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
const LEN: usize = 55;

/// A valid `traceparent` value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceParent([u8; LEN]);

impl TraceParent {
    /// The header's value if it is a valid one: version `00` (or a later
    /// one, of which the first four fields are read, as the specification
    /// says), lowercase hex, trace and parent ids not all zeros.
    pub fn parse(value: &[u8]) -> Option<TraceParent> {
        let head: [u8; LEN] = value.get(..LEN)?.try_into().ok()?;
        let version = &head[..2];
        let valid_length = value.len() == LEN || (version != b"00" && value[LEN] == b'-');
        let hex = |range: std::ops::Range<usize>| head[range].iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let zeros = |range: std::ops::Range<usize>| head[range].iter().all(|&b| b == b'0');
        let well_formed = valid_length
            && version != b"ff"
            && [head[2], head[35], head[52]] == [b'-'; 3]
            && hex(0..2)
            && hex(3..35)
            && hex(36..52)
            && hex(53..55)
            && !zeros(3..35)
            && !zeros(36..52);
        let mut parsed = head;
        parsed[..2].copy_from_slice(b"00");
        well_formed.then_some(TraceParent(parsed))
    }

    /// The `traceparent` of a request whose fields of that name have
    /// `values`: one valid field; none, several or an invalid one are no
    /// trace context (the specification's rule).
    pub fn of_fields<'a>(mut values: impl Iterator<Item = &'a [u8]>) -> Option<TraceParent> {
        match (values.next(), values.next()) {
            (Some(value), None) => TraceParent::parse(value),
            _ => None,
        }
    }

    /// The context of `span` when traces are exported and it has one.
    pub fn of_span(span: &Span) -> Option<TraceParent> {
        if !crate::telemetry::on() {
            return None;
        }
        let context = span.context();
        let span_context = context.span().span_context().clone();
        span_context.is_valid().then(|| {
            TraceParent::of_ids(
                span_context.trace_id(),
                span_context.span_id(),
                span_context.trace_flags(),
            )
        })
    }

    /// The header value.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("checked ASCII")
    }

    /// The 32 hex digits of the trace id.
    pub fn trace_id(&self) -> &str {
        &self.as_str()[3..35]
    }

    /// Makes `span` a child of this remote parent (when traces are exported).
    pub fn adopt(&self, span: &Span) {
        if crate::telemetry::on() {
            let _ = span.set_parent(self.context());
        }
    }

    /// Links `span` to this context (when traces are exported): a
    /// follower's wait to the trace of the lookup it waited for.
    pub fn link(&self, span: &Span) {
        if crate::telemetry::on() {
            span.add_link(self.span_context());
        }
    }

    /// The OpenTelemetry context of this remote parent.
    pub(crate) fn context(&self) -> opentelemetry::Context {
        opentelemetry::Context::new().with_remote_span_context(self.span_context())
    }

    /// This remote span, as OpenTelemetry holds it.
    fn span_context(&self) -> SpanContext {
        let hex = |range: std::ops::Range<usize>| u64::from_str_radix(&self.as_str()[range], 16).expect("checked hex");
        SpanContext::new(
            self.otel_trace_id(),
            SpanId::from(hex(36..52)),
            TraceFlags::new(hex(53..55) as u8),
            true,
            TraceState::default(),
        )
    }

    /// The trace id, as OpenTelemetry holds it.
    pub(crate) fn otel_trace_id(&self) -> TraceId {
        TraceId::from(u128::from_str_radix(self.trace_id(), 16).expect("checked hex"))
    }

    /// A context of trace `trace_id` that is not sampled: what a request
    /// passes on when traces are exported but not this one's.
    pub(crate) fn unsampled(trace_id: TraceId, span_id: SpanId) -> TraceParent {
        TraceParent::of_ids(trace_id, span_id, TraceFlags::default())
    }

    fn of_ids(trace_id: TraceId, span_id: SpanId, flags: TraceFlags) -> TraceParent {
        let text = format!("00-{trace_id}-{span_id}-{:02x}", flags.to_u8());
        TraceParent(text.into_bytes().try_into().expect("55 characters"))
    }
}

impl std::fmt::Debug for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The trace id of `span` when traces are exported and it has one.
pub fn trace_id(span: &Span) -> Option<String> {
    TraceParent::of_span(span).map(|parent| parent.trace_id().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_header_is_kept_and_read() {
        let parent = TraceParent::parse(GOOD.as_bytes()).unwrap();
        assert_eq!(parent.as_str(), GOOD);
        assert_eq!(parent.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        // A later version: its first four fields, as version 00.
        let later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next";
        assert_eq!(TraceParent::parse(later.as_bytes()).unwrap().as_str(), GOOD);
    }

    #[test]
    fn an_unsampled_context_and_the_ids_read_back() {
        let parent = TraceParent::parse(GOOD.as_bytes()).unwrap();
        let context = parent.context();
        let span = context.span();
        let remote = span.span_context();
        assert_eq!(remote.trace_id(), parent.otel_trace_id());
        assert_eq!(remote.trace_id().to_string(), parent.trace_id());
        assert_eq!(remote.span_id().to_string(), "00f067aa0ba902b7");
        assert!(remote.is_sampled() && remote.is_remote());
        let unsampled = TraceParent::unsampled(remote.trace_id(), remote.span_id());
        assert_eq!(unsampled.as_str(), GOOD.replace("-01", "-00"));
        assert!(TraceParent::parse(unsampled.as_str().as_bytes()).is_some());
    }

    #[test]
    fn one_field_only_is_a_context() {
        let good = GOOD.as_bytes();
        assert!(TraceParent::of_fields([good].into_iter()).is_some());
        assert!(TraceParent::of_fields([good, good].into_iter()).is_none());
        assert!(TraceParent::of_fields(std::iter::empty()).is_none());
    }

    #[test]
    fn invalid_headers_are_ignored() {
        for bad in [
            "",
            &GOOD[..54],
            &format!("{GOOD}-"),
            &GOOD.to_uppercase(),
            &GOOD.replace("4bf92f3577b34da6a3ce929d0e0e4736", &"0".repeat(32)),
            &GOOD.replace("00f067aa0ba902b7", &"0".repeat(16)),
            &GOOD.replacen("00", "ff", 1),
            &GOOD.replace('-', "_"),
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        ] {
            assert!(TraceParent::parse(bad.as_bytes()).is_none(), "{bad}");
        }
    }

    #[test]
    fn without_traces_a_span_has_no_context_to_pass_on() {
        assert_eq!(TraceParent::of_span(&Span::none()), None);
        assert_eq!(trace_id(&Span::none()), None);
    }
}
