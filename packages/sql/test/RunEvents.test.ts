/**
 * The resumable event stream on PostgreSQL: readers in this process follow
 * runs of this process and of a child process, woken by NOTIFY (their poll
 * is an hour). See @effect-harness/testing/RunEventsSuite.
 */
import { PgRunStore } from "@effect-harness/sql"
import { Effect } from "effect"
import { afterAll, beforeAll } from "vitest"
import * as RunEventsSuite from "@effect-harness/testing/RunEventsSuite"
import { childStore, pgConfig, probe, requirePostgres, withSql } from "./support/pg.ts"

const server = await probe()
const schema = `eh_events_${process.pid}_${Date.now().toString(36)}`

if (requirePostgres(server, "RunEvents (PostgreSQL)", "the PostgreSQL event stream tests")) {
  beforeAll(() => Effect.runPromise(withSql((sql) => sql`CREATE SCHEMA ${sql(schema)}`)))
  afterAll(() => Effect.runPromise(withSql((sql) => sql`DROP SCHEMA ${sql(schema)} CASCADE`)))

  RunEventsSuite.suite({
    name: "PostgreSQL",
    store: PgRunStore.layer({ ...pgConfig, table: `${schema}.journal` }),
    childStore: childStore(`${schema}.journal`),
    pollInterval: "1 hour"
  })
}
