/**
 * One model seam: whatever `LanguageModel` the innermost layer provides is the
 * model every harness, agent and stream uses, even when the OpenAI layer
 * (whose `LanguageModel` carries the fast path) is provided further out. The
 * OpenAI side is the real SDK over HTTP to FakeOpenAiServer on 127.0.0.1.
 */
import { Agent, Harness, HarnessError } from "@effect-harness/core"
import { OpenAiLanguageModel } from "@effect-harness/openai"
import { FakeOpenAiServer, TestModel, VirtualTime } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, ExecutionPlan, Layer, Schema, Stream } from "effect"
import { LanguageModel } from "effect/ai"
import { modelLayer } from "./support/env.ts"

const City = Schema.Struct({ city: Schema.String })

const locate = Harness.prompt({ name: "locate", output: City, render: (text: string) => `Where is ${text}?` })
const assistant = Agent.make({ name: "assistant", instructions: "Be brief." })

const OpenAi = modelLayer({ model: "gpt-4o-mini" })

// the outer (OpenAI) model answers "Lyon"; an inner model must answer "Paris"
const outerAnswers = Effect.gen(function*() {
  const server = yield* FakeOpenAiServer.FakeOpenAiServer
  yield* server.enqueue(
    FakeOpenAiServer.chatCompletion({ text: JSON.stringify({ city: "Lyon" }) }),
    FakeOpenAiServer.chatCompletion({ text: "Lyon" })
  )
  return server
})

const unavailable = FakeOpenAiServer.error(503, { message: "The server is overloaded", type: "server_error" })

for (const direct of [true, false]) {
  const Inner = (...script: Array<TestModel.Reply>) => TestModel.layer(script, { direct })
  const kind = direct ? "with its own fast path" : "without a fast path"

  describe(`an inner LanguageModel (${kind}) wins over the OpenAI layer outside it`, () => {
    it.effect("1. Harness.prompt answers from the inner model", () =>
      Effect.gen(function*() {
        const server = yield* outerAnswers
        const answer = yield* Harness.run(locate, "the Eiffel tower").pipe(
          Effect.provide(Inner(TestModel.jsonAnswer({ city: "Paris" })))
        )
        assert.deepStrictEqual(answer, { city: "Paris" })
        assert.strictEqual((yield* server.requests).length, 0)
      }).pipe(Effect.provide(OpenAi)))

    it.effect("2. Agent.run answers from the inner model", () =>
      Effect.gen(function*() {
        const server = yield* outerAnswers
        const answer = yield* Agent.run(assistant, "Capital of France?").pipe(
          Effect.provide(Inner(TestModel.text("Paris")))
        )
        assert.strictEqual(answer, "Paris")
        assert.strictEqual((yield* server.requests).length, 0)
      }).pipe(Effect.provide(OpenAi)))

    it.effect("3. Harness.streamText streams from the inner model", () =>
      Effect.gen(function*() {
        const server = yield* outerAnswers
        const text = yield* Harness.streamText({ prompt: "Capital of France?" }).pipe(
          Stream.runFold(() => "", (text, part) => part.type === "text-delta" ? text + part.delta : text),
          Effect.provide(Inner(TestModel.text("Paris")))
        )
        assert.strictEqual(text, "Paris")
        assert.strictEqual((yield* server.requests).length, 0)
      }).pipe(Effect.provide(OpenAi)))

    it.effect("4. an ExecutionPlan falls back from OpenAI (503 until retries run out) to the inner model", () =>
      Effect.gen(function*() {
        const server = yield* FakeOpenAiServer.FakeOpenAiServer
        yield* server.enqueue(...Array.from({ length: 8 }, () => unavailable))
        const plan = ExecutionPlan.make(
          { provide: OpenAiLanguageModel.layer({ model: "gpt-4o-mini" }), attempts: 1 },
          { provide: Inner(TestModel.jsonAnswer({ city: "Paris" })) }
        )
        const { value } = yield* VirtualTime.runTimed(
          Harness.run(locate.pipe(Harness.retry()), "the Eiffel tower").pipe(Effect.withExecutionPlan(plan)),
          { step: "1 second" }
        )
        assert.deepStrictEqual(value, { city: "Paris" })
        // the first step really went to OpenAI, and gave up there
        assert.isAbove((yield* server.requests).length, 1)
      }).pipe(Effect.provide(OpenAi)))
  })
}

describe("a LanguageModel middleware provided inside the OpenAI layer", () => {
  it.effect("5. sees every harness, agent and stream call, which still reach OpenAI through it", () =>
    Effect.gen(function*() {
      const server = yield* FakeOpenAiServer.FakeOpenAiServer
      yield* server.enqueue(
        FakeOpenAiServer.chatCompletion({ text: JSON.stringify({ city: "Paris" }) }),
        FakeOpenAiServer.chatCompletion({ text: "Paris" }),
        FakeOpenAiServer.chatCompletionStream({ text: "Paris" })
      )
      const seen: Array<string> = []
      const Logging = Layer.effect(
        LanguageModel.LanguageModel,
        Effect.map(Effect.service(LanguageModel.LanguageModel), (model): LanguageModel.LanguageModel => ({
          ...model,
          generateText: ((options: any) => {
            seen.push("generateText")
            return model.generateText(options)
          }) as LanguageModel.LanguageModel["generateText"],
          generateObject: ((options: any) => {
            seen.push("generateObject")
            return model.generateObject(options)
          }) as LanguageModel.LanguageModel["generateObject"],
          streamText: ((options: any) => {
            seen.push("streamText")
            return model.streamText(options)
          }) as LanguageModel.LanguageModel["streamText"]
        }))
      )
      const results = yield* Effect.all([
        Harness.run(locate, "the Eiffel tower"),
        Agent.run(assistant, "Capital of France?"),
        Harness.streamText({ prompt: "Capital of France?" }).pipe(
          Stream.runFold(() => "", (text, part) => part.type === "text-delta" ? text + part.delta : text)
        )
      ]).pipe(Effect.provide(Logging))
      assert.deepStrictEqual(results, [{ city: "Paris" }, "Paris", "Paris"])
      assert.deepStrictEqual(seen, ["generateObject", "generateText", "streamText"])
      assert.strictEqual((yield* server.requests).length, 3)
    }).pipe(Effect.provide(OpenAi)))
})

describe("the OpenAI layer alone", () => {
  it.effect("still takes its fast path and maps a fatal error the same way", () =>
    Effect.gen(function*() {
      const server = yield* FakeOpenAiServer.FakeOpenAiServer
      yield* server.enqueue(FakeOpenAiServer.error(401, { message: "Incorrect API key provided.", type: "invalid_request_error", code: "invalid_api_key" }))
      const error = yield* Effect.flip(Harness.run(locate, "the Eiffel tower"))
      assert.instanceOf(error, HarnessError.AuthenticationFailed)
    }).pipe(Effect.provide(OpenAi)))
})
