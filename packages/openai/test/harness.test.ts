/**
 * End to end: a harness (`Harness.prompt` + `Harness.retry`) over
 * OpenAiLanguageModel, the real SDK and FakeOpenAiServer. The retry delays
 * run in virtual time (TestClock, through VirtualTime), the HTTP calls for
 * real on 127.0.0.1.
 */
import { Harness, HarnessError, RetryPolicy } from "@effect-harness/core"
import { FakeOpenAiServer, VirtualTime } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Schema } from "effect"
import { modelLayer } from "./support/env.ts"

const City = Schema.Struct({ city: Schema.String, country: Schema.String })

const locate = Harness.prompt({
  name: "locate",
  output: City,
  render: (text: string) => `Which city is this about? ${text}`
}).pipe(Harness.retry(RetryPolicy.make({ maxAttempts: 4, base: "10 millis", jitter: false })))

const rateLimited = FakeOpenAiServer.error(429, {
  message: "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, Used 3, Requested 1.",
  type: "requests",
  code: "rate_limit_exceeded"
}, { "retry-after": "1" })

for (const api of ["chat", "responses"] as const) {
  const answer = api === "chat" ? FakeOpenAiServer.chatCompletion : FakeOpenAiServer.response

  describe(`Harness over OpenAiLanguageModel (${api})`, () => {
    it.effect("synthetic 429 with retry-after 1 twice, then an answer: succeeds after exactly 3 requests, waiting 1 s each time", () =>
      Effect.gen(function*() {
        const server = yield* FakeOpenAiServer.FakeOpenAiServer
        yield* server.enqueue(rateLimited, rateLimited, answer({ text: JSON.stringify({ city: "Paris", country: "France" }) }))
        const delays: Array<Duration.Duration> = []
        const { value, elapsed } = yield* VirtualTime.runTimed(
          Harness.run(locate, "the Eiffel tower").pipe(
            Effect.provideService(RetryPolicy.OnRetry, (retry) => Effect.sync(() => void delays.push(retry.delay)))
          ),
          { step: "50 millis" }
        )
        assert.deepStrictEqual(value, { city: "Paris", country: "France" })
        const requests = yield* server.requests
        assert.strictEqual(requests.length, 3)
        // the provider's retry-after (1 s) wins over the policy's 10 ms back-off
        assert.deepStrictEqual(delays, [Duration.seconds(1), Duration.seconds(1)])
        assert.isTrue(Duration.isGreaterThanOrEqualTo(elapsed, Duration.seconds(2)))
        // the structured output went out as a strict JSON Schema named after the harness
        const body = requests[2]!.body as any
        const format = api === "chat" ? body.response_format.json_schema : body.text.format
        assert.strictEqual(format.name, "locate")
        assert.strictEqual(format.strict, true)
        assert.deepStrictEqual(format.schema.required, ["city", "country"])
      }).pipe(Effect.provide(modelLayer({ model: "gpt-4o-mini", api } as const))))

    it.effect("synthetic 401: fails with AuthenticationFailed after exactly 1 request", () =>
      Effect.gen(function*() {
        const server = yield* FakeOpenAiServer.FakeOpenAiServer
        yield* server.enqueue(FakeOpenAiServer.error(401, {
          message: "Incorrect API key provided: sk-test-****cret.",
          code: "invalid_api_key"
        }))
        const error = yield* Effect.flip(VirtualTime.run(Harness.run(locate, "the Eiffel tower")))
        assert.strictEqual(error._tag, "AuthenticationFailed")
        assert.isTrue(HarnessError.isFatal(error))
        assert.strictEqual((yield* server.requests).length, 1)
      }).pipe(Effect.provide(modelLayer({ model: "gpt-4o-mini", api } as const))))
  })
}
