import { Harness, HarnessError, RetryPolicy } from "@effect-harness/core"
import { TestModel } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Ref, Schema } from "effect"
import { TestClock } from "effect/testing"
import { recordingTracer } from "./support/recordingTracer.ts"

const City = Schema.Struct({ city: Schema.String, population: Schema.Int })

const extractCity = Harness.prompt({
  name: "extract-city",
  output: City,
  render: (text: string) => `Which city is this about? ${text}`
})

// Every prompt test runs twice: on the DirectModel fast path that providers
// offer, and on effect's LanguageModel alone, which must behave the same.
for (const direct of [true, false]) describe(`Harness.prompt (${direct ? "DirectModel" : "LanguageModel only"})`, () => {
  it.effect("decodes a JSON answer with the output Schema and asks for JSON", () =>
    Effect.gen(function*() {
      const result = yield* Harness.run(extractCity, "the capital of France")
      assert.deepStrictEqual(result, { city: "Paris", population: 2_100_000 })
      const [request] = yield* TestModel.requests
      assert.strictEqual(request!.responseFormat, "json")
      assert.include(request!.lastUserText, "the capital of France")
    }).pipe(Effect.provide(TestModel.layer([TestModel.jsonAnswer({ city: "Paris", population: 2_100_000 })], { direct }))))

  it.effect("repairs invalid output: wrong twice, right the third time, re-prompts carry the issues", () =>
    Effect.gen(function*() {
      const result = yield* Harness.run(extractCity, "Lyon")
      assert.deepStrictEqual(result, { city: "Lyon", population: 520_000 })
      const requests = yield* TestModel.requests
      assert.strictEqual(requests.length, 3)
      // the first repair names the non-JSON answer, the second the missing key
      assert.include(requests[1]!.lastUserText, "not valid")
      assert.match(requests[1]!.lastUserText, /JSON/i)
      assert.include(requests[2]!.lastUserText, "population")
      // the model sees its own invalid answer before the repair request
      const history = requests[2]!.prompt.content
      assert.strictEqual(history.length, 5)
      assert.deepStrictEqual(history.map((m) => m.role), ["user", "assistant", "user", "assistant", "user"])
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.text("Lyon, about half a million"),
      TestModel.jsonAnswer({ city: "Lyon" }),
      TestModel.jsonAnswer({ city: "Lyon", population: 520_000 })
    ], { direct }))))

  it.effect("fails with InvalidOutput carrying the raw answer once repairs are spent", () =>
    Effect.gen(function*() {
      const error = yield* Harness.run(extractCity, "Nice").pipe(Effect.flip)
      assert.strictEqual(error._tag, "InvalidOutput")
      if (error._tag !== "InvalidOutput") return
      assert.strictEqual(error.raw, "{\"city\":\"Nice\",\"population\":\"many\"}")
      assert.include(error.issues, "population")
      assert.strictEqual(error.attempts, 3)
      assert.strictEqual(yield* TestModel.remaining, 0)
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.jsonAnswer({ city: "Nice" }),
      TestModel.jsonAnswer({ city: "Nice", population: "many" }),
      TestModel.jsonAnswer({ city: "Nice", population: "many" })
    ], { direct }))))

  it.effect("a non-JSON answer ends in InvalidOutput with what the model said", () =>
    Effect.gen(function*() {
      const error = yield* Harness.run(Harness.prompt({ ...promptOptions, repairs: 0 }), "x").pipe(Effect.flip)
      assert.strictEqual(error._tag, "InvalidOutput")
      assert.strictEqual((error as HarnessError.InvalidOutput).raw, "I think it is Paris.")
    }).pipe(Effect.provide(TestModel.layer([TestModel.text("I think it is Paris.")], { direct }))))

  it.effect("an empty answer ends in InvalidOutput, for text and JSON outputs", () =>
    Effect.gen(function*() {
      const text = Harness.prompt({ name: "say", output: Schema.String, render: (s: string) => s, repairs: 0 })
      const textError = yield* Harness.run(text, "hi").pipe(Effect.flip)
      assert.strictEqual(textError._tag, "InvalidOutput")
      assert.strictEqual((textError as HarnessError.InvalidOutput).raw, "")
      const jsonError = yield* Harness.run(Harness.prompt({ ...promptOptions, repairs: 0 }), "x").pipe(Effect.flip)
      assert.strictEqual(jsonError._tag, "InvalidOutput")
    }).pipe(Effect.provide(TestModel.layer([TestModel.text(""), TestModel.text("")], { direct }))))

  it.effect("a text output Schema validates the text (a failing check is repaired, then reported)", () =>
    Effect.gen(function*() {
      const short = Harness.prompt({
        name: "short",
        output: Schema.String.check(Schema.isMaxLength(5)),
        render: (s: string) => s,
        repairs: 1
      })
      const error = yield* Harness.run(short, "hi").pipe(Effect.flip)
      assert.strictEqual(error._tag, "InvalidOutput")
      assert.strictEqual((error as HarnessError.InvalidOutput).raw, "still far too long")
      const requests = yield* TestModel.requests
      assert.strictEqual(requests[0]!.responseFormat, "text")
      assert.match(requests[1]!.lastUserText, /5/)
    }).pipe(Effect.provide(TestModel.layer([TestModel.text("much too long"), TestModel.text("still far too long")], { direct }))))

  it.effect("a refusal ends in ContentRefused carrying the model's words, without repair", () =>
    Effect.gen(function*() {
      const error = yield* Harness.run(extractCity, "x").pipe(Effect.flip)
      assert.strictEqual(error._tag, "ContentRefused")
      assert.strictEqual((error as HarnessError.ContentRefused).refusal, "I can't help with that.")
      assert.strictEqual((yield* TestModel.requests).length, 1)
    }).pipe(Effect.provide(TestModel.layer([TestModel.refusal("I can't help with that.")], { direct }))))

  it.effect("a content-filtered text answer ends in ContentRefused", () =>
    Effect.gen(function*() {
      const say = Harness.prompt({ name: "say", output: Schema.String, render: (s: string) => s })
      const error = yield* Harness.run(say, "x").pipe(Effect.flip)
      assert.strictEqual(error._tag, "ContentRefused")
    }).pipe(Effect.provide(TestModel.layer([TestModel.text("partial", { finishReason: "content-filter" })], { direct }))))

  it.effect("an input Schema normalizes the input, and rejects bad input with InvalidRequest", () =>
    Effect.gen(function*() {
      const echo = Harness.prompt({
        name: "echo",
        input: Schema.Struct({ n: Schema.FiniteFromString }),
        output: Schema.String,
        render: ({ n }) => `n=${n + 1}`
      })
      assert.strictEqual(yield* Harness.run(echo, { n: "41" }), "ok")
      assert.strictEqual((yield* TestModel.requests)[0]!.lastUserText, "n=42")
      const error = yield* Harness.run(echo, { n: "forty" }).pipe(Effect.flip)
      assert.strictEqual(error._tag, "InvalidRequest")
    }).pipe(Effect.provide(TestModel.layer([TestModel.text("ok")], { direct }))))

  it.effect("a system message is put first", () =>
    Effect.gen(function*() {
      const say = Harness.prompt({ name: "say", output: Schema.String, render: (s: string) => s, instructions: "Be brief." })
      yield* Harness.run(say, "hello")
      const [request] = yield* TestModel.requests
      assert.deepStrictEqual(request!.prompt.content.map((m) => m.role), ["system", "user"])
    }).pipe(Effect.provide(TestModel.layer([TestModel.text("hi")], { direct }))))

  it.effect("provider errors map onto HarnessError", () =>
    Effect.gen(function*() {
      const say = Harness.prompt({ name: "say", output: Schema.String, render: (s: string) => s })
      const quota = yield* Harness.run(say, "a").pipe(Effect.flip)
      assert.strictEqual(quota._tag, "QuotaExhausted")
      const overflow = yield* Harness.run(say, "b").pipe(Effect.flip)
      assert.strictEqual(overflow._tag, "ContextOverflow")
      const auth = yield* Harness.run(say, "c").pipe(Effect.flip)
      assert.strictEqual(auth._tag, "AuthenticationFailed")
      // the provider's words, then the harness they came from (nothing retried it: no attempt)
      assert.strictEqual(auth.message, `bad key (harness "say")`)
      assert.deepStrictEqual([auth.harness, auth.attempt], ["say", undefined])
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.fail(new HarnessError.QuotaExhausted({ message: "no credit" })),
      TestModel.fail(new HarnessError.ContextOverflow({ message: "too long" })),
      TestModel.fail(new HarnessError.AuthenticationFailed({ message: "bad key", status: 401 }))
    ], { direct }))))
})

const promptOptions = {
  name: "extract-city",
  output: City,
  render: (text: string) => text
}

const rateLimited = (seconds: number) =>
  new HarnessError.RateLimited({ message: "Rate limit reached", retryAfter: Duration.seconds(seconds) })

describe("Harness.prompt spans", () => {
  it.effect("a span per call when a tracer is installed, in the caller's trace", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recordingTracer()
      yield* Harness.run(extractCity, "Paris").pipe(Effect.withTracer(tracer))
      assert.deepStrictEqual(spans.map((span) => span.name), ["Harness.prompt extract-city"])
      assert.strictEqual(spans[0]!.attributes.get("gen_ai.operation.name"), "generate_object")
      // called under a span of the caller, the call's span is its child
      yield* Harness.run(extractCity, "Paris").pipe(Effect.withSpan("request"), Effect.withTracer(tracer))
      const [request, call] = [spans.find((span) => span.name === "request")!, spans.at(-1)!]
      assert.strictEqual(call.name, "Harness.prompt extract-city")
      assert.isTrue(call.parent._tag === "Some" && call.parent.value === request)
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.jsonAnswer({ city: "Paris", population: 2_100_000 }),
      TestModel.jsonAnswer({ city: "Paris", population: 2_100_000 })
    ]))))
})

describe("Harness.retry", () => {
  it.effect("waits at least retryAfter (in virtual time) and then succeeds", () =>
    Effect.gen(function*() {
      const retried = extractCity.pipe(Harness.retry(RetryPolicy.make({ base: "10 millis", jitter: false })))
      const fiber = yield* Effect.forkChild(Harness.run(retried, "Paris"))
      yield* TestClock.adjust("9 seconds")
      // the provider asked for 10 seconds: no second call yet
      assert.strictEqual((yield* TestModel.requests).length, 1)
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* TestModel.requests).length, 2)
      yield* TestClock.adjust("10 seconds")
      const result = yield* Fiber.join(fiber)
      assert.deepStrictEqual(result, { city: "Paris", population: 1 })
      assert.strictEqual((yield* TestModel.requests).length, 3)
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.fail(rateLimited(10)),
      TestModel.fail(rateLimited(10)),
      TestModel.jsonAnswer({ city: "Paris", population: 1 })
    ]))))

  it.effect("stops at the policy's bound with RetriesExhausted { attempts, last }", () =>
    Effect.gen(function*() {
      const retried = extractCity.pipe(Harness.retry(RetryPolicy.make({ maxAttempts: 3, base: "1 second" })))
      const fiber = yield* Effect.forkChild(Effect.flip(Harness.run(retried, "Paris")))
      yield* TestClock.adjust("1 minute")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "RetriesExhausted")
      if (error._tag !== "RetriesExhausted") return
      assert.strictEqual(error.attempts, 3)
      assert.strictEqual(error.last._tag, "ProviderUnavailable")
      assert.strictEqual(yield* TestModel.remaining, 1)
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.fail(new HarnessError.ProviderUnavailable({ message: "502", status: 502 })),
      TestModel.fail(new HarnessError.ProviderUnavailable({ message: "503", status: 503 })),
      TestModel.fail(new HarnessError.ProviderUnavailable({ message: "500", status: 500 })),
      TestModel.jsonAnswer({ city: "never reached", population: 0 })
    ]))))

  it.effect("an answer cut at the token limit is not sent again: RetriesExhausted { attempts: 1, last: OutputTruncated } at once", () =>
    Effect.gen(function*() {
      const reply = Harness.prompt({ name: "reply", output: Schema.String, render: (q: string) => q, repairs: 1 })
      const retried = reply.pipe(Harness.retry(RetryPolicy.make({ maxAttempts: 5, base: "1 second" })))
      const error = yield* Effect.flip(Harness.run(retried, "When is my refund?"))
      assert.strictEqual(error._tag, "RetriesExhausted")
      if (error._tag !== "RetriesExhausted") return
      assert.strictEqual(error.attempts, 1)
      assert.strictEqual(error.last._tag, "OutputTruncated")
      if (error.last._tag === "OutputTruncated") assert.strictEqual(error.last.partial.text, "Your refund wi")
      // the prompt and its one repair (asking for a shorter answer), nothing more
      assert.strictEqual((yield* TestModel.requests).length, 2)
      assert.strictEqual(yield* TestModel.remaining, 1)
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.text("Your refund of $49 wi", { finishReason: "length" }),
      TestModel.text("Your refund wi", { finishReason: "length" }),
      TestModel.text("never reached")
    ]))))

  it.effect("stops at the policy's total time, whatever the attempts left", () =>
    Effect.gen(function*() {
      const policy = RetryPolicy.make({ maxAttempts: 100, base: "1 second", factor: 1, jitter: false, maxElapsed: "3500 millis" })
      const counter = yield* Ref.make(0)
      const flaky = Harness.make("flaky", (_: void) =>
        Effect.flatMap(Ref.updateAndGet(counter, (n) => n + 1), () =>
          Effect.fail(new HarnessError.ConnectionFailed({ message: "reset" }))))
      const fiber = yield* Effect.forkChild(Effect.flip(Harness.run(Harness.retry(flaky, policy), undefined)))
      yield* TestClock.adjust("1 minute")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "RetriesExhausted")
      // attempts at t = 0, 1, 2, 3, 4 s: the retry after 4 s is past 3.5 s
      assert.strictEqual(yield* Ref.get(counter), 5)
    }))

  it.effect("a retry-after longer than maxDelay fails at once with RetriesExhausted { last: RateLimited { retryAfter } }", () =>
    Effect.gen(function*() {
      const retried = extractCity.pipe(Harness.retry(RetryPolicy.make({ maxDelay: "20 seconds", maxElapsed: "1 hour" })))
      const fiber = yield* Effect.forkChild(Effect.flip(Harness.run(retried, "Paris")))
      // no virtual time passes: the provider's day-long wait is refused, not scheduled
      yield* Effect.yieldNow
      const exit = fiber.pollUnsafe()
      assert.isDefined(exit, "the call is parked waiting for the provider's retry-after")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "RetriesExhausted")
      if (error._tag !== "RetriesExhausted") return
      assert.strictEqual(error.attempts, 1)
      assert.strictEqual(error.last._tag, "RateLimited")
      assert.deepStrictEqual(HarnessError.retryAfter(error.last), Duration.days(1))
      assert.strictEqual((yield* TestModel.requests).length, 1)
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.fail(rateLimited(86_400)),
      TestModel.jsonAnswer({ city: "never reached", population: 0 })
    ]))))

  it.effect("a retry-after that would start the retry past maxElapsed fails at once; a shorter one is waited for", () =>
    Effect.gen(function*() {
      const policy = RetryPolicy.make({ base: "1 second", jitter: false, maxDelay: "1 minute", maxElapsed: "50 seconds" })
      const retried = extractCity.pipe(Harness.retry(policy))
      const fiber = yield* Effect.forkChild(Effect.flip(Harness.run(retried, "Paris")))
      // 30 s asked first: within both bounds, waited for
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual((yield* TestModel.requests).length, 2)
      // then 30 s more at t = 30 s: the retry would start at 60 s, past 50 s
      yield* Effect.yieldNow
      assert.isDefined(fiber.pollUnsafe(), "the call is parked waiting for a retry past maxElapsed")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "RetriesExhausted")
      if (error._tag !== "RetriesExhausted") return
      assert.strictEqual(error.attempts, 2)
      assert.deepStrictEqual(HarnessError.retryAfter(error.last), Duration.seconds(30))
      assert.strictEqual((yield* TestModel.requests).length, 2)
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.fail(rateLimited(30)),
      TestModel.fail(rateLimited(30)),
      TestModel.jsonAnswer({ city: "never reached", population: 0 })
    ]))))

  it.effect("never retries a fatal error: the model is called exactly once", () =>
    Effect.gen(function*() {
      const retried = extractCity.pipe(Harness.retry())
      const error = yield* Harness.run(retried, "Paris").pipe(Effect.flip)
      assert.strictEqual(error._tag, "AuthenticationFailed")
      assert.strictEqual((yield* TestModel.requests).length, 1)
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.fail(new HarnessError.AuthenticationFailed({ message: "Incorrect API key", status: 401 })),
      TestModel.jsonAnswer({ city: "Paris", population: 1 })
    ]))))

  it.effect("reports each scheduled retry with its delay through RetryPolicy.OnRetry", () =>
    Effect.gen(function*() {
      const seen: Array<RetryPolicy.RetryScheduled> = []
      const retried = extractCity.pipe(Harness.retry(RetryPolicy.make({ base: "1 second", jitter: false })))
      const fiber = yield* Effect.forkChild(
        Harness.run(retried, "Paris").pipe(
          Effect.provideService(RetryPolicy.OnRetry, (retry) => Effect.sync(() => seen.push(retry)))
        )
      )
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(seen.map((r) => [r.attempt, r.error._tag, Duration.toMillis(r.delay)]), [
        [1, "RateLimited", 5000],
        [2, "Timeout", 2000]
      ])
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.fail(rateLimited(5)),
      TestModel.fail(new HarnessError.Timeout({ message: "slow" })),
      TestModel.jsonAnswer({ city: "Paris", population: 1 })
    ]))))
})

describe("combinators", () => {
  it.effect("forEach keeps the input order and the concurrency bound", () =>
    Effect.gen(function*() {
      let running = 0
      let peak = 0
      const slow = Harness.make("slow", (n: number) =>
        Effect.gen(function*() {
          running++
          peak = Math.max(peak, running)
          // later items finish first, so order can only come from forEach
          yield* Effect.sleep(Duration.millis(100 - n))
          running--
          return n * 10
        }))
      const fiber = yield* Effect.forkChild(Harness.run(Harness.forEach(slow, { concurrency: 3 }), [1, 2, 3, 4, 5, 6, 7]))
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* Fiber.join(fiber), [10, 20, 30, 40, 50, 60, 70])
      assert.strictEqual(peak, 3)
    }))

  it.effect("andThen feeds one output into the next input; all runs on the same input", () =>
    Effect.gen(function*() {
      const trim = Harness.make("trim", (s: string) => Effect.succeed(s.trim()))
      const length = Harness.make("length", (s: string) => Effect.succeed(s.length))
      const upper = Harness.make("upper", (s: string) => Effect.succeed(s.toUpperCase()))
      assert.strictEqual(yield* Harness.run(trim.pipe(Harness.andThen(length)), "  abc "), 3)
      const both = Harness.all({ length, upper })
      assert.deepStrictEqual(yield* Harness.run(both, "ab"), { length: 2, upper: "AB" })
    }))

  it.effect("fallback runs the other harness on the named errors only", () =>
    Effect.gen(function*() {
      const backup = Harness.make("backup", (_: string) => Effect.succeed({ city: "backup", population: 0 }))
      const guarded = extractCity.pipe(Harness.fallback(backup, { on: ["ProviderUnavailable"] }))
      assert.deepStrictEqual(yield* Harness.run(guarded, "a"), { city: "backup", population: 0 })
      const error = yield* Harness.run(guarded, "b").pipe(Effect.flip)
      assert.strictEqual(error._tag, "AuthenticationFailed")
      const catchAll = extractCity.pipe(Harness.fallback(backup))
      assert.deepStrictEqual(yield* Harness.run(catchAll, "c"), { city: "backup", population: 0 })
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.fail(new HarnessError.ProviderUnavailable({ message: "down", status: 503 })),
      TestModel.fail(new HarnessError.AuthenticationFailed({ message: "no" })),
      TestModel.fail(new HarnessError.QuotaExhausted({ message: "none" }))
    ]))))

  it.effect("timeout fails with the recoverable Timeout and interrupts the run", () =>
    Effect.gen(function*() {
      let finished = false
      const slow = Harness.make("slow", (_: void) => Effect.sleep("1 minute").pipe(Effect.tap(Effect.sync(() => (finished = true)))))
      const fiber = yield* Effect.forkChild(Effect.exit(Harness.run(Harness.timeout(slow, "5 seconds"), undefined)))
      yield* TestClock.adjust("2 minutes")
      const exit = yield* Fiber.join(fiber)
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(exit)
      assert.strictEqual(error._tag, "Timeout")
      assert.isTrue(HarnessError.isRecoverable(error))
      assert.isFalse(finished)
    }))

  it.effect("timeout then retry: a slow call is retried", () =>
    Effect.gen(function*() {
      let calls = 0
      const sometimesSlow = Harness.make("sometimes-slow", (_: void) =>
        Effect.suspend(() => ++calls === 1 ? Effect.sleep("1 minute").pipe(Effect.as("late")) : Effect.succeed("on time")))
      const robust = sometimesSlow.pipe(Harness.timeout("1 second"), Harness.retry(RetryPolicy.make({ jitter: false })))
      const fiber = yield* Effect.forkChild(Harness.run(robust, undefined))
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(yield* Fiber.join(fiber), "on time")
      assert.strictEqual(calls, 2)
    }))
})
