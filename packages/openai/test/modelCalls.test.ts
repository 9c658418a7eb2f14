/**
 * The billed calls of a harness run, counted where they are billed: the
 * requests FakeOpenAiServer received from the real `openai` SDK (its own
 * retries off). Retries multiply repairs; `maxModelCalls` bounds the
 * product. Retry delays run in virtual time, the HTTP calls for real.
 */
import { Agent, Harness, HarnessError } from "@effect-harness/core"
import { FakeOpenAiServer, VirtualTime } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { Tool, Toolkit } from "effect/ai"
import { modelLayer } from "./support/env.ts"

const City = Schema.Struct({ city: Schema.String, population: Schema.Int })

const extractCity = Harness.prompt({ name: "extract-city", output: City, render: (text: string) => text })

const wrongAnswer = FakeOpenAiServer.chatCompletion({ text: JSON.stringify({ city: "Nice", population: "many" }) })
const overloaded = FakeOpenAiServer.error(503, { message: "The server is overloaded", type: "server_error" })

const Lookup = Tool.make("lookup", { parameters: Schema.Struct({ id: Schema.String }), success: Schema.String })
const Kit = Toolkit.make(Lookup)
const KitLive = Kit.toLayer({ lookup: ({ id }) => Effect.succeed(`order ${id} shipped`) })
// each step needs every attempt: three 503s, then a tool call
const hardStep = (i: number) => [
  overloaded,
  overloaded,
  overloaded,
  FakeOpenAiServer.chatCompletion({ toolCalls: [{ name: "lookup", arguments: { id: `A${i}` } }] })
]

const run = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.flip(VirtualTime.run(effect, { limit: "10 hours" }))

const server = Effect.service(FakeOpenAiServer.FakeOpenAiServer)

const billed = Effect.flatMap(server, (server) => Effect.map(server.requests, (requests) => requests.length))

const enqueue = (...replies: ReadonlyArray<FakeOpenAiServer.Reply>) =>
  Effect.flatMap(server, (server) => server.enqueue(...replies))

describe("billed model calls through the OpenAI SDK", () => {
  it.effect("Harness.prompt + Harness.retry(), an answer never valid: 4 attempts x 3 answers = 12 requests", () =>
    Effect.gen(function*() {
      yield* enqueue(...Array.from({ length: 20 }, () => wrongAnswer))
      const error = yield* run(Harness.run(extractCity.pipe(Harness.retry()), "Nice"))
      assert.strictEqual(error._tag, "RetriesExhausted")
      assert.strictEqual(yield* billed, 12)
    }).pipe(Effect.provide(modelLayer({ model: "gpt-4o-mini" }))))

  it.effect("with maxModelCalls: 5, exactly 5 requests", () =>
    Effect.gen(function*() {
      yield* enqueue(...Array.from({ length: 20 }, () => wrongAnswer))
      const error = yield* run(Harness.run(extractCity.pipe(Harness.retry({ maxModelCalls: 5 })), "Nice"))
      assert.deepStrictEqual([error._tag, (error as HarnessError.BudgetExceeded).limit], ["BudgetExceeded", "modelCalls"])
      assert.strictEqual(yield* billed, 5)
    }).pipe(Effect.provide(modelLayer({ model: "gpt-4o-mini" }))))

  it.effect("an agent: maxSteps 10 x 4 attempts = 40 requests; with maxModelCalls: 7, exactly 7", () =>
    Effect.gen(function*() {
      yield* enqueue(...Array.from({ length: 11 }, (_, i) => hardStep(i)).flat())
      const unbounded = yield* run(Agent.run(Agent.make({ name: "support", toolkit: Kit }), "Where is my order?"))
      assert.deepStrictEqual([unbounded._tag, (unbounded as HarnessError.BudgetExceeded).limit], ["BudgetExceeded", "steps"])
      assert.strictEqual(yield* billed, 40)

      yield* Effect.flatMap(server, (server) => server.reset)
      yield* enqueue(...Array.from({ length: 11 }, (_, i) => hardStep(i)).flat())
      const bounded = yield* run(Agent.run(Agent.make({ name: "support", toolkit: Kit, maxModelCalls: 7 }), "Where is my order?"))
      assert.deepStrictEqual([bounded._tag, (bounded as HarnessError.BudgetExceeded).limit], ["BudgetExceeded", "modelCalls"])
      assert.strictEqual(yield* billed, 7)
    }).pipe(Effect.provide(Layer.merge(modelLayer({ model: "gpt-4o-mini" }), KitLive))))
})
