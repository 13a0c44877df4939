/**
 * The users service: owns `/users`. Other services keep copies of its users (orders
 * as `/customers`, catalog as `/owners`), which is what Junction's write fan-out keeps
 * up to date. Users reference catalog companies through `companyId`.
 */

import type { FastifyInstance } from 'fastify'
import { createService } from './service.js'
import type { DemoServiceOptions } from './service.js'
import type { JsonObject } from './entity-store.js'

export const usersSeed: JsonObject[] = [
  { id: '1', name: 'Ada Lovelace', email: 'ada@example.com', companyId: '1', role: 'admin' },
  { id: '2', name: 'Grace Hopper', email: 'grace@example.com', companyId: '1', role: 'member' },
  { id: '3', name: 'Alan Turing', email: 'alan@example.com', companyId: '2', role: 'member' },
  { id: '4', name: 'Katherine Johnson', email: 'katherine@example.com', companyId: '3', role: 'member' }
]

export function createUsersService (opts: DemoServiceOptions = {}): FastifyInstance {
  return createService({
    collections: ['users'],
    copies: [],
    seed: { users: usersSeed },
    ...opts,
    name: 'users'
  })
}
