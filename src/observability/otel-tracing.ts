/**
 * Spans recorded with the OpenTelemetry SDK and exported over OTLP/HTTP, when
 * `observability.tracing.otlp` is configured (tracing.ts loads this file only then).
 * The provider is Junction's own, never registered as the global one: two gateways in
 * one process (tests) keep their spans apart, and an application embedding Junction keeps
 * its own global provider.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, createTraceState, trace, type Context, type Span as OtelSpan, type Tracer as OtelApiTracer } from '@opentelemetry/api'
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { formatTraceParent, parseTraceParent } from './trace-context.js'
import { passedTraceState, type OtlpTracingConfig, type Span, type SpanAttributes, type SpanEnd, type Tracer } from './tracing.js'

class RecordedSpan implements Span {
  readonly traceparent: string
  readonly traceId: string
  readonly #span: OtelSpan

  constructor (span: OtelSpan, readonly tracestate: string | undefined) {
    this.#span = span
    const ctx = span.spanContext()
    this.traceId = ctx.traceId
    this.traceparent = formatTraceParent(ctx.traceId, ctx.spanId, (ctx.traceFlags & 1) === 1 ? '01' : '00')
  }

  end (outcome: SpanEnd): void {
    const span = this.#span
    if (outcome.name !== undefined) span.updateName(outcome.name)
    if (outcome.attributes !== undefined) {
      for (const [key, value] of Object.entries(outcome.attributes)) if (value !== undefined) span.setAttribute(key, value)
    }
    if (outcome.status !== undefined) span.setAttribute('http.response.status_code', outcome.status)
    if (outcome.error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error })
    else if (outcome.status !== undefined && outcome.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR })
    span.end()
  }
}

export class OtelTracer implements Tracer {
  readonly #provider: BasicTracerProvider
  readonly #tracer: OtelApiTracer

  constructor (config: OtlpTracingConfig) {
    const exporter = new OTLPTraceExporter({ url: config.url, headers: { ...config.headers } })
    this.#provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': config.serviceName }),
      spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: config.exportIntervalMs })]
    })
    this.#tracer = this.#provider.getTracer('junction')
  }

  request (traceparent: string | string[] | undefined, tracestate: string | string[] | undefined, method: string): Span {
    return this.#start(traceparent, tracestate, method, SpanKind.SERVER, { 'http.request.method': method })
  }

  delivery (traceparent: string | undefined, tracestate: string | undefined, name: string, attributes: SpanAttributes): Span {
    return this.#start(traceparent, tracestate, name, SpanKind.PRODUCER, attributes)
  }

  async close (): Promise<void> {
    await this.#provider.shutdown()
  }

  #start (traceparent: string | string[] | undefined, tracestate: string | string[] | undefined, name: string, kind: SpanKind, attributes: SpanAttributes): Span {
    const parent = parseTraceParent(traceparent)
    const state = passedTraceState(parent, tracestate)
    let ctx: Context = ROOT_CONTEXT
    if (parent !== undefined) {
      ctx = trace.setSpanContext(ROOT_CONTEXT, {
        traceId: parent.traceId,
        spanId: parent.spanId,
        traceFlags: parent.flags === '01' ? 1 : 0,
        isRemote: true,
        ...(state === undefined ? {} : { traceState: createTraceState(state) })
      })
    }
    const clean: Record<string, string | number | boolean> = {}
    for (const [key, value] of Object.entries(attributes)) if (value !== undefined) clean[key] = value
    return new RecordedSpan(this.#tracer.startSpan(name, { kind, attributes: clean }, ctx), state)
  }
}
