/**
 * The dependency graph of a composed route's parts: a part that reads another part's body
 * waits for exactly that part. The plan is a topological order (declaration order among
 * independent parts); a cycle has no order and is reported spelled out, `user → company → user`.
 */

export interface GraphNode {
  readonly name: string
  /** Names of the parts it reads; unknown names are ignored here (the config check reports them). */
  readonly deps: readonly string[]
}

export type GraphResult =
  | { readonly ok: true, readonly order: readonly string[] }
  | { readonly ok: false, readonly cycle: readonly string[] }

/** Depth-first, in declaration order, so the order (and the cycle reported) is deterministic. */
export function planOrder (nodes: readonly GraphNode[]): GraphResult {
  const byName = new Map(nodes.map(node => [node.name, node]))
  const state = new Map<string, 'visiting' | 'done'>()
  const order: string[] = []
  const stack: string[] = []

  const visit = (name: string): readonly string[] | undefined => {
    const seen = state.get(name)
    if (seen === 'done') return undefined
    if (seen === 'visiting') return [...stack.slice(stack.indexOf(name)), name]
    const node = byName.get(name)
    if (node === undefined) return undefined
    state.set(name, 'visiting')
    stack.push(name)
    for (const dep of node.deps) {
      const cycle = visit(dep)
      if (cycle !== undefined) return cycle
    }
    stack.pop()
    state.set(name, 'done')
    order.push(name)
    return undefined
  }

  for (const node of nodes) {
    const cycle = visit(node.name)
    if (cycle !== undefined) return { ok: false, cycle }
  }
  return { ok: true, order }
}

export function formatCycle (cycle: readonly string[]): string {
  return cycle.join(' → ')
}
