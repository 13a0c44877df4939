/**
 * Reads numbers out of a Prometheus text exposition (what GET /metrics answers), for tests:
 * the value of the one sample with this name whose labels include the given ones.
 */
export function sample (text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`)
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue
    const space = line.lastIndexOf(' ')
    const series = line.slice(0, space)
    const brace = series.indexOf('{')
    const metric = brace === -1 ? series : series.slice(0, brace)
    if (metric !== name) continue
    const labelText = brace === -1 ? '' : series.slice(brace + 1, -1)
    const have = labelText === '' ? [] : labelText.split(/,(?=[a-z_]+=")/)
    if (wanted.every(w => have.includes(w))) return Number(line.slice(space + 1))
  }
  return undefined
}
