/**
 * One full garbage collection, right after a large JSON schema compilation (the config
 * schema, src/config/validate.ts).
 *
 * Why: ajv's code generator makes thousands of short-lived objects that start as `{}` and
 * get a generated name as their first key (`err12`, `_errs3`, `data7`, `coerced4`...). V8
 * records every such first key as a transition on the one shared map of `{}` and keeps at
 * most 1,536; compiling the config schema fills the table. Only a full GC clears the entries
 * whose objects died, and until one runs every object literal that needs a transition not
 * yet recorded goes through V8's runtime and gets a map of its own (341 instead of 5 ns per
 * object measured; node's process.nextTick entries among them). Code that runs in that state
 * also leaves its inline caches megamorphic for good. Measured: a plain node:http handler in
 * a process that had loaded the config cost 41 CPU µs per request instead of 29; an L1 cache
 * hit through the whole gateway 54 instead of 56.5 (A B A B, same run).
 *
 * How: `gc` is exposed only to contexts made after `--expose-gc` is set, so the flag is set
 * and a fresh context hands its `gc` over; the main context gains nothing. (vm.measureMemory
 * with execution 'eager' also collects, but prints an experimental-feature warning.) It runs
 * once per process, at import, before anything serves: ~10 ms.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

export function settleHeap (): void {
  const exposed = (globalThis as { gc?: () => void }).gc
  if (typeof exposed === 'function') {
    exposed()
    return
  }
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  setFlagsFromString('--no-expose-gc')
  gc()
}
