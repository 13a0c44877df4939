/**
 * A raw HTTP/1.1 client over node:net for tests of what well-behaved clients (undici,
 * node:http) refuse to send: smuggling attempts, malformed heads, traversal spelled byte by
 * byte. Sends the bytes as given and reads one response; bounded in time.
 */
import { connect } from 'node:net'

export interface RawResponse {
  /** Status of the first response, undefined when none came. */
  readonly status: number | undefined
  /** Lower-case header names; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  /** Everything received, for assertions on what came after the first response. */
  readonly raw: string
  /** The server closed the connection (rather than the client giving up at the deadline). */
  readonly closedByServer: boolean
  /** The connection was reset (ECONNRESET) rather than closed. */
  readonly reset: boolean
}

export interface RawOptions {
  /** Give up after this long (default 5 s). */
  readonly timeoutMs?: number
  /** Send the bytes in these pieces, pausing `pauseMs` between them (slow clients). */
  readonly pieces?: ReadonlyArray<string | Buffer>
  readonly pauseMs?: number
  /** Resolve as soon as one complete response is read, even if the connection stays open. */
  readonly firstResponseOnly?: boolean
}

/** Sends `bytes` to 127.0.0.1:`port` and reads what comes back. */
export async function rawRequest (port: number, bytes: string | Buffer, opts: RawOptions = {}): Promise<RawResponse> {
  return await new Promise(resolve => {
    const socket = connect(port, '127.0.0.1')
    let received = Buffer.alloc(0)
    let reset = false
    let done = false
    const finish = (closedByServer: boolean): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve(parse(received.toString('latin1'), closedByServer, reset))
    }
    const timer = setTimeout(() => finish(false), opts.timeoutMs ?? 5000)
    socket.on('connect', () => {
      if (opts.pieces === undefined) {
        socket.write(bytes)
        return
      }
      const pieces = [...opts.pieces]
      const next = (): void => {
        const piece = pieces.shift()
        if (piece === undefined || socket.destroyed) return
        socket.write(piece)
        setTimeout(next, opts.pauseMs ?? 100)
      }
      next()
    })
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      if (opts.firstResponseOnly === true && complete(received.toString('latin1'))) finish(false)
    })
    socket.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'ECONNRESET') reset = true })
    socket.on('close', () => finish(true))
  })
}

function complete (text: string): boolean {
  const end = text.indexOf('\r\n\r\n')
  if (end === -1) return false
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, end))
  return length !== null && Buffer.byteLength(text.slice(end + 4), 'latin1') >= Number(length[1])
}

function parse (raw: string, closedByServer: boolean, reset: boolean): RawResponse {
  const end = raw.indexOf('\r\n\r\n')
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(raw)
  if (end === -1 || status === null) return { status: status === null ? undefined : Number(status[1]), headers: {}, body: '', raw, closedByServer, reset }
  const headers: Record<string, string> = {}
  for (const line of raw.slice(0, end).split('\r\n').slice(1)) {
    const colon = line.indexOf(':')
    if (colon === -1) continue
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
  }
  let body = raw.slice(end + 4)
  const length = headers['content-length']
  if (length !== undefined) body = Buffer.from(body, 'latin1').subarray(0, Number(length)).toString('utf8')
  return { status: Number(status[1]), headers, body, raw, closedByServer, reset }
}

/**
 * A request as raw text: `Host` and `Connection: close` first unless `headers` sets them (or
 * `null` removes them), then the headers in order, then the body with a Content-Length
 * unless the headers frame it themselves.
 */
export function rawHttp (method: string, target: string, headers: ReadonlyArray<[string, string]> = [], body?: string | Buffer, opts: { host?: string | null, close?: boolean, version?: string } = {}): Buffer {
  const lines = [`${method} ${target} HTTP/${opts.version ?? '1.1'}`]
  const names = headers.map(([name]) => name.toLowerCase())
  if (opts.host !== null && !names.includes('host')) lines.push(`Host: ${opts.host ?? 'gateway.test'}`)
  if (opts.close !== false && !names.includes('connection')) lines.push('Connection: close')
  for (const [name, value] of headers) lines.push(`${name}: ${value}`)
  const payload = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8')
  if (body !== undefined && !names.includes('content-length') && !names.includes('transfer-encoding')) lines.push(`Content-Length: ${payload.length}`)
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), payload])
}
