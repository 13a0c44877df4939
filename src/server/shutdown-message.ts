/** The IPC message on which a cluster worker drains (sent by src/server/primary.ts, heard in src/cli.ts). */
export const SHUTDOWN_MESSAGE = 'junction:shutdown'
