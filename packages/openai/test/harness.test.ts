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

    describe("an answer cut at the token limit (finish_reason length)", () => {
      const cut = "Your refund of $49 will be processed wi"
      const whole = "Your refund of $49 will be processed within 5 days."
      const reply = (repairs?: number, allowTruncated?: boolean) =>
        Harness.prompt({ name: "reply", output: Schema.String, render: (q: string) => q, repairs, allowTruncated })
      const userTexts = (body: any): Array<string> =>
        api === "chat"
          ? body.messages.filter((m: any) => m.role === "user").map((m: any) => typeof m.content === "string" ? m.content : m.content.map((p: any) => p.text).join(""))
          : body.input.filter((m: any) => m.role === "user").map((m: any) => typeof m.content === "string" ? m.content : m.content.map((p: any) => p.text).join(""))

      it.effect("is not a success: it is sent back asking for a shorter answer, and the complete one is the result", () =>
        Effect.gen(function*() {
          const server = yield* FakeOpenAiServer.FakeOpenAiServer
          yield* server.enqueue(answer({ text: cut, finishReason: "length" }), answer({ text: whole }))
          assert.strictEqual(yield* Harness.run(reply(), "When is my refund?"), whole)
          const requests = yield* server.requests
          assert.strictEqual(requests.length, 2)
          const asked = userTexts(requests[1]!.body)
          assert.match(asked.at(-1)!, /cut off/)
          assert.match(asked.at(-1)!, /shorter/)
        }).pipe(Effect.provide(modelLayer({ model: "gpt-4o-mini", api } as const))))

      it.effect("cut every time: fails with the recoverable OutputTruncated keeping the partial text", () =>
        Effect.gen(function*() {
          const server = yield* FakeOpenAiServer.FakeOpenAiServer
          yield* server.enqueue(answer({ text: cut, finishReason: "length" }), answer({ text: cut, finishReason: "length" }))
          const error = yield* Effect.flip(Harness.run(reply(1), "When is my refund?"))
          assert.strictEqual(error._tag, "OutputTruncated")
          if (error._tag !== "OutputTruncated") return
          assert.isTrue(HarnessError.isRecoverable(error))
          assert.strictEqual(error.partial.text, cut)
          assert.strictEqual(error.attempts, 2)
          assert.strictEqual((yield* server.requests).length, 2)
        }).pipe(Effect.provide(modelLayer({ model: "gpt-4o-mini", api } as const))))

      it.effect("allowTruncated: true takes the cut answer as it is", () =>
        Effect.gen(function*() {
          const server = yield* FakeOpenAiServer.FakeOpenAiServer
          yield* server.enqueue(answer({ text: cut, finishReason: "length" }))
          assert.strictEqual(yield* Harness.run(reply(undefined, true), "When is my refund?"), cut)
          assert.strictEqual((yield* server.requests).length, 1)
        }).pipe(Effect.provide(modelLayer({ model: "gpt-4o-mini", api } as const))))
    })
  })
}
