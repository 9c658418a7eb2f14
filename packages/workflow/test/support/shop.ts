/**
 * The agent of the multi-worker tests: `note` (idempotent) and `charge` (not
 * idempotent) tools whose calls carry the run id, and a scripted model whose
 * every answer is computed from the request (the run id in the first message,
 * the number of tool results so far), so a worker that resumes a run mid-way
 * gets the answers an uninterrupted run would. Every model call (start and
 * end) and every tool call is logged to a PostgreSQL table with the worker's
 * number and the time, for the test to count.
 */
import { Agent } from "@effect-harness/core"
import { TestModel } from "@effect-harness/testing"
import { AgentWorkflow } from "@effect-harness/workflow"
import { Duration, Effect, Layer, Schema } from "effect"
import { type Prompt, Tool, Toolkit } from "effect/ai"
import { SqlClient } from "effect/sql"

const Note = Tool.make("note", {
  description: "Write a note (safe to repeat)",
  parameters: Schema.Struct({ run: Schema.String, ref: Schema.String }),
  success: Schema.String
})

const Charge = Tool.make("charge", {
  description: "Charge the customer (never twice)",
  parameters: Schema.Struct({ run: Schema.String, ref: Schema.String, amount: Schema.Number }),
  success: Schema.String
})

export const Tools = Toolkit.make(Note, Charge)

export const agent = Agent.make({
  name: "shopper",
  instructions: "Process the order.",
  toolkit: Tools,
  maxSteps: 8,
  idempotent: ["note"]
})

export const Shopper = AgentWorkflow.make(agent)

/** Sharding settings of the tests: short polls, so a killed worker's runs move within a second or two. */
export const sharding = {
  entityMessagePollInterval: "200 millis",
  refreshAssignmentsInterval: "500 millis",
  runnerHealthCheckInterval: "1 second",
  shardsPerGroup: 30
} as const

/** The answer every run ends with, interrupted or not. */
export const expectedOutput = "Finished after 5 tool results."

/** Model steps and tool calls of one uninterrupted run. */
export const modelSteps = 4
export const charges = ["c1", "c2", "c3"] as const
export const notes = ["n1", "n2"] as const

/** How many tool results the conversation holds (the model's answers depend on it only). */
export const toolResults = (prompt: Prompt.Prompt) =>
  prompt.content.reduce(
    (n, message) => message.role === "tool" ? n + message.content.filter((part) => part.type === "tool-result").length : n,
    0
  )

/** The run id: the text of the first user message (each run's input is its run id). */
export const runOf = (prompt: Prompt.Prompt): string => {
  const first = prompt.content.find((message) => message.role === "user")
  const text = first?.role === "user" ? first.content.find((part) => part.type === "text") : undefined
  return text?.type === "text" ? text.text : "?"
}

const reply = (run: string, results: number): TestModel.Reply => {
  switch (results) {
    case 0:
      return TestModel.toolCalls([
        { name: "note", params: { run, ref: "n1" }, id: "n1" },
        { name: "charge", params: { run, ref: "c1", amount: 10 }, id: "c1" }
      ])
    case 2:
      return TestModel.toolCalls([{ name: "charge", params: { run, ref: "c2", amount: 20 }, id: "c2" }])
    case 3:
      return TestModel.toolCalls([
        { name: "note", params: { run, ref: "n2" }, id: "n2" },
        { name: "charge", params: { run, ref: "c3", amount: 30 }, id: "c3" }
      ])
    default:
      return TestModel.text(`Finished after ${results} tool results.`)
  }
}

export const createLog = (table: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE IF NOT EXISTS ${sql(table)} (
      worker INT NOT NULL, run TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, at BIGINT NOT NULL
    )`
  })

export interface LogRow {
  readonly worker: number
  readonly run: string
  readonly kind: "model" | "model-done" | "note" | "charge" | "refund"
  readonly key: string
  readonly at: string
}

/** Writes a row of the log table `table` for worker `worker` (a failed write is a defect). */
export const logger = (table: string, worker: number) =>
  Effect.map(SqlClient.SqlClient, (sql) => (run: string, kind: LogRow["kind"], key: string) =>
    Effect.orDie(sql`INSERT INTO ${sql(table)} (worker, run, kind, key, at)
        VALUES (${worker}, ${run}, ${kind}, ${key}, ${Date.now()})`))

/** The log's rows, oldest first. */
export const readLog = (table: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql<LogRow>`SELECT worker, run, kind, key, at FROM ${sql(table)} ORDER BY at`
  )

/**
 * A scripted model whose every answer is computed from the request by
 * `answer`, logged ("model" before, "model-done" after its latency) with the
 * run and the tool results it saw.
 */
export const loggedModel = (
  log: Effect.Success<ReturnType<typeof logger>>,
  latency: Effect.Effect<void>,
  answer: (run: string, results: number, prompt: Prompt.Prompt) => TestModel.Reply
) =>
  TestModel.layer(Array.from({ length: 100_000 }, () =>
    TestModel.respond((request) =>
      Effect.gen(function*() {
        const run = runOf(request.prompt)
        const results = toolResults(request.prompt)
        yield* log(run, "model", `${results}`)
        yield* latency
        yield* log(run, "model-done", `${results}`)
        return answer(run, results, request.prompt)
      })
    )))

/** The model and the tool handlers of worker `worker`, logging to `table`, each call taking `latency`. */
export const layer = (options: { readonly table: string; readonly worker: number; readonly latency: Duration.Input }) =>
  Layer.unwrap(Effect.gen(function*() {
    const log = yield* logger(options.table, options.worker)
    const latency = Effect.sleep(Duration.fromInputUnsafe(options.latency))
    const model = loggedModel(log, latency, reply)
    const handlers = Tools.toLayer({
      note: ({ ref, run }) => Effect.andThen(log(run, "note", ref), Effect.as(latency, `noted ${ref}`)),
      charge: ({ amount, ref, run }) =>
        Effect.andThen(log(run, "charge", ref), Effect.as(latency, `charged ${amount} (${ref})`))
    })
    return Layer.merge(model, handlers)
  }))
