/**
 * Measures what one journaled step costs on the cluster engine over
 * PostgreSQL: a workflow body of N trivial steps through `WorkflowJournal`
 * (one activity each), timed end to end, then the same body replayed (every
 * step recorded). Prints ms per step. Usage (PostgreSQL at 127.0.0.1:5432,
 * user postgres, database test, or DATABASE_URL):
 *
 *     node --conditions=@effect-harness/source packages/workflow/scripts/step-cost.ts [steps]
 */
import { Journal } from "@effect-harness/core"
import { PgClient } from "@effect/sql-pg"
import { WorkflowEngines, WorkflowJournal } from "@effect-harness/workflow"
import { Effect, Exit, Layer, Redacted, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { DurableDeferred, Workflow } from "effect/workflow"

const steps = Number(process.argv[2] ?? 50)
const prefix = `eh_bench_${process.pid}`
const url = process.env.DATABASE_URL
const pg = PgClient.layer(
  url !== undefined && url.length > 0
    ? { url: Redacted.make(url) }
    : { host: "127.0.0.1", port: 5432, username: "postgres", database: "test" }
)

const Gate = DurableDeferred.make("gate")
const Bench = Workflow.make("Bench", {
  payload: { id: Schema.String },
  success: Schema.Number,
  idempotencyKey: ({ id }) => id
})

const body = Effect.gen(function*() {
  let sum = 0
  for (let i = 1; i <= steps; i++) {
    sum += yield* Journal.step({ kind: "model", name: "bench", request: { step: i } }, Schema.Number, Effect.succeed(i))
  }
  yield* DurableDeferred.await(Gate)
  return sum
}).pipe(Effect.orDie)

const program = Effect.gen(function*() {
  const start = performance.now()
  const executionId = yield* Bench.execute({ id: "a" }, { discard: true })
  // wait until the body has recorded every step and suspended on the gate
  while ((yield* Bench.poll(executionId))._tag === "None") yield* Effect.sleep("5 millis")
  const live = performance.now() - start
  const replayStart = performance.now()
  yield* DurableDeferred.done(Gate, {
    token: DurableDeferred.tokenFromExecutionId(Gate, { workflow: Bench, executionId }),
    exit: Exit.void
  })
  yield* Bench.execute({ id: "a" })
  const replay = performance.now() - replayStart
  console.log(
    `${steps} steps on the cluster engine over PostgreSQL: live ${(live / steps).toFixed(1)} ms per step ` +
      `(${live.toFixed(0)} ms), replay of all ${steps} after a wake-up ${replay.toFixed(0)} ms ` +
      `(${(replay / steps).toFixed(2)} ms per step)`
  )
})

const cleanup = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const tables = yield* sql<{ tablename: string }>`SELECT tablename FROM pg_tables WHERE tablename LIKE ${prefix + "%"}`
  for (const { tablename } of tables) yield* sql`DROP TABLE IF EXISTS ${sql(tablename)} CASCADE`
})

await Effect.runPromise(
  program.pipe(
    Effect.provide(
      Bench.toLayer(() => WorkflowJournal.provide(body)).pipe(
        Layer.provideMerge(WorkflowEngines.layerSingle({ prefix, sharding: { entityMessagePollInterval: "100 millis" } }))
      )
    ),
    Effect.ensuring(Effect.orDie(cleanup)),
    Effect.provide(pg)
  )
)
process.exit(0)
