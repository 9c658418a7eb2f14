/**
 * An agent run paused for approval under `Durable.run` is resumed with the
 * decisions under the same run id, in another process: the run continues from
 * its recorded pause (the model steps before it are not asked for again, so no
 * JournalMismatch), the approved tool runs once, and a resume delivered again
 * replays to the same answer without calling anything. Real child processes
 * (fixtures/paused-child.ts) on the file store.
 */
import { Agent, Durable, RunEvents, RunStore } from "@effect-harness/core"
import { TestModel } from "@effect-harness/testing"
import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema, Stream } from "effect"
import { Tool, Toolkit } from "effect/ai"
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll } from "vitest"
import type { PausedChildConfig } from "./fixtures/paused-child.ts"

const childPath = fileURLToPath(new URL("./fixtures/paused-child.ts", import.meta.url))
const directory = mkdtempSync(join(tmpdir(), "paused-runs-"))
afterAll(() => rmSync(directory, { recursive: true, force: true }))

type ChildOutcome =
  | { readonly _tag: "paused"; readonly paused: unknown; readonly modelCalls: number }
  | { readonly _tag: "answer"; readonly answer: string; readonly modelCalls: number }

const child = (config: PausedChildConfig) =>
  Effect.promise(() =>
    new Promise<ChildOutcome>((resolve, reject) => {
      const process_ = spawn(process.execPath, ["--conditions=@effect-harness/source", childPath, JSON.stringify(config)], {
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      let stderr = ""
      process_.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
      process_.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
      process_.on("error", reject)
      process_.on("close", (code) => {
        const line = stdout.split("\n").find((l) => l.startsWith("{"))
        if (code !== 0 || line === undefined) reject(new Error(`child exited ${code}: ${stderr}`))
        else resolve(JSON.parse(line) as ChildOutcome)
      })
    })
  )

const refundsOf = (file: string) => existsSync(file) ? readFileSync(file, "utf8").split("\n").filter((l) => l.length > 0) : []

const store = RunStore.layerFileSystem({ directory }).pipe(Layer.provide(NodeFileSystem.layer))
const statusOf = (runId: string) =>
  Effect.map(RunStore.RunStore.use((runs) => runs.list), (runs) => runs.find((run) => run.runId === runId)?.status)
    .pipe(Effect.provide(store))

describe("a paused durable run resumed with decisions", () => {
  it.live("paused in one process, approved from another under the same run id: the run goes on from the pause; the refund runs once", () =>
    Effect.gen(function*() {
      const runId = "ticket-approve"
      const refunds = join(directory, `${runId}.refunds`)
      const first = yield* child({ directory, runId, refunds, mode: { _tag: "run" } })
      assert.strictEqual(first._tag, "paused")
      if (first._tag !== "paused") return
      assert.strictEqual(yield* statusOf(runId), "paused")
      assert.deepStrictEqual(refundsOf(refunds), [])

      const resumed = yield* child({ directory, runId, refunds, mode: { _tag: "resume", paused: first.paused, decision: "approve" } })
      assert.deepStrictEqual(resumed, { _tag: "answer", answer: 'Refund outcome: "refunded 100 on R9"', modelCalls: 1 })
      assert.deepStrictEqual(refundsOf(refunds), [`${runId} R9 100`])
      assert.strictEqual(yield* statusOf(runId), "completed")

      // the same resume delivered again: replayed to the same answer, nothing called
      const again = yield* child({ directory, runId, refunds, mode: { _tag: "resume", paused: first.paused, decision: "approve" } })
      assert.deepStrictEqual(again, { ...resumed, modelCalls: 0 })
      assert.deepStrictEqual(refundsOf(refunds), [`${runId} R9 100`])
    }), 60_000)

  it.live("a denial given from another process: the refund never runs, the model is told", () =>
    Effect.gen(function*() {
      const runId = "ticket-deny"
      const refunds = join(directory, `${runId}.refunds`)
      const first = yield* child({ directory, runId, refunds, mode: { _tag: "run" } })
      if (first._tag !== "paused") return assert.fail("expected a pause")
      const resumed = yield* child({ directory, runId, refunds, mode: { _tag: "resume", paused: first.paused, decision: "deny" } })
      assert.deepStrictEqual(resumed, {
        _tag: "answer",
        answer: 'Refund outcome: {"type":"execution-denied","reason":"not covered"}',
        modelCalls: 1
      })
      assert.deepStrictEqual(refundsOf(refunds), [])
    }), 60_000)
})

const Refund = Tool.make("refund", {
  parameters: Schema.Struct({ id: Schema.String }),
  success: Schema.String,
  needsApproval: true
})
const Tools = Toolkit.make(Refund)
const agent = Agent.make({ name: "support", toolkit: Tools, maxSteps: 4 })
const handlers = Tools.toLayer({ refund: ({ id }) => Effect.succeed(`refunded ${id}`) })
const script = () =>
  TestModel.layer([
    TestModel.toolCalls([{ name: "refund", params: { id: "R1" }, id: "c1" }]),
    TestModel.text("Refunded.")
  ])

describe("a paused durable run, in one process", () => {
  it.effect("run again from the start with an approver, it goes past its recorded pause", () =>
    Effect.gen(function*() {
      const runId = "ticket-approver"
      const paused = yield* Agent.run(agent, "refund R1").pipe(Durable.run(runId), Effect.flip)
      assert.strictEqual(paused._tag, "Paused")
      const answer = yield* Agent.run(agent, "refund R1").pipe(
        Durable.run(runId),
        Effect.provideService(Agent.Approval, () => Effect.succeed(Agent.approve))
      )
      assert.strictEqual(answer, "Refunded.")
      // the first model step was replayed: one live call per process lifetime of the script
      assert.strictEqual((yield* TestModel.requests).length, 2)
    }).pipe(Effect.provide(Layer.mergeAll(RunStore.layerMemory, script(), handlers))))

  it.effect("resumed twice in one process: the second resume replays the first one's answer", () =>
    Effect.gen(function*() {
      const runId = "ticket-twice"
      const paused = yield* Agent.run(agent, "refund R1").pipe(Durable.run(runId), Effect.flip)
      if (paused._tag !== "Paused") return assert.fail("expected a pause")
      const first = yield* agent.resume(paused, { c1: Agent.approve }).pipe(Durable.run(runId))
      const second = yield* agent.resume(paused, { c1: Agent.deny() }).pipe(Durable.run(runId))
      assert.strictEqual(first, "Refunded.")
      // the decision recorded first is the run's: the replay does not ask again
      assert.strictEqual(second, "Refunded.")
      assert.strictEqual((yield* TestModel.requests).length, 2)
    }).pipe(Effect.provide(Layer.mergeAll(RunStore.layerMemory, script(), handlers))))

  it.effect("the events of a run paused then resumed, read from its start: the pause, then on to its completion", () =>
    Effect.gen(function*() {
      const runId = "ticket-events"
      const paused = yield* Agent.run(agent, "refund R1").pipe(Durable.run(runId), Effect.flip)
      if (paused._tag !== "Paused") return assert.fail("expected a pause")
      yield* agent.resume(paused, { c1: Agent.approve }).pipe(Durable.run(runId))
      const events = yield* Stream.runCollect(RunEvents.stream(runId))
      const seen = events.map((event) =>
        event._tag === "Status" ? `status ${event.status}` : event._tag === "Step" ? `${event.kind} ${event.name}` : event._tag
      )
      assert.deepStrictEqual(seen, [
        "status running",
        "ModelStep",
        "pause support/approval",
        "status paused",
        "status running",
        "input support/approval",
        "ToolStarted",
        "ToolStep",
        "ModelStep",
        "status completed"
      ])
    }).pipe(Effect.provide(Layer.mergeAll(RunStore.layerMemory, script(), handlers))))
})
