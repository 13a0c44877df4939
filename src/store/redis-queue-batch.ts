/**
 * Script-level batching of a Redis store's queue operations: the appends, locks and acks
 * of one queue issued during one turn of the event loop go to Redis as one script call,
 * which applies them in the order issued.
 *
 * Why: a write through a write route with two dependents costs a dozen queue operations
 * (its intent, one append per dependent, then per delivery a lock and an unlock-ack), and
 * each one was its own command: ioredis builds a Command, a promise and a pipeline slot
 * for each, and parses each reply. Under load, the gateway's CPU went more to that than to
 * the HTTP it proxies (bench/, writes scenario). Auto-pipelining already shares the socket
 * write between commands of one tick; this shares the command itself between operations
 * of one turn of the loop (many requests are handled per turn under load, one or none when
 * idle, so an idle gateway waits for nothing: the turn ends at once).
 *
 * Order: operations on one queue run in the order issued (one script, in sequence; a
 * queue's batch is sent before any other operation on that queue, see `flush`).
 * Operations on different queues, or on a queue and the store's keys, issued together
 * may take effect in either order; the Store seam says so (src/store/store.ts).
 *
 * Every key a script touches is in the queue's hash tag (the stream, its since set, its
 * registers and locks), so a batch stays in one Redis Cluster slot. The registers and locks
 * are named in ARGV, not KEYS: the number of keys would vary per call, and ioredis then
 * takes the first argument (the number of keys) for the key it routes and auto-pipelines
 * by on a cluster. Redis allows a script to touch keys of the slot its declared keys are in.
 *
 * Written by hand: ioredis' auto-pipelining batches commands, not operations, and a
 * general job queue (BullMQ) would replace the outbox's protocol rather than carry it.
 */

/** Lua: raises the integer at `key` to at least `value` (ttl ms or ''); returns the result as a string. */
export const SET_MAX_FUNCTION = `
local function setMax (key, value, ttl)
  local current = redis.call('GET', key)
  if current then
    local n = tonumber(current)
    if n == nil or string.find(current, '^-?%d+$') == nil then return redis.error_reply('ERR value is not an integer') end
    if n >= tonumber(value) then return current end
  end
  if ttl ~= '' then
    redis.call('SET', key, value, 'PX', ttl)
  else
    redis.call('SET', key, value, 'KEEPTTL')
  end
  return value
end
`

/**
 * KEYS[1] stream, KEYS[2] its since set. ARGV[1] the consumer group, ARGV[2] the batch as
 * JSON: [names, operations], `names` being the registers and locks the operations name (by
 * 1-based index into it; 0 = none), each operation one of
 *
 *   ["a", raise-key, value, ttl, [field, value, ...]]   append (XADD), then raise the register
 *   ["l", lock-key, register-key, token, ttl]           take the lock if free, then read the register
 *   ["k", lock-key, token, [id, ...]]                   release the lock if still the token's, then ack
 *
 * (values and ttls as strings: a Lua number would print 1e+15.) One JSON argument rather
 * than one argument per value: ioredis spends more per argument (flattening, measuring,
 * framing each one) than V8's JSON.stringify and Redis's cjson together.
 *
 * One reply per operation: {id} or {id, register value} or {id, false, error} (the raise
 * failed: the append stands, as when it was one command); {1|0, register value or false};
 * the number of entries acknowledged. One failing raise does not stop the others.
 */
export const QUEUE_BATCH_LUA = SET_MAX_FUNCTION + `
local group = ARGV[1]
local batch = cjson.decode(ARGV[2])
local names = batch[1]
local out = {}
for _, op in ipairs(batch[2]) do
  local kind = op[1]
  if kind == 'a' then
    local id = redis.call('XADD', KEYS[1], '*', unpack(op[5]))
    if op[2] > 0 then
      local value = setMax(names[op[2]], op[3], op[4])
      if type(value) == 'table' then out[#out + 1] = { id, false, value.err } else out[#out + 1] = { id, value } end
    else
      out[#out + 1] = { id }
    end
  elseif kind == 'l' then
    local locked = redis.call('SET', names[op[2]], op[4], 'PX', op[5], 'NX')
    local value = false
    if op[3] > 0 then value = redis.call('GET', names[op[3]]) end
    out[#out + 1] = { locked and 1 or 0, value }
  elseif kind == 'k' then
    if op[2] > 0 and redis.call('GET', names[op[2]]) == op[3] then redis.call('DEL', names[op[2]]) end
    local ids = op[4]
    local acked = 0
    if #ids > 0 then
      -- NOGROUP when nothing was ever claimed: the XDEL alone is then the whole ack.
      redis.pcall('XACK', KEYS[1], group, unpack(ids))
      redis.call('ZREM', KEYS[2], unpack(ids))
      acked = redis.call('XDEL', KEYS[1], unpack(ids))
    end
    out[#out + 1] = acked
  else
    return redis.error_reply('ERR unknown queue batch operation ' .. tostring(kind))
  end
end
return out
`

/** One queue operation, with physical key names. */
export type QueueOp =
  | { readonly kind: 'append', readonly fields: readonly string[], readonly raise?: { readonly key: string, readonly value: string, readonly ttl: string } }
  | { readonly kind: 'lock', readonly lock: string, readonly register?: string, readonly token: string, readonly ttlMs: number }
  | { readonly kind: 'ack', readonly ids: readonly string[], readonly unlock?: { readonly key: string, readonly token: string } }

/** Sends one script call: the stream, its since set, the consumer group, the batch as JSON. */
export type SendBatch = (stream: string, since: string, group: string, batch: string) => Promise<unknown>

interface Waiting {
  readonly op: QueueOp
  readonly resolve: (reply: unknown) => void
  readonly reject: (err: unknown) => void
}

interface Pending {
  readonly since: string
  readonly group: string
  readonly ops: Waiting[]
}

/**
 * A script call's size, in values (ids, fields, keys) and operations: one huge call would
 * hold Redis (single-threaded) for long. A larger batch goes as several calls, one after
 * the other on the connection, so its order holds. (One operation's values stay within
 * Lua's unpack() limit: acks come in chunks of 1,000 ids.)
 */
const MAX_ARGS = 4000
const MAX_OPS = 256

export class QueueBatches {
  readonly #pending = new Map<string, Pending>()
  #scheduled = false

  constructor (private readonly send: SendBatch) {}

  /** Queues `op` for `stream`; resolves to the operation's own reply (see QUEUE_BATCH_LUA). */
  add (stream: string, since: string, group: string, op: QueueOp): Promise<unknown> {
    let pending = this.#pending.get(stream)
    if (pending === undefined) {
      pending = { since, group, ops: [] }
      this.#pending.set(stream, pending)
    }
    const batch = pending
    const reply = new Promise<unknown>((resolve, reject) => { batch.ops.push({ op, resolve, reject }) })
    if (!this.#scheduled) {
      this.#scheduled = true
      // At the end of this turn of the loop: every request handled in it has issued its operations by then.
      setImmediate(() => {
        this.#scheduled = false
        this.flushAll()
      })
    }
    return reply
  }

  /** Sends `stream`'s waiting operations now: before another operation on that queue, so order holds. */
  flush (stream: string): void {
    const pending = this.#pending.get(stream)
    if (pending === undefined) return
    this.#pending.delete(stream)
    this.#sendAll(stream, pending)
  }

  /** Sends everything waiting (end of the turn; closing). */
  flushAll (): void {
    for (const stream of [...this.#pending.keys()]) this.flush(stream)
  }

  #sendAll (stream: string, pending: Pending): void {
    let chunk: Waiting[] = []
    let args = 0
    for (const waiting of pending.ops) {
      const size = argCount(waiting.op)
      if (chunk.length > 0 && (chunk.length >= MAX_OPS || args + size > MAX_ARGS)) {
        this.#sendChunk(stream, pending, chunk)
        chunk = []
        args = 0
      }
      chunk.push(waiting)
      args += size
    }
    if (chunk.length > 0) this.#sendChunk(stream, pending, chunk)
  }

  #sendChunk (stream: string, pending: Pending, chunk: readonly Waiting[]): void {
    const keys: string[] = []
    const index = new Map<string, number>()
    const keyIndex = (key: string | undefined): number => {
      if (key === undefined) return 0
      let at = index.get(key)
      if (at === undefined) {
        keys.push(wellFormed(key))
        at = keys.length // 1-based: 0 is none
        index.set(key, at)
      }
      return at
    }
    const ops: unknown[] = []
    for (const { op } of chunk) {
      switch (op.kind) {
        case 'append':
          ops.push(['a', keyIndex(op.raise?.key), op.raise?.value ?? '', op.raise?.ttl ?? '', op.fields.map(wellFormed)])
          break
        case 'lock':
          ops.push(['l', keyIndex(op.lock), keyIndex(op.register), wellFormed(op.token), String(op.ttlMs)])
          break
        case 'ack':
          ops.push(['k', keyIndex(op.unlock?.key), wellFormed(op.unlock?.token ?? ''), op.ids])
          break
      }
    }
    this.send(stream, pending.since, pending.group, JSON.stringify([keys, ops])).then(reply => {
      if (!Array.isArray(reply) || reply.length !== chunk.length) {
        const err = new Error(`unexpected reply to a batch of ${chunk.length} operations on ${stream}`)
        for (const waiting of chunk) waiting.reject(err)
        return
      }
      chunk.forEach((waiting, i) => { waiting.resolve(reply[i]) })
    }, (err: unknown) => {
      // The script failed as a whole (Redis down, timeout): every operation in it failed.
      for (const waiting of chunk) waiting.reject(err)
    })
  }
}

/**
 * A lone surrogate becomes U+FFFD, the bytes a command argument carried (ioredis writes
 * strings as UTF-8). JSON.stringify would escape it as \udXXX, which Redis's cjson
 * refuses, failing the whole batch.
 */
function wellFormed (text: string): string {
  const s = text as unknown as WellFormedString
  return s.isWellFormed() ? text : s.toWellFormed()
}

/** ES2024 string methods that Node 20 has (V8 11.3) and TypeScript's ES2023 lib does not declare. */
interface WellFormedString {
  isWellFormed: () => boolean
  toWellFormed: () => string
}

function argCount (op: QueueOp): number {
  switch (op.kind) {
    case 'append': return 6 + op.fields.length
    case 'lock': return 7
    case 'ack': return 5 + op.ids.length
  }
}
