/**
 * The PostgreSQL the tests use: `DATABASE_URL`, or the `PG*` variables, with
 * the defaults of these machines (127.0.0.1:5432, user postgres, database
 * test). A missing server skips the tests with a printed reason, except with
 * `CI=true`, where it fails them.
 */
import { assert, describe, it } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Effect, Exit, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import type * as PgStore from "../fixtures/pgStore.ts"

const env = process.env

export const pgConfig: PgClient.PgPoolConfig = env.DATABASE_URL !== undefined && env.DATABASE_URL.length > 0
  ? { url: Redacted.make(env.DATABASE_URL), connectTimeout: "3 seconds" }
  : {
    host: env.PGHOST ?? "127.0.0.1",
    port: Number(env.PGPORT ?? 5432),
    username: env.PGUSER ?? "postgres",
    database: env.PGDATABASE ?? "test",
    ...(env.PGPASSWORD === undefined ? {} : { password: Redacted.make(env.PGPASSWORD) }),
    connectTimeout: "3 seconds"
  }

export const describeTarget = env.DATABASE_URL !== undefined && env.DATABASE_URL.length > 0
  ? "DATABASE_URL"
  : `${env.PGUSER ?? "postgres"}@${env.PGHOST ?? "127.0.0.1"}:${env.PGPORT ?? 5432}/${env.PGDATABASE ?? "test"}`

export const clientLayer = PgClient.layer(pgConfig)

/** Whether the server answers, or why not. */
export const probe = async (): Promise<{ readonly ok: true } | { readonly ok: false; readonly reason: string }> => {
  const exit = await Effect.runPromiseExit(
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      return yield* sql`SELECT 1`
    }).pipe(
      Effect.provide(clientLayer),
      Effect.timeout("5 seconds")
    )
  )
  return Exit.isSuccess(exit) ? { ok: true } : { ok: false, reason: String(Exit.isFailure(exit) ? exit.cause : "") }
}

export const isCI = env.CI === "true"

/**
 * Whether the tests that need the server can be declared. Without a server it
 * declares, under `title`, one test that fails with CI=true (the server is
 * required there) or a skipped suite otherwise, saying why, and returns false.
 *
 * @example
 * const server = await probe()
 * if (requirePostgres(server, "PgRunStore", "the PgRunStore tests")) {
 *   describe("PgRunStore", () => {...})
 * }
 */
export const requirePostgres = (
  server: { readonly ok: true } | { readonly ok: false; readonly reason: string },
  title: string,
  what: string
): boolean => {
  if (server.ok) return true
  const reason = `no PostgreSQL at ${describeTarget}: ${server.reason.split("\n")[0]}`
  if (isCI) {
    describe(title, () => {
      it("needs a PostgreSQL server when CI=true", () => {
        assert.fail(reason)
      })
    })
  } else {
    console.log(`Skipping ${what} (set CI=true to fail instead): ${reason}`)
    describe.skip(title, () => {
      it("needs a PostgreSQL server", () => {})
    })
  }
  return false
}

/** A schema of its own for this test run, so parallel runs do not collide. */
export const testSchema = `eh_test_${process.pid}_${Date.now().toString(36)}`

export const withSql = <A, E>(f: (sql: SqlClient.SqlClient) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    return yield* f(yield* SqlClient.SqlClient)
  }).pipe(Effect.provide(clientLayer))

/**
 * The store a child process opens on table `table` (fixtures/pgStore.ts, with
 * these tests' connection settings), for the crash driver and the event
 * stream suite.
 */
export const childStore = (table: string): { readonly module: string; readonly options: PgStore.Options } => ({
  module: new URL("../fixtures/pgStore.ts", import.meta.url).href,
  options: {
    table,
    url: env.DATABASE_URL !== undefined && env.DATABASE_URL.length > 0 ? env.DATABASE_URL : undefined,
    host: pgConfig.host ?? "127.0.0.1",
    port: pgConfig.port ?? 5432,
    username: pgConfig.username ?? "postgres",
    database: pgConfig.database ?? "test",
    password: env.PGPASSWORD
  }
})
