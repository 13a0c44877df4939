/**
 * One full garbage collection once a gateway generation is built, before it serves.
 *
 * Why: building a generation compiles JSON schemas with ajv (the config schema, write
 * routes' body schemas). Its code generator makes thousands of short-lived objects that
 * start as `{}` and get a generated name as their first key (`err12`, `_errs3`, `data7`,
 * `coerced4`...). V8 records every such first key as a transition on the one shared map of
 * `{}`, and keeps at most 1,536 of them. After config validation alone the table is full, and
 * a full GC is what clears the entries whose objects died. Until then, every object literal
 * that needs a transition not yet recorded (node's own process.nextTick entries among them)
 * goes through V8's runtime and gets a fresh map each time. Under a steady load of small
 * requests nothing but scavenges may run for a long time, so the gateway stayed in that
 * state: a plain node:http handler in the same process cost 41 CPU µs per request instead of
 * 28, and so did everything the gateway answers. One full collection (~10–30 ms, once per
 * start and per reload) puts the table back to ~150 entries.
 *
 * How: `gc` is exposed only to contexts made after `--expose-gc` is set, so the flag is set
 * and a fresh context hands its `gc` over; the main context gains nothing. (vm.measureMemory
 * with execution 'eager' also collects, but prints an experimental-feature warning.)
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

let collect: (() => void) | undefined

export function settleHeap (): void {
  collect ??= exposedCollector()
  collect()
}

function exposedCollector (): () => void {
  const global = (globalThis as { gc?: () => void }).gc
  if (typeof global === 'function') return global
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  setFlagsFromString('--no-expose-gc')
  return gc
}
