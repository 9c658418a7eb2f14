/**
 * Agent runs as workflow executions on effect's in-memory engine: the journal
 * contract (steps recorded once, replayed; a non-idempotent tool never run
 * twice; mismatching code refused) and approvals on durable deferreds.
 */
import { Agent, HarnessError, Journal } from "@effect-harness/core"
import { TestModel } from "@effect-harness/testing"
import { AgentWorkflow, WorkflowEngines, WorkflowJournal } from "@effect-harness/workflow"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer, Schema } from "effect"
import { Tool, Toolkit } from "effect/ai"
import { TestClock } from "effect/testing"
import { DurableDeferred, Workflow, WorkflowEngine } from "effect/workflow"
import * as Shop from "@effect-harness/testing/DurableShop"

/** Yields until `check` holds (the in-memory engine runs on forked fibers). */
const eventually = <A>(check: Effect.Effect<A | undefined, any, any>, turns = 2000) =>
  Effect.gen(function*() {
    for (let i = 0; i < turns; i++) {
      const value = yield* check
      if (value !== undefined) return value
      yield* Effect.yieldNow
    }
    return yield* Effect.die(new Error("condition never held"))
  })

/** Moves the test clock by `step` until `fiber` ends (at most 100 steps). */
const untilDone = (fiber: Fiber.Fiber<unknown, unknown>, step: Duration.Input) =>
  Effect.gen(function*() {
    for (let i = 0; i < 100 && fiber.pollUnsafe() === undefined; i++) {
      yield* TestClock.adjust(step)
      yield* Effect.yieldNow
    }
  })

const count = (effects: ReadonlyArray<Shop.SideEffect>) => {
  const counts: Record<string, number> = {}
  for (const effect of effects) counts[effect.ref] = (counts[effect.ref] ?? 0) + 1
  return counts
}

describe("AgentWorkflow (in-memory engine)", () => {
  it.effect("a run gives the plain run's answer; each model and tool call runs once", () =>
    Effect.gen(function*() {
      const plainEffects: Array<Shop.SideEffect> = []
      const plain = yield* Agent.run(Shop.agent, "Order #42: two items.").pipe(
        Effect.provide(Layer.merge(Shop.model(), Shop.handlers((e) => plainEffects.push(e))))
      )
      const effects: Array<Shop.SideEffect> = []
      const Shopper = AgentWorkflow.make(Shop.agent)
      const output = yield* AgentWorkflow.run(Shopper, "order-42", "Order #42: two items.").pipe(
        Effect.provide(
          Shopper.layer.pipe(
            Layer.provideMerge(WorkflowEngines.layerMemory),
            Layer.provideMerge(Layer.merge(Shop.model(), Shop.handlers((e) => effects.push(e))))
          )
        )
      )
      assert.strictEqual(output, plain)
      assert.deepStrictEqual(count(effects), count(plainEffects))
      assert.deepStrictEqual(Object.values(count(effects)), [1, 1, 1, 1, 1, 1, 1])
    }))

  it.effect("the execution id is effect's derivation from the workflow name and the run id", () =>
    Effect.gen(function*() {
      const Shopper = AgentWorkflow.make(Shop.agent)
      const workflow = Shopper.workflow as unknown as Workflow.Workflow<string, any, any, any>
      assert.strictEqual(Shopper.executionId("run-7"), yield* workflow.executionId({ runId: "run-7", input: "x" }))
    }))

  it.effect("a non-idempotent tool interrupted mid-call is not run again: the model is told its outcome is unknown", () =>
    Effect.gen(function*() {
      const effects: Array<Shop.SideEffect> = []
      let interruptNext = true
      // the first charge is cut off after its side effect, as a dying worker would be
      const handlers = Shop.Tools.toLayer({
        note: ({ ref, text }) => Effect.sync(() => effects.push({ tool: "note", ref })).pipe(Effect.as(`noted ${text}`)),
        charge: ({ amount, ref }) =>
          Effect.gen(function*() {
            effects.push({ tool: "charge", ref })
            if (interruptNext) {
              interruptNext = false
              return yield* Effect.interrupt
            }
            return `charged ${amount} (${ref})`
          })
      })
      const Shopper = AgentWorkflow.make(Shop.agent)
      yield* Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(AgentWorkflow.run(Shopper, "order-43", "Order #42: two items."))
        // the engine retries an interrupted activity after a backoff: move the
        // clock until the run ends (a bound on clock steps, not on real time:
        // on a loaded machine the engine's fibers may need many turns)
        for (let i = 0; i < 600 && fiber.pollUnsafe() === undefined; i++) {
          yield* TestClock.adjust("1 second")
          yield* Effect.yieldNow
        }
        const output = yield* Fiber.join(fiber)
        assert.include(output, "Finished after 7 tool results")
        assert.strictEqual(count(effects).c1, 1)
        const requests = yield* TestModel.requests
        assert.strictEqual(requests.length, 5)
        assert.include(JSON.stringify(requests[1]!.prompt), "UnknownOutcome")
      }).pipe(
        Effect.provide(
          Shopper.layer.pipe(
            Layer.provideMerge(WorkflowEngines.layerMemory),
            Layer.provideMerge(Layer.merge(Shop.model(), handlers))
          )
        )
      )
    }))
})

// ---------------------------------------------------------------------------
// Approvals
// ---------------------------------------------------------------------------

const Refund = Tool.make("refund", {
  description: "Refund an order",
  parameters: Schema.Struct({ order: Schema.String }),
  success: Schema.String,
  needsApproval: true
})
const Lookup = Tool.make("lookup", {
  description: "Look an order up",
  parameters: Schema.Struct({ order: Schema.String }),
  success: Schema.String
})
const Desk = Toolkit.make(Refund, Lookup)

const desk = Agent.make({ name: "desk", toolkit: Desk, maxSteps: 5 })

const deskModel = () =>
  TestModel.layer([
    TestModel.toolCalls([
      { name: "lookup", params: { order: "A1" }, id: "look-1" },
      { name: "refund", params: { order: "A1" }, id: "refund-1" }
    ]),
    TestModel.respond((request) => {
      const last = request.prompt.content.at(-1)!
      const refund = last.role === "tool"
        ? last.content.find((part) => part.type === "tool-result" && part.name === "refund")
        : undefined
      return TestModel.text(
        refund !== undefined && refund.type === "tool-result" && !refund.isFailure ? "Refunded A1." : "No refund."
      )
    })
  ])

describe("AgentWorkflow approvals (in-memory engine)", () => {
  const env = (ran: Array<string>) => {
    const Support = AgentWorkflow.make(desk)
    const handlers = Desk.toLayer({
      refund: ({ order }) => Effect.sync(() => ran.push(`refund ${order}`)).pipe(Effect.as(`refunded ${order}`)),
      lookup: ({ order }) => Effect.sync(() => ran.push(`lookup ${order}`)).pipe(Effect.as(`order ${order}: paid`))
    })
    const layer = Support.layer.pipe(
      Layer.provideMerge(WorkflowEngines.layerMemory),
      Layer.provideMerge(Layer.merge(deskModel(), handlers))
    )
    return { Support, layer }
  }

  it.effect("a tool needing approval suspends the run; approving its call id resumes it, the model step replayed", () =>
    Effect.gen(function*() {
      const ran: Array<string> = []
      const { Support, layer } = env(ran)
      yield* Effect.gen(function*() {
        yield* AgentWorkflow.start(Support, "ticket-1", "Refund order A1")
        const waiting = yield* eventually(AgentWorkflow.waiting(Support, "ticket-1"))
        assert.strictEqual(waiting.callId, "refund-1")
        assert.strictEqual(waiting.name, "refund")
        assert.deepStrictEqual(waiting.params, { order: "A1" })
        const status = yield* eventually(
          Effect.map(AgentWorkflow.status(Support, "ticket-1"), (s) => s._tag === "Suspended" ? s : undefined)
        )
        assert.strictEqual(status.waiting?.callId, "refund-1")
        // the step's calls run once every approval of the step is decided
        assert.deepStrictEqual(ran, [])

        // a decision for another call is refused and changes nothing
        const refused = yield* Effect.flip(AgentWorkflow.approve(Support, "ticket-1", "look-1"))
        assert.strictEqual(refused._tag, "ApprovalRefused")
        assert.strictEqual(refused._tag === "ApprovalRefused" ? refused.waiting : refused._tag, "refund-1")
        const unknownRun = yield* Effect.flip(AgentWorkflow.approve(Support, "ticket-9", "refund-1"))
        assert.strictEqual(unknownRun._tag, "ApprovalRefused")
        assert.isUndefined(unknownRun._tag === "ApprovalRefused" ? unknownRun.waiting : unknownRun._tag)

        yield* AgentWorkflow.approve(Support, "ticket-1", "refund-1")
        const answer = yield* AgentWorkflow.run(Support, "ticket-1", "Refund order A1")
        assert.strictEqual(answer, "Refunded A1.")
        // the first model step was replayed, not called again
        assert.deepStrictEqual(ran, ["lookup A1", "refund A1"])
        assert.strictEqual((yield* TestModel.requests).length, 2)
        assert.isUndefined(yield* AgentWorkflow.waiting(Support, "ticket-1"))
        const done = yield* AgentWorkflow.status(Support, "ticket-1")
        assert.isTrue(done._tag === "Completed" && Exit.isSuccess(done.exit))
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a denied call does not run; the model is told", () =>
    Effect.gen(function*() {
      const ran: Array<string> = []
      const { Support, layer } = env(ran)
      yield* Effect.gen(function*() {
        yield* AgentWorkflow.start(Support, "ticket-2", "Refund order A1")
        yield* eventually(AgentWorkflow.waiting(Support, "ticket-2"))
        yield* AgentWorkflow.deny(Support, "ticket-2", "refund-1", "over the limit")
        assert.strictEqual(yield* AgentWorkflow.run(Support, "ticket-2", "Refund order A1"), "No refund.")
        assert.deepStrictEqual(ran, ["lookup A1"])
        const requests = yield* TestModel.requests
        assert.include(JSON.stringify(requests.at(-1)!.prompt), "over the limit")
      }).pipe(Effect.provide(layer))
    }))
})

// ---------------------------------------------------------------------------
// The journal contract on a plain workflow body
// ---------------------------------------------------------------------------

const Gate = DurableDeferred.make("gate")

const Steps = Workflow.make("Steps", {
  payload: { id: Schema.String },
  success: Schema.String,
  error: Schema.Union([Journal.JournalMismatch, Journal.JournalError, Schema.Literal("busy")]),
  idempotencyKey: ({ id }) => id
})

describe("WorkflowJournal (in-memory engine)", () => {
  it.effect("code that asks a recorded step for another request fails with JournalMismatch", () =>
    Effect.gen(function*() {
      let city = "Paris"
      let ran = 0
      const body = Effect.gen(function*() {
        const weather = yield* Journal.step(
          { kind: "tool", name: "weather", request: { id: "w1", city }, idempotent: true },
          Schema.String,
          Effect.sync(() => `sunny in ${city} (${++ran})`)
        )
        yield* DurableDeferred.await(Gate)
        return weather
      })
      const layer = Steps.toLayer(() => WorkflowJournal.provide(body)).pipe(
        Layer.provideMerge(WorkflowEngine.layerMemory)
      )
      yield* Effect.gen(function*() {
        const executionId = yield* Steps.execute({ id: "a" }, { discard: true })
        yield* eventually(Effect.map(Steps.poll(executionId), (o) => o._tag === "Some" ? o : undefined))
        city = "Rome"
        yield* DurableDeferred.done(Gate, {
          token: DurableDeferred.tokenFromExecutionId(Gate, { workflow: Steps, executionId }),
          exit: Exit.void
        })
        const error = yield* Effect.flip(Steps.execute({ id: "a" }))
        assert.instanceOf(error, Journal.JournalMismatch)
        const mismatch = error as Journal.JournalMismatch
        assert.include(mismatch.expected, "Paris")
        assert.include(mismatch.actual, "Rome")
        assert.strictEqual(ran, 1)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a failed step is not a recorded result: its run gets the typed error, a replay runs it again", () =>
    Effect.gen(function*() {
      let attempts = 0
      const body = Effect.gen(function*() {
        const first = yield* Effect.result(
          Journal.step(
            { kind: "model", name: "flaky", request: { q: 1 } },
            Schema.String,
            Effect.suspend(() => ++attempts === 1 ? Effect.fail("busy" as const) : Effect.succeed("ok"))
          )
        )
        yield* DurableDeferred.await(Gate)
        return first._tag === "Success" ? first.success : `failed: ${first.failure}`
      })
      const layer = Steps.toLayer(() => WorkflowJournal.provide(body)).pipe(
        Layer.provideMerge(WorkflowEngine.layerMemory)
      )
      yield* Effect.gen(function*() {
        const executionId = yield* Steps.execute({ id: "b" }, { discard: true })
        yield* eventually(Effect.map(Steps.poll(executionId), (o) => o._tag === "Some" ? o : undefined))
        assert.strictEqual(attempts, 1)
        yield* DurableDeferred.done(Gate, {
          token: DurableDeferred.tokenFromExecutionId(Gate, { workflow: Steps, executionId }),
          exit: Exit.void
        })
        assert.strictEqual(yield* Steps.execute({ id: "b" }), "ok")
        assert.strictEqual(attempts, 2)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a 429 asking for 10 minutes (synthetic, longer than the policy's 30 s) sleeps durably, then the call is made again", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "patient" })
      const Patient = AgentWorkflow.make(agent)
      const model = TestModel.layer([
        TestModel.fail(new HarnessError.RateLimited({ message: "Rate limit reached", retryAfter: Duration.minutes(10) })),
        TestModel.text("Done after the wait.")
      ])
      yield* Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(AgentWorkflow.run(Patient, "slow-1", "Hello"))
        // the run is suspended on its durable clock, not failed, and holds no in-process retry
        const suspended = yield* eventually(
          Effect.map(AgentWorkflow.status(Patient, "slow-1"), (status) => status._tag === "Suspended" ? status : undefined)
        )
        assert.strictEqual(suspended.waiting, undefined)
        assert.strictEqual((yield* TestModel.requests).length, 1)
        yield* TestClock.adjust("9 minutes")
        yield* Effect.yieldNow
        assert.strictEqual((yield* TestModel.requests).length, 1)
        // the 10 minutes are up: move the clock until the run ends (the engine's
        // clock fiber may start a few turns late on a loaded machine)
        yield* untilDone(fiber, "1 minute")
        assert.strictEqual(yield* Fiber.join(fiber), "Done after the wait.")
        assert.strictEqual((yield* TestModel.requests).length, 2)
      }).pipe(Effect.provide(Patient.layer.pipe(Layer.provideMerge(WorkflowEngines.layerMemory), Layer.provideMerge(model))))
    }))

  it.effect("rate-limited more often than maxRateLimitWaits: the run fails with the provider's error", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "impatient" })
      const Impatient = AgentWorkflow.make(agent, { maxRateLimitWaits: 1 })
      const limited = TestModel.fail(new HarnessError.RateLimited({ message: "Rate limit reached", retryAfter: Duration.minutes(10) }))
      const model = TestModel.layer([limited, limited])
      yield* Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(Effect.exit(AgentWorkflow.run(Impatient, "slow-2", "Hello")))
        yield* eventually(Effect.map(TestModel.requests, (requests) => requests.length === 1 ? true : undefined))
        yield* untilDone(fiber, "10 minutes")
        const exit = yield* Fiber.join(fiber)
        assert.isTrue(Exit.isFailure(exit))
        assert.include(String(exit), "RetriesExhausted")
        assert.strictEqual((yield* TestModel.requests).length, 2)
      }).pipe(Effect.provide(Impatient.layer.pipe(Layer.provideMerge(WorkflowEngines.layerMemory), Layer.provideMerge(model))))
    }))
})
