/**
 * Agent runs on effect's cluster engine with its state in the real
 * PostgreSQL (one process that is the whole cluster): the answer of a plain
 * run, approvals across layer instances (a "restart" between the question and
 * the answer). Fails, not skips, without PostgreSQL when CI=true.
 */
import { Agent } from "@effect-harness/core"
import { TestModel } from "@effect-harness/testing"
import { AgentWorkflow, WorkflowEngines } from "@effect-harness/workflow"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { Tool, Toolkit } from "effect/ai"
import { afterAll } from "vitest"
import * as Shop from "@effect-harness/testing/DurableShop"
import { clientLayer, probe, requirePostgres, uniquePrefix, withSql } from "./support/pg.ts"

const server = await probe()
const prefix = uniquePrefix("wf")

const count = (effects: ReadonlyArray<Shop.SideEffect>) => {
  const counts: Record<string, number> = {}
  for (const effect of effects) counts[effect.ref] = (counts[effect.ref] ?? 0) + 1
  return counts
}

/** Polls `check` until it gives a value (the engine works on its own fibers and PostgreSQL). */
const eventually = <A, E, R>(check: Effect.Effect<A | undefined, E, R>, timeoutMs = 30_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const value = yield* check
      if (value !== undefined) return value
      yield* Effect.sleep("50 millis")
    }
    return yield* Effect.die(new Error("condition never held"))
  })

const Refund = Tool.make("refund", {
  description: "Refund an order",
  parameters: Schema.Struct({ order: Schema.String }),
  success: Schema.String,
  needsApproval: true
})
const Desk = Toolkit.make(Refund)
const desk = Agent.make({ name: "desk", toolkit: Desk, maxSteps: 5 })
const askRefund = TestModel.toolCalls([{ name: "refund", params: { order: "A1" }, id: "refund-1" }])
const answer = TestModel.respond((request) =>
  TestModel.text(JSON.stringify(request.prompt).includes("refunded A1") ? "Refunded A1." : "No refund.")
)

const dropTables = withSql((sql) =>
  Effect.gen(function*() {
    const tables = yield* sql<{ tablename: string }>`SELECT tablename FROM pg_tables WHERE tablename LIKE ${prefix + "%"}`
    for (const { tablename } of tables) yield* sql`DROP TABLE IF EXISTS ${sql(tablename)} CASCADE`
  })
)

if (requirePostgres(server, "AgentWorkflow on the cluster engine (PostgreSQL)", "the cluster engine tests")) {
  afterAll(() => Effect.runPromise(dropTables))

  const engine = WorkflowEngines.layerSingle({ prefix, sharding: { entityMessagePollInterval: "100 millis" } })

  describe("AgentWorkflow on the cluster engine (PostgreSQL)", () => {
    it.live("a run gives the plain run's answer; each model and tool call runs once", () =>
      Effect.gen(function*() {
        const effects: Array<Shop.SideEffect> = []
        const Shopper = AgentWorkflow.make(Shop.agent)
        const output = yield* AgentWorkflow.run(Shopper, "order-1", "Order #42: two items.").pipe(
          Effect.provide(
            Shopper.layer.pipe(
              Layer.provideMerge(engine),
              Layer.provideMerge(Layer.mergeAll(Shop.model(), Shop.handlers((e) => effects.push(e)))),
              Layer.provide(clientLayer)
            )
          )
        )
        assert.include(output, "Finished after 7 tool results")
        assert.deepStrictEqual(Object.values(count(effects)), [1, 1, 1, 1, 1, 1, 1])
      }), 60_000)

    it.live("an approval asked before a restart is granted after it; the run finishes without calling the model again for step 1", () =>
      Effect.gen(function*() {
        const ran: Array<string> = []
        const Support = AgentWorkflow.make(desk)
        const handlers = Desk.toLayer({
          refund: ({ order }) => Effect.sync(() => ran.push(order)).pipe(Effect.as(`refunded ${order}`))
        })
        // each phase builds its own engine (a fresh process, as far as the engine knows)
        const phase = (script: ReadonlyArray<TestModel.Reply>) =>
          Support.layer.pipe(
            Layer.provideMerge(Layer.fresh(engine)),
            Layer.provideMerge(Layer.merge(TestModel.layer(script), handlers)),
            Layer.provide(clientLayer)
          )
        const waiting = yield* Effect.gen(function*() {
          yield* AgentWorkflow.start(Support, "ticket-1", "Refund A1")
          return yield* eventually(AgentWorkflow.waiting(Support, "ticket-1"))
        }).pipe(Effect.provide(phase([askRefund])))
        assert.strictEqual(waiting.callId, "refund-1")
        assert.deepStrictEqual(ran, [])

        yield* Effect.gen(function*() {
          const refused = yield* Effect.flip(AgentWorkflow.approve(Support, "ticket-1", "refund-2"))
          assert.strictEqual(refused._tag === "ApprovalRefused" ? refused.waiting : refused._tag, "refund-1")
          yield* AgentWorkflow.approve(Support, "ticket-1", "refund-1")
          assert.strictEqual(yield* AgentWorkflow.run(Support, "ticket-1", "Refund A1"), "Refunded A1.")
          // step 1 came from PostgreSQL: this phase's model answered once
          assert.strictEqual((yield* TestModel.requests).length, 1)
        }).pipe(Effect.provide(phase([answer])))
        assert.deepStrictEqual(ran, ["A1"])
      }), 60_000)

    it.live("prune deletes the rows of executions completed before the cutoff; running, suspended and recent ones stay", () =>
      Effect.gen(function*() {
        const Support = AgentWorkflow.make(desk, { name: "prune/desk" })
        const handlers = Desk.toLayer({ refund: ({ order }) => Effect.succeed(`refunded ${order}`) })
        // "Hello" is answered at once; a refund asks for approval
        const model = TestModel.layer(Array.from({ length: 10 }, () =>
          TestModel.respond((request) =>
            JSON.stringify(request.prompt).includes("Hello") ? TestModel.text("Hi.") : askRefund
          )))
        const rowsOf = (executionId: string) =>
          withSql((sql) =>
            sql<{ readonly n: string }>`SELECT count(*) AS n FROM ${sql(`${prefix}_messages`)} WHERE entity_id = ${executionId}`
          ).pipe(Effect.map(([row]) => Number(row!.n)))
        yield* Effect.gen(function*() {
          assert.strictEqual(yield* AgentWorkflow.run(Support, "done-1", "Hello"), "Hi.")
          yield* AgentWorkflow.start(Support, "waiting-1", "Refund A1")
          yield* eventually(AgentWorkflow.waiting(Support, "waiting-1"))
          const done = Support.executionId("done-1")
          const suspended = Support.executionId("waiting-1")
          const before = { done: yield* rowsOf(done), suspended: yield* rowsOf(suspended) }
          assert.isAbove(before.done, 1)
          assert.isAbove(before.suspended, 1)

          // completed less than an hour ago: kept
          assert.deepStrictEqual(yield* WorkflowEngines.prune({ prefix, olderThan: "1 hour" }), [])
          assert.strictEqual(yield* rowsOf(done), before.done)

          yield* Effect.sleep("10 millis")
          // (the runs of the tests above, completed too, go as well)
          const pruned = yield* WorkflowEngines.prune({ prefix, olderThan: 0 })
          assert.include(pruned, done)
          assert.notInclude(pruned, suspended)
          assert.strictEqual(yield* rowsOf(done), 0)
          assert.strictEqual(yield* rowsOf(suspended), before.suspended)
          assert.deepStrictEqual(yield* AgentWorkflow.status(Support, "done-1"), { _tag: "Pending" })
          const status = yield* AgentWorkflow.status(Support, "waiting-1")
          assert.strictEqual(status._tag === "Suspended" ? status.waiting?.callId : status._tag, "refund-1")
        }).pipe(
          Effect.provide(
            Support.layer.pipe(
              Layer.provideMerge(Layer.fresh(engine)),
              Layer.provideMerge(Layer.merge(model, handlers)),
              Layer.provideMerge(clientLayer)
            )
          )
        )
      }), 60_000)
  })
}
