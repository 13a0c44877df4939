/**
 * The embedded store: everything lives in this process's memory, and what must survive a
 * crash (durable entries and counters, their deletions, every queue append and ack) is
 * also written to an append-only journal in `config.dir` before its promise resolves.
 *
 * Journal format (`<dir>/journal.jsonl`): UTF-8, one JSON object per line, `\n`-terminated.
 *   {"op":"hdr","format":1}                          first line of every journal file
 *   {"op":"set","k":key,"v":base64,"x":expiresAt?}   durable entry or counter (absolute
 *                                                    epoch-ms expiry; counters are stored
 *                                                    as their decimal value)
 *   {"op":"del","k":key}                             a durable key was deleted or replaced
 *                                                    by a non-durable one
 *   {"op":"qadd","q":queue,"id":id,"f":{..},"t":ms,  queue append (fields, epoch ms; `d`: epoch
 *    "d":dueAt?,"s":since?}                          ms from which a delayed entry is claimable;
 *                                                    `s`: its `since`, see DurableQueue.append)
 *   {"op":"qack","q":queue,"ids":[id,...]}           queue acknowledgement
 *   {"op":"qseq","q":queue,"id":id}                  snapshots only: last id issued, so ids
 *                                                    keep increasing after compaction
 * Every record is absolute (no deltas), so replaying a record twice is harmless.
 *
 * Writes are group-committed: the records of every operation issued in one tick of the
 * event loop go out in one write(), then all of their promises resolve. With
 * `fsync: 'always'` an fdatasync() precedes the resolution; with `batch` the file is
 * fdatasync()ed about once a second and on close (a process crash loses nothing, an OS
 * crash or power loss may lose the last second). The batch fdatasync() runs beside the
 * writes, not between them: appends do not wait for the disk.
 *
 * The group write is a synchronous write() on the event loop thread. It only copies a few
 * kilobytes into the page cache (microseconds), where an asynchronous write would cost a
 * round trip through libuv's thread pool per group, plus two context switches: measured
 * as the largest single cost of the write fan-out on this store (bench/scenarios/writes.ts).
 *
 * When the journal outgrows max(64 MB, 2 × the last snapshot), the next batch is replaced
 * by a snapshot of the live durable state written to a temporary file, fsynced and
 * renamed over the journal (atomic on POSIX), so a crash leaves either journal intact.
 *
 * On open the journal is replayed; a torn final record (a crash in the middle of a
 * write(): an unterminated last line) is ignored and truncated off. Any other unreadable
 * line is corruption, and opening refuses rather than silently dropping acknowledged data.
 *
 * What is not journaled: cache entries, sets (tag indexes of cache entries), pub/sub, and
 * queue in-flight state. After a restart every unacknowledged entry is claimable again
 * and its delivery count starts over.
 *
 * A lock file (`<dir>/LOCK`, holding the owner's pid, created atomically with link())
 * keeps two processes from journaling into the same directory. A lock whose pid is no
 * longer alive is stale (its owner crashed) and is taken over.
 */
import { randomUUID } from 'node:crypto'
import { writeSync } from 'node:fs'
import { link, mkdir, open, readFile, rename, truncate, unlink, writeFile } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import type { EmbeddedStoreConfig } from '../config/types.js'
import { ADVANCE_PLACEHOLDER, claimLockToken, type ClaimLock, type DurableQueue, type QueueLock, type QueueRegister, type MessageHandler, type PeekedEntry, type QueueEntry, type QueueStats, type SetOptions, type Store } from './store.js'

export interface EmbeddedStoreOptions {
  /** Journal size from which compaction is considered (default 64 MB). */
  compactThresholdBytes?: number
  /** `batch` mode fsync interval (default 1000 ms). */
  fsyncIntervalMs?: number
  /** Interval of the expired-entry sweep (default 1000 ms). */
  sweepIntervalMs?: number
}

const JOURNAL_FILE = 'journal.jsonl'
const LOCK_FILE = 'LOCK'
const FORMAT = 1
const DEFAULT_COMPACT_THRESHOLD = 64 * 1024 * 1024
/** Snapshots are written in pieces of about this size rather than one huge string. */
const WRITE_CHUNK = 1024 * 1024

type JournalRecord =
  | { op: 'hdr', format: number }
  | { op: 'set', k: string, v: string, x?: number }
  | { op: 'del', k: string }
  | { op: 'qadd', q: string, id: string, f: Record<string, string>, t: number, d?: number, s?: number }
  | { op: 'qack', q: string, ids: string[] }
  | { op: 'qseq', q: string, id: string }

interface Entry {
  value: Buffer
  expiresAt: number | undefined
  durable: boolean
}

interface SetEntry {
  members: Set<string>
  expiresAt: number | undefined
}

interface QueueItem {
  readonly id: string
  readonly fields: Readonly<Record<string, string>>
  /** Epoch ms of the append (for a delayed entry: of the moment it became claimable). */
  at: number
  /** Epoch ms from which a delayed entry may be handed out; undefined once it may. */
  dueAt?: number | undefined
  /** The `since` it was appended with (delayed appends only). */
  since?: number | undefined
  deliveries: number
  /** performance.now() of the last hand-out: visibility is measured on a monotonic clock. */
  claimedAt: number
}

class QueueState {
  /** Entries never handed out since open, in id order. */
  readonly waiting = new Map<string, QueueItem>()
  /** Entries handed out and not acknowledged, in order of their last hand-out. */
  readonly inFlight = new Map<string, QueueItem>()
  /** Entries appended with a delay and not yet due; `due` orders their deadlines. */
  readonly delayed = new Map<string, QueueItem>()
  readonly due = new ExpiryHeap()
  /** id → since, of the unacknowledged entries appended with one: few (retries), so stats scan them. */
  readonly since = new Map<string, number>()
  lastMs = 0
  lastSeq = -1

  nextId (): string {
    const now = Date.now()
    // Like Redis stream ids: never go backwards, even when the wall clock does.
    if (now > this.lastMs) {
      this.lastMs = now
      this.lastSeq = 0
    } else {
      this.lastSeq++
    }
    return `${this.lastMs}-${this.lastSeq}`
  }

  /** Moves delayed entries whose time has come to the end of the waiting line. */
  promoteDue (now: number): void {
    for (let d = this.due.popDue(now); d !== undefined; d = this.due.popDue(now)) {
      const item = this.delayed.get(d.key)
      if (item === undefined) continue
      this.delayed.delete(d.key)
      item.dueAt = undefined
      item.at = now
      this.waiting.set(item.id, item)
    }
  }

  addDelayed (item: QueueItem, dueAt: number): void {
    item.dueAt = dueAt
    this.delayed.set(item.id, item)
    this.due.push(dueAt, item.id, false)
  }

  observeId (id: string): void {
    const [ms, seq] = parseId(id)
    if (ms > this.lastMs || (ms === this.lastMs && seq > this.lastSeq)) {
      this.lastMs = ms
      this.lastSeq = seq
    }
  }
}

function parseId (id: string): [number, number] {
  const dash = id.indexOf('-')
  return [Number(id.slice(0, dash)), Number(id.slice(dash + 1))]
}

function compareIds (a: string, b: string): number {
  const [am, as] = parseId(a)
  const [bm, bs] = parseId(b)
  return am !== bm ? am - bm : as - bs
}

class StoreClosedError extends Error {
  constructor (dir: string) {
    super(`embedded store ${dir} is closed`)
    this.name = 'StoreClosedError'
  }
}

/** A binary min-heap of expiry deadlines, so the sweep touches only what is due. */
class ExpiryHeap {
  private readonly items: Array<{ at: number, key: string, set: boolean }> = []

  get size (): number {
    return this.items.length
  }

  push (at: number, key: string, set: boolean): void {
    const items = this.items
    items.push({ at, key, set })
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (items[parent]!.at <= items[i]!.at) break
      ;[items[parent], items[i]] = [items[i]!, items[parent]!]
      i = parent
    }
  }

  /** Removes and returns the earliest item if it is due at `now`. */
  popDue (now: number): { at: number, key: string, set: boolean } | undefined {
    const items = this.items
    const top = items[0]
    if (top === undefined || top.at > now) return undefined
    const last = items.pop()!
    if (items.length > 0) {
      items[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let min = i
        if (l < items.length && items[l]!.at < items[min]!.at) min = l
        if (r < items.length && items[r]!.at < items[min]!.at) min = r
        if (min === i) break
        ;[items[min], items[i]] = [items[i]!, items[min]!]
        i = min
      }
    }
    return top
  }
}

function errorCode (err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined
}

// ---------------------------------------------------------------------------------------
// The journal file: group commit, fsync policy, compaction.

interface Waiter { resolve: () => void, reject: (err: Error) => void }

class Journal {
  private pending: string[] = []
  private waiters: Waiter[] = []
  private flushQueued = false
  private dirty = false
  /** The batch-mode fdatasync() in progress, which appends do not wait for. */
  private syncing: Promise<void> | undefined
  private failure: Error | undefined
  /** Every file operation runs on this chain, one at a time. */
  private chain: Promise<void> = Promise.resolve()
  private compactAt: number
  private readonly syncTimer: NodeJS.Timeout | undefined

  constructor (
    private fh: FileHandle,
    private readonly path: string,
    private readonly dir: string,
    private size: number,
    private readonly fsync: 'always' | 'batch',
    private readonly threshold: number,
    fsyncIntervalMs: number,
    /** Serialises the live durable state; called synchronously when compacting. */
    private readonly snapshot: () => string[]
  ) {
    this.compactAt = threshold
    if (fsync === 'batch') {
      this.syncTimer = setInterval(() => { this.syncBeside() }, fsyncIntervalMs)
      this.syncTimer.unref()
    }
  }

  get broken (): Error | undefined { return this.failure }

  /** Queues records; resolves once they are written (and fsynced with `always`). */
  append (records: readonly JournalRecord[]): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure)
    for (const record of records) this.pending.push(JSON.stringify(record) + '\n')
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject })
      if (!this.flushQueued) {
        this.flushQueued = true
        // setImmediate, not nextTick: everything issued in this tick (promise
        // continuations included) joins the same write.
        setImmediate(() => { this.exclusive(() => this.flush()).catch(() => {}) })
      }
    })
  }

  async close (): Promise<void> {
    if (this.syncTimer !== undefined) clearInterval(this.syncTimer)
    await this.exclusive(() => this.flush()).catch(() => {})
    await this.exclusive(async () => {
      await this.syncing
      if (this.failure === undefined) await this.sync()
      await this.fh.close()
    })
  }

  private exclusive (fn: () => Promise<void>): Promise<void> {
    const run = this.chain.then(fn)
    this.chain = run.then(() => {}, () => {})
    return run
  }

  private async sync (): Promise<void> {
    if (!this.dirty) return
    this.dirty = false
    await this.fh.datasync()
  }

  /**
   * Batch mode's periodic fdatasync(), off the chain: writes issued while it runs are not
   * held up (they are covered by this sync or the next one). A failed sync is retried at
   * the next interval; the records are written, only their flush to disk is late.
   */
  private syncBeside (): void {
    if (this.syncing !== undefined || !this.dirty || this.failure !== undefined) return
    this.dirty = false
    this.syncing = this.fh.datasync()
      .catch(() => { this.dirty = true })
      .finally(() => { this.syncing = undefined })
  }

  private async flush (): Promise<void> {
    this.flushQueued = false
    const lines = this.pending
    const waiters = this.waiters
    this.pending = []
    this.waiters = []
    if (waiters.length === 0) return
    try {
      if (this.failure !== undefined) throw this.failure
      const batch = Buffer.from(lines.join(''))
      // The snapshot is taken now, synchronously: the in-memory state then reflects
      // exactly the operations whose records are in `lines` and before.
      const compacted = this.size + batch.length >= this.compactAt && await this.compact(this.snapshot())
      if (!compacted) {
        writeFullySync(this.fh.fd, batch)
        this.size += batch.length
        this.dirty = true
      }
      if (this.fsync === 'always') await this.sync()
      for (const w of waiters) w.resolve()
    } catch (err) {
      // Fail-stop: the journal may now end in a partial record, and memory holds state the
      // journal does not. Every later durable operation and ping() reports this error.
      this.failure ??= new Error(`journal ${this.path} failed: ${(err as Error).message}`, { cause: err })
      for (const w of [...waiters, ...this.waiters]) w.reject(this.failure)
      this.waiters = []
      this.pending = []
    }
  }

  /**
   * Replaces the journal with `lines`. Returns false when the snapshot could not be
   * written (the old journal is then intact and the caller appends as usual).
   */
  private async compact (lines: string[]): Promise<boolean> {
    const tmp = `${this.path}.compact`
    let bytes = 0
    try {
      const out = await open(tmp, 'w')
      try {
        for (let i = 0; i < lines.length;) {
          let chunk = ''
          while (i < lines.length && chunk.length < WRITE_CHUNK) chunk += lines[i++]
          const buf = Buffer.from(chunk)
          await writeFully(out, buf)
          bytes += buf.length
        }
        await out.datasync()
      } finally {
        await out.close()
      }
      await rename(tmp, this.path)
    } catch {
      await unlink(tmp).catch(() => {})
      // Do not retry on every batch; try again once the journal has doubled.
      this.compactAt = Math.max(this.threshold, this.size * 2)
      return false
    }
    // From here on the journal path names the snapshot: failures are fatal (see flush).
    await fsyncDir(this.dir)
    const next = await open(this.path, 'a')
    // A batch sync of the old file may be running: let it finish before closing that file.
    // No await between it and the swap, so no new one starts on the old file.
    await this.syncing
    const old = this.fh
    this.fh = next
    this.dirty = false
    await old.close()
    this.size = bytes
    this.compactAt = Math.max(this.threshold, bytes * 2)
    return true
  }
}

/** Synchronous: see the header comment on why the group write does not leave the event loop thread. */
function writeFullySync (fd: number, buf: Buffer): void {
  let offset = 0
  while (offset < buf.length) offset += writeSync(fd, buf, offset, buf.length - offset)
}

async function writeFully (fh: FileHandle, buf: Buffer): Promise<void> {
  let offset = 0
  while (offset < buf.length) {
    const { bytesWritten } = await fh.write(buf, offset, buf.length - offset)
    offset += bytesWritten
  }
}

/** Makes a rename durable: the directory entry itself must reach the disk. */
async function fsyncDir (dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

// ---------------------------------------------------------------------------------------
// Replay.

interface ReplayResult { validBytes: number, totalBytes: number }

/** How every record line starts (JSON.stringify keeps key order): tells a torn record from foreign data. */
const RECORD_START = Buffer.from('{"op":"')

/**
 * Reads the journal line by line (in 1 MB reads: it may be far larger than we want in one
 * string) and hands every record to `apply`.
 *
 * Every write ends with a newline, so an unterminated final piece is a torn write (a crash
 * during write()) and is reported as invalid bytes for the caller to truncate. A
 * newline-terminated line that is not a record is corruption, or not our file at all:
 * that throws rather than silently drop acknowledged data.
 */
async function replay (path: string, apply: (record: JournalRecord) => void): Promise<ReplayResult> {
  let fh: FileHandle
  try {
    fh = await open(path, 'r')
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return { validBytes: 0, totalBytes: 0 }
    throw err
  }
  try {
    const buf = Buffer.alloc(WRITE_CHUNK)
    let carry = Buffer.alloc(0)
    let pos = 0
    let validBytes = 0
    let line = 0
    const refuse = (reason: string): Error => new Error(`journal ${path} is corrupt at line ${line} (byte ${validBytes}): ${reason}. ` +
      'Refusing to open rather than lose acknowledged data: restore the file or move it away')
    const handle = (text: string, lineBytes: number): void => {
      line++
      let record: JournalRecord | undefined
      try {
        record = parseRecord(JSON.parse(text))
      } catch (err) {
        throw refuse((err as Error).message)
      }
      if (record === undefined) throw refuse('not a journal record')
      if (line === 1 && record.op !== 'hdr') throw new Error(`${path} is not a Junction journal (no header line)`)
      if (record.op === 'hdr' && record.format !== FORMAT) {
        throw new Error(`journal ${path} has format ${record.format}; this version reads format ${FORMAT}`)
      }
      apply(record)
      validBytes += lineBytes
    }
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos)
      if (bytesRead === 0) break
      pos += bytesRead
      const chunk = carry.length > 0 ? Buffer.concat([carry, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead)
      let start = 0
      for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
        handle(chunk.toString('utf8', start, nl), nl - start + 1)
        start = nl + 1
      }
      // Copy: `buf` is reused by the next read.
      carry = Buffer.from(chunk.subarray(start))
    }
    if (carry.length > 0) {
      const head = carry.subarray(0, RECORD_START.length)
      if (!RECORD_START.subarray(0, head.length).equals(head)) {
        line++
        throw refuse('unterminated final line that does not look like a record')
      }
    }
    return { validBytes, totalBytes: pos }
  } finally {
    await fh.close()
  }
}

function isStringRecord (value: unknown): value is Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  return Object.values(value).every(v => typeof v === 'string')
}

/** Checks the shape of a parsed line; undefined when it is not a record we know. */
function parseRecord (raw: unknown): JournalRecord | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined
  const r = raw as Record<string, unknown>
  const str = (v: unknown): v is string => typeof v === 'string'
  switch (r.op) {
    case 'hdr': return typeof r.format === 'number' ? { op: 'hdr', format: r.format } : undefined
    case 'set':
      if (!str(r.k) || !str(r.v) || (r.x !== undefined && typeof r.x !== 'number')) return undefined
      return r.x === undefined ? { op: 'set', k: r.k, v: r.v } : { op: 'set', k: r.k, v: r.v, x: r.x }
    case 'del': return str(r.k) ? { op: 'del', k: r.k } : undefined
    case 'qadd':
      if (!str(r.q) || !str(r.id) || !isStringRecord(r.f) || typeof r.t !== 'number') return undefined
      if ((r.d !== undefined && typeof r.d !== 'number') || (r.s !== undefined && typeof r.s !== 'number')) return undefined
      return { op: 'qadd', q: r.q, id: r.id, f: r.f, t: r.t, ...(r.d === undefined ? {} : { d: r.d as number }), ...(r.s === undefined ? {} : { s: r.s as number }) }
    case 'qack':
      if (!str(r.q) || !Array.isArray(r.ids) || !r.ids.every(str)) return undefined
      return { op: 'qack', q: r.q, ids: r.ids }
    case 'qseq': return str(r.q) && str(r.id) ? { op: 'qseq', q: r.q, id: r.id } : undefined
    default: return undefined
  }
}

// ---------------------------------------------------------------------------------------
// The lock file.

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return errorCode(err) === 'EPERM'
  }
}

/**
 * Creates `<dir>/LOCK` holding our pid. link() of a fully written temporary file is
 * atomic and fails if the lock exists, so a reader never sees a half-written pid.
 * A lock whose pid is dead is removed and the attempt repeated. (Two processes taking
 * over the same stale lock at the very same moment could race; pids are also only
 * meaningful within one pid namespace: do not share a store directory between hosts
 * or containers.)
 */
async function acquireLock (dir: string): Promise<string> {
  const lockPath = join(dir, LOCK_FILE)
  for (let attempt = 0; attempt < 5; attempt++) {
    const tmp = join(dir, `${LOCK_FILE}.${process.pid}.${randomUUID()}`)
    await writeFile(tmp, `${process.pid}\n`)
    try {
      await link(tmp, lockPath)
      return lockPath
    } catch (err) {
      if (errorCode(err) !== 'EEXIST') throw err
    } finally {
      await unlink(tmp).catch(() => {})
    }
    const holder = await readLockPid(lockPath)
    if (holder !== undefined && isAlive(holder)) {
      const who = holder === process.pid ? `this process (pid ${holder})` : `process ${holder}`
      throw new Error(`store directory ${dir} is already in use by ${who}: lock file ${lockPath}. ` +
        'Two Junction processes cannot share an embedded store; use the redis store to run several')
    }
    // Stale: its holder died without closing.
    await unlink(lockPath).catch((err: unknown) => { if (errorCode(err) !== 'ENOENT') throw err })
  }
  throw new Error(`could not acquire lock file ${lockPath}: it keeps being recreated`)
}

async function readLockPid (lockPath: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(lockPath, 'utf8'), 10)
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined
    throw err
  }
}

async function releaseLock (lockPath: string): Promise<void> {
  if (await readLockPid(lockPath) === process.pid) await unlink(lockPath).catch(() => {})
}

// ---------------------------------------------------------------------------------------
// The store.

interface Subscription { readonly handler: MessageHandler }

export class EmbeddedStore implements Store {
  readonly kind = 'embedded' as const
  private readonly entries = new Map<string, Entry>()
  private readonly sets = new Map<string, SetEntry>()
  private readonly queues = new Map<string, QueueState>()
  private readonly channels = new Map<string, Set<Subscription>>()
  private readonly expiries = new ExpiryHeap()
  /**
   * The deadline each key (each set) has in `expiries`. A key gets at most one there: a
   * later deadline waits until that one comes due (see sweep). Without this, every
   * refresh of a TTL pushed another item (the outbox's newest-wins register is raised with
   * a 30-day TTL on every write), and the heap grew with the number of writes.
   */
  private readonly scheduled = new Map<string, number>()
  private readonly scheduledSets = new Map<string, number>()
  private readonly sweepTimer: NodeJS.Timeout
  private journal!: Journal
  private closed = false
  private closing: Promise<void> | undefined

  private constructor (readonly dir: string, private readonly lockPath: string, sweepIntervalMs: number) {
    this.sweepTimer = setInterval(() => { this.sweep() }, sweepIntervalMs)
    this.sweepTimer.unref()
  }

  static async open (config: EmbeddedStoreConfig, opts: EmbeddedStoreOptions = {}): Promise<EmbeddedStore> {
    const dir = config.dir
    await mkdir(dir, { recursive: true })
    const lockPath = await acquireLock(dir)
    const store = new EmbeddedStore(dir, lockPath, opts.sweepIntervalMs ?? 1000)
    try {
      const path = join(dir, JOURNAL_FILE)
      // A leftover of a compaction interrupted by a crash: the journal itself is intact.
      await unlink(`${path}.compact`).catch(() => {})
      const now = Date.now()
      const result = await replay(path, record => { store.applyReplayed(record, now) })
      if (result.validBytes < result.totalBytes) await truncate(path, result.validBytes)
      const fh = await open(path, 'a')
      let size = result.validBytes
      if (size === 0) {
        const header = Buffer.from(JSON.stringify({ op: 'hdr', format: FORMAT }) + '\n')
        await writeFully(fh, header)
        await fh.datasync()
        size = header.length
      }
      store.journal = new Journal(fh, path, dir, size, config.fsync,
        opts.compactThresholdBytes ?? DEFAULT_COMPACT_THRESHOLD, opts.fsyncIntervalMs ?? 1000,
        () => store.snapshotLines())
      return store
    } catch (err) {
      clearInterval(store.sweepTimer)
      await releaseLock(lockPath)
      throw err
    }
  }

  // --- key/value -------------------------------------------------------------------------

  async get (key: string): Promise<Buffer | null> {
    this.assertOpen()
    const entry = this.live(key)
    return entry === undefined ? null : Buffer.from(entry.value)
  }

  async set (key: string, value: Buffer | string, opts: SetOptions = {}): Promise<void> {
    this.assertOpen()
    await this.write(key, value, opts)
  }

  async setIfAbsent (key: string, value: Buffer | string, opts: SetOptions = {}): Promise<boolean> {
    this.assertOpen()
    if (this.live(key) !== undefined) return false
    await this.write(key, value, opts)
    return true
  }

  async delete (keys: readonly string[]): Promise<number> {
    this.assertOpen()
    let count = 0
    const records: JournalRecord[] = []
    for (const key of keys) {
      const entry = this.live(key)
      if (entry !== undefined) {
        count++
        this.entries.delete(key)
        if (entry.durable) records.push({ op: 'del', k: key })
      } else if (this.liveSet(key) !== undefined) {
        count++
        this.sets.delete(key)
      }
    }
    if (records.length > 0) await this.journal.append(records)
    return count
  }

  async incr (key: string, opts: { durable?: boolean } = {}): Promise<number> {
    this.assertOpen()
    const { next, journaled } = this.incrementNow(key, opts.durable === true)
    await journaled
    return next
  }

  /** The increment applied to memory at once; the journal write (durable counters) to await. */
  private incrementNow (key: string, durableAsked: boolean): { next: number, journaled: Promise<void> | undefined } {
    const entry = this.live(key)
    let current = 0
    if (entry !== undefined) {
      const text = entry.value.toString()
      current = /^-?\d+$/.test(text) ? Number(text) : Number.NaN
      if (!Number.isSafeInteger(current)) throw new Error(`value of ${key} is not an integer`)
    }
    const next = current + 1
    // A counter once durable stays durable: a non-durable increment must not leave the
    // journal holding an older value than memory.
    const durable = durableAsked || entry?.durable === true
    const updated: Entry = { value: Buffer.from(String(next)), expiresAt: entry?.expiresAt, durable }
    this.entries.set(key, updated)
    return { next, journaled: durable ? this.journal.append([setRecord(key, updated)]) : undefined }
  }

  async advance (counter: string, registers: readonly string[], opts: { ttlMs?: number, publish?: { channel: string, message: string } } = {}): Promise<number> {
    this.assertOpen()
    // Every step applied now, in order, so that operations issued after this one see them all.
    const { next, journaled } = this.incrementNow(counter, false)
    const ttl = opts.ttlMs === undefined ? {} : { ttlMs: opts.ttlMs }
    const raised = Promise.all(registers.map(async key => await this.setMax(key, next, ttl)))
    const published = opts.publish === undefined ? undefined : this.publish(opts.publish.channel, opts.publish.message.replaceAll(ADVANCE_PLACEHOLDER, String(next)))
    await Promise.all([journaled, raised, published])
    return next
  }

  async setMax (key: string, value: number, opts: { durable?: boolean, ttlMs?: number } = {}): Promise<number> {
    this.assertOpen()
    if (!Number.isSafeInteger(value)) throw new Error(`setMax of ${key}: ${value} is not a safe integer`)
    const entry = this.live(key)
    let current: number | undefined
    if (entry !== undefined) {
      const text = entry.value.toString()
      current = /^-?\d+$/.test(text) ? Number(text) : Number.NaN
      if (!Number.isSafeInteger(current)) throw new Error(`value of ${key} is not an integer`)
      // Unchanged: nothing to write (this is called on every delivery, mostly a no-op).
      if (current >= value) return current
    }
    const durable = opts.durable === true || entry?.durable === true
    const expiresAt = opts.ttlMs === undefined ? entry?.expiresAt : Date.now() + opts.ttlMs
    const updated: Entry = { value: Buffer.from(String(value)), expiresAt, durable }
    this.entries.set(key, updated)
    if (expiresAt !== undefined) this.schedule(key, expiresAt, false)
    if (durable) await this.journal.append([setRecord(key, updated)])
    return value
  }

  async deleteIfEquals (key: string, value: string): Promise<boolean> {
    this.assertOpen()
    const entry = this.live(key)
    if (entry === undefined || !entry.value.equals(Buffer.from(value))) return false
    this.entries.delete(key)
    if (entry.durable) await this.journal.append([{ op: 'del', k: key }])
    return true
  }

  // --- sets (memory only: they index cache entries) --------------------------------------

  async addToSet (key: string, members: readonly string[], opts: { ttlMs?: number } = {}): Promise<void> {
    this.assertOpen()
    let set = this.liveSet(key)
    if (set === undefined) {
      if (members.length === 0) return
      set = { members: new Set(), expiresAt: undefined }
      this.sets.set(key, set)
    }
    for (const m of members) set.members.add(m)
    if (opts.ttlMs !== undefined) {
      set.expiresAt = Date.now() + opts.ttlMs
      this.schedule(key, set.expiresAt, true)
    }
  }

  async setMembers (key: string): Promise<string[]> {
    this.assertOpen()
    return [...(this.liveSet(key)?.members ?? [])]
  }

  async takeSet (key: string): Promise<string[]> {
    this.assertOpen()
    const members = [...(this.liveSet(key)?.members ?? [])]
    this.sets.delete(key)
    return members
  }

  async takeSets (keys: readonly string[]): Promise<string[][]> {
    return await Promise.all(keys.map(async key => await this.takeSet(key)))
  }

  // --- queues ----------------------------------------------------------------------------

  queue (name: string): DurableQueue {
    const store = this
    const state = (): QueueState => {
      let q = this.queues.get(name)
      if (q === undefined) {
        q = new QueueState()
        this.queues.set(name, q)
      }
      return q
    }
    // The queue's registers and locks are store entries under a name of the queue's own.
    // Operations are applied to memory when called, so an append and a raise (or an unlock
    // and an ack) issued together take effect in that order, journaled in one write.
    const local = (key: string): string => `queue:${name}#${key}`
    const toInt = (value: Buffer | null): number | undefined => {
      if (value === null) return undefined
      const n = Number(value.toString())
      return Number.isSafeInteger(n) ? n : undefined
    }
    const raise = async (register: QueueRegister): Promise<number> => await store.setMax(local(register.key), register.value,
      register.ttlMs === undefined ? { durable: true } : { durable: true, ttlMs: register.ttlMs })
    const appendOnly = async (fields: Record<string, string>, opts: { delayMs?: number, since?: number }): Promise<string> => {
      store.assertOpen()
      const q = state()
      const id = q.nextId()
      const item: QueueItem = { id, fields: { ...fields }, at: q.lastMs, deliveries: 0, claimedAt: 0 }
      const delayMs = opts.delayMs ?? 0
      if (delayMs > 0) {
        const dueAt = Date.now() + delayMs
        q.addDelayed(item, dueAt)
        if (opts.since !== undefined) {
          item.since = opts.since
          q.since.set(id, opts.since)
        }
        await store.journal.append([opts.since === undefined
          ? { op: 'qadd', q: name, id, f: { ...fields }, t: item.at, d: dueAt }
          : { op: 'qadd', q: name, id, f: { ...fields }, t: item.at, d: dueAt, s: opts.since }])
      } else {
        q.waiting.set(id, item)
        await store.journal.append([{ op: 'qadd', q: name, id, f: { ...fields }, t: item.at }])
      }
      return id
    }
    const queue: DurableQueue = {
      name,
      async append (fields: Record<string, string>, opts: { delayMs?: number, raise?: QueueRegister, since?: number } = {}): Promise<string> {
        if (opts.raise === undefined) return await appendOnly(fields, opts)
        const [id] = await Promise.all([appendOnly(fields, opts), raise(opts.raise)])
        return id
      },
      async claim (consumer: string, opts: { count: number, visibilityMs: number, lock?: ClaimLock }): Promise<QueueEntry[]> {
        store.assertOpen()
        const q = state()
        q.promoteDue(Date.now())
        const now = performance.now()
        const out: QueueEntry[] = []
        // In-flight entries are ordered by hand-out time, so the expired ones are a prefix.
        // Collected first: handOut() re-inserts into the map being iterated.
        const reclaimed: QueueItem[] = []
        for (const item of q.inFlight.values()) {
          if (reclaimed.length >= opts.count || now - item.claimedAt < opts.visibilityMs) break
          reclaimed.push(item)
        }
        for (const item of reclaimed) out.push(handOut(q, item, now))
        for (const item of q.waiting.values()) {
          if (out.length >= opts.count) break
          q.waiting.delete(item.id)
          out.push(handOut(q, item, now))
        }
        const claimLock = opts.lock
        if (claimLock === undefined) return out
        // Each lock is applied when called, in entry order, as the Redis script takes them.
        return await Promise.all(out.map(async entry => {
          const value = entry.fields[claimLock.field]
          if (value === undefined) return entry
          const token = claimLockToken(claimLock, entry.id, entry.deliveries)
          const taken = await queue.lock({ key: claimLock.lockPrefix + value, token, ttlMs: claimLock.ttlMs }, { read: claimLock.readPrefix + value })
          return { ...entry, lock: { ...taken, token } }
        }))
      },
      async ack (ids: readonly string[], opts: { unlock?: { key: string, token: string } } = {}): Promise<void> {
        store.assertOpen()
        const unlocked = opts.unlock === undefined ? undefined : store.deleteIfEquals(local(opts.unlock.key), opts.unlock.token)
        const q = state()
        const acked = ids.filter(id => q.inFlight.delete(id) || q.waiting.delete(id))
        if (q.since.size > 0) for (const id of acked) q.since.delete(id)
        if (acked.length > 0) await store.journal.append([{ op: 'qack', q: name, ids: acked }])
        await unlocked
      },
      async lock (lock: QueueLock, opts: { read?: string } = {}): Promise<{ locked: boolean, value: number | undefined }> {
        const [locked, value] = await Promise.all([
          store.setIfAbsent(local(lock.key), lock.token, { ttlMs: lock.ttlMs }),
          opts.read === undefined ? null : store.get(local(opts.read))
        ])
        return { locked, value: toInt(value) }
      },
      raise,
      async read (key: string): Promise<number | undefined> {
        return toInt(await store.get(local(key)))
      },
      async stats (): Promise<QueueStats> {
        store.assertOpen()
        const q = state()
        q.promoteDue(Date.now())
        let oldestAt = q.waiting.values().next().value?.at
        for (const item of q.inFlight.values()) {
          if (oldestAt === undefined || item.at < oldestAt) oldestAt = item.at
        }
        const stats = { length: q.waiting.size + q.inFlight.size + q.delayed.size, inFlight: q.inFlight.size, delayed: q.delayed.size, oldestAt }
        if (q.since.size === 0) return stats
        let oldestSince = Infinity
        for (const since of q.since.values()) if (since < oldestSince) oldestSince = since
        return { ...stats, oldestSince }
      },
      async peek (opts: { count: number, after?: string }): Promise<PeekedEntry[]> {
        store.assertOpen()
        const q = state()
        q.promoteDue(Date.now())
        const after = opts.after
        const items = [...q.waiting.values(), ...q.inFlight.values()]
          .filter(item => after === undefined || compareIds(item.id, after) > 0)
          .sort((a, b) => compareIds(a.id, b.id))
        return items.slice(0, Math.max(0, opts.count)).map(peeked)
      },
      async get (id: string): Promise<PeekedEntry | undefined> {
        store.assertOpen()
        const q = state()
        q.promoteDue(Date.now())
        const item = q.waiting.get(id) ?? q.inFlight.get(id)
        return item === undefined ? undefined : peeked(item)
      }
    }
    return queue
  }

  // --- pub/sub (in-process) --------------------------------------------------------------

  async publish (channel: string, message: string): Promise<void> {
    this.assertOpen()
    const subs = this.channels.get(channel)
    if (subs === undefined) return
    const targets = [...subs]
    // Asynchronous, like a network round trip: a handler never runs inside publish().
    setImmediate(() => {
      for (const sub of targets) {
        // Unsubscribed in the meantime: not delivered.
        if (!subs.has(sub)) continue
        try {
          sub.handler(message)
        } catch (err) {
          // One failing subscriber must not starve the others nor crash the process.
          process.emitWarning(`subscriber of ${channel} threw: ${(err as Error).message}`, 'JunctionStoreWarning')
        }
      }
    })
  }

  async subscribe (channel: string, handler: MessageHandler): Promise<() => Promise<void>> {
    this.assertOpen()
    let subs = this.channels.get(channel)
    if (subs === undefined) {
      subs = new Set()
      this.channels.set(channel, subs)
    }
    // One object per call: subscribing the same function twice gives two subscriptions.
    const sub: Subscription = { handler }
    subs.add(sub)
    return async () => {
      const current = this.channels.get(channel)
      if (current === undefined) return
      current.delete(sub)
      if (current.size === 0) this.channels.delete(channel)
    }
  }

  // --- lifecycle -------------------------------------------------------------------------

  available (): boolean {
    return !this.closed && this.journal.broken === undefined
  }

  async ping (): Promise<void> {
    this.assertOpen()
    const failure = this.journal.broken
    if (failure !== undefined) throw failure
  }

  close (): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true
      clearInterval(this.sweepTimer)
      this.channels.clear()
      try {
        await this.journal.close()
      } finally {
        await releaseLock(this.lockPath)
      }
    })()
    return this.closing
  }

  // --- internals -------------------------------------------------------------------------

  private assertOpen (): void {
    if (this.closed) throw new StoreClosedError(this.dir)
  }

  private live (key: string): Entry | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      // Lazy expiry. A durable entry's journal record carries its deadline, so replay
      // drops it as well: nothing to journal.
      this.entries.delete(key)
      return undefined
    }
    return entry
  }

  private liveSet (key: string): SetEntry | undefined {
    const set = this.sets.get(key)
    if (set === undefined) return undefined
    if (set.expiresAt !== undefined && set.expiresAt <= Date.now()) {
      this.sets.delete(key)
      return undefined
    }
    return set
  }

  private async write (key: string, value: Buffer | string, opts: SetOptions): Promise<void> {
    const previous = this.entries.get(key)
    // Copy: the caller may reuse its buffer, and get() hands out copies for the same reason.
    const entry: Entry = {
      value: typeof value === 'string' ? Buffer.from(value) : Buffer.from(value),
      expiresAt: opts.ttlMs === undefined ? undefined : Date.now() + opts.ttlMs,
      durable: opts.durable === true
    }
    this.entries.set(key, entry)
    if (entry.expiresAt !== undefined) this.schedule(key, entry.expiresAt, false)
    if (entry.durable) {
      await this.journal.append([setRecord(key, entry)])
    } else if (previous?.durable === true) {
      // Otherwise a restart would resurrect the durable value this one replaced.
      await this.journal.append([{ op: 'del', k: key }])
    }
  }

  /** Makes sure the sweep looks at `key` by `at` (see `scheduled`). */
  private schedule (key: string, at: number, set: boolean): void {
    const scheduled = set ? this.scheduledSets : this.scheduled
    const current = scheduled.get(key)
    if (current !== undefined && current <= at) return
    scheduled.set(key, at)
    this.expiries.push(at, key, set)
  }

  /** Number of deadlines the sweep holds (diagnostics, tests): at most one per key with a TTL, plus a few replaced ones. */
  get scheduledExpiries (): number {
    return this.expiries.size
  }

  /**
   * Drops what has expired. A key whose deadline moved later since it was scheduled is
   * scheduled again at its current deadline; an item replaced by an earlier one is skipped.
   */
  private sweep (): void {
    const now = Date.now()
    for (let due = this.expiries.popDue(now); due !== undefined; due = this.expiries.popDue(now)) {
      const scheduled = due.set ? this.scheduledSets : this.scheduled
      if (scheduled.get(due.key) !== due.at) continue
      scheduled.delete(due.key)
      const expiresAt = due.set ? this.sets.get(due.key)?.expiresAt : this.entries.get(due.key)?.expiresAt
      if (expiresAt === undefined) continue
      if (expiresAt > now) {
        this.schedule(due.key, expiresAt, due.set)
      } else if (due.set) {
        this.sets.delete(due.key)
      } else {
        this.entries.delete(due.key)
      }
    }
  }

  private applyReplayed (record: JournalRecord, now: number): void {
    switch (record.op) {
      case 'hdr': return
      case 'set':
        if (record.x !== undefined && record.x <= now) {
          this.entries.delete(record.k)
          return
        }
        this.entries.set(record.k, { value: Buffer.from(record.v, 'base64'), expiresAt: record.x, durable: true })
        if (record.x !== undefined) this.schedule(record.k, record.x, false)
        return
      case 'del':
        this.entries.delete(record.k)
        return
      case 'qadd': {
        const q = this.replayQueue(record.q)
        q.observeId(record.id)
        const item: QueueItem = { id: record.id, fields: record.f, at: record.t, deliveries: 0, claimedAt: 0 }
        if (record.s !== undefined) {
          item.since = record.s
          q.since.set(record.id, record.s)
        }
        if (record.d !== undefined && record.d > now) q.addDelayed(item, record.d)
        else q.waiting.set(record.id, item)
        return
      }
      case 'qack': {
        const q = this.replayQueue(record.q)
        for (const id of record.ids) {
          q.waiting.delete(id)
          q.delayed.delete(id)
          q.since.delete(id)
        }
        return
      }
      case 'qseq':
        this.replayQueue(record.q).observeId(record.id)
    }
  }

  private replayQueue (name: string): QueueState {
    let q = this.queues.get(name)
    if (q === undefined) {
      q = new QueueState()
      this.queues.set(name, q)
    }
    return q
  }

  /** The live durable state as journal lines (a compacted journal). */
  private snapshotLines (): string[] {
    const now = Date.now()
    const lines = [JSON.stringify({ op: 'hdr', format: FORMAT }) + '\n']
    for (const [key, entry] of this.entries) {
      if (!entry.durable || (entry.expiresAt !== undefined && entry.expiresAt <= now)) continue
      lines.push(JSON.stringify(setRecord(key, entry)) + '\n')
    }
    for (const [name, q] of this.queues) {
      if (q.lastSeq >= 0) lines.push(JSON.stringify({ op: 'qseq', q: name, id: `${q.lastMs}-${q.lastSeq}` }) + '\n')
      const items = [...q.waiting.values(), ...q.inFlight.values(), ...q.delayed.values()].sort((a, b) => compareIds(a.id, b.id))
      for (const item of items) {
        const record = {
          op: 'qadd',
          q: name,
          id: item.id,
          f: item.fields,
          t: item.at,
          ...(item.dueAt === undefined ? {} : { d: item.dueAt }),
          ...(item.since === undefined ? {} : { s: item.since })
        }
        lines.push(JSON.stringify(record) + '\n')
      }
    }
    return lines
  }
}

function setRecord (key: string, entry: Entry): JournalRecord {
  return entry.expiresAt === undefined
    ? { op: 'set', k: key, v: entry.value.toString('base64') }
    : { op: 'set', k: key, v: entry.value.toString('base64'), x: entry.expiresAt }
}

function peeked (item: QueueItem): PeekedEntry {
  return { id: item.id, fields: { ...item.fields }, at: item.at }
}

function handOut (q: QueueState, item: QueueItem, now: number): QueueEntry {
  item.deliveries++
  item.claimedAt = now
  // Delete and re-insert: keeps inFlight ordered by hand-out time.
  q.inFlight.delete(item.id)
  q.inFlight.set(item.id, item)
  return { id: item.id, fields: { ...item.fields }, deliveries: item.deliveries }
}
