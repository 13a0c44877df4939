/**
 * `server.trustProxy`: which peers may state the client's address, protocol and host in
 * X-Forwarded-* (docs/hygiene.md). `true` trusts every peer (only safe when nothing but the
 * proxy can reach the gateway's port), a list trusts those addresses and CIDR ranges only,
 * so a client connecting past the proxy is not believed. node's BlockList does the
 * matching (IPv4-mapped IPv6 peers such as ::ffff:10.0.0.1 included); Fastify gets the same
 * function, so request.ip/protocol and the forwarded headers agree.
 */
import { BlockList, isIP } from 'node:net'

export type TrustProxySetting = boolean | readonly string[]
export type TrustFunction = (address: string | undefined) => boolean

/** Why `entry` is not an IP address or CIDR range, or undefined when it is one. */
export function trustEntryProblem (entry: string): string | undefined {
  const [address = '', bits, ...more] = entry.split('/')
  const family = isIP(address)
  if (family === 0 || more.length > 0) return 'is not an IP address or CIDR range'
  if (bits === undefined) return undefined
  const max = family === 4 ? 32 : 128
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return `has an invalid prefix length "/${bits}" (0 to ${max} for an IPv${family} range)`
  return undefined
}

/** The trust function of a (checked) setting. */
export function compileTrust (setting: TrustProxySetting): TrustFunction {
  if (setting === true) return () => true
  if (setting === false || setting.length === 0) return () => false
  const list = new BlockList()
  for (const entry of setting) {
    const [address = '', bits] = entry.split('/')
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4'
    if (bits === undefined) list.addAddress(address, type)
    else list.addSubnet(address, Number(bits), type)
  }
  return (address) => {
    if (address === undefined) return false
    const family = isIP(address)
    return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4')
  }
}
