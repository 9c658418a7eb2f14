/**
 * Real crashes on PostgreSQL: child processes running the durable agent on
 * `PgRunStore` are killed with SIGKILL (right after each of the first journal
 * writes, and at random moments), then resumed to completion. See
 * @effect-harness/testing/CrashDriver.
 */
import { describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { afterAll, beforeAll } from "vitest"
import * as CrashDriver from "@effect-harness/testing/CrashDriver"
import type * as PgStore from "./fixtures/pgStore.ts"
import { pgConfig, probe, requirePostgres, withSql } from "./support/pg.ts"

const server = await probe()
const schema = `eh_crash_${process.pid}_${Date.now().toString(36)}`

if (requirePostgres(server, "crash test: PostgreSQL store", "the PostgreSQL crash test")) {
  beforeAll(() => Effect.runPromise(withSql((sql) => sql`CREATE SCHEMA ${sql(schema)}`)))
  afterAll(() => Effect.runPromise(withSql((sql) => sql`DROP SCHEMA ${sql(schema)} CASCADE`)))

  describe("crash test: PostgreSQL store", () => {
    it("every run killed with SIGKILL resumes to the uninterrupted run's result; tools never run twice", async () => {
      const url = process.env.DATABASE_URL
      const options: PgStore.Options = {
        table: `${schema}.journal`,
        url: url !== undefined && url.length > 0 ? url : undefined,
        host: pgConfig.host ?? "127.0.0.1",
        port: pgConfig.port ?? 5432,
        username: pgConfig.username ?? "postgres",
        database: pgConfig.database ?? "test",
        password: process.env.PGPASSWORD
      }
      const report = await CrashDriver.run({
        name: "PostgreSQL",
        store: { module: new URL("./fixtures/pgStore.ts", import.meta.url).href, options },
        firstWrites: 16,
        randomKills: 28,
        concurrency: 3
      })
      CrashDriver.print(report)
      CrashDriver.assertReport(report)
    }, 240_000)
  })
}
