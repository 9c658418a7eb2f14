import { Agent, Budget, Harness } from "@effect-harness/core"
import { TestModel } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { Tool, Toolkit } from "effect/ai"

const Ping = Tool.make("ping", { parameters: Schema.Struct({ n: Schema.Number }), success: Schema.Number })
const Pings = Toolkit.make(Ping)
const PingHandlers = Pings.toLayer({ ping: ({ n }) => Effect.succeed(n) })

const usage = { inputTokens: 100, outputTokens: 20 }
const pinging = (count: number) =>
  Array.from({ length: count }, (_, i) => TestModel.toolCalls([{ name: "ping", params: { n: i }, id: `p${i}` }], { usage }))

const pricing: Budget.Pricing = (model) => model === "known-model" ? { input: 2.5, output: 10 } : undefined

describe("Budget", () => {
  it.effect("a budget of N tokens stops the run at the first step that would exceed it", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "spender", toolkit: Pings, maxSteps: 20 })
      const error = yield* Agent.run(agent, "go").pipe(
        Budget.provide({ limits: { totalTokens: 250 } }),
        Effect.flip
      )
      // steps 1 and 2 spent 240; step 3 would send at least the 100 input tokens of step 2
      assert.strictEqual(error._tag, "BudgetExceeded")
      if (error._tag !== "BudgetExceeded") return
      assert.deepStrictEqual([error.limit, error.max, error.used], ["totalTokens", 250, 340])
      assert.strictEqual((yield* TestModel.requests).length, 2)
    }).pipe(Effect.provide(Layer.merge(TestModel.layer(pinging(5)), PingHandlers))))

  it.effect("counts steps, tool calls, tokens and cost of a run; an unknown model's cost is unknown", () =>
    Effect.gen(function*() {
      const known = Agent.make({ name: "known", toolkit: Pings, modelLabel: "known-model" })
      const result = yield* known.runDetailed("go").pipe(Budget.provide({ pricing }))
      assert.deepStrictEqual(result.usage, {
        inputTokens: 200,
        outputTokens: 40,
        totalTokens: 240,
        steps: 2,
        toolCalls: 1,
        cost: (200 * 2.5 + 40 * 10) / 1_000_000
      })
      const unknown = Agent.make({ name: "unknown", toolkit: Pings, modelLabel: "mystery-model" })
      const spent = yield* Effect.gen(function*() {
        yield* unknown.run("go")
        return yield* Budget.usage
      }).pipe(Budget.provide({ pricing }))
      assert.strictEqual(spent.steps, 2)
      assert.isUndefined(spent.cost)
    }).pipe(Effect.provide(Layer.merge(
      TestModel.layer([...pinging(1), TestModel.text("done", { usage }), ...pinging(1), TestModel.text("done", { usage })]),
      PingHandlers
    ))))

  it.effect("a cost limit stops the run; an unknown price counts as over any cost limit", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "pricey", toolkit: Pings, modelLabel: "known-model" })
      const error = yield* agent.run("go").pipe(Budget.provide({ pricing, limits: { cost: 0.0004 } }), Effect.flip)
      assert.strictEqual(error._tag, "BudgetExceeded")
      if (error._tag === "BudgetExceeded") assert.strictEqual(error.limit, "cost")
      const blind = Agent.make({ name: "blind", toolkit: Pings, modelLabel: "mystery-model" })
      const unknown = yield* blind.run("go").pipe(Budget.provide({ pricing, limits: { cost: 100 } }), Effect.flip)
      assert.strictEqual(unknown._tag, "BudgetExceeded")
      if (unknown._tag === "BudgetExceeded") assert.strictEqual(unknown.used, Number.POSITIVE_INFINITY)
    }).pipe(Effect.provide(Layer.merge(TestModel.layer(pinging(4)), PingHandlers))))

  it.effect("a tool-call limit stops the run before the calls that would exceed it run", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "caller", toolkit: Pings })
      const error = yield* agent.run("go").pipe(Budget.provide({ limits: { toolCalls: 2 } }), Effect.flip)
      assert.strictEqual(error._tag, "BudgetExceeded")
      if (error._tag !== "BudgetExceeded") return
      assert.deepStrictEqual([error.limit, error.used], ["toolCalls", 3])
    }).pipe(Effect.provide(Layer.merge(TestModel.layer(pinging(5)), PingHandlers))))

  it.effect("sub-harnesses of one run share the budget, and Harness.prompt records into it", () =>
    Effect.gen(function*() {
      const ask = Harness.prompt({ name: "ask", output: Schema.String, render: (q: string) => q })
      const agent = Agent.make({ name: "outer", toolkit: Pings })
      const spent = yield* Effect.gen(function*() {
        yield* Harness.run(ask, "first")
        yield* Agent.run(agent, "then")
        return yield* Budget.usage
      }).pipe(Budget.provide({}))
      assert.deepStrictEqual([spent.steps, spent.inputTokens, spent.outputTokens, spent.toolCalls], [3, 300, 60, 1])
      // without a budget nothing is counted
      yield* Harness.run(ask, "again")
      assert.strictEqual((yield* Budget.usage).steps, 0)
    }).pipe(Effect.provide(Layer.merge(
      TestModel.layer([
        TestModel.text("one", { usage }),
        ...pinging(1),
        TestModel.text("two", { usage }),
        TestModel.text("three", { usage })
      ]),
      PingHandlers
    ))))

  it.effect("Budget.guard makes a plain harness fail once the shared budget is spent", () =>
    Effect.gen(function*() {
      const ask = Budget.guard(Harness.prompt({ name: "ask", output: Schema.String, render: (q: string) => q }))
      const error = yield* Effect.gen(function*() {
        yield* Harness.run(ask, "first")
        yield* Harness.run(ask, "second")
      }).pipe(Budget.provide({ limits: { steps: 1 } }), Effect.flip)
      assert.strictEqual(error._tag, "BudgetExceeded")
      // the second call never went out
      assert.strictEqual((yield* TestModel.requests).length, 1)
    }).pipe(Effect.provide(TestModel.layer([TestModel.text("one", { usage }), TestModel.text("two", { usage })]))))
})
