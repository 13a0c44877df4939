/** The slice of a pino logger the write path uses, so the core does not depend on Fastify. */
export interface WriteLog {
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
  error (obj: object, msg: string): void
}
