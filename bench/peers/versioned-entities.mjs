// The services behind the write fan-out scenario, instrumented: node:http implementing the
// versioning contract of docs/versioning.md (the demo services' rules, without their
// Fastify cost, so the gateway and not the services is what the benchmark measures), and
// recording *when* each version happened on the machine's wall clock
// (performance.timeOrigin + performance.now(): comparable across processes of one host,
// sub-millisecond).
//
//   ROLE=owner  COLLECTION=users      GET/PUT /users/:id: integer versions from 1, +1 per
//                                     PUT; If-Match → 412; answers 200 + ETag "<v>" + the
//                                     representation; records (id, version, commit time),
//                                     except for PUTs marked `x-bench-untracked` (the plain
//                                     proxied baseline, whose versions are never propagated).
//   ROLE=copy   COLLECTION=customers  PUT/DELETE /customers/:id + X-Entity-Version: applied
//                                     only when strictly newer (200), else 409; records
//                                     (id, version, apply time). No Idempotency-Key replay:
//                                     a repeated delivery gets 409, which Junction counts
//                                     as done (superseded), the same outcome.
//
// Bench control (not part of the contract):
//   POST /_bench/reset     forget the records (the versions held stay)
//   GET  /_bench/records   {"ids":{"<id>":[[version, epochMs], ...]}} in record order
//   GET  /_bench/versions  {"<id>": version held}
// Prints its port on stdout.
import { createServer } from 'node:http'
import { performance } from 'node:perf_hooks'

const role = process.env.ROLE
const collection = process.env.COLLECTION
if ((role !== 'owner' && role !== 'copy') || collection === undefined) throw new Error('ROLE=owner|copy and COLLECTION are required')
const prefix = `/${collection}/`

/** id → version held (copies: a tombstone keeps its version). */
const versions = new Map()
/** id → representation (owner only). */
const entities = new Map()
/** id → [[version, epoch ms], ...]: commits (owner) or applies (copy) since the last reset. */
let records = new Map()

const now = () => performance.timeOrigin + performance.now()

function record (id, version) {
  const at = now()
  let list = records.get(id)
  if (list === undefined) records.set(id, list = [])
  list.push([version, at])
}

function send (res, status, headers, body) {
  const text = body === undefined ? '' : JSON.stringify(body)
  res.writeHead(status, body === undefined ? headers : { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

function readJson (req, done) {
  const chunks = []
  req.on('data', chunk => chunks.push(chunk))
  req.on('end', () => {
    let json
    try {
      json = chunks.length === 0 ? undefined : JSON.parse(Buffer.concat(chunks).toString('utf8'))
    } catch {
      json = undefined
    }
    done(json)
  })
}

function owner (req, res, id) {
  if (req.method === 'GET') {
    req.resume()
    const entity = entities.get(id)
    if (entity === undefined) return send(res, 404, {}, { status: 404 })
    return send(res, 200, { etag: `"${entity.version}"` }, entity)
  }
  if (req.method !== 'PUT') return send(res, 405, {}, undefined)
  readJson(req, body => {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return send(res, 400, {}, { status: 400 })
    const held = versions.get(id) ?? 0
    const ifMatch = req.headers['if-match']
    if (ifMatch !== undefined && ifMatch !== '*' && ifMatch !== `"${held}"`) return send(res, 412, {}, { status: 412 })
    const version = held + 1
    const entity = { ...body, id, version }
    versions.set(id, version)
    entities.set(id, entity)
    if (req.headers['x-bench-untracked'] === undefined) record(id, version)
    send(res, held === 0 ? 201 : 200, { etag: `"${version}"` }, entity)
  })
}

function copy (req, res, id) {
  const header = req.headers['x-entity-version']
  const version = typeof header === 'string' && /^[1-9][0-9]{0,15}$/.test(header) ? Number(header) : undefined
  if ((req.method !== 'PUT' && req.method !== 'DELETE') || version === undefined) {
    req.resume()
    return send(res, 400, {}, { status: 400 })
  }
  readJson(req, body => {
    if (req.method === 'PUT' && (typeof body !== 'object' || body === null)) return send(res, 400, {}, { status: 400 })
    if (version <= (versions.get(id) ?? 0)) return send(res, 409, {}, { status: 409 })
    versions.set(id, version)
    record(id, version)
    send(res, req.method === 'PUT' ? 200 : 204, { etag: `"${version}"` }, req.method === 'PUT' ? { ...body, version } : undefined)
  })
}

function control (req, res) {
  req.resume()
  if (req.method === 'POST' && req.url === '/_bench/reset') {
    records = new Map()
    return send(res, 204, {}, undefined)
  }
  if (req.method === 'GET' && req.url === '/_bench/records') return send(res, 200, {}, { ids: Object.fromEntries(records) })
  if (req.method === 'GET' && req.url === '/_bench/versions') return send(res, 200, {}, Object.fromEntries(versions))
  send(res, 404, {}, undefined)
}

const server = createServer((req, res) => {
  const url = req.url ?? '/'
  if (url.startsWith('/_bench/')) return control(req, res)
  if (!url.startsWith(prefix) || url.length === prefix.length || url.indexOf('/', prefix.length) !== -1) {
    req.resume()
    return send(res, 404, {}, { status: 404 })
  }
  const id = decodeURIComponent(url.slice(prefix.length))
  if (role === 'owner') owner(req, res, id)
  else copy(req, res, id)
})
server.keepAliveTimeout = 60_000
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`)
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
