/**
 * Where the scaled-out triage meets PostgreSQL and effect's cluster engine:
 * the database (`DATABASE_URL`), the tables' prefix, and the engine's
 * settings, which workers (`npm run triage:worker`) and submitters
 * (`npm run triage:submit`) must share.
 *
 * Every failure to reach the database is an `ExampleError` naming it (the
 * password masked) and saying what to do.
 */
import { PgClient } from "@effect/sql-pg"
import { WorkflowEngines } from "@effect-harness/workflow"
import { Config, Effect, Layer, Option, Redacted } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { createServer } from "node:net"
import { ExampleError, oneLine } from "../shared/cli.ts"

/** The database when `DATABASE_URL` is not set: a local PostgreSQL's `test` database, user `postgres`. */
export const defaultDatabaseUrl = "postgres://postgres@127.0.0.1:5432/test"

/**
 * `DATABASE_URL`, or {@link defaultDatabaseUrl}; an empty value counts as
 * unset, a value that is not a PostgreSQL URL is an `ExampleError`.
 */
export const databaseUrl: Effect.Effect<Redacted.Redacted<string>, ExampleError> = Config.option(
  Config.Redacted("DATABASE_URL")
).pipe(
  Effect.mapError((error) => new ExampleError({ message: `Invalid DATABASE_URL: ${oneLine(error.message)}` })),
  Effect.flatMap((url) => {
    const given = Option.filter(url, (u) => Redacted.value(u).trim().length > 0)
    if (Option.isNone(given)) return Effect.succeed(Redacted.make(defaultDatabaseUrl))
    return /^postgres(ql)?:$/.test(parse(Redacted.value(given.value))?.protocol ?? "")
      ? Effect.succeed(given.value)
      : Effect.fail(
        new ExampleError({
          message: "DATABASE_URL is not a PostgreSQL URL: write it as postgres://user:password@host:5432/database"
        })
      )
  })
)

const parse = (text: string): URL | undefined => {
  try {
    return new URL(text)
  } catch {
    return undefined
  }
}

/** The URL to show: its password masked. */
export const shown = (url: Redacted.Redacted<string>): string => {
  const parsed = parse(Redacted.value(url))
  // not a URL: show nothing of it, it may hold a secret
  if (parsed === undefined) return "DATABASE_URL"
  if (parsed.password !== "") parsed.password = "***"
  return parsed.toString()
}

/** What went wrong with the database, in one line, with what to do. */
export const databaseError = (url: Redacted.Redacted<string>, doing: string) => (error: SqlError.SqlError): ExampleError => {
  const cause = error.reason.cause
  const detail = oneLine(cause instanceof Error ? cause.message : String(cause ?? error.message), 160)
  const where = shown(url)
  return new ExampleError({
    message: error.reason._tag === "ConnectionError" || error.reason._tag === "AuthenticationError"
      ? `Cannot connect to PostgreSQL at ${where} (${detail}): is it running? ` +
        `Set DATABASE_URL to its URL (default ${defaultDatabaseUrl})`
      : `PostgreSQL at ${where} failed while ${doing}: ${detail}; check DATABASE_URL and the database's permissions`
  })
}

/**
 * The connection pool, tried at once (the pool connects lazily): a database
 * that cannot be reached is an `ExampleError` before anything starts, not a
 * failure of whichever part of the engine asks first.
 */
export const database = (url: Redacted.Redacted<string>) =>
  Layer.effectContext(
    Effect.gen(function*() {
      const context = yield* Layer.build(PgClient.layer({ url, connectTimeout: "5 seconds" }))
      yield* Effect.flatMap(Effect.service(SqlClient.SqlClient), (sql) => sql`SELECT 1`).pipe(Effect.provideContext(context))
      return context
    }).pipe(Effect.mapError(databaseError(url, "connecting")))
  )

/** The tables' prefix when `--prefix` is not given: `triage_messages`, `triage_runners`, ... */
export const defaultPrefix = "triage"

/** A `--prefix`: a lower-case SQL identifier, short enough for the engine's table names. */
export const prefix = (value: string | undefined): Effect.Effect<string, ExampleError> =>
  value === undefined
    ? Effect.succeed(defaultPrefix)
    : /^[a-z_][a-z0-9_]{0,39}$/.test(value)
    ? Effect.succeed(value)
    : Effect.fail(
      new ExampleError({
        message: `--prefix must be lower-case letters, digits and _ (at most 40, not starting with a digit), got "${value}"`
      })
    )

/**
 * The engine's settings, the same in every process (a submitter computes a
 * run's shard as the workers do): few shards, since a deployment of this
 * example has a few workers, and short polls, so that a submitted ticket
 * starts at once. A worker that dies is found out by the others' health
 * checks within seconds, except when it ran the health checks itself (a
 * cluster singleton): then its shards move once its heartbeat and locks
 * expire, after `shardLockExpiration` (effect's default, 35 s, is shortened
 * to 10 s; a worker that cannot refresh its locks for that long, a stalled
 * process, loses its shards to the others).
 */
export const sharding = {
  shardsPerGroup: 30,
  entityMessagePollInterval: "300 millis",
  refreshAssignmentsInterval: "1 second",
  runnerHealthCheckInterval: "1 second",
  shardLockRefreshInterval: "3 seconds",
  shardLockExpiration: "10 seconds"
} as const

/** A worker's engine: a runner on `host:port` that takes its share of the runs. */
export const worker = (
  options: { readonly prefix: string; readonly host: string; readonly port: number }
): ReturnType<typeof WorkflowEngines.layerWorker> => WorkflowEngines.layerWorker({ ...options, sharding })

/** A submitter's engine: starts runs and reads them, runs none. */
export const client = (prefix: string): ReturnType<typeof WorkflowEngines.layerClient> =>
  WorkflowEngines.layerClient({ prefix, sharding })

/** A port nobody listens on at `host`, for a worker started without `--port`. */
export const freePort = (host: string): Effect.Effect<number, ExampleError> =>
  Effect.callback<number, ExampleError>((resume) => {
    const server = createServer()
    server.once("error", (error) =>
      resume(Effect.fail(new ExampleError({ message: `Cannot listen on ${host}: ${oneLine(error.message)}; check --host` }))))
    server.listen(0, host, () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resume(Effect.succeed(port)))
    })
  })
