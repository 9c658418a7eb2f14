/**
 * Structured output through the DirectModel path keeps OpenAI's strict mode
 * even when the strict form of the Schema differs from its own encoding
 * (optional fields become nullable): the answer is brought back to the
 * Schema's encoding before the harness decodes it.
 */
import { Agent, Harness } from "@effect-harness/core"
import { OpenAiClient, OpenAiLanguageModel } from "@effect-harness/openai"
import { FakeOpenAiServer } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"

const Person = Schema.Struct({
  name: Schema.String,
  age: Schema.Number,
  nickname: Schema.optional(Schema.String)
})

const extract = Harness.prompt({ name: "person", output: Person, render: (text: string) => text, repairs: 0 })

const withServer = (answers: ReadonlyArray<unknown>, api: "chat" | "responses") =>
  Effect.gen(function*() {
    const server = yield* FakeOpenAiServer.make({
      replies: answers.map((answer) =>
        api === "chat"
          ? FakeOpenAiServer.chatCompletion({ text: JSON.stringify(answer) })
          : FakeOpenAiServer.response({ text: JSON.stringify(answer) })
      )
    })
    const model = OpenAiLanguageModel.layer({ model: "gpt-4o-mini", api }).pipe(
      Layer.provide(OpenAiClient.layer({ apiKey: "sk-test", baseURL: server.url }))
    )
    const results = yield* Effect.forEach(answers, (_, i) => Effect.result(Harness.run(extract, `text ${i}`))).pipe(
      Effect.provide(model)
    )
    return { results, requests: yield* server.requests }
  }).pipe(Effect.scoped)

describe("strict structured output on the direct path", () => {
  for (const api of ["chat", "responses"] as const) {
    it.live(`${api}: the strict schema is sent, and a strict answer (null for an absent optional) decodes`, () =>
      Effect.gen(function*() {
        const { requests, results } = yield* withServer([
          { name: "Ada", age: 36, nickname: null },
          { name: "Grace", age: 85, nickname: "Amazing Grace" },
          { name: "Alan", age: "forty" }
        ], api)
        const body = requests[0]!.body as any
        const format = api === "chat" ? body.response_format.json_schema : body.text.format
        assert.strictEqual(format.strict, true)
        assert.deepStrictEqual(results.slice(0, 2).map((r) => r._tag === "Success" ? r.success : r.failure), [
          { name: "Ada", age: 36 },
          { name: "Grace", age: 85, nickname: "Amazing Grace" }
        ])
        // an invalid answer still reaches the harness's own validation, with what the model said
        const third = results[2]!
        assert.strictEqual(third._tag, "Failure")
        if (third._tag === "Failure") {
          assert.strictEqual(third.failure._tag, "InvalidOutput")
          assert.include((third.failure as any).raw, "forty")
        }
      }))
  }

  for (const api of ["chat", "responses"] as const) {
    it.live(`${api}: an agent's strict answer is its output, and its step records the Schema's encoding`, () =>
      Effect.gen(function*() {
        const server = yield* FakeOpenAiServer.make({
          replies: [
            api === "chat"
              ? FakeOpenAiServer.chatCompletion({ text: JSON.stringify({ name: "Ada", age: 36, nickname: null }) })
              : FakeOpenAiServer.response({ text: JSON.stringify({ name: "Ada", age: 36, nickname: null }) })
          ]
        })
        const agent = Agent.make({ name: "person", output: Person, repairs: 0 })
        const result = yield* agent.runDetailed("Who wrote the first program?").pipe(
          Effect.provide(
            OpenAiLanguageModel.layer({ model: "gpt-4o-mini", api }).pipe(
              Layer.provide(OpenAiClient.layer({ apiKey: "sk-test", baseURL: server.url }))
            )
          )
        )
        assert.deepStrictEqual(result.output, { name: "Ada", age: 36 })
        // the journal form of the answer decodes with the Schema on replay
        assert.strictEqual(result.steps[0]!.text, JSON.stringify({ name: "Ada", age: 36 }))
        const body = (yield* server.requests)[0]!.body as any
        assert.strictEqual((api === "chat" ? body.response_format.json_schema : body.text.format).strict, true)
      }).pipe(Effect.scoped))
  }
})

// what docs/openai.md tells users about numbers in an answer
describe("numbers in a structured answer", () => {
  const numberSchemaSent = (output: Schema.Codec<{ readonly n: number }, any>) =>
    Effect.gen(function*() {
      const server = yield* FakeOpenAiServer.make({
        replies: [FakeOpenAiServer.chatCompletion({ text: JSON.stringify({ n: 4 }) })]
      })
      const answer = yield* Harness.run(Harness.prompt({ name: "count", output, render: (text: string) => text }), "How many?").pipe(
        Effect.provide(
          OpenAiLanguageModel.layer({ model: "gpt-4o-mini" }).pipe(
            Layer.provide(OpenAiClient.layer({ apiKey: "sk-test", baseURL: server.url }))
          )
        )
      )
      assert.deepStrictEqual(answer, { n: 4 })
      const body = (yield* server.requests)[0]!.body as any
      return body.response_format.json_schema.schema.properties.n
    }).pipe(Effect.scoped)

  it.live("Schema.Finite is sent as a plain JSON number", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* numberSchemaSent(Schema.Struct({ n: Schema.Finite })), { type: "number" })
    }))

  it.live("Schema.Number is sent with the strings NaN and the infinities as alternatives", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* numberSchemaSent(Schema.Struct({ n: Schema.Number })), {
        anyOf: [{ type: "number" }, { type: "string", enum: ["Infinity", "-Infinity", "NaN"] }]
      })
    }))
})
