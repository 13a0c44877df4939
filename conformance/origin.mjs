// The suite's origin server (http-cache-tests/server), bound to 127.0.0.1 on a free port
// instead of every interface on 8000 as its own `npm run server` does. The dispatch below
// is the package's server/server.mjs `handleMain`, which that file does not export.
// Prints the port on a line of its own.
import http from 'node:http'
import handleConfig from 'http-cache-tests/server/handle-config.mjs'
import handleState from 'http-cache-tests/server/handle-state.mjs'
import handleTest from 'http-cache-tests/server/handle-test.mjs'

const server = http.createServer((request, response) => {
  const segments = new URL(request.url, 'http://127.0.0.1/').pathname.split('/')
  segments.shift()
  const dispatch = segments.shift()
  if (dispatch === 'config') handleConfig(segments, request, response)
  else if (dispatch === 'test') handleTest(segments, request, response)
  else if (dispatch === 'state') handleState(segments, request, response)
  else {
    response.statusCode = 404
    response.end('not found')
  }
})
server.keepAliveTimeout = 60_000
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`)
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
