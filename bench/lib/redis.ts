/**
 * A redis-server for the scenarios that run on the Redis store: its own temporary
 * directory, AOF on with `appendfsync everysec` (the outbox's recommended setting, see
 * docs/deployment.md), pinned like the other servers.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort, hasTaskset } from './processes.js'

export interface BenchRedis {
  readonly url: string
  /** Commands the server has run so far (all clients, INFO commandstats) and its CPU time, in µs. */
  usage (): Promise<{ commands: number, cpuMicros: number }>
  stop (): Promise<void>
}

/** Sums of INFO: `calls=` over commandstats, used_cpu_sys + used_cpu_user. */
function parseUsage (info: string): { commands: number, cpuMicros: number } {
  let commands = 0
  for (const match of info.matchAll(/calls=(\d+)/g)) commands += Number(match[1])
  const cpu = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0)
  return { commands, cpuMicros: (cpu('used_cpu_sys') + cpu('used_cpu_user')) * 1e6 }
}

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
  const url = `redis://127.0.0.1:${port}`
  return {
    url,
    usage: async () => {
      const client = new Redis(url)
      try {
        return parseUsage(`${await client.info('commandstats')}\n${await client.info('cpu')}`)
      } finally {
        client.disconnect()
      }
    },
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
