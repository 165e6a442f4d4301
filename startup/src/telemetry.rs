//! Traces: the `tracing` spans of a request, exported with OpenTelemetry
//! over OTLP/HTTP (protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, sampled as
//! `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` say (the names and
//! values of the OpenTelemetry specification). Off by default: then
//! [`on`] is false and the request paths create no span at all
//! ([`span`]), so that a cache hit costs nothing more. On, a request
//! whose trace is not sampled creates none either: [`root`] decides
//! before the first span is made.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::trace::{SpanId, SpanKind, TraceId, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, Sampler, SamplingDecision, SdkTracerProvider, ShouldSample,
};
use opentelemetry_sdk::Resource;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::Layer;

use crate::env::{ConfigError, Env};
use crate::TraceParent;

/// The sampler of the exported traces; set once, at start, when traces
/// are exported.
static SAMPLER: OnceLock<Sampler> = OnceLock::new();
/// The exporter's provider, flushed at exit ([`finish`]).
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

thread_local! {
    /// The trace id [`root`] sampled, for the new root it starts next.
    static DECIDED: Cell<Option<TraceId>> = const { Cell::new(None) };
}

/// How long one export may take before it is dropped.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether this process exports traces.
pub fn on() -> bool {
    SAMPLER.get().is_some()
}

/// A span inside the current one: built by `make` when traces are
/// exported and the work runs in a span (a sampled request's, or one that
/// is always made, like the scraper's lookup); otherwise none, and `make`
/// is not called.
pub fn span(make: impl FnOnce() -> Span) -> Span {
    if on() && !Span::current().is_none() {
        make()
    } else {
        Span::none()
    }
}

/// The first span of a request, built by `make` only when the sampler
/// samples its trace: a child of `caller` (the request's `traceparent`),
/// or the root of a new trace. Returned with the context the request
/// passes on and logs: the span's; when the trace is not sampled,
/// `caller`, or a new unsampled context, so that the scraper's log names
/// the same trace; with traces off, `caller` as it came.
pub fn root(caller: Option<TraceParent>, make: impl FnOnce() -> Span) -> (Span, Option<TraceParent>) {
    let Some(sampler) = SAMPLER.get() else {
        return (Span::none(), caller);
    };
    let ids = RandomIdGenerator::default();
    let trace_id = match &caller {
        Some(caller) => caller.otel_trace_id(),
        None => ids.new_trace_id(),
    };
    if !sampled(sampler, caller, trace_id) {
        let passed = caller.unwrap_or_else(|| TraceParent::unsampled(trace_id, ids.new_span_id()));
        return (Span::none(), Some(passed));
    }
    let span = make();
    match caller {
        Some(caller) => caller.adopt(&span),
        None => {
            // Started now, so that it gets the trace id decided on: a
            // ratio sampler downstream decides on the same id, and agrees.
            DECIDED.set(Some(trace_id));
            let _ = span.context();
            DECIDED.set(None);
        }
    }
    let passed = TraceParent::of_span(&span).or(caller);
    (span, passed)
}

/// What `sampler` decides for a trace started by `caller`, or for a new
/// one, `trace_id`: the decision the exporter's tracer makes again, with
/// the same inputs, when the span is made.
fn sampled(sampler: &Sampler, caller: Option<TraceParent>, trace_id: TraceId) -> bool {
    let parent = caller.map(|caller| caller.context());
    let result = sampler.should_sample(parent.as_ref(), trace_id, "request", &SpanKind::Internal, &[], &[]);
    result.decision == SamplingDecision::RecordAndSample
}

/// Span and trace ids at random, except the trace id [`root`] decided on
/// for the root it starts.
#[derive(Debug, Default)]
struct Ids(RandomIdGenerator);

impl IdGenerator for Ids {
    fn new_trace_id(&self) -> TraceId {
        DECIDED.take().unwrap_or_else(|| self.0.new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        self.0.new_span_id()
    }
}

/// Where and how traces go, from `OTEL_*`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TraceSettings {
    /// The full URL spans are posted to (`…/v1/traces`).
    endpoint: String,
    sampler: SamplerSetting,
    /// `OTEL_SERVICE_NAME`, default the binary's.
    service: String,
}

/// `OTEL_TRACES_SAMPLER` and its argument.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SamplerSetting {
    AlwaysOn,
    AlwaysOff,
    Ratio(f64),
    ParentBased(Root),
}

/// What a parent-based sampler does for a trace that starts here.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Root {
    AlwaysOn,
    AlwaysOff,
    Ratio(f64),
}

impl TraceSettings {
    /// `None` when no endpoint is set (traces off); a bad value names its
    /// variable.
    pub(crate) fn from_env(env: &Env, service: &str) -> Result<Option<TraceSettings>, ConfigError> {
        let endpoint = match (
            env.text("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            env.text("OTEL_EXPORTER_OTLP_ENDPOINT"),
        ) {
            (Some(url), _) => http_url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &url)?,
            (None, Some(base)) => format!("{}/v1/traces", http_url("OTEL_EXPORTER_OTLP_ENDPOINT", &base)?),
            (None, None) => return Ok(None),
        };
        let protocol = env.text_or("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");
        if protocol != "http/protobuf" {
            let why = format!("{protocol:?}: only http/protobuf is supported");
            return Err(ConfigError::new("OTEL_EXPORTER_OTLP_PROTOCOL", why));
        }
        Ok(Some(TraceSettings {
            endpoint,
            sampler: sampler(env)?,
            service: env.text_or("OTEL_SERVICE_NAME", service),
        }))
    }
}

/// An `http://` URL without a trailing slash. TLS is not built in: spans
/// go to a collector next to the service (a sidecar or a node's agent).
fn http_url(variable: &'static str, value: &str) -> Result<String, ConfigError> {
    let rest = value.strip_prefix("http://").ok_or_else(|| {
        ConfigError::new(
            variable,
            format!("{value:?}: use an http:// URL of a collector next to the service (https is not built in)"),
        )
    })?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(ConfigError::new(variable, format!("{value:?} has no host")));
    }
    Ok(value.trim_end_matches('/').to_string())
}

fn sampler(env: &Env) -> Result<SamplerSetting, ConfigError> {
    let name = env.text_or("OTEL_TRACES_SAMPLER", "parentbased_always_on");
    let ratio = || -> Result<f64, ConfigError> {
        let text = env.text_or("OTEL_TRACES_SAMPLER_ARG", "1.0");
        text.parse()
            .ok()
            .filter(|ratio: &f64| (0.0..=1.0).contains(ratio))
            .ok_or_else(|| {
                ConfigError::new(
                    "OTEL_TRACES_SAMPLER_ARG",
                    format!("{text:?} is not a ratio from 0 to 1"),
                )
            })
    };
    Ok(match name.as_str() {
        "always_on" => SamplerSetting::AlwaysOn,
        "always_off" => SamplerSetting::AlwaysOff,
        "traceidratio" => SamplerSetting::Ratio(ratio()?),
        "parentbased_always_on" => SamplerSetting::ParentBased(Root::AlwaysOn),
        "parentbased_always_off" => SamplerSetting::ParentBased(Root::AlwaysOff),
        "parentbased_traceidratio" => SamplerSetting::ParentBased(Root::Ratio(ratio()?)),
        other => {
            let expected = "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio";
            return Err(ConfigError::new(
                "OTEL_TRACES_SAMPLER",
                format!("{other:?} is not one of {expected}"),
            ));
        }
    })
}

impl SamplerSetting {
    fn sampler(self) -> Sampler {
        let root = |root: Root| match root {
            Root::AlwaysOn => Sampler::AlwaysOn,
            Root::AlwaysOff => Sampler::AlwaysOff,
            Root::Ratio(ratio) => Sampler::TraceIdRatioBased(ratio),
        };
        match self {
            SamplerSetting::AlwaysOn => Sampler::AlwaysOn,
            SamplerSetting::AlwaysOff => Sampler::AlwaysOff,
            SamplerSetting::Ratio(ratio) => Sampler::TraceIdRatioBased(ratio),
            SamplerSetting::ParentBased(first) => Sampler::ParentBased(Box::new(root(first))),
        }
    }
}

/// The layer that turns this process's spans into OpenTelemetry spans and
/// exports them (in batches, from a thread of the exporter's own), and
/// turns [`on`] on. Only the services' own spans go: `proxy`, `scraper`.
pub(crate) fn layer<S>(settings: &TraceSettings) -> Result<impl Layer<S>, String>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(settings.endpoint.clone())
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot set up the OTLP exporter: {e}"))?;
    let sampler = settings.sampler.sampler();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(sampler.clone())
        .with_id_generator(Ids::default())
        .with_resource(Resource::builder().with_service_name(settings.service.clone()).build())
        .build();
    let tracer = provider.tracer("ruc");
    let _ = PROVIDER.set(provider);
    let _ = SAMPLER.set(sampler);
    let ours = Targets::new()
        .with_target("proxy", LevelFilter::INFO)
        .with_target("scraper", LevelFilter::INFO);
    Ok(tracing_opentelemetry::layer().with_tracer(tracer).with_filter(ours))
}

/// Exports what is left of the traces before the process exits.
pub fn finish() {
    if let Some(provider) = PROVIDER.get() {
        if let Err(e) = provider.shutdown() {
            tracing::warn!("traces not all exported at exit: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Option<TraceSettings>, ConfigError> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let var = move |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        TraceSettings::from_env(&Env::new(&var), "ruc-test")
    }

    #[test]
    fn off_without_an_endpoint() {
        assert_eq!(settings(&[("OTEL_TRACES_SAMPLER", "always_on")]), Ok(None));
    }

    #[test]
    fn the_endpoint_gets_the_traces_path_and_the_defaults_of_the_specification() {
        let on = settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")])
            .unwrap()
            .unwrap();
        assert_eq!(on.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(on.sampler, SamplerSetting::ParentBased(Root::AlwaysOn));
        assert_eq!(on.service, "ruc-test");
        let full = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://other:4318/traces"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ("OTEL_SERVICE_NAME", "ruc-proxy-eu"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(full.endpoint, "http://other:4318/traces");
        assert_eq!(full.sampler, SamplerSetting::ParentBased(Root::Ratio(0.25)));
        assert_eq!(full.service, "ruc-proxy-eu");
    }

    #[test]
    fn a_trace_is_sampled_as_its_caller_says_or_by_its_id() {
        let caller = |flags: &str| {
            let text = format!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{flags}");
            TraceParent::parse(text.as_bytes()).unwrap()
        };
        let (sampled_caller, unsampled_caller) = (caller("01"), caller("00"));
        let low = TraceId::from(1);
        let high = TraceId::from(u128::MAX);

        let parent_based = SamplerSetting::ParentBased(Root::AlwaysOff).sampler();
        assert!(sampled(
            &parent_based,
            Some(sampled_caller),
            sampled_caller.otel_trace_id()
        ));
        assert!(!sampled(
            &parent_based,
            Some(unsampled_caller),
            unsampled_caller.otel_trace_id()
        ));
        assert!(!sampled(&parent_based, None, low));

        // A ratio decides on the trace id alone, the same way in every
        // service: the low half of the ids sampled at 0.5.
        let half = SamplerSetting::Ratio(0.5).sampler();
        assert!(sampled(&half, None, low));
        assert!(!sampled(&half, None, high));
        let high_caller = TraceParent::unsampled(high, SpanId::from(7));
        assert!(!sampled(&half, Some(high_caller), high));

        let always = SamplerSetting::AlwaysOn.sampler();
        assert!(sampled(
            &always,
            Some(unsampled_caller),
            unsampled_caller.otel_trace_id()
        ));
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
        for (variable, value) in [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http:///v1/traces"),
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ] {
            let error = settings(&[(variable, value), endpoint]).unwrap_err();
            assert_eq!(error.variable, variable, "{value}");
        }
        for ratio in ["1.5", "-0.1", "half"] {
            let error = settings(&[
                endpoint,
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", ratio),
            ])
            .unwrap_err();
            assert_eq!(error.variable, "OTEL_TRACES_SAMPLER_ARG", "{ratio}");
        }
    }
}
