/**
 * Where the outbox keeps things in the Store (logical names; each store maps them to its
 * own layout, e.g. hash-tagged keys on Redis). One place, so docs/outbox.md and the code
 * cannot drift apart.
 */

/** Deliveries to one dependent: waiting, delayed (retry scheduled) and in flight. */
export const deliveryQueue = (dependent: string): string => `outbox:${dependent}`
/** Dead letters of one dependent, read with peek/get, never claimed. */
export const deadQueue = (dependent: string): string => `outbox-dead:${dependent}`
/**
 * Durable newest-wins register of the dependent's delivery queue: the highest version
 * enqueued for an entity. Kept with the queue (DurableQueue registers), so an append
 * and the raise of its register are one store operation.
 */
export const latestRegister = (entity: string): string => `latest:${entity}`
/** Short-lived lock of the dependent's delivery queue: who is delivering an entity right now. */
export const leaseLock = (entity: string): string => `lease:${entity}`
/** Lag of the most recent delivery to a dependent (for stats; not durable). */
export const lagKey = (dependent: string): string => `outbox:lag:${dependent}`
/**
 * Pub/sub channel; the message is `<dependent>\n<sender's consumer name>`: new work, stop
 * sleeping (the sender ignores its own).
 */
export const NUDGE_CHANNEL = 'outbox:nudge'
