/**
 * The embedded journal against real crashes: a child process (support/journal-writer.ts)
 * writes durably and reports every acknowledged operation; it is SIGKILLed mid-way and the
 * store reopened here must hold every acknowledged operation.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { appendFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { EmbeddedStore } from '../src/store/embedded-store.js'

const writerScript = fileURLToPath(new URL('./support/journal-writer.js', import.meta.url))

const root = await mkdtemp(join(tmpdir(), 'junction-crash-'))
t.teardown(() => rm(root, { recursive: true, force: true }))
let dirs = 0
const freshDir = (): string => join(root, `store-${++dirs}`)

interface Child {
  proc: ChildProcess
  lines: string[]
  /** Resolves when stdout has ended and the process has exited. */
  closed: Promise<void>
  /** Resolves once `predicate` holds for the lines received so far. */
  until: (predicate: (lines: string[]) => boolean, timeoutMs: number) => Promise<void>
}

function startWriter (tt: { teardown: (fn: () => unknown) => void }, dir: string, fsync: 'always' | 'batch', mode: 'write' | 'hold',
  compactBytes?: number): Child {
  const env = compactBytes === undefined ? process.env : { ...process.env, JOURNAL_COMPACT_BYTES: String(compactBytes) }
  const proc = spawn(process.execPath, [writerScript, dir, fsync, mode], { stdio: ['ignore', 'pipe', 'inherit'], env })
  tt.teardown(() => { proc.kill('SIGKILL') })
  const lines: string[] = []
  let partial = ''
  const watchers = new Set<() => void>()
  proc.stdout!.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n')
    partial = parts.pop()!
    lines.push(...parts)
    for (const w of watchers) w()
  })
  const closed = new Promise<void>(resolve => proc.once('close', () => resolve()))
  const until = (predicate: (lines: string[]) => boolean, timeoutMs: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        watchers.delete(check)
        reject(new Error(`child did not get there within ${timeoutMs} ms (${lines.length} lines)`))
      }, timeoutMs)
      const check = (): void => {
        if (!predicate(lines)) return
        clearTimeout(timer)
        watchers.delete(check)
        resolve()
      }
      watchers.add(check)
      check()
      proc.once('exit', (code, signal) => {
        if (!watchers.has(check)) return
        clearTimeout(timer)
        watchers.delete(check)
        reject(new Error(`child exited early (${code ?? signal})`))
      })
    })
  return { proc, lines, closed, until }
}

const variants = [
  { fsync: 'always', compactBytes: undefined, title: 'fsync always' },
  { fsync: 'batch', compactBytes: undefined, title: 'fsync batch' },
  // Compacting every ~32 KB: the kill lands between, before or inside compactions.
  { fsync: 'batch', compactBytes: 32 * 1024, title: 'fsync batch, constant compaction' }
] as const

for (const { fsync, compactBytes, title } of variants) {
  t.test(`${title}: every acknowledged operation survives SIGKILL`, { timeout: 60_000 }, async t => {
    const dir = freshDir()
    const child = startWriter(t, dir, fsync, 'write', compactBytes)
    const started = Date.now()
    // Let it run long enough for plenty of batches, then kill it without warning.
    await child.until(lines => lines.length >= 4000, 30_000)
    child.proc.kill('SIGKILL')
    await child.closed
    const elapsed = Date.now() - started
    t.equal(child.proc.signalCode, 'SIGKILL')

    const sets = new Map<string, string>()
    const deleted = new Set<string>()
    const appended = new Set<string>()
    const acked = new Set<string>()
    const ackIssued = new Set<string>()
    const deleteIssued = new Set<string>()
    let maxIncr = 0
    for (const line of child.lines) {
      const [op, a = '', b = ''] = line.split(' ')
      if (op === 'set') sets.set(a, b)
      else if (op === 'del') deleted.add(a)
      else if (op === 'incr') maxIncr = Math.max(maxIncr, Number(a))
      else if (op === 'append') appended.add(a)
      else if (op === 'ack') acked.add(a)
      else if (op === 'acking') ackIssued.add(a)
      else if (op === 'deleting') deleteIssued.add(a)
    }
    t.comment(`${title}: ${child.lines.length} acknowledged operations in ${elapsed} ms before SIGKILL`)

    if (compactBytes !== undefined) {
      // Compaction drops acknowledged entries: fewer ack records than acks means it ran.
      const journalText = await readFile(join(dir, 'journal.jsonl'), 'utf8')
      const ackRecords = journalText.split('\n').filter(l => l.startsWith('{"op":"qack"')).length
      t.ok(ackRecords < acked.size, `the journal was compacted (${ackRecords} ack records for ${acked.size} acks)`)
    }

    const store = await EmbeddedStore.open({ kind: 'embedded', dir, fsync })
    t.teardown(() => store.close())
    const missing: string[] = []
    const resurrected: string[] = []
    for (const [key, value] of sets) {
      const got = (await store.get(key))?.toString()
      if (deleted.has(key)) {
        if (got !== undefined) resurrected.push(key)
      } else if (got !== value && !(got === undefined && deleteIssued.has(key))) {
        // Absent is right for a key whose delete was in flight at the kill.
        missing.push(key)
      }
    }
    t.same(missing, [], `all ${sets.size} acknowledged durable sets are there`)
    t.same(resurrected, [], `all ${deleted.size} acknowledged deletes held`)

    // At most one increment per worker (8) was in flight at the kill.
    const counter = Number((await store.get('counter'))?.toString())
    t.ok(counter >= maxIncr && counter <= maxIncr + 8, `counter ${counter} is the last acknowledged ${maxIncr} (+ in flight)`)

    const queue = store.queue('crash')
    const entries = await queue.claim('recovery', { count: 1_000_000, visibilityMs: 60_000 })
    const present = new Set(entries.map(e => e.id))
    // An entry whose ack was issued but not acknowledged (in flight at the kill) may be
    // gone: the ack's record may have reached the journal just before the kill. An entry
    // whose ack was never issued must be there.
    const lostAppends = [...appended].filter(id => !ackIssued.has(id) && !present.has(id))
    const backFromAck = [...acked].filter(id => present.has(id))
    const ackInFlight = [...ackIssued].filter(id => !acked.has(id))
    t.ok(ackInFlight.length <= 8, `at most one ack per worker in flight at the kill (${ackInFlight.length})`)
    t.same(lostAppends, [], `all ${appended.size - ackIssued.size} acknowledged appends never acked are claimable`)
    t.same(backFromAck, [], `none of the ${acked.size} acknowledged acks came back`)
    t.ok(entries.every(e => e.deliveries === 1), 'in-flight state starts over after a restart')
    const gone = ackInFlight.filter(id => !present.has(id)).length
    t.comment(`${title}: ${ackInFlight.length} acks in flight at the kill, ${gone} of them had taken effect`)
    t.ok(entries.length - (appended.size - ackIssued.size) <= 8 + ackInFlight.length, 'only in-flight appends and in-flight acks are extra')

    // The store works after recovery.
    const id = await queue.append({ after: 'crash' })
    const [ms, seq] = id.split('-').map(Number) as [number, number]
    t.ok([...appended].every(old => {
      const [oms, oseq] = old.split('-').map(Number) as [number, number]
      return oms < ms || (oms === ms && oseq < seq)
    }), 'ids keep increasing after recovery')
    await store.set('after', 'recovery', { durable: true })
    await store.close()

    // A torn final record, as a crash in the middle of a write() leaves it.
    const journal = join(dir, 'journal.jsonl')
    const sizeBefore = (await stat(journal)).size
    await appendFile(journal, '{"op":"set","k":"torn","v":"dG9y')
    const reopened = await EmbeddedStore.open({ kind: 'embedded', dir, fsync })
    t.teardown(() => reopened.close())
    t.equal((await stat(journal)).size, sizeBefore, 'the torn tail was truncated off')
    t.equal(await reopened.get('torn'), null)
    t.same((await reopened.get('after'))?.toString(), 'recovery')
    await reopened.set('after-torn', 'ok', { durable: true })
    await reopened.close()
    const third = await EmbeddedStore.open({ kind: 'embedded', dir, fsync })
    t.teardown(() => third.close())
    t.same((await third.get('after-torn'))?.toString(), 'ok')
    t.equal((await third.queue('crash').stats()).length, entries.length + 1)
    await third.close()
  })
}

t.test('a directory is held by one process; a dead holder\'s lock is taken over', { timeout: 30_000 }, async t => {
  const dir = freshDir()
  const holder = startWriter(t, dir, 'batch', 'hold')
  await holder.until(lines => lines.some(l => l.startsWith('ready ')), 15_000)
  const pid = holder.proc.pid!

  const err = await EmbeddedStore.open({ kind: 'embedded', dir, fsync: 'batch' }).then(() => undefined, (e: unknown) => e as Error)
  t.ok(err, 'a second open fails while the holder lives')
  t.match(err?.message, dir, 'the error names the directory')
  t.match(err?.message, `process ${pid}`, 'and the pid holding it')
  t.equal((await readFile(join(dir, 'LOCK'), 'utf8')).trim(), String(pid), 'the lock was left alone')

  holder.proc.kill('SIGKILL')
  await holder.closed
  const store = await EmbeddedStore.open({ kind: 'embedded', dir, fsync: 'batch' })
  t.teardown(() => store.close())
  t.equal((await readFile(join(dir, 'LOCK'), 'utf8')).trim(), String(process.pid), 'the stale lock was taken over')
  await store.close()
  await t.rejects(stat(join(dir, 'LOCK')), { code: 'ENOENT' }, 'close removes the lock')
})
