/**
 * The durability benchmark: per RunStore (memory, files, PostgreSQL), the
 * latency of one durable append (p50 / p99: for the file store it includes
 * the fsync, for PostgreSQL the commit), and the time to resume a run of
 * 1,000 recorded steps (read the journal, replay every step through
 * `Journal.step` without running it). Beside them, the same run as an effect
 * workflow on the cluster engine over PostgreSQL (`@effect-harness/workflow`):
 * the latency of one journaled step (one activity) and the time to resume the
 * 1,000-step run once it is woken up (every step replayed from the engine).
 *
 * `benchDurability()` returns the numbers; `formatDurability` prints them.
 * Run alone: `node --conditions=@effect-harness/source packages/bench/src/durability.ts`.
 */
import { Durable, Journal, RunStore } from "@effect-harness/core"
import { PgRunStore } from "@effect-harness/sql"
import { WorkflowEngines, WorkflowJournal } from "@effect-harness/workflow"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Exit, Layer, Redacted, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { DurableDeferred, Workflow } from "effect/workflow"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { format, percentile } from "./measure.ts"

/** The numbers of one store. */
export interface DurabilityResult {
  readonly store: string
  readonly appends: number
  readonly appendP50Us: number
  readonly appendP99Us: number
  readonly steps: number
  /** Reading and replaying a run of `steps` recorded steps, median of `resumes` resumes. */
  readonly resumeMs: number
  /** Recording the same run live (every step appended), once. */
  readonly recordMs: number
  /** Why the store was not measured, when it was not. */
  readonly skipped?: string | undefined
}

export interface DurabilityOptions {
  /** Appends timed one by one (default 1,000). */
  readonly appends?: number | undefined
  /** Steps of the resumed run (default 1,000). */
  readonly steps?: number | undefined
  /** Resumes timed (default 5). */
  readonly resumes?: number | undefined
  /** PostgreSQL connection (default: `DATABASE_URL` or the `PG*` variables, 127.0.0.1:5432 postgres/test); `false` skips it. */
  readonly pg?: PgClient.PgPoolConfig | false | undefined
  /** Measure the workflow engine over PostgreSQL too (default true; about 50 ms per step recorded). */
  readonly workflow?: boolean | undefined
}

// What a model step typically records: a reply with a tool call and its usage.
const Reply = Schema.Struct({
  text: Schema.String,
  toolCalls: Schema.Array(Schema.Struct({ id: Schema.String, name: Schema.String, params: Schema.Unknown })),
  usage: Schema.Struct({ inputTokens: Schema.Number, outputTokens: Schema.Number })
})

const reply = (i: number): typeof Reply.Type => ({
  text: `Step ${i}: looking up the order and checking the shipping status before answering the customer.`,
  toolCalls: [{ id: `call_${i}`, name: "lookup", params: { orderId: `A-${1000 + i}`, fields: ["status", "eta"] } }],
  usage: { inputTokens: 1200 + i, outputTokens: 48 }
})

const program = (steps: number) =>
  Effect.gen(function*() {
    let tokens = 0
    for (let i = 0; i < steps; i++) {
      const r = yield* Journal.step(
        { kind: "model", name: "bench", request: { step: i, messages: [{ role: "tool", id: `call_${i - 1}` }] } },
        Reply,
        Effect.sync(() => reply(i))
      )
      tokens += r.usage.inputTokens
    }
    return tokens
  })

const now = () => performance.now()

interface Settings {
  readonly appends: number
  readonly steps: number
  readonly resumes: number
}

const measure = (name: string, layer: Layer.Layer<RunStore.RunStore, unknown>, options: Settings) =>
  Effect.gen(function*() {
    const store = Context.get(yield* Layer.build(layer), RunStore.RunStore)
    const prefix = `bench-${Date.now().toString(36)}`

    // append latency, one run, entries the size of a model step
    const latencies: Array<number> = []
    const runId = `${prefix}-appends`
    for (let i = 0; i < options.appends; i++) {
      const entry: RunStore.Entry = { _tag: "Step", kind: "model", name: "bench", request: { step: i }, result: reply(i), version: 1 }
      const start = now()
      yield* store.append(runId, i, entry)
      latencies.push((now() - start) * 1000)
    }
    latencies.sort((a, b) => a - b)

    // a run of `steps` steps: recorded live once, then resumed
    const resumed = `${prefix}-resume`
    const provided = <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.provideService(self, RunStore.RunStore, store)
    const recordStart = now()
    const total = yield* provided(Durable.run(program(options.steps), resumed))
    const recordMs = now() - recordStart
    const resumes: Array<number> = []
    for (let i = 0; i < options.resumes; i++) {
      const start = now()
      const again = yield* provided(Durable.run(program(options.steps), resumed))
      resumes.push(now() - start)
      if (again !== total) return yield* Effect.die(new Error("the resumed run differs"))
    }
    resumes.sort((a, b) => a - b)
    yield* store.delete(runId)
    yield* store.delete(resumed)
    return {
      store: name,
      appends: options.appends,
      appendP50Us: percentile(latencies, 0.5),
      appendP99Us: percentile(latencies, 0.99),
      steps: options.steps,
      resumeMs: percentile(resumes, 0.5),
      recordMs
    } satisfies DurabilityResult
  }).pipe(Effect.scoped)

// The same run as a workflow: each step an activity recorded by the cluster
// engine in PostgreSQL. The run waits on a gate once its steps are recorded;
// opening it wakes the run, which replays every step before it completes.
const measureWorkflow = (steps: number) =>
  Effect.gen(function*() {
    const prefix = `eh_bench_wf_${process.pid}_${Date.now().toString(36)}`
    const Gate = DurableDeferred.make("gate")
    const Bench = Workflow.make("BenchDurability", {
      payload: { id: Schema.String },
      success: Schema.Number,
      idempotencyKey: ({ id }) => id
    })
    const latencies: Array<number> = []
    let live = true
    const body = Effect.gen(function*() {
      let tokens = 0
      for (let i = 0; i < steps; i++) {
        const start = now()
        const r = yield* Journal.step(
          { kind: "model", name: "bench", request: { step: i, messages: [{ role: "tool", id: `call_${i - 1}` }] } },
          Reply,
          Effect.sync(() => reply(i))
        )
        if (live) latencies.push((now() - start) * 1000)
        tokens += r.usage.inputTokens
      }
      yield* DurableDeferred.await(Gate)
      return tokens
    }).pipe(Effect.orDie)
    const engine = Bench.toLayer(() => WorkflowJournal.provide(body)).pipe(
      Layer.provideMerge(WorkflowEngines.layerSingle({ prefix, sharding: { entityMessagePollInterval: "100 millis" } }))
    )
    const dropTables = Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const tables = yield* sql<{ tablename: string }>`SELECT tablename FROM pg_tables WHERE tablename LIKE ${prefix + "%"}`
      for (const { tablename } of tables) yield* sql`DROP TABLE IF EXISTS ${sql(tablename)} CASCADE`
    }).pipe(Effect.ignore)
    return yield* Effect.gen(function*() {
      const recordStart = now()
      const executionId = yield* Bench.execute({ id: "run" }, { discard: true })
      yield* Effect.gen(function*() {
        while (latencies.length < steps) yield* Effect.sleep("5 millis")
      }).pipe(Effect.timeoutOrElse({
        duration: `${Math.max(60, steps)} seconds`,
        orElse: () => Effect.die(new Error(`the workflow recorded ${latencies.length} of ${steps} steps`))
      }))
      const recordMs = now() - recordStart
      live = false
      const resumeStart = now()
      yield* DurableDeferred.done(Gate, {
        token: DurableDeferred.tokenFromExecutionId(Gate, { workflow: Bench, executionId }),
        exit: Exit.void
      })
      yield* Bench.execute({ id: "run" })
      const resumeMs = now() - resumeStart
      latencies.sort((a, b) => a - b)
      return {
        store: "workflow (PostgreSQL)",
        appends: steps,
        appendP50Us: percentile(latencies, 0.5),
        appendP99Us: percentile(latencies, 0.99),
        steps,
        resumeMs,
        recordMs
      } satisfies DurabilityResult
    }).pipe(Effect.provide(engine), Effect.ensuring(dropTables))
  })

const defaultPg = (): PgClient.PgPoolConfig => {
  const env = process.env
  if (env.DATABASE_URL !== undefined && env.DATABASE_URL.length > 0) return { url: Redacted.make(env.DATABASE_URL) }
  return {
    host: env.PGHOST ?? "127.0.0.1",
    port: Number(env.PGPORT ?? 5432),
    username: env.PGUSER ?? "postgres",
    database: env.PGDATABASE ?? "test",
    ...(env.PGPASSWORD === undefined ? {} : { password: Redacted.make(env.PGPASSWORD) })
  }
}

const skipped = (store: string, reason: string): DurabilityResult => ({
  store,
  appends: 0,
  appendP50Us: Number.NaN,
  appendP99Us: Number.NaN,
  steps: 0,
  resumeMs: Number.NaN,
  recordMs: Number.NaN,
  skipped: reason
})

/** Measures every store. */
export const benchDurability = async (options: DurabilityOptions = {}): Promise<ReadonlyArray<DurabilityResult>> => {
  const settings: Settings = { appends: options.appends ?? 1000, steps: options.steps ?? 1000, resumes: options.resumes ?? 5 }
  const results: Array<DurabilityResult> = []
  results.push(await Effect.runPromise(measure("memory", RunStore.layerMemory, settings)))

  const directory = mkdtempSync(join(tmpdir(), "bench-durability-"))
  try {
    const files = RunStore.layerFileSystem({ directory }).pipe(Layer.provide(NodeFileSystem.layer))
    results.push(await Effect.runPromise(measure("files", files, settings)))
  } finally {
    rmSync(directory, { recursive: true, force: true })
  }

  if (options.pg === false) {
    results.push(skipped("PostgreSQL", "disabled"))
  } else {
    const pg = options.pg ?? defaultPg()
    const table = `eh_bench_${process.pid}_${Date.now().toString(36)}`
    const client = PgClient.layer({ ...pg, connectTimeout: "3 seconds" })
    const dropTable = Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`DROP TABLE IF EXISTS ${sql(table)}`
    }).pipe(Effect.provide(client), Effect.ignore)
    const exit = await Effect.runPromiseExit(
      measure("PostgreSQL", PgRunStore.layerClient({ table }).pipe(Layer.provide(client)), settings).pipe(
        Effect.ensuring(dropTable)
      )
    )
    results.push(Exit.isSuccess(exit) ? exit.value : skipped("PostgreSQL", `unavailable: ${String(exit.cause).split("\n")[0]}`))
    if (options.workflow !== false) {
      const workflow = await Effect.runPromiseExit(measureWorkflow(settings.steps).pipe(Effect.provide(client)))
      results.push(
        Exit.isSuccess(workflow)
          ? workflow.value
          : skipped("workflow (PostgreSQL)", `unavailable: ${String(workflow.cause).split("\n")[0]}`)
      )
    }
  }
  return results
}

const steps = (results: ReadonlyArray<DurabilityResult>) =>
  (results.find((r) => r.skipped === undefined)?.steps ?? 1000).toLocaleString("en-US")

/** The results as a table ("append" of the workflow row: one journaled step, an activity). */
export const formatDurability = (results: ReadonlyArray<DurabilityResult>): string =>
  [
    `store                  append p50   append p99   record ${steps(results)} steps   resume ${steps(results)} steps`,
    ...results.map((r) =>
      r.skipped !== undefined
        ? `${r.store.padEnd(22)} skipped: ${r.skipped}`
        : `${r.store.padEnd(22)} ${`${format(r.appendP50Us)} µs`.padStart(10)}   ${`${format(r.appendP99Us)} µs`.padStart(10)}   ` +
          `${`${format(r.recordMs, 1)} ms`.padStart(18)}   ${`${format(r.resumeMs, 1)} ms`.padStart(18)}`
    )
  ].join("\n")

if ((import.meta as { main?: boolean }).main === true) {
  console.log(formatDurability(await benchDurability()))
}
