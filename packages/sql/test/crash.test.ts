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
import { childStore, probe, requirePostgres, withSql } from "./support/pg.ts"

const server = await probe()
const schema = `eh_crash_${process.pid}_${Date.now().toString(36)}`

if (requirePostgres(server, "crash test: PostgreSQL store", "the PostgreSQL crash test")) {
  beforeAll(() => Effect.runPromise(withSql((sql) => sql`CREATE SCHEMA ${sql(schema)}`)))
  afterAll(() => Effect.runPromise(withSql((sql) => sql`DROP SCHEMA ${sql(schema)} CASCADE`)))

  describe("crash test: PostgreSQL store", () => {
    it("every run killed with SIGKILL resumes to the uninterrupted run's result; tools never run twice", async () => {
      const report = await CrashDriver.run({
        name: "PostgreSQL",
        store: childStore(`${schema}.journal`),
        firstWrites: 16,
        randomKills: 28,
        concurrency: 3
      })
      CrashDriver.print(report)
      CrashDriver.assertReport(report)
    }, 240_000)
  })
}
