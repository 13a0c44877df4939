/**
 * The orders service: owns `/orders` (each with a `userId` and `items` of
 * `{ productId, qty }`) and keeps `/customers`, a copy of the users service's users,
 * so it can show a customer's name without calling users on every read. Seeded with
 * the users at version 1, i.e. in sync with a freshly started users service.
 */

import type { FastifyInstance } from 'fastify'
import { createService } from './service.js'
import type { DemoServiceOptions } from './service.js'
import type { JsonObject } from './entity-store.js'
import { usersSeed } from './users.js'

export const ordersSeed: JsonObject[] = [
  { id: '1', userId: '1', status: 'shipped', createdAt: '2025-01-05T10:00:00Z', items: [{ productId: '1', qty: 1 }, { productId: '3', qty: 2 }] },
  { id: '2', userId: '1', status: 'pending', createdAt: '2025-02-11T15:30:00Z', items: [{ productId: '2', qty: 1 }] },
  { id: '3', userId: '2', status: 'delivered', createdAt: '2025-02-20T09:15:00Z', items: [{ productId: '4', qty: 3 }] },
  { id: '4', userId: '3', status: 'pending', createdAt: '2025-03-01T12:00:00Z', items: [{ productId: '1', qty: 2 }, { productId: '5', qty: 1 }] }
]

export function createOrdersService (opts: DemoServiceOptions = {}): FastifyInstance {
  return createService({
    collections: ['orders'],
    copies: ['customers'],
    seed: { orders: ordersSeed, customers: usersSeed },
    ...opts,
    name: 'orders'
  })
}
