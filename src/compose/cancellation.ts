/**
 * Stops the part calls of one composed request: when the client goes away, or when a
 * required part has failed and the answer is decided.
 *
 * Hand-written rather than an AbortController because of its price on this path: a request
 * makes one cancellation scope per level (client, execution) and registers every part call
 * in it, and each addEventListener/removeEventListener pair on an AbortSignal (an
 * EventTarget) costs microseconds — together the largest single cost of a composed request
 * in the CPU profile. Here registering is an array push, and nothing is ever unregistered:
 * a scope lives as long as its request, and cancelling a finished call does nothing.
 */

export interface Cancellable {
  cancel (): void
}

export class Cancellation {
  #cancelled = false
  #registered: Cancellable[] = []

  get cancelled (): boolean {
    return this.#cancelled
  }

  /** Cancels `target` now if this scope is cancelled already, otherwise when it is. */
  register (target: Cancellable): void {
    if (this.#cancelled) target.cancel()
    else this.#registered.push(target)
  }

  /** Idempotent. Cancels every registered target, in registration order. */
  cancel (): void {
    if (this.#cancelled) return
    this.#cancelled = true
    const registered = this.#registered
    this.#registered = []
    for (const target of registered) target.cancel()
  }
}
