/**
 * A Prometheus histogram with one label, counted in plain numbers on the request path and
 * formatted by prom-client's Registry when scraped.
 *
 * Why not prom-client's Histogram: even through a kept child, its observe() builds a labels
 * object, validates and hashes the labels and looks them up on every call, about 1 µs each;
 * a composed request of three parts observes four times (three part latencies and the
 * request's own). Here an observation is a bucket search and three additions on the child
 * the caller keeps. The Registry takes any object with a metric's interface (name, help,
 * type, aggregator, get(), reset()), and this one answers get() in the shape prom-client's
 * Histogram does, so /metrics reads the same: cumulative `_bucket` lines with `le` first,
 * then `+Inf`, `_sum` and `_count`, per label value.
 */
import type { Metric, Registry } from 'prom-client'

/** The counts of one label value. */
export class HistogramCounts {
  /** Per bucket (not cumulative); the last one is past the highest bound (+Inf). */
  readonly counts: Float64Array
  sum = 0
  count = 0
  readonly #bounds: readonly number[]

  constructor (bounds: readonly number[]) {
    this.#bounds = bounds
    this.counts = new Float64Array(bounds.length + 1)
  }

  observe (value: number): void {
    // A NaN or infinite value would poison the sum for good: prom-client refuses it too (by throwing).
    if (!Number.isFinite(value)) return
    const bounds = this.#bounds
    let i = 0
    while (i < bounds.length && value > (bounds[i] as number)) i++
    this.counts[i] = (this.counts[i] as number) + 1
    this.sum += value
    this.count++
  }
}

interface Sample {
  readonly labels: Record<string, string | number>
  readonly sharedLabels: Record<string, string>
  readonly value: number
  readonly metricName: string
}

export class CountedHistogram {
  readonly name: string
  readonly help: string
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  readonly #labelName: string
  readonly #bounds: readonly number[]
  readonly #children = new Map<string, HistogramCounts>()

  constructor (opts: { name: string, help: string, labelName: string, buckets: readonly number[], registry: Registry }) {
    this.name = opts.name
    this.help = opts.help
    this.#labelName = opts.labelName
    this.#bounds = [...opts.buckets].sort((a, b) => a - b)
    // Not one of prom-client's classes, but what its Registry reads of one (see above).
    opts.registry.registerMetric(this as unknown as Metric)
  }

  /** The counts of one label value, made on first use: keep it, and observe on it. */
  labels (value: string): HistogramCounts {
    let child = this.#children.get(value)
    if (child === undefined) {
      child = new HistogramCounts(this.#bounds)
      this.#children.set(value, child)
    }
    return child
  }

  /** What Registry.metrics() formats: the label value as a shared label, after `le`. */
  async getForPromString (): Promise<{ name: string, help: string, type: string, aggregator: string, values: Sample[] }> {
    const values: Sample[] = []
    const bucket = `${this.name}_bucket`
    for (const [labelValue, child] of this.#children) {
      // As prom-client: a label value shows once it has been observed.
      if (child.count === 0) continue
      const shared = { [this.#labelName]: labelValue }
      let cumulative = 0
      this.#bounds.forEach((bound, i) => {
        cumulative += child.counts[i] as number
        values.push({ labels: { le: bound }, sharedLabels: shared, value: cumulative, metricName: bucket })
      })
      values.push({ labels: { le: '+Inf' }, sharedLabels: shared, value: child.count, metricName: bucket })
      values.push({ labels: {}, sharedLabels: shared, value: child.sum, metricName: `${this.name}_sum` })
      values.push({ labels: {}, sharedLabels: shared, value: child.count, metricName: `${this.name}_count` })
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  /** Registry.getMetricsAsJSON(): the same samples, each with all its labels in `labels`. */
  async get (): Promise<{ name: string, help: string, type: string, aggregator: string, values: Array<Omit<Sample, 'sharedLabels'>> }> {
    const metric = await this.getForPromString()
    return { ...metric, values: metric.values.map(({ sharedLabels, labels, ...sample }) => ({ ...sample, labels: { ...labels, ...sharedLabels } })) }
  }

  /** Registry.resetMetrics(): every count back to zero (the children callers keep stay valid). */
  reset (): void {
    for (const child of this.#children.values()) {
      child.counts.fill(0)
      child.sum = 0
      child.count = 0
    }
  }
}
