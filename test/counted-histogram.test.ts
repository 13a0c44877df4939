/**
 * src/observability/counted-histogram.ts: counted in plain numbers, it must read exactly
 * like prom-client's own Histogram when scraped (bucket bounds, cumulative counts, +Inf,
 * _sum, _count, label order), and reset with the registry.
 */
import t from 'tap'
import { Histogram, Registry } from 'prom-client'
import { CountedHistogram } from '../src/observability/counted-histogram.js'

const BUCKETS = [0.001, 0.005, 0.01, 0.5, 10]
// On a bound (counted in it: le is "less or equal"), between bounds, over the last one.
const VALUES: Array<[string, number]> = [['/a', 0.001], ['/a', 0.0049], ['/a', 0.3], ['/b', 12], ['/a', 0.005], ['/b', 0], ['/a', 11]]

t.test('scrapes the same text as prom-client\'s Histogram for the same observations', async t => {
  const theirs = new Registry()
  const ours = new Registry()
  const reference = new Histogram({ name: 'x_seconds', help: 'h', labelNames: ['route'], buckets: BUCKETS, registers: [theirs] })
  const counted = new CountedHistogram({ name: 'x_seconds', help: 'h', labelName: 'route', buckets: BUCKETS, registers: [ours] })
  for (const [route, value] of VALUES) {
    reference.labels(route).observe(value)
    counted.series(route).observe(value)
  }
  const text = await ours.metrics()
  t.equal(text, await theirs.metrics())
  t.match(text, 'x_seconds_bucket{le="0.005",route="/a"} 3', 'a value on a bound counts in that bucket, cumulatively')
  t.match(text, 'x_seconds_bucket{le="+Inf",route="/b"} 2')

  ours.resetMetrics()
  theirs.resetMetrics()
  counted.series('/a').observe(0.002)
  reference.labels('/a').observe(0.002)
  t.equal(await ours.metrics(), await theirs.metrics(), 'reset, then counted again')
})
