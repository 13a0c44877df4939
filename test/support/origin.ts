/**
 * A real upstream for tests: node:http on 127.0.0.1, port 0, closed at teardown.
 * Counts the TCP connections it accepted so tests can check keep-alive reuse.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Origin {
  readonly url: string
  readonly port: number
  readonly server: Server
  /** TCP connections accepted so far. */
  readonly connections: () => number
  close (): Promise<void>
}

interface Teardown { teardown (fn: () => unknown): void }

export async function startOrigin (t: Teardown, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Origin> {
  const server = createServer(handler)
  let connections = 0
  server.on('connection', () => { connections++ })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const close = async (): Promise<void> => {
    if (!server.listening) return
    server.closeAllConnections()
    await new Promise<void>(resolve => server.close(() => resolve()))
  }
  t.teardown(close)
  return { url: `http://127.0.0.1:${port}`, port, server, connections: () => connections, close }
}

/** Reads a request body fully (test origins only; the gateway itself never buffers). */
export async function readBody (req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** A port nothing listens on: bound once, then released. */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>(resolve => server.close(() => resolve()))
  return port
}
