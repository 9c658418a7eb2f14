/**
 * The failures nobody has recorded, built from OpenAI's documented error
 * shapes (`{ error: { message, type, param, code } }`) and transport faults
 * of the fake server: every test name says "synthetic". Each goes through the
 * real SDK over HTTP, through effect's LanguageModel and core's DirectModel,
 * and is checked as the HarnessError a harness would see.
 */
import { DirectModel, HarnessError, Messages } from "@effect-harness/core"
import { OpenAiClient, OpenAiLanguageModel } from "@effect-harness/openai"
import { FakeOpenAiServer } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer, Stream } from "effect"
import { AiError, LanguageModel } from "effect/ai"
import * as Net from "node:net"
import { modelLayer } from "./support/env.ts"

const toHarness = (error: unknown): HarnessError.HarnessError => {
  if (!AiError.isAiError(error)) throw new Error(`not an AiError: ${String(error)}`)
  return HarnessError.fromAiError(error)
}

/** The error of a plain call through LanguageModel, then through DirectModel, as HarnessErrors. */
const plainErrors = (reply: FakeOpenAiServer.Reply) =>
  Effect.gen(function*() {
    const server = yield* FakeOpenAiServer.FakeOpenAiServer
    yield* server.enqueue(reply, reply)
    const viaLanguageModel = yield* Effect.flip(LanguageModel.generateText({ prompt: "Hello" }))
    const direct = yield* DirectModel.current
    const viaDirect = yield* Effect.flip(
      direct.generate({ prompt: Messages.toPrompt("Hello"), tools: [], toolChoice: "none", responseFormat: { type: "text" } })
    )
    return [toHarness(viaLanguageModel), toHarness(viaDirect)] as const
  })

const streamError = (reply: FakeOpenAiServer.Reply) =>
  Effect.gen(function*() {
    const server = yield* FakeOpenAiServer.FakeOpenAiServer
    yield* server.enqueue(reply)
    // tool calls are returned as they are, whatever their tool
    const parts = LanguageModel.streamText({ prompt: "Hello", disableToolCallResolution: true, toolCallValidation: "deferred" })
    return toHarness(yield* Effect.flip(Stream.runDrain(parts)))
  })

/** A port nothing listens on: taken from the OS, then released. */
const closedPort = Effect.callback<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as Net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

const rateLimit = {
  message:
    "Rate limit reached for gpt-4o-mini in organization org-test on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.",
  type: "requests",
  code: "rate_limit_exceeded"
}

const quota = {
  message:
    "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
  type: "insufficient_quota",
  code: "insufficient_quota"
}

const contextLength = {
  message:
    "This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens. Please reduce the length of the messages.",
  type: "invalid_request_error",
  param: "messages",
  code: "context_length_exceeded"
}

for (const api of ["chat", "responses"] as const) {
  const layer = modelLayer({ model: "gpt-4o-mini", api } as OpenAiLanguageModel.Options)
  const stream = api === "chat" ? FakeOpenAiServer.chatCompletionStream : FakeOpenAiServer.responseStream

  describe(`${api}: synthetic errors`, () => {
    it.effect("synthetic 429 rate_limit_exceeded with retry-after-ms: RateLimited with retryAfter", () =>
      Effect.gen(function*() {
        const errors = yield* plainErrors(FakeOpenAiServer.error(429, rateLimit, { "retry-after-ms": "1500", "retry-after": "2" }))
        for (const error of errors) {
          assert.strictEqual(error._tag, "RateLimited")
          assert.strictEqual(error.message, rateLimit.message)
          assert.deepStrictEqual(HarnessError.retryAfter(error), Duration.millis(1500))
          assert.isTrue(HarnessError.isRecoverable(error))
        }
      }).pipe(Effect.provide(layer)))

    it.effect("synthetic 429 rate_limit_exceeded with retry-after in seconds", () =>
      Effect.gen(function*() {
        const [error] = yield* plainErrors(FakeOpenAiServer.error(429, rateLimit, { "retry-after": "7" }))
        assert.strictEqual(error._tag, "RateLimited")
        assert.deepStrictEqual(HarnessError.retryAfter(error), Duration.seconds(7))
      }).pipe(Effect.provide(layer)))

    it.effect("synthetic 429 insufficient_quota: QuotaExhausted, fatal", () =>
      Effect.gen(function*() {
        for (const error of yield* plainErrors(FakeOpenAiServer.error(429, quota))) {
          assert.strictEqual(error._tag, "QuotaExhausted")
          assert.strictEqual(error.message, quota.message)
          assert.isTrue(HarnessError.isFatal(error))
        }
      }).pipe(Effect.provide(layer)))

    it.effect("synthetic 400 context_length_exceeded: ContextOverflow", () =>
      Effect.gen(function*() {
        for (const error of yield* plainErrors(FakeOpenAiServer.error(400, contextLength))) {
          assert.strictEqual(error._tag, "ContextOverflow")
          assert.strictEqual(error.message, contextLength.message)
        }
      }).pipe(Effect.provide(layer)))

    it.effect("synthetic 400/404/422: InvalidRequest with the provider's message, code and param", () =>
      Effect.gen(function*() {
        for (const status of [400, 404, 422]) {
          const body = { message: `Invalid 'temperature' (${status})`, param: "temperature", code: "invalid_value" }
          for (const error of yield* plainErrors(FakeOpenAiServer.error(status, body))) {
            assert.strictEqual(error._tag, "InvalidRequest")
            if (error._tag !== "InvalidRequest") continue
            assert.deepStrictEqual([error.message, error.code, error.param, error.status], [body.message, "invalid_value", "temperature", status])
          }
        }
      }).pipe(Effect.provide(layer)))

    it.effect("synthetic 401/403: AuthenticationFailed", () =>
      Effect.gen(function*() {
        for (const status of [401, 403]) {
          const body = { message: "Incorrect API key provided: sk-test-****cret.", code: "invalid_api_key" }
          for (const error of yield* plainErrors(FakeOpenAiServer.error(status, body))) {
            assert.strictEqual(error._tag, "AuthenticationFailed")
            assert.strictEqual(error.message, body.message)
          }
        }
      }).pipe(Effect.provide(layer)))

    it.effect("synthetic 408/409/500/503: ProviderUnavailable", () =>
      Effect.gen(function*() {
        for (const status of [408, 409, 500, 503]) {
          const body = { message: "The server had an error while processing your request. Sorry about that!", type: "server_error" }
          for (const error of yield* plainErrors(FakeOpenAiServer.error(status, body))) {
            assert.strictEqual(error._tag, "ProviderUnavailable")
            if (error._tag === "ProviderUnavailable") assert.strictEqual(error.status, status)
          }
        }
      }).pipe(Effect.provide(layer)))

    it.effect("synthetic stream cut mid-way: ConnectionFailed keeping the text and tool calls received", () =>
      Effect.gen(function*() {
        const reply = stream({
          text: "The weather in Paris is sunny",
          toolCalls: [{ id: "call_a", name: "get_weather", arguments: { city: "Paris" } }]
        })
        const chunks = reply.body as ReadonlyArray<string>
        // cut after the text and the tool call's arguments, before the response says it is complete
        const cut = chunks.findIndex((chunk) =>
          chunk.includes(api === "chat" ? "\"finish_reason\":\"tool_calls\"" : "\"type\":\"response.completed\"")
        )
        assert.isAbove(cut, 0)
        const error = yield* streamError({ ...reply, cutAfter: cut })
        assert.strictEqual(error._tag, "ConnectionFailed")
        if (error._tag !== "ConnectionFailed") return
        assert.strictEqual(error.partial?.text, "The weather in Paris is sunny")
        assert.deepStrictEqual(error.partial?.toolCalls, [{ id: "call_a", name: "get_weather", params: { city: "Paris" } }])
        assert.isTrue(HarnessError.isRecoverable(error))
      }).pipe(Effect.provide(layer)))

    it.effect("synthetic stream closed early without an error: ConnectionFailed with the partial text", () =>
      Effect.gen(function*() {
        const reply = stream({ text: "one two three four" })
        const chunks = reply.body as ReadonlyArray<string>
        // chat: role chunk, "one", " two"; responses: created, in_progress, item added, "one", " two"
        const error = yield* streamError({ ...reply, body: chunks.slice(0, api === "chat" ? 3 : 5) })
        assert.strictEqual(error._tag, "ConnectionFailed")
        if (error._tag === "ConnectionFailed") assert.strictEqual(error.partial?.text, "one two")
      }).pipe(Effect.provide(layer)))

    it.effect("synthetic connection reset: ConnectionFailed, plain and streamed", () =>
      Effect.gen(function*() {
        for (const error of yield* plainErrors({ reset: true })) assert.strictEqual(error._tag, "ConnectionFailed")
        assert.strictEqual((yield* streamError({ reset: true }))._tag, "ConnectionFailed")
      }).pipe(Effect.provide(layer)))

    it.effect("synthetic refusal: ContentRefused carrying the model's words, plain and streamed", () =>
      Effect.gen(function*() {
        const refusal = "I'm sorry, I can't help with that."
        const plain = api === "chat" ? FakeOpenAiServer.chatCompletion({ refusal }) : FakeOpenAiServer.response({ refusal })
        for (const error of yield* plainErrors(plain)) {
          assert.strictEqual(error._tag, "ContentRefused")
          if (error._tag === "ContentRefused") assert.strictEqual(error.refusal, refusal)
        }
        const streamed = yield* streamError(stream({ refusal }))
        assert.strictEqual(streamed._tag, "ContentRefused")
        if (streamed._tag === "ContentRefused") assert.strictEqual(streamed.refusal, refusal)
      }).pipe(Effect.provide(layer)))
  })
}

describe("synthetic transport failures", () => {
  it.effect("synthetic error event inside a stream: mapped by its code, partial kept", () =>
    Effect.gen(function*() {
      const chunks = FakeOpenAiServer.chatCompletionChunks({ text: "alpha beta gamma" }).slice(0, 3)
      const error = yield* streamError(FakeOpenAiServer.sse([
        ...chunks,
        { error: { message: "The server had an error while processing your request.", type: "server_error", code: "server_error" } }
      ]))
      assert.strictEqual(error._tag, "ProviderUnavailable")
      if (error._tag === "ProviderUnavailable") assert.strictEqual(error.partial?.text, "alpha beta")
    }).pipe(Effect.provide(modelLayer({ model: "gpt-4o-mini" }))))

  it.effect("synthetic malformed answers (an HTML page, broken JSON in a stream): ProviderUnavailable", () =>
    Effect.gen(function*() {
      const html = { contentType: "text/html", body: "<html>502 Bad Gateway</html>" }
      for (const error of yield* plainErrors(html)) assert.strictEqual(error._tag, "ProviderUnavailable")
      const chunks = FakeOpenAiServer.chatCompletionChunks({ text: "alpha beta" }).slice(0, 2)
      const broken = yield* streamError(FakeOpenAiServer.sse([...chunks, "{not json"]))
      assert.strictEqual(broken._tag, "ProviderUnavailable")
      if (broken._tag === "ProviderUnavailable") assert.strictEqual(broken.partial?.text, "alpha")
    }).pipe(Effect.provide(modelLayer({ model: "gpt-4o-mini" }))))

  it.effect("synthetic slow server: the client's timeout fails with Timeout", () =>
    Effect.gen(function*() {
      // the client gives up after 50 ms of real time; the server would answer after 10 s
      const errors = yield* plainErrors(FakeOpenAiServer.chatCompletion({ text: "late" }, { delay: "10 seconds" }))
      for (const error of errors) {
        assert.strictEqual(error._tag, "Timeout")
        assert.isTrue(HarnessError.isRecoverable(error))
      }
    }).pipe(Effect.provide(modelLayer({ model: "gpt-4o-mini" }, { timeout: "50 millis" }))))

  it.effect("synthetic connection refused: ConnectionFailed", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LanguageModel.generateText({ prompt: "Hello" }))
      const mapped = toHarness(error)
      assert.strictEqual(mapped._tag, "ConnectionFailed")
      assert.include(mapped.message, "ECONNREFUSED")
    }).pipe(Effect.provide(
      OpenAiLanguageModel.layer({ model: "gpt-4o-mini" }).pipe(
        Layer.provide(Layer.unwrap(Effect.map(closedPort, (port) =>
          OpenAiClient.layer({ apiKey: "sk-test", baseURL: `http://127.0.0.1:${port}/v1` }))))
      )
    )))
})
