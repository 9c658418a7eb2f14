/**
 * Retries multiply repairs: the worst case of a harness run, counted in the
 * requests the scripted model received, and `maxModelCalls`, the one number
 * that bounds it. The same through the real OpenAI SDK over HTTP is in
 * packages/openai/test/modelCalls.test.ts.
 */
import { Agent, Harness, HarnessError, RetryPolicy } from "@effect-harness/core"
import { TestModel, VirtualTime } from "@effect-harness/testing"
import { assert, describe, expectTypeOf, it } from "@effect/vitest"
import { Effect, Layer, Schedule, Schema, Stream } from "effect"
import { Tool, Toolkit } from "effect/ai"

const City = Schema.Struct({ city: Schema.String, population: Schema.Int })

// every answer is wrong: the repairs and the retries all run
const neverValid = (count: number) => Array.from({ length: count }, () => TestModel.jsonAnswer({ city: "Nice", population: "many" }))

const extractCity = Harness.prompt({ name: "extract-city", output: City, render: (text: string) => text })

const billed = Effect.map(TestModel.requests, (requests) => requests.length)

describe("Harness.retry: retries x repairs", () => {
  it.effect("the default worst case is 4 attempts x (1 + 2 repairs) = 12 model calls", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(VirtualTime.run(Harness.run(extractCity.pipe(Harness.retry()), "Nice")))
      assert.strictEqual(error._tag, "RetriesExhausted")
      assert.strictEqual(yield* billed, 12)
      assert.strictEqual(yield* TestModel.remaining, 8)
    }).pipe(Effect.provide(TestModel.layer(neverValid(20)))))

  it.effect("maxModelCalls: exactly that many calls, then BudgetExceeded { limit: modelCalls } naming the cap", () =>
    Effect.gen(function*() {
      const bounded = extractCity.pipe(Harness.retry({ maxModelCalls: 5 }))
      const error = yield* Effect.flip(VirtualTime.run(Harness.run(bounded, "Nice")))
      assert.strictEqual(yield* billed, 5)
      assert.strictEqual(error._tag, "BudgetExceeded")
      if (error._tag !== "BudgetExceeded") return
      assert.deepStrictEqual([error.limit, error.max, error.used, error.harness], ["modelCalls", 5, 6, "extract-city"])
      assert.include(error.message, "maxModelCalls is 5")
      assert.include(error.message, `harness "extract-city"`)
    }).pipe(Effect.provide(TestModel.layer(neverValid(20)))))

  it.effect("the cap is per run: a second run gets its own", () =>
    Effect.gen(function*() {
      const bounded = extractCity.pipe(Harness.retry({ policy: RetryPolicy.make({ maxAttempts: 2 }), maxModelCalls: 4 }))
      const first = yield* Effect.flip(VirtualTime.run(Harness.run(bounded, "Nice")))
      assert.deepStrictEqual([first._tag, yield* billed], ["BudgetExceeded", 4])
      const second = yield* VirtualTime.run(Harness.run(bounded, "Paris"))
      assert.deepStrictEqual(second, { city: "Paris", population: 2_100_000 })
      assert.strictEqual(yield* billed, 5)
    }).pipe(Effect.provide(TestModel.layer([
      ...neverValid(4),
      TestModel.jsonAnswer({ city: "Paris", population: 2_100_000 })
    ]))))

  it.effect("a cap above the worst case changes nothing; the policy still ends the run", () =>
    Effect.gen(function*() {
      const bounded = extractCity.pipe(Harness.retry({ policy: Schedule.recurs(1), maxModelCalls: 100 }))
      const error = yield* Effect.flip(Harness.run(bounded, "Nice"))
      assert.deepStrictEqual([error._tag, yield* billed], ["RetriesExhausted", 6])
    }).pipe(Effect.provide(TestModel.layer(neverValid(10)))))

  it.effect("failed calls count too: a 503 is a call made", () =>
    Effect.gen(function*() {
      const ask = Harness.prompt({ name: "ask", output: Schema.String, render: (q: string) => q })
      const error = yield* Effect.flip(VirtualTime.run(Harness.run(ask.pipe(Harness.retry({ maxModelCalls: 2 })), "hi")))
      assert.deepStrictEqual([error._tag, yield* billed], ["BudgetExceeded", 2])
    }).pipe(Effect.provide(TestModel.layer(Array.from({ length: 4 }, () =>
      TestModel.fail(new HarnessError.ProviderUnavailable({ message: "overloaded", status: 503 }))
    )))))

  it.effect("Harness.streamText under a cap is one call", () =>
    Effect.gen(function*() {
      const twice = Harness.make("twice", (prompt: string) =>
        Effect.zip(
          Stream.runDrain(Harness.streamText({ prompt })),
          Stream.runDrain(Harness.streamText({ prompt }))
        ))
      const error = yield* Effect.flip(Harness.run(twice.pipe(Harness.retry({ maxModelCalls: 1 })), "hi"))
      assert.deepStrictEqual([error._tag, yield* billed], ["BudgetExceeded", 1])
    }).pipe(Effect.provide(TestModel.layer([TestModel.text("one"), TestModel.text("two")]))))

  it("the type says a capped run can end with BudgetExceeded; a cap that is not a whole number >= 1 is refused", () => {
    const bounded = extractCity.pipe(Harness.retry({ maxModelCalls: 6 }))
    expectTypeOf<HarnessError.BudgetExceeded>().toExtend<Harness.Error<typeof bounded>>()
    const unbounded = extractCity.pipe(Harness.retry({ policy: RetryPolicy.defaultPolicy }))
    expectTypeOf<Extract<Harness.Error<typeof unbounded>, HarnessError.BudgetExceeded>>().toBeNever()
    assert.throws(() => extractCity.pipe(Harness.retry({ maxModelCalls: 0 })), /maxModelCalls must be a whole number/)
    assert.throws(() => Agent.make({ name: "a", maxModelCalls: 2.5 }), /maxModelCalls must be a whole number/)
  })
})

describe("agents: steps x retries", () => {
  const Lookup = Tool.make("lookup", { parameters: Schema.Struct({ id: Schema.String }), success: Schema.String })
  const Kit = Toolkit.make(Lookup)
  const KitLive = Kit.toLayer({ lookup: ({ id }) => Effect.succeed(`order ${id} shipped`) })
  const overloaded = () => TestModel.fail(new HarnessError.ProviderUnavailable({ message: "overloaded", status: 503 }))
  // each step needs every attempt: three 503s, then a tool call
  const hardSteps = (steps: number) =>
    Array.from({ length: steps }, (_, i) => [overloaded(), overloaded(), overloaded(), TestModel.toolCall("lookup", { id: `A${i}` })])
      .flat()
  const env = (script: ReadonlyArray<TestModel.Reply>) => Layer.merge(TestModel.layer(script), KitLive)

  it.effect("the default worst case is maxSteps 10 x 4 attempts = 40 model calls", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "support", toolkit: Kit })
      const error = yield* Effect.flip(VirtualTime.run(Agent.run(agent, "Where is my order?")))
      assert.deepStrictEqual([error._tag, (error as HarnessError.BudgetExceeded).limit], ["BudgetExceeded", "steps"])
      assert.strictEqual(yield* billed, 40)
    }).pipe(Effect.provide(env(hardSteps(11)))))

  it.effect("maxModelCalls bounds the same run to exactly that many calls", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "support", toolkit: Kit, maxModelCalls: 7 })
      const error = yield* Effect.flip(VirtualTime.run(Agent.run(agent, "Where is my order?")))
      assert.strictEqual(yield* billed, 7)
      assert.strictEqual(error._tag, "BudgetExceeded")
      if (error._tag !== "BudgetExceeded") return
      assert.deepStrictEqual([error.limit, error.max, error.used, error.harness], ["modelCalls", 7, 8, "support"])
    }).pipe(Effect.provide(env(hardSteps(11)))))

  it.effect("an answer that is never valid: 1 + 2 repairs = 3 calls; under Harness.retry() 4 x 3 = 12; capped, 5", () =>
    Effect.gen(function*() {
      const judge = Agent.make({ name: "judge", output: City })
      const once = yield* Effect.flip(Agent.run(judge, "Nice"))
      assert.deepStrictEqual([once._tag, yield* billed], ["InvalidOutput", 3])
      const retried = yield* Effect.flip(VirtualTime.run(Harness.run(judge.pipe(Harness.retry()), "Nice")))
      assert.deepStrictEqual([retried._tag, yield* billed], ["RetriesExhausted", 3 + 12])
      const capped = yield* Effect.flip(VirtualTime.run(Harness.run(judge.pipe(Harness.retry({ maxModelCalls: 5 })), "Nice")))
      assert.deepStrictEqual([capped._tag, yield* billed], ["BudgetExceeded", 3 + 12 + 5])
    }).pipe(Effect.provide(TestModel.layer(neverValid(40)))))

  it.effect("caps nest: an agent's own cap inside a capped retry stops at the smaller", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "support", toolkit: Kit, maxModelCalls: 10 })
      const error = yield* Effect.flip(VirtualTime.run(Harness.run(agent.pipe(Harness.retry({ maxModelCalls: 6 })), "hi")))
      assert.strictEqual(yield* billed, 6)
      assert.deepStrictEqual(
        [(error as HarnessError.BudgetExceeded).limit, (error as HarnessError.BudgetExceeded).max, (error as HarnessError.BudgetExceeded).harness],
        ["modelCalls", 6, "support"]
      )
    }).pipe(Effect.provide(env(hardSteps(11)))))
})
