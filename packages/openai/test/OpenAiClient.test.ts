import { OpenAiClient, OpenAiLanguageModel } from "@effect-harness/openai"
import { FakeOpenAiServer } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer, Redacted } from "effect"
import { LanguageModel } from "effect/ai"
import OpenAI from "openai"

const secret = "sk-test-do-not-leak-0123456789"

/** A model whose client is read from the given configuration, next to a fake server. */
const fromConfig = (env: Record<string, string>) =>
  OpenAiLanguageModel.layerConfig({ model: "gpt-4o-mini" }).pipe(
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env)))
  )

describe("OpenAiClient", () => {
  it.effect("layerConfig without OPENAI_API_KEY fails when the layer is built, naming the variable", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(fromConfig({})))
      assert.strictEqual(error._tag, "OpenAiClientError")
      assert.include(error.message, "OPENAI_API_KEY")
    }))

  it.effect("layer without an API key fails naming OPENAI_API_KEY", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(OpenAiClient.layer({ baseURL: "http://127.0.0.1:1/v1" })))
      assert.include(error.message, "OPENAI_API_KEY")
    }))

  it.effect("layerConfig reads OPENAI_API_KEY and OPENAI_BASE_URL; the key is sent, never shown", () =>
    Effect.gen(function*() {
      const server = yield* FakeOpenAiServer.FakeOpenAiServer
      yield* server.enqueue(FakeOpenAiServer.chatCompletion({ text: "authorized" }))
      // the server answers 401 unless the request carries `Bearer <secret>`
      const response = yield* LanguageModel.generateText({ prompt: "Hi" }).pipe(
        Effect.provide(fromConfig({ OPENAI_API_KEY: secret, OPENAI_BASE_URL: server.url }))
      )
      assert.strictEqual(response.text, "authorized")
      const exit = yield* Effect.exit(
        LanguageModel.generateText({ prompt: "Hi" }).pipe(
          Effect.provide(fromConfig({ OPENAI_API_KEY: `${secret}-wrong`, OPENAI_BASE_URL: server.url }))
        )
      )
      const requests = yield* server.requests
      assert.deepStrictEqual(requests.map((request) => request.path), ["/v1/chat/completions", "/v1/chat/completions"])
      assert.isTrue(Exit.isFailure(exit))
      // the key appears in no recorded request and in no error
      assert.notInclude(JSON.stringify(requests), secret)
      assert.notInclude(String(exit), secret)
      assert.notInclude(JSON.stringify(exit), secret)
    }).pipe(Effect.provide(FakeOpenAiServer.layer({ apiKey: secret }))))

  it.effect("the SDK never retries on its own (maxRetries: 0): a 500 is one request", () =>
    Effect.gen(function*() {
      const server = yield* FakeOpenAiServer.FakeOpenAiServer
      yield* server.enqueue(
        FakeOpenAiServer.error(500, { message: "boom", type: "server_error" }),
        FakeOpenAiServer.chatCompletion({ text: "a retry the SDK should not make" })
      )
      const client = yield* OpenAiClient.make({ apiKey: Redacted.make(secret), baseURL: server.url })
      const error = yield* Effect.flip(
        LanguageModel.generateText({ prompt: "Hi" }).pipe(
          Effect.provide(OpenAiLanguageModel.layer({ model: "gpt-4o-mini" })),
          Effect.provideService(OpenAiClient.OpenAiClient, client)
        )
      )
      assert.strictEqual(error.reason._tag, "InternalProviderError")
      assert.strictEqual((yield* server.requests).length, 1)
    }).pipe(Effect.provide(FakeOpenAiServer.layer())))

  it.effect("organization, project and extra headers are sent with every request", () =>
    Effect.gen(function*() {
      const server = yield* FakeOpenAiServer.FakeOpenAiServer
      yield* server.enqueue(FakeOpenAiServer.chatCompletion({ text: "ok" }))
      const client = yield* OpenAiClient.make({
        apiKey: secret,
        baseURL: server.url,
        organization: "org-test",
        project: "proj-test",
        headers: { "x-team": "harness" }
      })
      yield* LanguageModel.generateText({ prompt: "Hi" }).pipe(
        Effect.provide(OpenAiLanguageModel.layer({ model: "gpt-4o-mini" })),
        Effect.provideService(OpenAiClient.OpenAiClient, client)
      )
      const [request] = yield* server.requests
      assert.strictEqual(request?.headers["openai-organization"], "org-test")
      assert.strictEqual(request?.headers["openai-project"], "proj-test")
      assert.strictEqual(request?.headers["x-team"], "harness")
    }).pipe(Effect.provide(FakeOpenAiServer.layer())))

  it.effect("requests say they come from the openai SDK (User-Agent OpenAI/JS <version>), as a plain OpenAI client's do", () =>
    Effect.gen(function*() {
      const server = yield* FakeOpenAiServer.FakeOpenAiServer
      yield* server.enqueue(FakeOpenAiServer.chatCompletion({ text: "ok" }))
      yield* server.enqueue(FakeOpenAiServer.chatCompletion({ text: "ok" }))
      yield* LanguageModel.generateText({ prompt: "Hi" }).pipe(
        Effect.provide(OpenAiLanguageModel.layer({ model: "gpt-4o-mini" })),
        Effect.provide(OpenAiClient.layer({ apiKey: secret, baseURL: server.url }))
      )
      const plain = new OpenAI({ apiKey: secret, baseURL: server.url, maxRetries: 0 })
      yield* Effect.promise(() => plain.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] }))
      const [ours, theirs] = yield* server.requests
      assert.match(String(theirs?.headers["user-agent"]), /^OpenAI\/JS \d/)
      assert.strictEqual(ours?.headers["user-agent"], theirs?.headers["user-agent"])
    }).pipe(Effect.provide(FakeOpenAiServer.layer())))
})
