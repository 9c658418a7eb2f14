/**
 * `AgentWorkflow.make(agent, { around })`: what belongs to one run (a budget,
 * an event sink that knows the run id, a service built from the input) is
 * provided per run inside the workflow body, on the in-memory engine.
 */
import { Agent, AgentEvent, Budget, Journal } from "@effect-harness/core"
import { TestModel } from "@effect-harness/testing"
import { AgentWorkflow, WorkflowEngines } from "@effect-harness/workflow"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Schema } from "effect"
import { Tool, Toolkit } from "effect/ai"

/** The customer of a run: built from the run's input by `around`. */
class Customer extends Context.Service<Customer, { readonly name: string }>()("test/Customer") {}

const WhoAmI = Tool.make("whoami", {
  description: "The customer's name",
  parameters: Schema.Struct({}),
  success: Schema.String,
  dependencies: [Customer]
})
const Tools = Toolkit.make(WhoAmI)
const handlers = Tools.toLayer({ whoami: () => Effect.map(Effect.service(Customer), (customer) => customer.name) })

const agent = Agent.make({ name: "greeter", toolkit: Tools, maxSteps: 4 })

// every request asks for the tool once, then answers with its result
const reply = TestModel.respond((request) => {
  const result = request.prompt.content.flatMap((message) =>
    message.role === "tool" ? message.content.filter((part) => part.type === "tool-result") : []
  )[0]
  return result === undefined ? TestModel.toolCall("whoami", {}) : TestModel.text(`Hello ${typeof result.result === "string" ? result.result : JSON.stringify(result.result)}`)
})

describe("AgentWorkflow around (in-memory engine)", () => {
  it.effect("each run gets its own services, budget and event sink, inside the run's journal", () =>
    Effect.gen(function*() {
      const events: Array<readonly [string, string]> = []
      const usage = new Map<string, Budget.Usage>()
      const durable = new Map<string, boolean>()
      const Greeter = AgentWorkflow.make(agent, {
        around: (run, { input, runId }) =>
          Effect.gen(function*() {
            durable.set(runId, (yield* Journal.Journal).durable)
            const answer = yield* run
            usage.set(runId, yield* Budget.usage)
            return answer
          }).pipe(
            Effect.provideService(Customer, { name: input }),
            Budget.provide({ limits: { totalTokens: 1_000_000 } }),
            Effect.provideService(AgentEvent.Sink, (event) => Effect.sync(() => void events.push([runId, event._tag])))
          )
      })
      const answers = yield* Effect.all([
        AgentWorkflow.run(Greeter, "run-a", "Alice"),
        AgentWorkflow.run(Greeter, "run-b", "Bob")
      ], { concurrency: "unbounded" }).pipe(
        Effect.provide(
          Greeter.layer.pipe(
            Layer.provideMerge(WorkflowEngines.layerMemory),
            Layer.provideMerge(Layer.merge(TestModel.layer([reply, reply, reply, reply]), handlers))
          )
        )
      )
      // the tool read the customer of its own run
      assert.deepStrictEqual(answers, ["Hello Alice", "Hello Bob"])
      // the journal around each run is the workflow's, not the pass-through default
      assert.deepStrictEqual([...durable], [["run-a", true], ["run-b", true]])
      // one budget per run: two model steps and one tool call each, not the sum of both runs
      for (const id of ["run-a", "run-b"]) {
        assert.strictEqual(usage.get(id)?.steps, 2, id)
        assert.strictEqual(usage.get(id)?.toolCalls, 1, id)
        const mine = events.filter(([runId]) => runId === id).map(([, tag]) => tag)
        assert.strictEqual(mine.filter((tag) => tag === "StepStarted").length, 2, id)
        assert.strictEqual(mine.filter((tag) => tag === "ToolCalled").length, 1, id)
        assert.strictEqual(mine.filter((tag) => tag === "Finished").length, 1, id)
      }
    }))
})
