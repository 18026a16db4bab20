"""OpenTelemetry traces, off by default and free when off.

On when the ``otel`` extra is installed and the standard ``OTEL_TRACES_EXPORTER`` variable names
an exporter (``otlp``; the other ``OTEL_*`` variables configure it, as the SDK documents). Then
each request is a server span with children for the Redis session read and writes, the refresh
lock wait, the provider's token endpoint, and the upstream call, which carries ``traceparent``.
An incoming ``traceparent`` is continued only from a trusted proxy (``BFF_TRUSTED_PROXIES``);
a browser's starts nothing. Span names and attributes carry routes, methods, statuses and
outcomes: never a token, cookie, code, secret, query string or user id.

When off, :func:`span` returns a shared no-op context manager: one function call per use.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

log = logging.getLogger(__name__)

_NOOP = contextlib.nullcontext()
_state: dict[str, Any] = {"tracer": None, "propagator": None}


def configure(provider: Any | None = None) -> bool:
    """Turn tracing on with ``provider`` (tests pass one with an in-memory exporter), or from
    the environment; returns whether it is on."""
    if provider is None:
        exporter = os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower()
        if exporter in ("", "none"):
            return False
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError:
            log.warning("OTEL_TRACES_EXPORTER is set but the otel extra is not installed "
                        "(pip install 'bff[otel]'): no traces")
            return False
        if exporter != "otlp":
            log.warning("OTEL_TRACES_EXPORTER=%s: only otlp is supported; no traces", exporter)
            return False
        provider = TracerProvider(resource=Resource.create(
            {"service.name": os.environ.get("OTEL_SERVICE_NAME", "bff")}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    _state["tracer"] = provider.get_tracer("bff")
    _state["propagator"] = TraceContextTextMapPropagator()
    return True


def disable() -> None:
    _state.update(tracer=None, propagator=None)


def enabled() -> bool:
    return _state["tracer"] is not None


def span(name: str, kind: str = "internal", **attributes: Any) -> Any:
    """A child span of the current one, or a no-op when tracing is off."""
    tracer = _state["tracer"]
    if tracer is None:
        return _NOOP
    from opentelemetry.trace import SpanKind

    return tracer.start_as_current_span(name, kind=getattr(SpanKind, kind.upper()),
                                        attributes=attributes)


@contextlib.contextmanager
def server_span(name: str, headers: Mapping[str, str], trusted: bool,
                **attributes: Any) -> Iterator[Any]:
    """The request's span; its parent comes from ``traceparent`` only when ``trusted``."""
    tracer = _state["tracer"]
    if tracer is None:
        yield None
        return
    from opentelemetry.trace import SpanKind

    carrier = {name.lower(): value for name, value in headers.items()}
    parent = _state["propagator"].extract(carrier) if trusted else None
    with tracer.start_as_current_span(name, context=parent, kind=SpanKind.SERVER,
                                      attributes=attributes) as current:
        yield current


def inject(headers: MutableMapping[str, str]) -> None:
    """Write the current span's ``traceparent`` into outgoing headers (replacing any)."""
    if _state["propagator"] is not None:
        for name in [k for k in headers if k.lower() in ("traceparent", "tracestate")]:
            del headers[name]
        _state["propagator"].inject(headers)
