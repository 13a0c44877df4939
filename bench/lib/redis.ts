/**
 * A redis-server for the scenarios that run on the Redis store: its own temporary
 * directory, AOF on with `appendfsync everysec` (the outbox's recommended setting, see
 * docs/deployment.md), pinned like the other servers.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, hasTaskset } from './processes.js'

export interface BenchRedis { readonly url: string, stop (): Promise<void> }

export async function startRedis (cpu: number | undefined): Promise<BenchRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'junction-bench-redis-'))
  const port = await freePort()
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', dir]
  const command = hasTaskset && cpu !== undefined ? ['taskset', '-c', String(cpu), 'redis-server', ...args] : ['redis-server', ...args]
  const child = spawn(command[0] as string, command.slice(1), { stdio: 'ignore' })
  const { Socket } = await import('node:net')
  const deadline = Date.now() + 10_000
  for (;;) {
    const up = await new Promise<boolean>(resolve => {
      const socket = new Socket()
      socket.once('connect', () => { socket.destroy(); resolve(true) })
      socket.once('error', () => resolve(false))
      socket.connect(port, '127.0.0.1')
    })
    if (up) break
    if (child.exitCode !== null || Date.now() > deadline) throw new Error('redis-server did not start (is it installed?)')
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise(resolve => child.once('exit', resolve))
        child.kill('SIGTERM')
        await exited
      }
      await rm(dir, { recursive: true, force: true })
    }
  }
}
