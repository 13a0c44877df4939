/**
 * The catalog service: owns `/products` and `/companies`, and keeps `/owners`, a copy
 * of the users service's users (each product has an `ownerId`). Seeded with the users
 * at version 1, i.e. in sync with a freshly started users service.
 */

import type { FastifyInstance } from 'fastify'
import { createService } from './service.js'
import type { DemoServiceOptions } from './service.js'
import type { JsonObject } from './entity-store.js'
import { usersSeed } from './users.js'

export const companiesSeed: JsonObject[] = [
  { id: '1', name: 'Analytical Engines Ltd', country: 'GB' },
  { id: '2', name: 'Bletchley Computing', country: 'GB' },
  { id: '3', name: 'Langley Orbital', country: 'US' }
]

export const productsSeed: JsonObject[] = [
  { id: '1', name: 'Difference Engine', price: 1200, currency: 'EUR', companyId: '1', ownerId: '1' },
  { id: '2', name: 'Punched Card Pack', price: 15, currency: 'EUR', companyId: '1', ownerId: '2' },
  { id: '3', name: 'Compiler Handbook', price: 40, currency: 'EUR', companyId: '1', ownerId: '2' },
  { id: '4', name: 'Bombe Rotor', price: 320, currency: 'EUR', companyId: '2', ownerId: '3' },
  { id: '5', name: 'Trajectory Tables', price: 75, currency: 'EUR', companyId: '3', ownerId: '4' }
]

export function createCatalogService (opts: DemoServiceOptions = {}): FastifyInstance {
  return createService({
    collections: ['products', 'companies'],
    copies: ['owners'],
    seed: { products: productsSeed, companies: companiesSeed, owners: usersSeed },
    ...opts,
    name: 'catalog'
  })
}
