/**
 * The Redis store (ioredis). Physical layout, for a store prefix P:
 *
 *   P{<key>}          string values, counters and sets (logical key in the hash tag)
 *   Pqueue:{<name>}   a queue: a Redis Stream with the consumer group `junction`
 *   Pqueue:{<name>}:delayed  its delayed entries: a sorted set scored by due time (Redis
 *                     TIME, so instances' clocks do not matter), member
 *                     `<uuid>\n<append ms>\n<JSON array of field, value, ...>`
 *   Pqueue:{<name>}:k:<key>  a register or lock of the queue (DurableQueue raise/lock),
 *                     in the queue's hash tag so that one script can change it with the stream
 *   Pchannel:<name>   pub/sub channel (pub/sub is not slot-bound, so no hash tag)
 *
 * Every operation touches one physical key, and each key's companions share its hash tag,
 * so the layout works unchanged on Redis Cluster. Multi-key deletes are sent as one
 * command per key for the same reason.
 *
 * Commands are auto-pipelined (ioredis `enableAutoPipelining`): every command issued in
 * one tick of the event loop goes out in one write. The write fan-out issues several per
 * request and per delivery; one socket write and one reply read for all of them is most
 * of what this saves. Order is kept: commands issued together go out in one pipeline on
 * the one connection (no explicit MULTI or pipeline() here, which would be sent ahead of
 * it), so Redis applies them in the order issued, as the Store seam promises. (Across a
 * reconnection, commands issued in different ticks may be reordered; the seam promises
 * order only for operations issued together.)
 *
 * Queues: append = XADD; claim = one Lua script (XAUTOCLAIM entries idle for at least the
 * visibility timeout, read their delivery counters from XPENDING, then XREADGROUP new
 * entries), so two consumers can never be handed the same entry at once; ack = XACK+XDEL
 * in one script, so a stream holds exactly the unacknowledged entries. A delayed append is a
 * ZADD; the claim script first moves due entries to the stream (XADD, so they get their
 * stream id then). Requires Redis ≥ 6.2 (XAUTOCLAIM, exclusive XRANGE bounds).
 *
 * A queue's appends, locks and acks are not sent one command each: those issued during one
 * turn of the event loop go as one script call per queue at its end, applied in the order
 * issued (src/store/redis-queue-batch.ts, QUEUE_BATCH_LUA). Any other operation on the
 * queue (claim, stats, read...) first sends what is waiting, so a queue's order holds.
 *
 * Pub/sub uses a second connection, created on the first subscribe (a subscribed
 * connection cannot run other commands).
 *
 * Outages (docs/deployment.md, "When Redis is down"): every command fails within
 * `store.timeout` instead of waiting for Redis. ioredis' `commandTimeout` bounds a command
 * sent to a Redis that does not answer (SIGSTOP, a network partition: the socket stays
 * open); `enableOfflineQueue: false` fails a command issued while disconnected at once
 * instead of queueing it until Redis returns (the caller's answer would otherwise wait for
 * the outage). A heartbeat PING every `HEARTBEAT_MS` plus ioredis' connection events keep
 * `available()` current, so the cache bypasses Redis and write routes refuse at once while
 * it is away, and both resume by themselves when it answers again (ioredis reconnects on
 * its own, `retryStrategy` below). Pub/sub keeps its offline queue: its subscriptions are
 * re-established by ioredis on reconnection.
 *
 * On a cluster, pub/sub is sharded (SPUBLISH/SSUBSCRIBE, Redis ≥ 7.0): the channel lives
 * on the master owning its slot, like a key. Classic PUBLISH on a cluster reaches a
 * subscriber on another node over the cluster bus, after PUBLISH has returned; a cache
 * invalidation then reached other instances up to ~100 ms after the write was
 * acknowledged, and they served the old version meanwhile (test/scaleout-redis-cluster).
 * With SPUBLISH the master queues the message to every subscriber before it replies, as
 * a single Redis server does for PUBLISH, so by the time a write's client hears back the
 * message is on its way to every instance ahead of any later request.
 *
 * Redis Cluster (`cluster: true`): the url names one node, ioredis discovers the rest and
 * follows MOVED/ASK redirections. Every command and script touches one hash tag, and the
 * pipelined deletes are sent as single commands instead (a pipeline must stay within one
 * slot on a cluster); pub/sub is sharded (above).
 */
import { randomUUID } from 'node:crypto'
import { Cluster, Redis, type RedisOptions } from 'ioredis'
import type { RedisStoreConfig } from '../config/types.js'
import { QUEUE_BATCH_LUA, QueueBatches, SET_MAX_FUNCTION } from './redis-queue-batch.js'
import { ADVANCE_PLACEHOLDER, claimLockToken, type ClaimLock, type DurableQueue, type MessageHandler, type QueueLock, type QueueRegister, type PeekedEntry, type QueueEntry, type QueueStats, type SetOptions, type Store } from './store.js'

export interface RedisStoreOptions {
  /** How long open() tries to connect before failing (default 5000 ms). */
  connectTimeoutMs?: number
  /** Connection errors after open() (ioredis reconnects by itself); default: ignored. */
  onError?: (err: Error) => void
  /**
   * Queue consumers idle this long and holding no entry are removed from their group, by a
   * claim at most once per this period (or per minute, whichever is shorter) per queue.
   * Default 10 minutes.
   */
  idleConsumerMs?: number
}

const IDLE_CONSUMER_MS = 10 * 60_000

const GROUP = 'junction'
/** store.timeout's default: how long one command may wait for Redis. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 2000
/** Ids per ack (members per add-to-set) script call: Lua's unpack() has a stack limit of a few thousand values. */
const ACK_CHUNK = 1000
const STREAM_ID = /^\d+-\d+$/
const PING_TIMEOUT_MS = 2000
/** How often `available()` is re-checked with a PING (bounded by the command timeout). */
const HEARTBEAT_MS = 500

/**
 * Lua: moves up to 1000 due delayed entries (KEYS[2]) to the stream (KEYS[1]). An entry
 * appended with a `since` (KEYS[3], scored by it: member 'd:<uuid>' while delayed) is
 * renamed there to its stream id, which the ack removes.
 */
const PROMOTE_LUA = `
local time = redis.call('TIME')
local nowMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', nowMs, 'LIMIT', 0, 1000)
for _, member in ipairs(due) do
  local a = string.find(member, '\\n', 1, true)
  local b = string.find(member, '\\n', a + 1, true)
  local flat = cjson.decode(string.sub(member, b + 1))
  if #flat == 0 then flat = { '', '' } end
  local id = redis.call('XADD', KEYS[1], '*', unpack(flat))
  redis.call('ZREM', KEYS[2], member)
  local since = redis.call('ZSCORE', KEYS[3], 'd:' .. string.sub(member, 1, a - 1))
  if since then
    redis.call('ZREM', KEYS[3], 'd:' .. string.sub(member, 1, a - 1))
    redis.call('ZADD', KEYS[3], since, id)
  end
end
`

/**
 * KEYS[1] stream, KEYS[2] delayed set; ARGV group, consumer, count, min idle ms, the idle
 * time after which other consumers holding nothing are removed ('0': not this time), and
 * '1' to create the group if missing. Returns {{id, deliveries, {f, v, ...}}, ...}.
 */
const CLAIM_LUA = PROMOTE_LUA + `
-- The group is created on first use ('0' so that entries appended before it are
-- included); ARGV[6] is '0' once this store has seen the group at work (a claim that
-- finds it gone fails with NOGROUP and is made again with '1').
if ARGV[6] ~= '0' then
  if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
  redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0')
end
-- Consumer names of processes long gone would stay in the group forever (each process has
-- a fresh one). One that holds nothing loses nothing by being removed: a live consumer is
-- created again by its next read.
if ARGV[5] ~= '0' then
  local limit = tonumber(ARGV[5])
  for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
    local info = {}
    for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
    if info['pending'] == 0 and info['idle'] >= limit and info['name'] ~= ARGV[2] then
      redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    end
  end
end
local want = tonumber(ARGV[3])
local out = {}
local cursor = '0-0'
local rounds = 0
repeat
  local res = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[4], cursor, 'COUNT', want - #out)
  cursor = res[1]
  for _, e in ipairs(res[2]) do
    -- Redis 6.2 reports entries deleted from the stream with nil fields.
    if e and e[2] then
      local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)
      out[#out + 1] = { e[1], p[1][4], e[2] }
    end
  end
  rounds = rounds + 1
until cursor == '0-0' or #out >= want or rounds >= 100
if #out < want then
  local res = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', want - #out, 'STREAMS', KEYS[1], '>')
  if res then
    for _, e in ipairs(res[1][2]) do out[#out + 1] = { e[1], 1, e[2] } end
  end
end
-- ARGV[7] the lock field ('' none), ARGV[8] lock key prefix, ARGV[9] register key prefix,
-- ARGV[10] token prefix, ARGV[11] ttl ms: a lock per entry having the field (ClaimLock).
if ARGV[7] ~= '' then
  for _, row in ipairs(out) do
    local fields = row[3]
    local value = nil
    for i = 1, #fields, 2 do
      if fields[i] == ARGV[7] then value = fields[i + 1] break end
    end
    if value then
      local locked = redis.call('SET', ARGV[8] .. value, ARGV[10] .. row[1] .. ':' .. row[2], 'PX', ARGV[11], 'NX')
      row[4] = locked and 1 or 0
      row[5] = redis.call('GET', ARGV[9] .. value)
    end
  end
end
return out
`

/** KEYS[1] delayed set, KEYS[2] since set; ARGV delay ms, uuid, JSON fields, since (epoch ms) or ''. */
const APPEND_DELAYED_LUA = `
local time = redis.call('TIME')
local nowMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZADD', KEYS[1], nowMs + tonumber(ARGV[1]), ARGV[2] .. '\\n' .. nowMs .. '\\n' .. ARGV[3])
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[2], ARGV[4], 'd:' .. ARGV[2]) end
return 1
`

/** KEYS[1] stream, KEYS[2] delayed set, KEYS[3] since set; ARGV group. Returns {length, in flight, oldest id or nil, delayed, oldest since or nil}. */
const STATS_LUA = PROMOTE_LUA + `
local delayed = redis.call('ZCARD', KEYS[2])
local lowest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
local since = false
if lowest[2] then since = lowest[2] end
if redis.call('EXISTS', KEYS[1]) == 0 then return { delayed, 0, false, delayed, since } end
local pending = redis.pcall('XPENDING', KEYS[1], ARGV[1])
local inFlight = 0
if type(pending) == 'table' and not pending.err then inFlight = pending[1] end
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local oldest = false
if first[1] then oldest = first[1][1] end
return { redis.call('XLEN', KEYS[1]) + delayed, inFlight, oldest, delayed, since }
`

/** KEYS[1]; ARGV value, ttl ms or ''. Returns the resulting value as a string. */
const SET_MAX_LUA = SET_MAX_FUNCTION + `
return setMax(KEYS[1], ARGV[1], ARGV[2])
`

/**
 * KEYS[1] the counter, KEYS[2..] the registers; ARGV ttl ms or '', channel or '', message.
 * Increments, raises each register to the new value, publishes the message with the new
 * value in place of each \1 byte. Returns the new value.
 */
const ADVANCE_LUA = SET_MAX_FUNCTION + `
local value = string.format('%d', redis.call('INCR', KEYS[1]))
for i = 2, #KEYS do
  local raised = setMax(KEYS[i], value, ARGV[1])
  if type(raised) == 'table' then return raised end
end
if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], (string.gsub(ARGV[3], '\\1', value))) end
return value
`

/** KEYS: the sets. Returns each one's members, and deletes them. */
const TAKE_SETS_LUA = `
local out = {}
for i, key in ipairs(KEYS) do
  local members = redis.call('SMEMBERS', key)
  if #members > 0 then redis.call('DEL', key) end
  out[i] = members
end
return out
`

/** KEYS[1] set; ARGV ttl ms or '', members... (atomic: the set never lives without its expiry). */
const ADD_TO_SET_LUA = `
if #ARGV > 1 then redis.call('SADD', KEYS[1], unpack(ARGV, 2)) end
if ARGV[1] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
`

/** KEYS[1] set. Returns its members, and deletes it. */
const TAKE_SET_LUA = `
local members = redis.call('SMEMBERS', KEYS[1])
if #members > 0 then redis.call('DEL', KEYS[1]) end
return members
`

/** KEYS[1]; ARGV expected value. */
const DELETE_IF_EQUALS_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`

interface ScriptCommands {
  junctionClaim (stream: string, delayed: string, since: string, group: string, consumer: string, count: number, minIdleMs: number, forgetIdleMs: number, makeGroup: '0' | '1',
    lockField: string, lockPrefix: string, readPrefix: string, tokenPrefix: string, lockTtlMs: number): Promise<unknown>
  junctionStats (stream: string, delayed: string, since: string, group: string): Promise<unknown>
  junctionAppendDelayed (delayed: string, since: string, delayMs: number, uuid: string, fields: string, sinceMs: string): Promise<unknown>
  junctionSetMax (key: string, value: string, ttlMs: string): Promise<unknown>
  junctionDeleteIfEquals (key: string, value: string): Promise<unknown>
  junctionAddToSet (key: string, ttlMs: string, ...members: string[]): Promise<unknown>
  junctionTakeSet (key: string): Promise<unknown>
  junctionQueueBatch (stream: string, since: string, group: string, batch: string): Promise<unknown>
  junctionTakeSets (numKeys: number, ...keys: string[]): Promise<unknown>
  junctionAdvance (numKeys: number, ...keysAndArgs: string[]): Promise<unknown>
}

type ScriptedRedis = Redis & ScriptCommands

/** Connection options from a redis:// or rediss:// URL, for cluster nodes (ioredis' Cluster takes no URL). */
export function clusterNode (url: string): { node: { host: string, port: number }, options: RedisOptions } {
  const u = new URL(url)
  const options: RedisOptions = {}
  if (u.username !== '') options.username = decodeURIComponent(u.username)
  if (u.password !== '') options.password = decodeURIComponent(u.password)
  if (u.protocol === 'rediss:') options.tls = {}
  return { node: { host: u.hostname, port: u.port === '' ? 6379 : Number(u.port) }, options }
}

/** The URL for messages: never the password. */
export function redactRedisUrl (url: string): string {
  try {
    const u = new URL(url)
    u.password = ''
    return u.toString()
  } catch {
    return '(unparsable redis url)'
  }
}

function pairsToRecord (flat: unknown): Record<string, string> {
  if (!Array.isArray(flat)) return {}
  const pairs: Array<[string, string]> = []
  for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([String(flat[i]), String(flat[i + 1])])
  // fromEntries defines own properties: a field named __proto__ stays a field.
  return Object.fromEntries(pairs)
}

function idTime (id: string): number {
  return Number(id.slice(0, id.indexOf('-')))
}

/** Redis wants whole, positive milliseconds. */
function px (ttlMs: number): number {
  return Math.max(1, Math.ceil(ttlMs))
}

export class RedisStore implements Store {
  readonly kind = 'redis' as const
  private sub: Redis | Cluster | undefined
  private readonly handlers = new Map<string, Set<{ readonly handler: MessageHandler }>>()
  private closing: Promise<void> | undefined
  /** Per stream: when a claim last removed idle consumers (see idleConsumerMs). */
  private readonly consumersSweptAt = new Map<string, number>()
  /** Streams whose consumer group a claim of this store has seen at work (no need to create it). */
  private readonly groupsSeen = new Set<string>()
  private heartbeat: NodeJS.Timeout | undefined
  /** False after a heartbeat PING failed (Redis connected but not answering), until one succeeds. */
  private answering = true
  /** Queue appends, locks and acks of one turn of the event loop, one script call per queue. */
  private readonly batches: QueueBatches

  private constructor (
    private readonly redis: ScriptedRedis,
    private readonly prefix: string,
    private readonly safeUrl: string,
    private readonly onError: (err: Error) => void,
    private readonly cluster: boolean,
    private readonly idleConsumerMs: number
  ) {
    this.batches = new QueueBatches(async (stream, since, group, batch) => await redis.junctionQueueBatch(stream, since, group, batch))
  }

  static async open (config: RedisStoreConfig, opts: RedisStoreOptions = {}): Promise<RedisStore> {
    const safeUrl = redactRedisUrl(config.url)
    const timeoutMs = opts.connectTimeoutMs ?? 5000
    const onError = opts.onError ?? (() => {})
    let lastError: Error | undefined
    const commandTimeout = config.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS
    const connection: RedisOptions = {
      lazyConnect: true,
      connectTimeout: timeoutMs,
      // Fail requests fast while Redis is away rather than queueing them for long (see the header).
      maxRetriesPerRequest: 2,
      commandTimeout,
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      retryStrategy: times => Math.min(50 * times, 1000)
    }
    const cluster = config.cluster === true
    let redis: Redis | Cluster
    if (cluster) {
      const { node, options } = clusterNode(config.url)
      redis = new Cluster([node], {
        lazyConnect: true,
        enableAutoPipelining: true,
        // As for one Redis: a command issued while the cluster is away fails at once. The
        // Cluster client has an offline queue of its own, which commandTimeout does not
        // bound: with it, every command waited for the cluster to return.
        enableOfflineQueue: false,
        clusterRetryStrategy: times => Math.min(50 * times, 1000),
        redisOptions: { ...options, connectTimeout: timeoutMs, maxRetriesPerRequest: 2, commandTimeout }
      })
    } else {
      redis = new Redis(config.url, connection)
    }
    redis.on('error', (err: Error) => {
      lastError = err
      onError(err)
    })
    for (const [name, lua, numberOfKeys] of [
      ['junctionClaim', CLAIM_LUA, 3], ['junctionStats', STATS_LUA, 3],
      ['junctionAppendDelayed', APPEND_DELAYED_LUA, 2], ['junctionSetMax', SET_MAX_LUA, 1],
      ['junctionDeleteIfEquals', DELETE_IF_EQUALS_LUA, 1], ['junctionAddToSet', ADD_TO_SET_LUA, 1],
      ['junctionTakeSet', TAKE_SET_LUA, 1], ['junctionQueueBatch', QUEUE_BATCH_LUA, 2]
    ] as const) {
      redis.defineCommand(name, { lua, numberOfKeys })
    }
    // Any number of keys (the first argument says how many): never used on a cluster,
    // whose keys are in different slots (and ioredis would route by the count).
    redis.defineCommand('junctionTakeSets', { lua: TAKE_SETS_LUA })
    redis.defineCommand('junctionAdvance', { lua: ADVANCE_LUA })
    // ioredis keeps reconnecting on its own; at boot we give it `timeoutMs`, then give up
    // with an error that names the server, instead of hanging forever.
    let timer: NodeJS.Timeout | undefined
    try {
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(() => {
          const reason = lastError === undefined ? 'no answer' : lastError.message
          reject(new Error(`cannot reach Redis at ${safeUrl} within ${timeoutMs} ms: ${reason}`, { cause: lastError }))
        }, timeoutMs)
        redis.once('ready', resolve)
        redis.connect().catch(() => {}) // a refused first attempt is retried by retryStrategy
      })
      await redis.ping()
    } catch (err) {
      redis.disconnect()
      if (err instanceof Error && err.message.startsWith('cannot reach Redis')) throw err
      throw new Error(`Redis at ${safeUrl} failed: ${(err as Error).message}`, { cause: err })
    } finally {
      clearTimeout(timer)
    }
    // Cluster and Redis share every command used here; the type is Redis's for brevity.
    const store = new RedisStore(redis as unknown as ScriptedRedis, config.prefix, safeUrl, onError, cluster, Math.max(1, Math.floor(opts.idleConsumerMs ?? IDLE_CONSUMER_MS)))
    store.startHeartbeat()
    return store
  }

  /** Keeps `answering` current: cleared by a failed PING, set again by the next one that succeeds. */
  private startHeartbeat (): void {
    let inFlight = false
    this.heartbeat = setInterval(() => {
      if (inFlight || this.redis.status !== 'ready') return
      inFlight = true
      this.redis.ping().then(() => { this.answering = true }, () => { this.answering = false })
        .finally(() => { inFlight = false })
    }, HEARTBEAT_MS)
    this.heartbeat.unref()
  }

  available (): boolean {
    return this.answering && this.redis.status === 'ready'
  }

  private key (key: string): string {
    return `${this.prefix}{${key}}`
  }

  // --- key/value -------------------------------------------------------------------------

  async get (key: string): Promise<Buffer | null> {
    return await this.redis.getBuffer(this.key(key))
  }

  async set (key: string, value: Buffer | string, opts: SetOptions = {}): Promise<void> {
    if (opts.ttlMs === undefined) await this.redis.set(this.key(key), value)
    else await this.redis.set(this.key(key), value, 'PX', px(opts.ttlMs))
  }

  async setIfAbsent (key: string, value: Buffer | string, opts: SetOptions = {}): Promise<boolean> {
    const reply = opts.ttlMs === undefined
      ? await this.redis.set(this.key(key), value, 'NX')
      : await this.redis.set(this.key(key), value, 'PX', px(opts.ttlMs), 'NX')
    return reply === 'OK'
  }

  async delete (keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return 0
    // One UNLINK per key: a multi-key UNLINK would span Cluster slots. Auto-pipelined together.
    const counts = await Promise.all(keys.map(async key => await this.redis.unlink(this.key(key))))
    return counts.reduce((sum, n) => sum + Number(n), 0)
  }

  async incr (key: string): Promise<number> {
    // Durability is Redis's persistence setting (AOF); there is nothing to choose per key.
    return await this.redis.incr(this.key(key))
  }

  async setMax (key: string, value: number, opts: { durable?: boolean, ttlMs?: number } = {}): Promise<number> {
    if (!Number.isSafeInteger(value)) throw new Error(`setMax of ${key}: ${value} is not a safe integer`)
    const reply = await this.redis.junctionSetMax(this.key(key), String(value), opts.ttlMs === undefined ? '' : String(px(opts.ttlMs)))
    return Number(reply)
  }

  async advance (counter: string, registers: readonly string[], opts: { ttlMs?: number, publish?: { channel: string, message: string } } = {}): Promise<number> {
    const ttl = opts.ttlMs === undefined ? '' : String(px(opts.ttlMs))
    const publish = opts.publish
    if (this.cluster) {
      // The keys are in different slots, the channel in a shard of its own: step by step.
      const value = await this.incr(counter)
      const ttl = opts.ttlMs === undefined ? {} : { ttlMs: opts.ttlMs }
      await Promise.all(registers.map(async key => await this.setMax(key, value, ttl)))
      if (publish !== undefined) await this.publish(publish.channel, publish.message.replaceAll(ADVANCE_PLACEHOLDER, String(value)))
      return value
    }
    const reply = await this.redis.junctionAdvance(1 + registers.length, this.key(counter), ...registers.map(key => this.key(key)), ttl,
      publish === undefined ? '' : this.channel(publish.channel), publish?.message ?? '')
    const value = Number(reply)
    if (!Number.isSafeInteger(value)) throw new Error(`unexpected reply to an advance of ${counter}`)
    return value
  }

  async deleteIfEquals (key: string, value: string): Promise<boolean> {
    return Number(await this.redis.junctionDeleteIfEquals(this.key(key), value)) > 0
  }

  // --- sets ------------------------------------------------------------------------------

  async addToSet (key: string, members: readonly string[], opts: { ttlMs?: number } = {}): Promise<void> {
    if (members.length === 0 && opts.ttlMs === undefined) return
    const ttl = opts.ttlMs === undefined ? '' : String(px(opts.ttlMs))
    // In chunks: Lua's unpack() has a stack limit of a few thousand values.
    for (let i = 0; i === 0 || i < members.length; i += ACK_CHUNK) {
      await this.redis.junctionAddToSet(this.key(key), ttl, ...members.slice(i, i + ACK_CHUNK))
    }
  }

  async setMembers (key: string): Promise<string[]> {
    return await this.redis.smembers(this.key(key))
  }

  async takeSet (key: string): Promise<string[]> {
    const reply = await this.redis.junctionTakeSet(this.key(key))
    return Array.isArray(reply) ? reply.map(String) : []
  }

  async takeSets (keys: readonly string[]): Promise<string[][]> {
    if (this.cluster || keys.length < 2) return await Promise.all(keys.map(async key => await this.takeSet(key)))
    const reply = await this.redis.junctionTakeSets(keys.length, ...keys.map(key => this.key(key)))
    if (!Array.isArray(reply) || reply.length !== keys.length) throw new Error('unexpected reply to a take of several sets')
    return reply.map(members => Array.isArray(members) ? members.map(String) : [])
  }

  // --- queues ----------------------------------------------------------------------------

  /** The idle time to pass to a claim of `stream`: due once per period, else 0 (no sweep). */
  private sweepIdleConsumers (stream: string): number {
    const now = Date.now()
    const period = Math.min(this.idleConsumerMs, 60_000)
    if (now - (this.consumersSweptAt.get(stream) ?? 0) < period) return 0
    this.consumersSweptAt.set(stream, now)
    return this.idleConsumerMs
  }

  queue (name: string): DurableQueue {
    const redis = this.redis
    const store = this
    const batches = this.batches
    const stream = `${this.prefix}queue:{${name}}`
    const delayed = `${stream}:delayed`
    // Entries appended with a `since`, scored by it (see PROMOTE_LUA).
    const sinceSet = `${stream}:since`
    const peeked = (row: unknown): PeekedEntry => {
      const [id, flat] = row as [unknown, unknown]
      const fields = pairsToRecord(flat)
      delete fields['']
      return { id: String(id), fields, at: idTime(String(id)) }
    }
    // Registers and locks of the queue: keys in the queue's hash tag, so a script may touch
    // them together with the stream (one Redis Cluster slot).
    const local = (key: string): string => `${stream}:k:${key}`
    const toInt = (value: unknown): number | undefined => {
      if (value === null || value === undefined) return undefined
      const n = Number(String(value))
      return Number.isSafeInteger(n) ? n : undefined
    }
    const ttlArg = (ttlMs: number | undefined): string => ttlMs === undefined ? '' : String(px(ttlMs))
    const checkRegister = (register: QueueRegister): void => {
      if (!Number.isSafeInteger(register.value)) throw new Error(`raise of ${register.key} in ${name}: ${register.value} is not a safe integer`)
    }
    return {
      name,
      async append (fields: Record<string, string>, opts: { delayMs?: number, raise?: QueueRegister, since?: number } = {}): Promise<string> {
        // A loop, not Object.entries().flat(): this runs for every write and delivery, and flat() showed in profiles.
        const flat: string[] = []
        for (const key in fields) if (Object.hasOwn(fields, key)) flat.push(key, fields[key] as string)
        const raise = opts.raise
        if (raise !== undefined) checkRegister(raise)
        if (opts.delayMs !== undefined && opts.delayMs > 0) {
          batches.flush(stream)
          const uuid = randomUUID()
          const appended = redis.junctionAppendDelayed(delayed, sinceSet, Math.ceil(opts.delayMs), uuid, JSON.stringify(flat), opts.since === undefined ? '' : String(Math.floor(opts.since)))
          // Issued together: applied in this order (a delayed entry is a sorted set member, the register a key).
          await Promise.all([appended, raise === undefined ? undefined : redis.junctionSetMax(local(raise.key), String(raise.value), ttlArg(raise.ttlMs))])
          return `delayed-${uuid}`
        }
        // XADD needs at least one field; an empty entry gets a placeholder that claim drops.
        const entry = flat.length > 0 ? flat : ['', '']
        const reply = await batches.add(stream, sinceSet, GROUP, {
          kind: 'append',
          fields: entry,
          ...(raise === undefined ? {} : { raise: { key: local(raise.key), value: String(raise.value), ttl: ttlArg(raise.ttlMs) } })
        })
        if (!Array.isArray(reply) || reply[0] === null || reply[0] === undefined) throw new Error(`append to ${stream} returned no id`)
        // The raise failed (the register holds something else than an integer); the entry stands.
        if (reply[2] !== undefined && reply[2] !== null) throw new Error(`raise of ${raise?.key ?? '?'} in ${name}: ${String(reply[2])}`)
        return String(reply[0])
      },
      async lock (lock: QueueLock, opts: { read?: string } = {}): Promise<{ locked: boolean, value: number | undefined }> {
        const reply = await batches.add(stream, sinceSet, GROUP, {
          kind: 'lock',
          lock: local(lock.key),
          token: lock.token,
          ttlMs: px(lock.ttlMs),
          ...(opts.read === undefined ? {} : { register: local(opts.read) })
        })
        if (!Array.isArray(reply)) throw new Error(`unexpected lock reply from ${stream}`)
        return { locked: Number(reply[0]) === 1, value: opts.read === undefined ? undefined : toInt(reply[1]) }
      },
      async raise (register: QueueRegister): Promise<number> {
        checkRegister(register)
        batches.flush(stream)
        return Number(await redis.junctionSetMax(local(register.key), String(register.value), ttlArg(register.ttlMs)))
      },
      async read (key: string): Promise<number | undefined> {
        batches.flush(stream)
        return toInt(await redis.get(local(key)))
      },
      async claim (consumer: string, opts: { count: number, visibilityMs: number, lock?: ClaimLock }): Promise<QueueEntry[]> {
        if (opts.count < 1) return []
        batches.flush(stream)
        const claimLock = opts.lock
        const claim = async (): Promise<unknown> => await redis.junctionClaim(stream, delayed, sinceSet, GROUP, consumer, Math.floor(opts.count),
          Math.max(0, Math.floor(opts.visibilityMs)), store.sweepIdleConsumers(stream), store.groupsSeen.has(stream) ? '0' : '1',
          claimLock?.field ?? '', local(claimLock?.lockPrefix ?? ''), local(claimLock?.readPrefix ?? ''), claimLock?.tokenPrefix ?? '', px(claimLock?.ttlMs ?? 1))
        let reply: unknown
        try {
          reply = await claim()
        } catch (err) {
          // The group went away (the server lost its data, or the stream was deleted): make it again.
          if (!(err instanceof Error) || !err.message.includes('NOGROUP') || !store.groupsSeen.delete(stream)) throw err
          reply = await claim()
        }
        if (!Array.isArray(reply)) throw new Error(`unexpected claim reply from ${stream}`)
        if (reply.length > 0) store.groupsSeen.add(stream)
        return reply.map((row: unknown): QueueEntry => {
          const [id, deliveries, flat, locked, value] = row as [unknown, unknown, unknown, unknown, unknown]
          const fields = pairsToRecord(flat)
          delete fields['']
          const entry = { id: String(id), deliveries: Number(deliveries), fields }
          if (claimLock === undefined || locked === undefined || locked === null) return entry
          return { ...entry, lock: { locked: Number(locked) === 1, value: toInt(value), token: claimLockToken(claimLock, entry.id, entry.deliveries) } }
        })
      },
      async ack (ids: readonly string[], opts: { unlock?: { key: string, token: string } } = {}): Promise<void> {
        // Malformed ids would make XACK fail for the whole batch; they are unknown anyway.
        const valid = ids.filter(id => STREAM_ID.test(id))
        const unlock = opts.unlock
        const acks: Array<Promise<unknown>> = []
        // The unlock rides with the first chunk of ids (or goes alone): one operation for both.
        if (unlock !== undefined) acks.push(batches.add(stream, sinceSet, GROUP, { kind: 'ack', ids: valid.slice(0, ACK_CHUNK), unlock: { key: local(unlock.key), token: unlock.token } }))
        for (let i = unlock === undefined ? 0 : ACK_CHUNK; i < valid.length; i += ACK_CHUNK) {
          acks.push(batches.add(stream, sinceSet, GROUP, { kind: 'ack', ids: valid.slice(i, i + ACK_CHUNK) }))
        }
        await Promise.all(acks)
      },
      async stats (): Promise<QueueStats> {
        batches.flush(stream)
        const reply = await redis.junctionStats(stream, delayed, sinceSet, GROUP)
        if (!Array.isArray(reply)) throw new Error(`unexpected stats reply from ${stream}`)
        const [length, inFlight, oldest, delayedCount, since] = reply as [unknown, unknown, unknown, unknown, unknown]
        const stats = {
          length: Number(length),
          inFlight: Number(inFlight),
          delayed: Number(delayedCount),
          oldestAt: typeof oldest === 'string' ? idTime(oldest) : undefined
        }
        return typeof since === 'string' ? { ...stats, oldestSince: Number(since) } : stats
      },
      async peek (opts: { count: number, after?: string }): Promise<PeekedEntry[]> {
        const count = Math.floor(opts.count)
        if (count < 1) return []
        const start = opts.after === undefined ? '-' : STREAM_ID.test(opts.after) ? `(${opts.after}` : undefined
        if (start === undefined) throw new Error(`peek after "${opts.after}": not a queue id`)
        batches.flush(stream)
        const rows = await redis.xrange(stream, start, '+', 'COUNT', count)
        return rows.map(peeked)
      },
      async get (id: string): Promise<PeekedEntry | undefined> {
        if (!STREAM_ID.test(id)) return undefined
        batches.flush(stream)
        const rows = await redis.xrange(stream, id, id)
        return rows.length === 0 ? undefined : peeked(rows[0])
      }
    }
  }

  // --- pub/sub ---------------------------------------------------------------------------

  private channel (name: string): string {
    return `${this.prefix}channel:${name}`
  }

  async publish (channel: string, message: string): Promise<void> {
    if (this.cluster) await this.redis.spublish(this.channel(channel), message)
    else await this.redis.publish(this.channel(channel), message)
  }

  async subscribe (channel: string, handler: MessageHandler): Promise<() => Promise<void>> {
    const physical = this.channel(channel)
    const sub = this.subscriber()
    let subs = this.handlers.get(physical)
    if (subs === undefined) {
      subs = new Set()
      this.handlers.set(physical, subs)
    }
    const entry = { handler }
    subs.add(entry)
    // SUBSCRIBE again even when already subscribed: it is idempotent, and its reply tells
    // us the subscription is active. Commands go out in call order, so the handler map
    // and the server's subscriptions change in the same order.
    try {
      if (this.cluster) await sub.ssubscribe(physical)
      else await sub.subscribe(physical)
    } catch (err) {
      subs.delete(entry)
      if (subs.size === 0 && this.handlers.get(physical) === subs) this.handlers.delete(physical)
      throw err
    }
    let done = false
    return async () => {
      if (done) return
      done = true
      const current = this.handlers.get(physical)
      if (current === undefined) return
      current.delete(entry)
      if (current.size === 0) {
        this.handlers.delete(physical)
        if (this.cluster) await sub.sunsubscribe(physical)
        else await sub.unsubscribe(physical)
      }
    }
  }

  private subscriber (): Redis | Cluster {
    if (this.sub === undefined) {
      // A cluster's sharded subscribers: one connection per master, following slot moves
      // (with an offline queue, unlike the command connection). A single server's subscriber keeps its
      // offline queue: SUBSCRIBE is issued before the new connection is up.
      const sub = this.cluster
        ? (this.redis as unknown as Cluster).duplicate([], { shardedSubscribers: true, enableOfflineQueue: true })
        : this.redis.duplicate({ enableOfflineQueue: true })
      sub.on('error', (err: Error) => { this.onError(err) })
      sub.on(this.cluster ? 'smessage' : 'message', (channel: string, message: string) => {
        for (const { handler } of [...(this.handlers.get(channel) ?? [])]) {
          try {
            handler(message)
          } catch (err) {
            // One failing subscriber must not starve the others nor break the connection.
            process.emitWarning(`subscriber of ${channel} threw: ${(err as Error).message}`, 'JunctionStoreWarning')
          }
        }
      })
      this.sub = sub
    }
    return this.sub
  }

  // --- lifecycle -------------------------------------------------------------------------

  async ping (): Promise<void> {
    if (this.redis.status !== 'ready') throw new Error(`Redis at ${this.safeUrl} is not connected (${this.redis.status})`)
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        this.redis.ping(),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new Error(`Redis at ${this.safeUrl} did not answer PING within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS)
        })
      ])
    } finally {
      clearTimeout(timer)
    }
  }

  close (): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.heartbeat)
      // QUIT waits for the replies of what is sent before it.
      this.batches.flushAll()
      this.handlers.clear()
      await Promise.all([this.redis, this.sub].map(conn => conn === undefined ? undefined : quit(conn)))
    })()
    return this.closing
  }
}

/** QUIT waits for pending replies; if Redis is unreachable it would wait forever. */
async function quit (conn: Redis | Cluster): Promise<void> {
  if (conn.status === 'end') return
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      conn.quit().catch(() => {}),
      new Promise<void>(resolve => { timer = setTimeout(resolve, 1000) })
    ])
  } finally {
    clearTimeout(timer)
    conn.disconnect()
  }
}
