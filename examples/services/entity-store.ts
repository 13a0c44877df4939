/**
 * The in-memory, versioned entity store behind the demo services (no HTTP here).
 *
 * It implements the data-versioning contract Junction's write fan-out relies on:
 *
 * - Owned collections: every entity has an integer `version`, 1 on creation and
 *   incremented by every write. A delete is a write too: it leaves a tombstone that
 *   carries the next version, so a later re-creation continues the sequence instead of
 *   restarting at 1 (a copy that saw the delete must see the re-creation as newer).
 * - Copy collections hold another service's entities at the version their owner gave
 *   them. A copy write is applied only if its version is strictly newer than the one
 *   held (Elasticsearch "external" versioning); otherwise it is a conflict. This makes
 *   fan-out deliveries safe to retry and to reorder: an old write arriving late loses.
 * - Idempotency keys already applied are remembered (bounded) so that a retried
 *   delivery whose first answer was lost gets the same answer rather than a conflict.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject
export interface JsonObject { [key: string]: JsonValue }

/** One stored version of an entity; `data` is null for a tombstone. */
interface StoredRecord {
  version: number
  data: JsonObject | null
}

/** A live entity: its id, its version and its fields (without `id` and `version`). */
export interface Entity {
  id: string
  version: number
  data: JsonObject
}

/** Why a store operation was refused; the HTTP layer maps it to problem+json. */
export class StoreError extends Error {
  readonly status: number
  readonly code: string
  readonly extensions: Record<string, JsonValue>

  constructor (status: number, code: string, detail: string, extensions: Record<string, JsonValue> = {}) {
    super(detail)
    this.name = 'StoreError'
    this.status = status
    this.code = code
    this.extensions = extensions
  }
}

/** Conditions from the request headers, checked against the current version. */
export interface WriteConditions {
  ifMatch?: string | undefined
  ifNoneMatch?: string | undefined
}

/** Fields the server manages; a client body can carry them, they never get stored. */
const MANAGED_FIELDS = new Set(['id', 'version'])

export function etagOf (version: number): string {
  return `"${version}"`
}

/** The JSON document a client sees: `id` first, the fields, then `version`. */
export function representation (entity: Entity): JsonObject {
  return { id: entity.id, ...entity.data, version: entity.version }
}

export function isJsonObject (value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Parses an If-Match / If-None-Match value into its entity tags. Returns '*' for the
 * wildcard. Weak tags keep their `W/` prefix so callers can choose the comparison.
 */
function parseEtagList (header: string): '*' | string[] {
  const trimmed = header.trim()
  if (trimmed === '*') return '*'
  return trimmed.split(',').map(tag => tag.trim()).filter(tag => tag.length > 0)
}

/**
 * If-Match uses the strong comparison (RFC 9110 §13.1.1): a weak tag never matches.
 * With no current representation, any If-Match fails, including `*`.
 */
export function ifMatchPasses (header: string | undefined, currentVersion: number | undefined): boolean {
  if (header === undefined) return true
  if (currentVersion === undefined) return false
  const tags = parseEtagList(header)
  if (tags === '*') return true
  return tags.includes(etagOf(currentVersion))
}

/**
 * True when If-None-Match matches, i.e. the condition *fails*: GET answers 304,
 * a write answers 412. Uses the weak comparison (RFC 9110 §13.1.2).
 */
export function ifNoneMatchMatches (header: string | undefined, currentVersion: number | undefined): boolean {
  if (header === undefined || currentVersion === undefined) return false
  const tags = parseEtagList(header)
  if (tags === '*') return true
  const current = etagOf(currentVersion)
  return tags.some(tag => (tag.startsWith('W/') ? tag.slice(2) : tag) === current)
}

/**
 * RFC 7396 JSON merge patch. `__proto__` keys are skipped: JSON.parse creates them as
 * own properties and copying one with assignment would change an object's prototype.
 */
export function mergePatch (target: JsonValue | undefined, patch: JsonValue): JsonValue {
  if (!isJsonObject(patch)) return patch
  const result: JsonObject = isJsonObject(target) ? { ...target } : {}
  for (const [key, value] of Object.entries(patch)) {
    if (key === '__proto__') continue
    if (value === null) {
      delete result[key]
    } else {
      result[key] = mergePatch(result[key], value)
    }
  }
  return result
}

/** Copies a client body minus the managed fields (and any `__proto__` key). */
function stripManaged (body: JsonObject): JsonObject {
  const data: JsonObject = {}
  for (const [key, value] of Object.entries(body)) {
    if (!MANAGED_FIELDS.has(key) && key !== '__proto__') data[key] = value
  }
  return data
}

/** Ids are strings in paths; a body may also give a number. */
function idFromBody (value: JsonValue | undefined): string | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value === 'string' && value.length > 0) return value
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value)
  throw new StoreError(400, 'INVALID_ID', 'The "id" field must be a non-empty string or an integer.')
}

/**
 * `?field=value` filtering: every given field must match. Values are compared as
 * strings because query strings have no types (`?userId=1` matches 1 and "1");
 * a repeated parameter matches any of its values.
 */
export type ListFilter = Record<string, string | string[] | undefined>

function matchesFilter (doc: JsonObject, filter: ListFilter): boolean {
  for (const [field, wanted] of Object.entries(filter)) {
    if (wanted === undefined) continue
    const value = doc[field]
    if (value === undefined || (typeof value === 'object' && value !== null)) return false
    const actual = String(value)
    if (Array.isArray(wanted) ? !wanted.includes(actual) : actual !== wanted) return false
  }
  return true
}

/** What was stored for an idempotency key, replayed as-is on a repeat. */
export interface IdempotentOutcome {
  /** The request the key was first used with; the same key on another request is refused. */
  fingerprint: string
  status: number
  headers: Record<string, string>
  body: JsonObject | undefined
}

/**
 * Bounded memory of idempotency keys: a Map in insertion order, oldest evicted first.
 * A bound keeps a long benchmark from growing it without limit; a delivery retried
 * after that many newer ones falls back to the version check, which is still correct
 * (it answers 409 "already have it" instead of replaying the first answer).
 */
export class IdempotencyCache {
  readonly #entries = new Map<string, IdempotentOutcome>()
  readonly #limit: number

  constructor (limit: number) {
    this.#limit = Math.max(1, limit)
  }

  get size (): number {
    return this.#entries.size
  }

  get (key: string): IdempotentOutcome | undefined {
    return this.#entries.get(key)
  }

  set (key: string, outcome: IdempotentOutcome): void {
    this.#entries.delete(key)
    this.#entries.set(key, outcome)
    while (this.#entries.size > this.#limit) {
      const oldest = this.#entries.keys().next()
      if (oldest.done === true) break
      this.#entries.delete(oldest.value)
    }
  }
}

/** A seed entity: must carry `id`; may carry `version` (default 1). */
export type SeedEntity = JsonObject
export type Seed = Record<string, SeedEntity[]>

export interface EntityStoreOptions {
  /** Collections this service owns (full read/write API). */
  collections: string[]
  /** Collections holding copies of other services' entities (newer-only writes). */
  copies?: string[]
  /** Initial data per collection (owned or copy). */
  seed?: Seed
  /** How many idempotency keys to remember (default 10 000). */
  idempotencyLimit?: number
}

/** The outcome of a copy write that was applied. */
export interface CopyApplied {
  id: string
  version: number
  /** The stored copy, or null when the write was a tombstone. */
  entity: Entity | null
}

export class EntityStore {
  readonly collections: readonly string[]
  readonly copies: readonly string[]
  readonly idempotency: IdempotencyCache
  readonly #owned = new Map<string, Map<string, StoredRecord>>()
  readonly #copies = new Map<string, Map<string, StoredRecord>>()
  /** Next id to try per owned collection when POST gives none. */
  readonly #nextId = new Map<string, number>()

  constructor (opts: EntityStoreOptions) {
    this.collections = [...opts.collections]
    this.copies = [...(opts.copies ?? [])]
    this.idempotency = new IdempotencyCache(opts.idempotencyLimit ?? 10_000)
    for (const name of this.collections) {
      if (this.#owned.has(name)) throw new Error(`Collection "${name}" is listed twice.`)
      this.#owned.set(name, new Map())
      this.#nextId.set(name, 1)
    }
    for (const name of this.copies) {
      if (this.#owned.has(name) || this.#copies.has(name)) {
        throw new Error(`Copy collection "${name}" collides with another collection.`)
      }
      this.#copies.set(name, new Map())
    }
    for (const [name, entities] of Object.entries(opts.seed ?? {})) {
      const records = this.#owned.get(name) ?? this.#copies.get(name)
      if (records === undefined) throw new Error(`Seed names unknown collection "${name}".`)
      for (const doc of entities) {
        const id = idFromBody(doc.id)
        if (id === undefined) throw new Error(`A seed entity of "${name}" has no id.`)
        const version = typeof doc.version === 'number' && Number.isSafeInteger(doc.version) && doc.version >= 1
          ? doc.version
          : 1
        // Cloned so that two services built from the same seed constants never share objects.
        records.set(id, { version, data: stripManaged(structuredClone(doc)) })
      }
    }
  }

  hasCollection (name: string): boolean {
    return this.#owned.has(name)
  }

  hasCopyCollection (name: string): boolean {
    return this.#copies.has(name)
  }

  // ---- owned collections --------------------------------------------------------

  list (collection: string, filter: ListFilter = {}): JsonObject[] {
    return listLive(this.#records(collection), filter)
  }

  get (collection: string, id: string): Entity | undefined {
    return liveEntity(id, this.#records(collection).get(id))
  }

  /** POST: creates with the body's id, or assigns the next free integer id. */
  create (collection: string, body: JsonObject): Entity {
    const records = this.#records(collection)
    let id = idFromBody(body.id)
    if (id === undefined) {
      id = this.#assignId(collection, records)
    } else if (records.get(id)?.data != null) {
      throw new StoreError(409, 'ALREADY_EXISTS', `${collection}/${id} already exists.`, { id })
    }
    return this.#write(records, id, stripManaged(body))
  }

  /** PUT: replaces, or creates (version 1, or after a tombstone its next version). */
  replace (collection: string, id: string, body: JsonObject, conditions: WriteConditions = {}): { entity: Entity, created: boolean } {
    const records = this.#records(collection)
    const bodyId = idFromBody(body.id)
    if (bodyId !== undefined && bodyId !== id) {
      throw new StoreError(400, 'ID_MISMATCH', `The body's id "${bodyId}" differs from the path's id "${id}".`)
    }
    const current = liveVersion(records.get(id))
    checkWriteConditions(collection, id, current, conditions)
    return { entity: this.#write(records, id, stripManaged(body)), created: current === undefined }
  }

  /** PATCH: JSON merge patch of an existing entity; `id` and `version` cannot be patched. */
  patch (collection: string, id: string, patch: JsonObject, conditions: WriteConditions = {}): Entity {
    const records = this.#records(collection)
    const record = records.get(id)
    const current = liveVersion(record)
    checkWriteConditions(collection, id, current, conditions)
    if (record?.data == null) throw notFound(collection, id)
    const merged = mergePatch(record.data, stripManaged(patch))
    // A merge patch of an object by an object is always an object.
    return this.#write(records, id, isJsonObject(merged) ? merged : {})
  }

  /** DELETE: leaves a tombstone carrying the next version, which it returns. */
  remove (collection: string, id: string, conditions: WriteConditions = {}): { id: string, version: number } {
    const records = this.#records(collection)
    const record = records.get(id)
    const current = liveVersion(record)
    checkWriteConditions(collection, id, current, conditions)
    if (record?.data == null) throw notFound(collection, id)
    const version = record.version + 1
    records.set(id, { version, data: null })
    return { id, version }
  }

  /** The version of an id including tombstones (undefined if never written). */
  versionOf (collection: string, id: string): number | undefined {
    return this.#records(collection).get(id)?.version
  }

  // ---- copy collections ---------------------------------------------------------

  listCopies (collection: string, filter: ListFilter = {}): JsonObject[] {
    return listLive(this.#copyRecords(collection), filter)
  }

  getCopy (collection: string, id: string): Entity | undefined {
    return liveEntity(id, this.#copyRecords(collection).get(id))
  }

  /** The version held for a copy, tombstones included. */
  copyVersionOf (collection: string, id: string): number | undefined {
    return this.#copyRecords(collection).get(id)?.version
  }

  /**
   * Applies a copy write at the owner's `version`: `body` replaces the copy, null
   * leaves a tombstone. Refused with 409 unless `version` is strictly newer than the
   * version held (live or tombstone): that is what makes late or repeated deliveries
   * harmless.
   */
  applyCopy (collection: string, id: string, version: number, body: JsonObject | null): CopyApplied {
    const records = this.#copyRecords(collection)
    if (!Number.isSafeInteger(version) || version < 1) {
      throw new StoreError(400, 'INVALID_VERSION', 'The entity version must be an integer of at least 1.')
    }
    const held = records.get(id)
    if (held !== undefined && held.version >= version) {
      throw new StoreError(409, 'VERSION_CONFLICT',
        `${collection}/${id} is already at version ${held.version}; version ${version} is not newer.`,
        { id, currentVersion: held.version, attemptedVersion: version })
    }
    const data = body === null ? null : stripManaged(body)
    records.set(id, { version, data })
    return { id, version, entity: data === null ? null : { id, version, data } }
  }

  // ---- internals ----------------------------------------------------------------

  #records (collection: string): Map<string, StoredRecord> {
    const records = this.#owned.get(collection)
    if (records === undefined) throw new StoreError(404, 'UNKNOWN_COLLECTION', `No collection "${collection}".`)
    return records
  }

  #copyRecords (collection: string): Map<string, StoredRecord> {
    const records = this.#copies.get(collection)
    if (records === undefined) throw new StoreError(404, 'UNKNOWN_COLLECTION', `No copy collection "${collection}".`)
    return records
  }

  /** Stores `data` at the next version of `id` (tombstones included). */
  #write (records: Map<string, StoredRecord>, id: string, data: JsonObject): Entity {
    const version = (records.get(id)?.version ?? 0) + 1
    records.set(id, { version, data })
    return { id, version, data }
  }

  /** The smallest integer id not used yet, tombstones included, so a new entity never inherits an old version. */
  #assignId (collection: string, records: Map<string, StoredRecord>): string {
    let next = this.#nextId.get(collection) ?? 1
    while (records.has(String(next))) next++
    this.#nextId.set(collection, next + 1)
    return String(next)
  }
}

function liveVersion (record: StoredRecord | undefined): number | undefined {
  return record?.data == null ? undefined : record.version
}

function liveEntity (id: string, record: StoredRecord | undefined): Entity | undefined {
  if (record?.data == null) return undefined
  return { id, version: record.version, data: record.data }
}

function listLive (records: Map<string, StoredRecord>, filter: ListFilter): JsonObject[] {
  const out: JsonObject[] = []
  for (const [id, record] of records) {
    if (record.data === null) continue
    const doc = representation({ id, version: record.version, data: record.data })
    if (matchesFilter(doc, filter)) out.push(doc)
  }
  return out
}

function notFound (collection: string, id: string): StoreError {
  return new StoreError(404, 'NOT_FOUND', `${collection}/${id} does not exist.`, { id })
}

/**
 * Preconditions are evaluated before existence (RFC 9110 §13.2.2), so a conditional
 * write on a missing entity answers 412, not 404: the client's assumption is wrong.
 */
function checkWriteConditions (collection: string, id: string, current: number | undefined, conditions: WriteConditions): void {
  if (!ifMatchPasses(conditions.ifMatch, current)) {
    throw new StoreError(412, 'PRECONDITION_FAILED',
      current === undefined
        ? `If-Match: ${collection}/${id} does not exist.`
        : `If-Match: ${collection}/${id} is at version ${current} (ETag ${etagOf(current)}).`,
      { id, currentVersion: current ?? null })
  }
  if (ifNoneMatchMatches(conditions.ifNoneMatch, current)) {
    throw new StoreError(412, 'PRECONDITION_FAILED',
      `If-None-Match: ${collection}/${id} exists at version ${current ?? 0}.`,
      { id, currentVersion: current ?? null })
  }
}
