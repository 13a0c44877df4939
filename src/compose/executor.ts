/**
 * Runs a compose plan for one request. Every part starts as soon as the parts it reads have
 * finished (not level by level): independent parts run concurrently, a dependent part waits
 * for exactly its dependencies. A collection part runs once per distinct value, at most
 * `maxConcurrency` calls at a time.
 *
 * Failure semantics (docs/compose.md):
 * - a required part that fails fails the request at once: the other calls are aborted and
 *   the error names the part and its service (502/504; 404 when a part that reads only the
 *   request finds nothing; 400 when the request lacks a query parameter or header it reads);
 * - an optional part that fails is reported missing; parts reading it are skipped and
 *   reported missing the same way (the config check makes sure they are optional too).
 */
import type { JunctionError } from '../errors.js'
import { errors } from '../errors.js'
import type { ServicePool } from '../upstream/service-pool.js'
import { Cancellation } from './cancellation.js'
import { collectSlots, type Slot } from './collection.js'
import { mapLimit } from './limit.js'
import { callPart, callPartAsync, type CallFailure, type CallOptions, type CallResult } from './part-call.js'
import type { ComposePlan, PlannedPart } from './plan.js'
import { expandTemplate, isScalar, type TemplateInput } from './template.js'

export type PartFailure =
  | CallFailure
  | { readonly kind: 'missing-input', readonly what: string }
  /** A value of the request cannot go into the part's path (`..`, empty). */
  | { readonly kind: 'bad-input', readonly why: string }
  | { readonly kind: 'skipped', readonly dependency: string }

export type PartOutcome =
  /** `body`: the UTF-8 JSON text `value` was parsed from, as the service sent it. */
  | { readonly status: 'ok', readonly value: unknown, readonly body: Buffer }
  /** `values[i]` is the result for `slots[i]` (null where there was nothing to fetch or its call failed). */
  | { readonly status: 'collection', readonly slots: readonly Slot[], readonly values: readonly unknown[], readonly failure: PartFailure | undefined }
  | { readonly status: 'failed', readonly failure: PartFailure }

export interface ComposeRequest {
  readonly params: Readonly<Record<string, string | undefined>>
  readonly query: Readonly<Record<string, string | string[] | undefined>>
  /** The client's request headers (lower-case names, as node:http gives them). */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  readonly requestId: string
  /** Junction's span for this request (src/observability/tracing.ts): its traceparent goes to every part. */
  readonly trace?: { readonly traceparent: string, readonly tracestate: string | undefined }
  /** Cancelled when the client goes away: every call stops. */
  readonly cancellation?: Cancellation
}

export interface Execution {
  /** Every part's outcome, by name. */
  readonly outcomes: ReadonlyMap<string, PartOutcome>
  /** Bodies of the (non-collection) parts that answered, by name: what templates and cache tags read. */
  readonly bodies: ReadonlyMap<string, unknown>
  /** Optional parts that failed, were skipped, or lost some collection results, in declaration order. */
  readonly missing: readonly string[]
}

/** Thrown when a required part fails: the error the client gets, and what happened, for the log. */
export class RequiredPartFailed extends Error {
  readonly error: JunctionError
  readonly part: string
  readonly failure: PartFailure

  constructor (part: PlannedPart, failure: PartFailure) {
    const error = errorFor(part, failure)
    super(error.message, { cause: error })
    this.name = 'RequiredPartFailed'
    this.error = error
    this.part = part.name
    this.failure = failure
  }
}

const ABORTED: PartOutcome = { status: 'failed', failure: { kind: 'aborted' } }

/**
 * Driven by completions rather than by awaiting each part's dependencies: when a part
 * finishes, the parts waiting only for it start, and the request is answered when the last
 * part finishes or at the first required failure (the other calls are then cancelled).
 */
export async function execute (plan: ComposePlan, request: ComposeRequest, service: (name: string) => ServicePool): Promise<Execution> {
  // This request's calls: cancelled by a required part's failure, or by the client's scope.
  const scope = new Cancellation()
  request.cancellation?.register(scope)

  const headers = partHeaders(plan, request)
  /** Bodies of the parts finished so far: what templates read. */
  const bodies = new Map<string, unknown>()
  const input: TemplateInput = { params: request.params, query: request.query, headers: request.headers, parts: bodies }
  const outcomes = new Array<PartOutcome | undefined>(plan.parts.length)
  /** Per part, how many of its dependencies have not finished yet. */
  const waiting = plan.parts.map(part => part.deps.length)
  let left = plan.parts.length
  let decided = false

  const callOptions = (part: PlannedPart, path: string): CallOptions => ({
    path, headers, timeoutMs: part.timeoutMs, maxBodySize: part.config.maxBodySize, cancellation: scope
  })

  /** Calls the part; `done` gets its outcome (from within undici's callback, or at once when it cannot start). */
  const runSingle = (part: PlannedPart, done: (outcome: PartOutcome) => void): void => {
    const expanded = expandTemplate(part.template, input)
    if (!expanded.ok) {
      done({ status: 'failed', failure: unresolvable(expanded) })
      return
    }
    callPart(service(part.config.service), callOptions(part, expanded.path), (result) => {
      let outcome: PartOutcome
      try {
        outcome = singleOutcome(part, result)
      } catch (err) {
        outcome = junctionFailed(err)
      }
      done(outcome)
    })
  }

  const singleOutcome = (part: PlannedPart, result: CallResult): PartOutcome => {
    if (!result.ok) return { status: 'failed', failure: result.failure }
    if (part.merged && (typeof result.value !== 'object' || result.value === null || Array.isArray(result.value))) {
      return { status: 'failed', failure: { kind: 'failed', reason: 'the body is not a JSON object, so it cannot be merged into the root' } }
    }
    bodies.set(part.name, result.value)
    return { status: 'ok', value: result.value, body: result.body }
  }

  const runCollection = async (part: PlannedPart, each: NonNullable<PlannedPart['each']>): Promise<PartOutcome> => {
    const slots = collectSlots(bodies.get(each.part), each.fields)
    const paths: Array<string | undefined> = []
    for (const slot of slots) {
      // A slot without a usable value (absent, null, an object) has nothing to fetch: its result is null.
      if (!isScalar(slot.value)) {
        paths.push(undefined)
        continue
      }
      const expanded = expandTemplate(part.template, { ...input, eachValue: slot.value })
      if (!expanded.ok) return { status: 'failed', failure: unresolvable(expanded) }
      paths.push(expanded.path)
    }
    // Two elements naming the same product make one call.
    const distinct = [...new Set(paths.filter((p): p is string => p !== undefined))]
    if (distinct.length > part.config.maxCalls) {
      return { status: 'failed', failure: { kind: 'failed', reason: `the collection needs ${distinct.length} calls, more than its maxCalls of ${part.config.maxCalls}` } }
    }
    const results = await mapLimit(distinct, part.config.maxConcurrency, async (path) => {
      const result = await callPartAsync(service(part.config.service), callOptions(part, path))
      // A required collection has failed with its first failed call: stop the rest now.
      if (!result.ok && !part.config.optional) scope.cancel()
      return result
    })
    const failures = results.flatMap(r => r.ok ? [] : [r.failure])
    const failure = failures.find(f => f.kind !== 'aborted') ?? failures[0]
    if (failure !== undefined && !part.config.optional) return { status: 'failed', failure }
    const byPath = new Map(distinct.map((path, i) => [path, results[i]]))
    const values = paths.map(path => {
      const result = path === undefined ? undefined : byPath.get(path)
      return result?.ok === true ? result.value : null
    })
    return { status: 'collection', slots, values, failure }
  }

  return await new Promise<Execution>((resolve, reject) => {
    const finish = (part: PlannedPart, outcome: PartOutcome): void => {
      if (decided) return
      outcomes[part.index] = outcome
      if (outcome.status === 'failed' && !part.config.optional) {
        decided = true
        scope.cancel()
        reject(new RequiredPartFailed(part, outcome.failure))
        return
      }
      left--
      for (const dependent of part.dependents) {
        if (--(waiting[dependent] as number) === 0) begin(plan.parts[dependent] as PlannedPart)
      }
      if (left === 0 && !decided) {
        decided = true
        resolve(executed(plan, outcomes as PartOutcome[], bodies))
      }
    }
    const begin = (part: PlannedPart): void => {
      const failedDep = part.depIndexes.find(i => outcomes[i]?.status === 'failed')
      if (failedDep !== undefined) {
        finish(part, { status: 'failed', failure: { kind: 'skipped', dependency: (plan.parts[failedDep] as PlannedPart).name } })
        return
      }
      if (scope.cancelled) {
        finish(part, ABORTED)
        return
      }
      if (part.each !== undefined) {
        runCollection(part, part.each).then(outcome => { finish(part, outcome) }, (err: unknown) => { finish(part, junctionFailed(err)) })
        return
      }
      let started = false
      try {
        runSingle(part, outcome => {
          started = true
          finish(part, outcome)
        })
      } catch (err) {
        // Junction's bug before the part got an outcome (once it has one, finish has run).
        if (!started) finish(part, junctionFailed(err))
        else throw err
      }
    }
    // Topological order: among independent parts, calls start in declaration order.
    for (const part of plan.parts) if (part.deps.length === 0) begin(part)
    if (plan.parts.length === 0) resolve(executed(plan, [], bodies))
  })
}

function junctionFailed (err: unknown): PartOutcome {
  return { status: 'failed', failure: { kind: 'failed', reason: 'Junction failed while composing it', cause: err } }
}

function executed (plan: ComposePlan, outcomes: readonly PartOutcome[], bodies: ReadonlyMap<string, unknown>): Execution {
  const byName = new Map<string, PartOutcome>()
  for (const part of plan.parts) byName.set(part.name, outcomes[part.index] as PartOutcome)
  let missing: string[] | undefined
  for (const index of plan.declared) {
    const outcome = outcomes[index] as PartOutcome
    if (outcome.status === 'failed' || (outcome.status === 'collection' && outcome.failure !== undefined)) {
      (missing ??= []).push((plan.parts[index] as PlannedPart).name)
    }
  }
  return { outcomes: byName, bodies, missing: missing ?? [] }
}

/** What every part call carries: the declared client headers, the request id and the trace context. Nothing else. */
function partHeaders (plan: ComposePlan, request: ComposeRequest): Record<string, string> {
  const out: Record<string, string> = { accept: 'application/json' }
  for (const name of plan.route.forwardHeaders) {
    const value = request.headers[name]
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value
  }
  if (request.trace !== undefined) {
    out.traceparent = request.trace.traceparent
    if (request.trace.tracestate !== undefined) out.tracestate = request.trace.tracestate
  } else {
    const { traceparent, tracestate } = request.headers
    if (typeof traceparent === 'string') out.traceparent = traceparent
    if (typeof tracestate === 'string') out.tracestate = tracestate
  }
  out['x-request-id'] = request.requestId
  return out
}

function unresolvable (expanded: { placeholder: string, missing: 'request' | 'field', why: string, unsafe?: true }): PartFailure {
  if (expanded.unsafe === true) {
    return expanded.missing === 'request' ? { kind: 'bad-input', why: expanded.why } : { kind: 'failed', reason: expanded.why }
  }
  return expanded.missing === 'request'
    ? { kind: 'missing-input', what: expanded.why.replace(/ is missing$/, '') }
    : { kind: 'failed', reason: `unresolvable placeholder ${expanded.placeholder}: ${expanded.why}` }
}

/** A failure → what the client is told when the part was required. */
export function errorFor (part: PlannedPart, failure: PartFailure): JunctionError {
  const name = part.name
  const service = part.config.service
  switch (failure.kind) {
    case 'timeout':
      return errors.composePartTimeout(name, service, failure.timeoutMs, failure.cause)
    case 'status':
      if (failure.status === 404 && part.requestOnly && part.each === undefined) return errors.composeNotFound(name, service)
      return errors.composePartFailed(name, service, `the service answered ${failure.status}`)
    case 'failed':
      return errors.composePartFailed(name, service, failure.reason, failure.cause)
    case 'missing-input':
      return errors.composeMissingInput(name, `the ${failure.what}`)
    case 'bad-input':
      return errors.composeBadInput(name, failure.why)
    case 'skipped':
      return errors.composePartFailed(name, service, `skipped because part "${failure.dependency}" failed`)
    case 'aborted':
      return errors.composePartFailed(name, service, 'the request was cancelled')
  }
}

/** One line about a failure, for logs and for optional parts. */
export function describeFailure (failure: PartFailure): string {
  switch (failure.kind) {
    case 'timeout': return `no answer within ${failure.timeoutMs} ms`
    case 'status': return `the service answered ${failure.status}`
    case 'failed': return failure.reason
    case 'missing-input': return `the request has no ${failure.what}`
    case 'bad-input': return failure.why
    case 'skipped': return `skipped because part "${failure.dependency}" failed`
    case 'aborted': return 'cancelled'
  }
}
