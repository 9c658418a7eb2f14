import { RunStore } from "@effect-harness/core"
import { PgRunStore } from "@effect-harness/sql"
import { assert, describe, it } from "@effect/vitest"
import { Config, ConfigProvider, Context, Effect, Layer } from "effect"
import { afterAll, beforeAll } from "vitest"
import * as RunStoreSuite from "@effect-harness/testing/RunStoreSuite"
import { pgConfig, probe, requirePostgres, testSchema, withSql } from "./support/pg.ts"

const server = await probe()
const table = `${testSchema}.journal`

const store = (options?: { readonly table?: string }) =>
  Effect.map(
    Layer.build(PgRunStore.layer({ ...pgConfig, table: options?.table ?? table })),
    (context) => Context.get(context, RunStore.RunStore)
  )

if (requirePostgres(server, "PgRunStore", "the PostgreSQL tests")) {
  beforeAll(() => Effect.runPromise(withSql((sql) => sql`CREATE SCHEMA ${sql(testSchema)}`)))
  afterAll(() => Effect.runPromise(withSql((sql) => sql`DROP SCHEMA ${sql(testSchema)} CASCADE`)))

  const update = (runId: string, sequence: number, set: (record: string) => string) =>
    withSql((sql) =>
      Effect.gen(function*() {
        const [row] = yield* sql<{ readonly record: string }>`
          SELECT record FROM ${sql(table)} WHERE run_id = ${runId} AND sequence = ${sequence}`
        assert.isDefined(row)
        yield* sql`UPDATE ${sql(table)} SET record = ${set(row!.record)} WHERE run_id = ${runId} AND sequence = ${sequence}`
      })
    )

  RunStoreSuite.suite({
    name: "PostgreSQL",
    // two pools: two processes as far as the database knows
    stores: Effect.all([store(), store()]),
    damage: (runId, sequence) => update(runId, sequence, (record) => record.slice(0, record.length - 3)),
    setFormatVersion: (runId, sequence, version) =>
      update(runId, sequence, (record) => record.replace(`"v":1`, `"v":${version}`)),
    raw: (runId) =>
      withSql((sql) =>
        Effect.map(
          sql<{ readonly sequence: number; readonly record: string }>`
            SELECT sequence, record FROM ${sql(table)} WHERE run_id = ${runId} ORDER BY sequence`,
          (rows) => rows.map((row) => `${row.sequence} ${row.record}`).join("\n")
        )
      )
  })

  describe("PgRunStore", () => {
    it.live("creates its table once when many processes start together", () =>
      Effect.gen(function*() {
        const fresh = `${testSchema}.created_together`
        const stores = yield* Effect.all(Array.from({ length: 6 }, () => store({ table: fresh })), { concurrency: "unbounded" })
        const runId = RunStoreSuite.freshRunId("together")
        yield* stores[0]!.append(runId, 0, { _tag: "Status", status: "running" })
        assert.strictEqual((yield* stores[5]!.read(runId)).length, 1)
      }))

    it.live("a refused insert carries PostgreSQL's message and SQLSTATE code, not just \"Query failed\"", () =>
      Effect.gen(function*() {
        const fresh = `${testSchema}.refusing`
        const runs = yield* store({ table: fresh })
        yield* withSql((sql) => sql`ALTER TABLE ${sql(fresh)} ADD CONSTRAINT small_records CHECK (length(record) < 200)`)
        const runId = RunStoreSuite.freshRunId("refused")
        yield* runs.append(runId, 0, { _tag: "Status", status: "running" })
        const error = yield* Effect.flip(
          runs.append(runId, 1, { _tag: "Step", kind: "model", name: "m", request: 1, result: "x".repeat(500), version: 1 })
        )
        assert.strictEqual(error.reason, "store")
        assert.include(error.detail, "append")
        assert.include(error.detail, "small_records")
        assert.include(error.detail, "23514")
        assert.isDefined(error.cause)
        assert.strictEqual((yield* runs.read(runId)).length, 1)
      }))

    it.live("layerConfig reads the connection and the table from Config", () =>
      Effect.gen(function*() {
        const layer = PgRunStore.layerConfig({
          host: Config.String("PGHOST"),
          port: Config.Port("PGPORT"),
          username: Config.String("PGUSER"),
          database: Config.String("PGDATABASE"),
          table: Config.String("JOURNAL_TABLE")
        })
        const runs = yield* Effect.map(Layer.build(layer), (context) => Context.get(context, RunStore.RunStore))
        const runId = RunStoreSuite.freshRunId("config")
        yield* runs.append(runId, 0, { _tag: "Status", status: "running" })
        const other = yield* store()
        assert.strictEqual((yield* other.read(runId)).length, 1)
      }).pipe(Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord({
        PGHOST: pgConfig.host ?? "127.0.0.1",
        PGPORT: String(pgConfig.port ?? 5432),
        PGUSER: pgConfig.username ?? "postgres",
        PGDATABASE: pgConfig.database ?? "test",
        JOURNAL_TABLE: table
      })))))

    it.live("a journal table in a schema that does not exist fails with PgRunStoreError saying how to create it", () =>
      Effect.gen(function*() {
        const missing = `${testSchema}_missing`
        const error = yield* Effect.flip(store({ table: `${missing}.journal` }))
        assert.strictEqual(error._tag, "PgRunStoreError")
        assert.strictEqual((error as PgRunStore.PgRunStoreError).reason, "schema")
        assert.include(error.message, `CREATE SCHEMA "${missing}"`)
        assert.include(error.message, "createSchema: true")
      }))

    it.live("the README's table: \"agents.journal\" works on a fresh database with createSchema: true", () =>
      Effect.gen(function*() {
        const database = `${testSchema}_fresh`
        yield* withSql((sql) => sql`CREATE DATABASE ${sql(database)}`)
        yield* Effect.gen(function*() {
          const runs = yield* Effect.map(
            Layer.build(PgRunStore.layer({ ...pgConfig, database, table: "agents.journal", createSchema: true })),
            (context) => Context.get(context, RunStore.RunStore)
          )
          const runId = RunStoreSuite.freshRunId("fresh")
          yield* runs.append(runId, 0, { _tag: "Status", status: "running" })
          assert.strictEqual((yield* runs.read(runId)).length, 1)
          // a second store on the same database finds the schema and the table
          const again = yield* Effect.map(
            Layer.build(PgRunStore.layer({ ...pgConfig, database, table: "agents.journal", createSchema: true })),
            (context) => Context.get(context, RunStore.RunStore)
          )
          assert.strictEqual((yield* again.read(runId)).length, 1)
        }).pipe(
          Effect.scoped,
          Effect.ensuring(Effect.ignore(withSql((sql) => sql`DROP DATABASE IF EXISTS ${sql(database)} WITH (FORCE)`)))
        )
      }))
  })
}

describe("PgRunStore.layerConfig", () => {
  const build = (env: Record<string, string>) =>
    Effect.flip(Layer.build(PgRunStore.layerConfig({ url: Config.Redacted("DATABASE_URL"), port: Config.Port("PGPORT") }))).pipe(
      Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env)))
    )

  it.effect("without DATABASE_URL fails when the layer is built, naming the variable", () =>
    Effect.gen(function*() {
      const error = yield* build({ PGPORT: "5432" })
      assert.strictEqual(error._tag, "PgRunStoreError")
      assert.strictEqual(error.message, "PgRunStore.layerConfig: DATABASE_URL is not set")
    }))

  it.effect("with a variable that does not parse names it as not valid", () =>
    Effect.gen(function*() {
      const error = yield* build({ DATABASE_URL: "postgres://postgres@127.0.0.1:1/none", PGPORT: "not-a-port" })
      assert.strictEqual(error._tag, "PgRunStoreError")
      assert.match(error.message, /^PgRunStore\.layerConfig: PGPORT is not valid/)
    }))
})
