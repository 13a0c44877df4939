/**
 * Junction's part in a distributed trace. Every client request gets a span of its own
 * (a child of the client's traceparent when it sent a valid one, else the root of a new
 * trace); its upstream calls (proxy, compose parts, the owner call of a write) carry a
 * traceparent naming that span as their parent. An outbox delivery, made later, retried
 * or by another instance, gets a span under the traceparent stored with the write.
 *
 * Without an exporter (the default) spans are ids only: nothing is recorded and no
 * OpenTelemetry SDK is loaded. With `observability.tracing.otlp` configured,
 * otel-tracing.ts records them and exports over OTLP/HTTP.
 */
import { formatTraceParent, newSpanId, newTraceId, parseTraceParent, type TraceParent } from './trace-context.js'

export type SpanAttributes = Record<string, string | number | boolean | undefined>

export interface Span {
  /** For the calls made within this span: the trace id, this span's id, the sampled flag. */
  readonly traceparent: string
  /** The caller's tracestate, passed on when its traceparent was valid (W3C §3.3). */
  readonly tracestate: string | undefined
  readonly traceId: string
  /** Ends the span; recorded and exported only when an exporter is configured. */
  end (outcome: SpanEnd): void
}

export interface SpanEnd {
  /** The span's final name, e.g. `GET /api/users` (the route template, never a raw path). */
  readonly name?: string
  /** HTTP status answered (request spans) or received (delivery spans). */
  readonly status?: number
  /** Set when the span failed: why. */
  readonly error?: string
  readonly attributes?: SpanAttributes
}

export interface Tracer {
  /** Junction's span for one client request, from the client's traceparent and tracestate headers. */
  request (traceparent: string | string[] | undefined, tracestate: string | string[] | undefined, method: string): Span
  /** A span for one outbox delivery attempt, under the context stored with the write (or a new trace). */
  delivery (traceparent: string | undefined, tracestate: string | undefined, name: string, attributes: SpanAttributes): Span
  /** Exports what is still buffered (with an exporter) and stops. */
  close (): Promise<void>
}

/** Ids only: what Junction does without an exporter. One small object per span. */
class IdSpan implements Span {
  readonly traceparent: string
  constructor (readonly traceId: string, spanId: string, flags: string, readonly tracestate: string | undefined) {
    this.traceparent = formatTraceParent(traceId, spanId, flags)
  }

  end (): void {}
}

/** The tracestate that may travel with a valid parent: one header line, bounded (W3C §3.3.1.5: 512 chars kept). */
export function passedTraceState (parent: TraceParent | undefined, tracestate: string | string[] | undefined): string | undefined {
  if (parent === undefined || tracestate === undefined) return undefined
  const text = Array.isArray(tracestate) ? tracestate.join(',') : tracestate
  return text.length === 0 || text.length > 512 ? undefined : text
}

export class IdTracer implements Tracer {
  request (traceparent: string | string[] | undefined, tracestate: string | string[] | undefined): Span {
    const parent = parseTraceParent(traceparent)
    // A new trace is sampled: whoever collects spans downstream should keep it.
    return parent === undefined
      ? new IdSpan(newTraceId(), newSpanId(), '01', undefined)
      : new IdSpan(parent.traceId, newSpanId(), parent.flags, passedTraceState(parent, tracestate))
  }

  delivery (traceparent: string | undefined, tracestate: string | undefined): Span {
    return this.request(traceparent, tracestate)
  }

  async close (): Promise<void> {}
}

export interface OtlpTracingConfig {
  /** OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces. */
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  /** `service.name` of the exported spans. */
  readonly serviceName: string
  /** Spans are sent in batches at least this often. */
  readonly exportIntervalMs: number
}

/** The tracer for a config: ids only, or (loading the SDK only then) OpenTelemetry with an OTLP exporter. */
export async function openTracer (otlp: OtlpTracingConfig | undefined): Promise<Tracer> {
  if (otlp === undefined) return new IdTracer()
  const { OtelTracer } = await import('./otel-tracing.js')
  return new OtelTracer(otlp)
}
