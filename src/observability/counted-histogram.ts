/**
 * A histogram with one label, counted in plain numbers on the request path and read by
 * prom-client's Registry when scraped, in the same text form as prom-client's Histogram.
 *
 * Hand-written because prom-client's Histogram cannot be fed counts: every observe() (on
 * a kept child too) validates and hashes its labels and makes a closure, which was the
 * largest share of counting a request; its public API has no way to add bucket counts at
 * scrape time either. This class has exactly the parts the Registry reads (name, help,
 * type, get(), reset()).
 */
import type { Metric, Registry } from 'prom-client'

/** One sample as prom-client's Registry reads it (its own type for this is not exported). */
interface Sample {
  readonly labels: Readonly<Record<string, string | number>>
  readonly sharedLabels: Readonly<Record<string, string>>
  readonly value: number
  readonly metricName: string
}

interface Collected {
  readonly name: string
  readonly help: string
  readonly type: 'histogram'
  readonly values: Sample[]
  readonly aggregator: 'sum'
}

/** One label value's counts: `counts[i]` are the observations in bucket i (not cumulative); the last is +Inf. */
export class HistogramSeries {
  readonly counts: number[]
  sum = 0
  count = 0

  constructor (private readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length + 1).fill(0)
  }

  observe (value: number): void {
    const bounds = this.bounds
    let i = 0
    while (i < bounds.length && value > (bounds[i] as number)) i++
    this.counts[i] = (this.counts[i] as number) + 1
    this.sum += value
    this.count++
  }

  reset (): void {
    this.counts.fill(0)
    this.sum = 0
    this.count = 0
  }
}

export interface CountedHistogramOptions {
  readonly name: string
  readonly help: string
  readonly labelName: string
  /** Upper bounds, ascending (prom-client's `le`). */
  readonly buckets: readonly number[]
  readonly registers: readonly Registry[]
}

export class CountedHistogram {
  readonly name: string
  readonly help: string
  readonly type = 'histogram' as const
  readonly aggregator = 'sum' as const
  readonly #labelName: string
  readonly #buckets: readonly number[]
  readonly #series = new Map<string, HistogramSeries>()

  constructor (opts: CountedHistogramOptions) {
    this.name = opts.name
    this.help = opts.help
    this.#labelName = opts.labelName
    this.#buckets = [...opts.buckets]
    for (const registry of opts.registers) registry.registerMetric(this as unknown as Metric)
  }

  /** The counts of one label value (kept by the caller: no lookup per observation). */
  series (labelValue: string): HistogramSeries {
    let series = this.#series.get(labelValue)
    if (series === undefined) {
      series = new HistogramSeries(this.#buckets)
      this.#series.set(labelValue, series)
    }
    return series
  }

  /** What prom-client's Registry formats: cumulative `_bucket` samples, `+Inf`, `_sum`, `_count`. */
  async get (): Promise<Collected> {
    const values: Sample[] = []
    for (const [labelValue, series] of this.#series) {
      // As prom-client: a label value appears once observed (and not after a reset until observed again).
      if (series.count === 0) continue
      const shared = { [this.#labelName]: labelValue }
      let cumulative = 0
      this.#buckets.forEach((bound, i) => {
        cumulative += series.counts[i] as number
        values.push({ labels: { le: bound }, sharedLabels: shared, value: cumulative, metricName: `${this.name}_bucket` })
      })
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: shared, value: series.count, metricName: `${this.name}_bucket` },
        { labels: {}, sharedLabels: shared, value: series.sum, metricName: `${this.name}_sum` },
        { labels: {}, sharedLabels: shared, value: series.count, metricName: `${this.name}_count` }
      )
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }

  reset (): void {
    for (const series of this.#series.values()) series.reset()
  }
}
