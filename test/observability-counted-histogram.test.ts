/**
 * CountedHistogram (src/observability/counted-histogram.ts) against prom-client's own
 * Histogram: the same observations give the same /metrics text, and the same JSON.
 */
import t from 'tap'
import { Histogram, Registry } from 'prom-client'
import { CountedHistogram } from '../src/observability/counted-histogram.js'

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const NAME = 'junction_test_duration_seconds'
const HELP = 'A test histogram.'

function pair (): { reference: Registry, counted: Registry, observe: (label: string, value: number) => void, histogram: CountedHistogram } {
  const reference = new Registry()
  const counted = new Registry()
  const prom = new Histogram({ name: NAME, help: HELP, labelNames: ['route'], buckets: BUCKETS, registers: [reference] })
  const histogram = new CountedHistogram({ name: NAME, help: HELP, labelName: 'route', buckets: BUCKETS, registry: counted })
  return {
    reference,
    counted,
    histogram,
    observe: (label, value) => {
      prom.labels(label).observe(value)
      histogram.labels(label).observe(value)
    }
  }
}

t.test('the same observations read the same as prom-client\'s Histogram', async t => {
  const { reference, counted, observe, histogram } = pair()
  // A label value made but never observed shows nothing, as with prom-client.
  histogram.labels('/never')
  t.equal(await counted.metrics(), await reference.metrics(), 'empty')
  // On a bound, between bounds, under the first, past the last; a label value with odd characters.
  for (const value of [0, 0.001, 0.0011, 0.003, 0.02, 0.2, 0.25, 3, 10, 20]) observe('/api/users', value)
  observe('/a "quoted"\\path', 0.07)
  const text = await counted.metrics()
  t.equal(text, await reference.metrics(), 'text')
  t.match(text, /junction_test_duration_seconds_bucket\{le="0.001",route="\/api\/users"\} 2\n/)
  t.match(text, /junction_test_duration_seconds_bucket\{le="\+Inf",route="\/api\/users"\} 10\n/)
  t.match(text, /junction_test_duration_seconds_count\{route="\/api\/users"\} 10\n/)
  // JSON: the same samples with all their labels (prom-client adds a null exemplar to each).
  const samples = async (registry: Registry): Promise<unknown> => (await registry.getMetricsAsJSON()).map(metric =>
    metric.values.map(sample => ({ metricName: (sample as { metricName?: string }).metricName, labels: sample.labels, value: sample.value })))
  t.same(await samples(counted), await samples(reference), 'JSON')
})

t.test('reset empties every label value; kept children count again', async t => {
  const { reference, counted, observe, histogram } = pair()
  const kept = histogram.labels('/kept')
  observe('/kept', 0.5)
  counted.resetMetrics()
  reference.resetMetrics()
  t.equal(await counted.metrics(), await reference.metrics(), 'reset')
  kept.observe(0.004)
  t.match(await counted.metrics(), /junction_test_duration_seconds_count\{route="\/kept"\} 1\n/)
})

t.test('a value that is not a finite number is not counted', async t => {
  const { counted, histogram } = pair()
  const child = histogram.labels('/x')
  child.observe(Number.NaN)
  child.observe(Number.POSITIVE_INFINITY)
  child.observe(0.2)
  const text = await counted.metrics()
  t.match(text, /junction_test_duration_seconds_count\{route="\/x"\} 1\n/)
  t.match(text, /junction_test_duration_seconds_sum\{route="\/x"\} 0.2\n/)
})
