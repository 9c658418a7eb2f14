import { ConversationStore } from "@effect-harness/core"
import { PgConversationStore } from "@effect-harness/sql"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { afterAll, beforeAll } from "vitest"
import * as ConversationStoreSuite from "@effect-harness/testing/ConversationStoreSuite"
import { pgConfig, probe, requirePostgres, testSchema, withSql } from "./support/pg.ts"

const server = await probe()
const table = `${testSchema}.conversations`

const store = () =>
  Effect.map(
    Layer.build(PgConversationStore.layer({ ...pgConfig, table })),
    (context) => Context.get(context, ConversationStore.ConversationStore)
  )

if (requirePostgres(server, "PgConversationStore", "the PostgreSQL tests")) {
  beforeAll(() => Effect.runPromise(withSql((sql) => sql`CREATE SCHEMA ${sql(testSchema)}`)))
  afterAll(() => Effect.runPromise(withSql((sql) => sql`DROP SCHEMA ${sql(testSchema)} CASCADE`)))

  // two pools: two processes as far as the database knows
  ConversationStoreSuite.suite({ name: "PostgreSQL", stores: Effect.all([store(), store()]) })

  describe("PgConversationStore", () => {
    it.effect("one row per session, holding the latest document and its revision", () =>
      Effect.gen(function*() {
        const pg = yield* store()
        const id = ConversationStoreSuite.freshSessionId()
        yield* pg.save(id, `{"version":2,"id":"${id}","messages":[]}`, 0)
        yield* pg.save(id, `{"version":2,"id":"${id}","messages":[]}`, 1)
        const rows = yield* withSql((sql) =>
          sql<{ readonly revision: number }>`SELECT revision FROM ${sql(table)} WHERE session_id = ${id}`
        )
        assert.deepStrictEqual(rows.map((row) => row.revision), [2])
      }).pipe(Effect.scoped))

    it.effect("a refused statement is a ConversationStoreError with PostgreSQL's message", () =>
      Effect.gen(function*() {
        const pg = yield* store()
        const id = ConversationStoreSuite.freshSessionId()
        // a NUL byte: PostgreSQL refuses it in text
        const error = yield* Effect.flip(pg.save(id, "{\"a\":\"\u0000\"}", 0))
        assert.strictEqual(error._tag, "ConversationStoreError")
        assert.match(error.message, /0x00|22021/)
      }).pipe(Effect.scoped))
  })
}
