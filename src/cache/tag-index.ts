/**
 * Tags, their invalidation stamps, and the race rule that keeps a slow fill from storing
 * (or serving) a response older than a write.
 *
 * Store layout (logical keys):
 *   cache:seq             global invalidation sequence (incr)
 *   cache:ts:<tag>        the largest sequence number of any invalidation of the tag (setMax)
 *   cache:tk:<tag>        set of entry keys carrying the tag (eager L2 cleanup only)
 *
 * A fill reads `cache:seq` (its *stamp* S) before it calls the upstream. An entry is
 * current while every one of its tags has stamp(tag) ≤ S (0 if never invalidated). Tags
 * that come from the response's fields are only known at the end of the fill, which is
 * why the stamp is one global number rather than a per-tag generation recorded at the start.
 *
 * An invalidation (after the owner's 2xx) does seq = incr(cache:seq), then per tag
 * setMax(cache:ts:tag, seq): two O(1) operations, whatever the number of entries that
 * carry the tag, and one key per tag. If a fill's S ≥ seq, the fill started after the
 * incr, hence after the write, and saw its effect. The atomic max makes concurrent
 * invalidations of one tag land in any order. (An earlier layout kept one key per
 * invalidation, `cache:ts:<tag>:<g>`, to avoid a compare-and-set; with a long stamp TTL it
 * grew by a key per write.)
 *
 * Until an invalidation's setMax lands, the tag still shows the previous stamp: the
 * invalidation is in progress, and its writer has not answered its client yet. A stamp
 * older than `stampTtlMs`, which outlives every entry and fill, may expire: it counts as 0.
 *
 * Reads go through a small local stamp cache (bounded, `stampCacheMs` old at most) that
 * invalidation messages update at once; a fill's final check reads the store directly.
 */
import { LRUCache } from 'lru-cache'
import type { Store } from '../store/store.js'

export interface TagStamp {
  readonly tag: string
  /** Global sequence of the tag's latest invalidation; 0 when unknown or never. */
  readonly seq: number
}

export interface TagIndexOptions {
  /** How long invalidation records live: longer than any entry plus any fill. */
  readonly stampTtlMs: number
  /** How long a stamp read from the store is trusted locally without a message. */
  readonly stampCacheMs: number
  /** Stamps cached locally, at most. */
  readonly maxCachedStamps: number
  /** Called when the global sequence went backwards (the store lost its data). */
  readonly onSequenceReset?: () => void
}

const SEQ = 'cache:seq'
const stampKey = (tag: string): string => `cache:ts:${tag}`
const setKey = (tag: string): string => `cache:tk:${tag}`

function toInt (buf: Buffer | null): number {
  if (buf === null) return 0
  const n = Number(buf.toString())
  return Number.isSafeInteger(n) && n > 0 ? n : 0
}

export class TagIndex {
  private readonly stamps: LRUCache<string, number>
  private readonly reading = new Map<string, Promise<number>>()
  private highestSeq = 0

  constructor (private readonly store: Store, private readonly opts: TagIndexOptions) {
    this.stamps = new LRUCache({ max: opts.maxCachedStamps, ttl: opts.stampCacheMs })
  }

  /** The stamp a fill records before calling the upstream. */
  async snapshot (): Promise<number> {
    const seq = toInt(await this.store.get(SEQ))
    this.observeSeq(seq)
    return seq
  }

  private observeSeq (seq: number): void {
    // Only a large step back counts: replies to a read and an incr issued close together
    // may be observed out of order, a store that lost its data restarts near 0.
    if (seq * 2 < this.highestSeq) {
      // Redis restarted empty or evicted the counter: every local stamp is now meaningless.
      this.highestSeq = seq
      this.stamps.clear()
      this.opts.onSequenceReset?.()
    } else if (seq > this.highestSeq) {
      this.highestSeq = seq
    }
  }

  /** Keeps the larger of two stamps of a tag: messages and reads may arrive in any order. */
  private merge (tag: string, seq: number): void {
    const had = this.stamps.get(tag)
    if (had !== undefined && had >= seq) return
    this.stamps.set(tag, seq)
  }

  private async read (tag: string): Promise<number> {
    const seq = toInt(await this.store.get(stampKey(tag)))
    this.merge(tag, seq)
    return this.stamps.get(tag) ?? seq
  }

  private async stampOf (tag: string, fresh: boolean): Promise<number> {
    if (!fresh) {
      const cached = this.stamps.get(tag)
      if (cached !== undefined) return cached
    }
    let pending = this.reading.get(tag)
    if (pending === undefined) {
      pending = this.read(tag).finally(() => this.reading.delete(tag))
      this.reading.set(tag, pending)
    }
    return await pending
  }

  /**
   * The answer of isCurrent from the local stamp cache alone, without waiting: undefined
   * when a tag's stamp is not cached (the caller then asks isCurrent).
   */
  currentIfKnown (tags: readonly string[], stamp: number): boolean | undefined {
    let known = true
    for (const tag of tags) {
      const c = this.stamps.get(tag)
      if (c === undefined) known = false
      else if (c > stamp) return false
    }
    return known ? true : undefined
  }

  /**
   * True when none of `tags` was invalidated after `stamp`. `fresh` reads the store
   * instead of the local stamp cache (a fill's final check).
   */
  async isCurrent (tags: readonly string[], stamp: number, fresh = false): Promise<boolean> {
    if (tags.length === 0) return true
    // The synchronous path (every stamp cached) keeps L1 hits off the network.
    if (!fresh) {
      const known = this.currentIfKnown(tags, stamp)
      if (known !== undefined) return known
    }
    const seqs = await Promise.all(tags.map(tag => this.stampOf(tag, fresh)))
    return seqs.every(seq => seq <= stamp)
  }

  /**
   * Records an invalidation of `tags` in the store: a new sequence number and every tag's
   * stamp raised to it, in one store operation (Store.advance: one round trip on a single
   * Redis), with `publish` sent in the same operation (its ADVANCE_PLACEHOLDERs standing
   * for the number). Issues its store operation at once, so a caller may issue more behind
   * it (takeKeys) and pay one round trip for all. Resolves to the sequence number.
   */
  async invalidate (tags: readonly string[], publish?: { channel: string, message: string }): Promise<number> {
    const seq = await this.store.advance(SEQ, tags.map(stampKey), publish === undefined ? { ttlMs: this.opts.stampTtlMs } : { ttlMs: this.opts.stampTtlMs, publish })
    this.observeSeq(seq)
    for (const tag of tags) this.merge(tag, seq)
    return seq
  }

  /** Applies invalidations announced by another instance. */
  note (stamps: readonly TagStamp[]): void {
    for (const s of stamps) {
      if (typeof s.tag === 'string' && Number.isSafeInteger(s.seq)) this.merge(s.tag, s.seq)
    }
  }

  /** Records that entry `key` carries `tags` (for eager deletion on invalidation). */
  async index (key: string, tags: readonly string[], ttlMs: number): Promise<void> {
    await Promise.all(tags.map(tag => this.store.addToSet(setKey(tag), [key], { ttlMs })))
  }

  /** Entry keys recorded under each tag, and the sets themselves removed. */
  async takeKeys (tags: readonly string[]): Promise<string[]> {
    // Read and deleted in one operation: a key indexed meanwhile is not lost.
    const lists = await this.store.takeSets(tags.map(setKey))
    return [...new Set(lists.flat())]
  }

  /** Forgets local stamps (tests, or after the store lost its data). */
  clearLocal (): void {
    this.stamps.clear()
  }
}
