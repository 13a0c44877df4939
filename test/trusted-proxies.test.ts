/**
 * server.trustProxy as a list of addresses and ranges (src/upstream/trusted-proxies.ts).
 */
import t from 'tap'
import { compileTrust, trustEntryProblem } from '../src/upstream/trusted-proxies.js'

t.test('entries are IP addresses or CIDR ranges', async t => {
  for (const ok of ['10.0.0.1', '10.0.0.0/8', '0.0.0.0/0', '::1', 'fd00::/8', '::ffff:10.0.0.1', '192.168.1.0/24']) t.equal(trustEntryProblem(ok), undefined, ok)
  t.equal(trustEntryProblem('nginx'), 'is not an IP address or CIDR range')
  t.equal(trustEntryProblem('10.0.0.0/8/1'), 'is not an IP address or CIDR range')
  t.equal(trustEntryProblem('10.0.0.256'), 'is not an IP address or CIDR range')
  t.equal(trustEntryProblem('10.0.0.0/33'), 'has an invalid prefix length "/33" (0 to 32 for an IPv4 range)')
  t.equal(trustEntryProblem('::/129'), 'has an invalid prefix length "/129" (0 to 128 for an IPv6 range)')
  t.equal(trustEntryProblem('10.0.0.0/x'), 'has an invalid prefix length "/x" (0 to 32 for an IPv4 range)')
})

t.test('the trust function', async t => {
  t.equal(compileTrust(true)('203.0.113.9'), true)
  t.equal(compileTrust(false)('127.0.0.1'), false)
  t.equal(compileTrust([])('127.0.0.1'), false)
  const trust = compileTrust(['10.0.0.0/8', '::1', '192.168.1.7'])
  t.equal(trust('10.1.2.3'), true)
  t.equal(trust('::ffff:10.1.2.3'), true, 'an IPv4-mapped IPv6 peer (dual-stack listener) matches its IPv4 range')
  t.equal(trust('::1'), true)
  t.equal(trust('192.168.1.7'), true)
  t.equal(trust('192.168.1.8'), false)
  t.equal(trust('11.0.0.1'), false)
  t.equal(trust(undefined), false, 'no address (the socket is gone): not trusted')
  t.equal(trust('not-an-ip'), false)
})
