import { Harness } from "@effect-harness/core"
import { OpenAiClient, OpenAiLanguageModel } from "@effect-harness/openai"
import { FakeOpenAiServer } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { LanguageModel } from "effect/ai"
import OpenAI from "openai"

/** The user's own client: a custom fetch (as a proxy would be) that records what went through it. */
const userClient = (baseURL: string, options: { readonly maxRetries?: number } = {}) => {
  const fetched: Array<string> = []
  const sdk = new OpenAI({
    apiKey: "sk-user-client",
    baseURL,
    defaultHeaders: { "x-gateway": "team-a" },
    ...options,
    fetch: (url, init) => {
      fetched.push(String(url))
      return fetch(url, init)
    }
  })
  return { sdk, fetched }
}

const modelFrom = (sdk: OpenAI) =>
  OpenAiLanguageModel.layer({ model: "gpt-4o-mini" }).pipe(Layer.provide(OpenAiClient.layerFromClient(sdk)))

describe("OpenAiClient.layerFromClient", () => {
  it.effect("sends a harness's calls through the user's own client: its fetch, its key, its headers", () =>
    Effect.gen(function*() {
      const server = yield* FakeOpenAiServer.FakeOpenAiServer
      yield* server.enqueue(FakeOpenAiServer.chatCompletion({ text: JSON.stringify({ city: "Paris" }) }))
      const { fetched, sdk } = userClient(server.url)
      const ask = Harness.prompt({ name: "ask", output: Schema.Struct({ city: Schema.String }), render: (q: string) => q })
      const answer = yield* Harness.run(ask, "Where is the Louvre?").pipe(Effect.provide(modelFrom(sdk)))
      assert.deepStrictEqual(answer, { city: "Paris" })
      assert.deepStrictEqual(fetched, [`${server.url}/chat/completions`])
      const [request] = yield* server.requests
      assert.strictEqual(request!.headers["x-gateway"], "team-a")
    }).pipe(Effect.provide(FakeOpenAiServer.layer({ apiKey: "sk-user-client" }))))

  it.effect("turns the SDK's retries off without changing the user's instance: a 500 is one request", () =>
    Effect.gen(function*() {
      const server = yield* FakeOpenAiServer.FakeOpenAiServer
      yield* server.enqueue(
        FakeOpenAiServer.error(500, { message: "boom", type: "server_error" }),
        FakeOpenAiServer.chatCompletion({ text: "a retry the SDK should not make" })
      )
      // the SDK's default is 2 retries
      const { fetched, sdk } = userClient(server.url)
      assert.strictEqual(sdk.maxRetries, 2)
      const error = yield* Effect.flip(
        LanguageModel.generateText({ prompt: "Hi" }).pipe(Effect.provide(modelFrom(sdk)))
      )
      // mapped from the SDK's own error class: the app and the package share one openai
      assert.strictEqual(error.reason._tag, "InternalProviderError")
      assert.strictEqual((yield* server.requests).length, 1)
      assert.strictEqual(fetched.length, 1)
      assert.strictEqual(sdk.maxRetries, 2)
    }).pipe(Effect.provide(FakeOpenAiServer.layer())))

  it.effect("uses the instance itself when its retries are already 0", () =>
    Effect.gen(function*() {
      const { sdk } = userClient("http://127.0.0.1:1/v1", { maxRetries: 0 })
      const client = yield* Effect.service(OpenAiClient.OpenAiClient).pipe(
        Effect.provide(OpenAiClient.layerFromClient(sdk))
      )
      assert.strictEqual(client.sdk, sdk)
      assert.strictEqual(client.baseURL, "http://127.0.0.1:1/v1")
    }))
})
