/**
 * The identity of an entity across writes: the owner service and the entity's path on
 * it (`users:/users/7`). PUT, PATCH and DELETE routes on `/users/{params.id}` and a POST
 * that created `/users/7` all name the same entity, so the outbox orders their versions
 * against each other (newest wins per dependent and entity).
 */

export function entityKey (ownerService: string, ownerPath: string): string {
  return `${ownerService}:${ownerPath}`
}

/**
 * The id of a created entity: the last path segment of `Location` (relative or
 * absolute), else the body's `id` (string or integer). Undefined when neither has one.
 */
export function createdId (location: string | string[] | undefined, body: unknown): string | undefined {
  const header = Array.isArray(location) ? location[0] : location
  if (header !== undefined && header !== '') {
    try {
      const path = new URL(header, 'http://owner.invalid').pathname
      const last = path.split('/').filter(segment => segment !== '').at(-1)
      if (last !== undefined) return decodeURIComponent(last)
    } catch {}
  }
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const id = (body as Record<string, unknown>).id
    if (typeof id === 'string' && id !== '') return id
    if (typeof id === 'number' && Number.isSafeInteger(id)) return String(id)
  }
  return undefined
}
