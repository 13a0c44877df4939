/**
 * Child process for test/store-embedded-crash.test.ts.
 *
 *   node journal-writer.js <dir> <always|batch> write   durable writes until killed
 *   node journal-writer.js <dir> <always|batch> hold    open the store, print `ready <pid>`, wait
 *
 * JOURNAL_COMPACT_BYTES in the environment sets the compaction threshold.
 *
 * In `write` mode, several workers run concurrently (so group commit batches them) and
 * print every operation once its promise has resolved, one line each:
 *   set <key> <value> | del <key> | incr <n> | append <id> | ack <id>
 * A line printed means the store acknowledged the operation. One more line is printed
 * *before* an operation: `acking <id>` when an ack is issued, because an ack in flight at
 * the kill may or may not have taken effect (its entry may legitimately be gone), while an
 * entry whose ack was never issued must survive; the test kills this process
 * with SIGKILL and checks that every printed operation survived. Lines are written with a
 * blocking write(2) on fd 1, so a printed line has left this process before the next
 * operation starts. (Not process.stdout.write: stdio 'pipe' is a socket pair, for which
 * Node buffers writes in memory, and a SIGKILL would drop acknowledged lines: the store
 * would then look ahead of what was acknowledged.)
 */
import { writeSync } from 'node:fs'
import { EmbeddedStore } from '../../src/store/embedded-store.js'

const [dir, fsync, mode] = process.argv.slice(2)
if (dir === undefined || (fsync !== 'always' && fsync !== 'batch') || (mode !== 'write' && mode !== 'hold')) {
  process.stderr.write('usage: journal-writer <dir> <always|batch> <write|hold>\n')
  process.exit(2)
}

// A small threshold makes the writer compact many times before it is killed.
const compact = process.env.JOURNAL_COMPACT_BYTES
const store = await EmbeddedStore.open({ kind: 'embedded', dir, fsync },
  compact === undefined ? {} : { compactThresholdBytes: Number(compact) })
const out = (line: string): void => {
  const bytes = Buffer.from(line + '\n')
  for (let offset = 0; offset < bytes.length;) {
    try {
      offset += writeSync(1, bytes, offset)
    } catch (err) {
      // A non-blocking descriptor with a full buffer: try again (the reader drains it).
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err
    }
  }
}

if (mode === 'hold') {
  out(`ready ${process.pid}`)
  // Keep the event loop alive until killed.
  setInterval(() => {}, 60_000)
} else {
  const queue = store.queue('crash')
  const worker = async (w: number): Promise<void> => {
    let unacked: string | undefined
    for (let i = 0; ; i++) {
      const key = `k:${w}:${i}`
      const value = `v:${w}:${i}:${'x'.repeat(i % 50)}`
      await store.set(key, value, { durable: true })
      out(`set ${key} ${value}`)
      // Cache entries ride along; they are allowed to vanish.
      await store.set(`cache:${key}`, value)
      out(`incr ${await store.incr('counter', { durable: true })}`)
      const id = await queue.append({ w: String(w), i: String(i) })
      out(`append ${id}`)
      if (unacked === undefined) {
        unacked = id
      } else {
        out(`acking ${unacked}`)
        await queue.ack([unacked])
        out(`ack ${unacked}`)
        unacked = undefined
      }
      if (i % 10 === 9) {
        const old = `k:${w}:${i - 5}`
        out(`deleting ${old}`)
        await store.delete([old])
        out(`del ${old}`)
      }
    }
  }
  await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)))
}
