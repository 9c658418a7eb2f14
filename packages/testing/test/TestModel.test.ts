import { DirectModel, Harness, HarnessError, RetryPolicy } from "@effect-harness/core"
import { FakeOpenAiServer, TestModel } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, Duration, Effect, Exit, Fiber, Schema, Stream } from "effect"
import { LanguageModel, Prompt } from "effect/ai"
import { TestClock } from "effect/testing"

const say = Harness.prompt({ name: "say", output: Schema.String, render: (s: string) => s })

describe("TestModel", () => {
  it("jsonAnswer is a model answer whose text is the JSON value; the old names stay as aliases for one release", () => {
    assert.deepStrictEqual(TestModel.jsonAnswer({ total: 7.5 }), TestModel.text(`{"total":7.5}`))
    assert.strictEqual(TestModel.json, TestModel.jsonAnswer)
    assert.strictEqual(FakeOpenAiServer.json, FakeOpenAiServer.jsonResponse)
    assert.deepStrictEqual(FakeOpenAiServer.jsonResponse({ ok: true }, { status: 201 }), {
      status: 201,
      contentType: "application/json",
      body: `{"ok":true}`
    })
  })

  it.effect("answers in script order and records each request", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* Harness.run(say, "first"), "one")
      assert.strictEqual(yield* Harness.run(say, "second"), "two")
      const requests = yield* TestModel.requests
      assert.deepStrictEqual(requests.map((r) => r.lastUserText), ["first", "second"])
      assert.strictEqual(yield* TestModel.remaining, 0)
    }).pipe(Effect.provide(TestModel.layer([TestModel.text("one"), TestModel.text("two")]))))

  it.effect("a reply that waits is answered for its own request, while others come in", () =>
    Effect.gen(function*() {
      const model = yield* DirectModel.current
      const ask = (text: string) =>
        model.generate({ prompt: Prompt.make(text), tools: [], toolChoice: "none", responseFormat: { type: "text" } })
      const slow = yield* Effect.forkChild(ask("a long question, four times longer than the other one"), {
        startImmediately: true
      })
      const quick = yield* ask("short")
      yield* TestClock.adjust("1 second")
      const waited = yield* Fiber.join(slow)
      // estimated usage counts the prompt each reply answers (about 4 characters a token)
      assert.strictEqual(quick.usage.inputTokens, 2)
      assert.strictEqual(waited.usage.inputTokens, 14)
      assert.deepStrictEqual((yield* TestModel.requests).map((request) => request.lastUserText), [
        "a long question, four times longer than the other one",
        "short"
      ])
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.respond(() => Effect.as(Effect.sleep("1 second"), TestModel.text("late"))),
      TestModel.text("now")
    ], { direct: true }))))

  it.effect("dies with ScriptExhausted, naming the call and its last user message, when the script runs out", () =>
    Effect.gen(function*() {
      yield* Harness.run(say, "first")
      const exit = yield* Effect.exit(Harness.run(say, "one too many"))
      assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
      const message = Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""
      assert.include(message, "no reply for call 2")
      assert.include(message, "one too many")
    }).pipe(Effect.provide(TestModel.layer([TestModel.text("one")]))))

  it.effect("scripted errors fail the call as the provider would, on both paths", () =>
    Effect.gen(function*() {
      for (const direct of [true, false]) {
        const error = yield* Harness.run(say, "x").pipe(
          Effect.flip,
          Effect.provide(TestModel.layer([TestModel.fail(new HarnessError.QuotaExhausted({ message: "no credit" }))], { direct }))
        )
        assert.strictEqual(error._tag, "QuotaExhausted")
        assert.strictEqual(error.message, `no credit (harness "say")`)
      }
    }))

  it.effect("streams text deltas and tool calls through LanguageModel.streamText", () =>
    Effect.gen(function*() {
      const parts = yield* LanguageModel.streamText({ prompt: "hi" }).pipe(Stream.runCollect)
      const types = Array.from(parts, (part) => part.type)
      assert.deepStrictEqual(types, ["text-start", "text-delta", "text-end", "finish"])
      const delta = Array.from(parts).find((part) => part.type === "text-delta")
      assert.strictEqual(delta?.type === "text-delta" ? delta.delta : "", "streamed")
    }).pipe(Effect.provide(TestModel.layer([TestModel.text("streamed")]))))

  it.effect("streams scripted replies through its DirectModel: one delta per word, tool calls, the finish part", () =>
    Effect.gen(function*() {
      const text = yield* Harness.streamText({ prompt: "first" }).pipe(Stream.runCollect)
      assert.deepStrictEqual(Array.from(text).map((part) => part.type === "text-delta" ? part.delta : part.type), [
        "Hello ",
        "there, ",
        "Ada.",
        "finish"
      ])
      const calls = yield* Harness.streamText({ prompt: "second" }).pipe(Stream.runCollect)
      assert.deepStrictEqual(Array.from(calls).slice(0, 1), [
        { type: "tool-call", id: "call_1", name: "lookup", params: { orderId: "A-1" } }
      ])
      const error = yield* Effect.flip(Stream.runDrain(Harness.streamText({ prompt: "third" })))
      assert.strictEqual(error._tag, "QuotaExhausted")
      const requests = yield* TestModel.requests
      assert.deepStrictEqual(requests.map((r) => r.lastUserText), ["first", "second", "third"])
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.text("Hello there, Ada."),
      TestModel.toolCall("lookup", { orderId: "A-1" }, "call_1"),
      TestModel.fail(new HarnessError.QuotaExhausted({ message: "no credit" }))
    ]))))

  describe("advanceClock", () => {
    const retried = say.pipe(Harness.retry())

    it.effect("a scripted 429 (retry-after 20 s) and 503 retried under it.effect complete in virtual time", () =>
      Effect.gen(function*() {
        assert.strictEqual(yield* Harness.run(retried, "Hi?"), "Hello!")
        assert.strictEqual((yield* TestModel.requests).length, 3)
        // the retry-after was honoured, on the virtual clock
        assert.isAtLeast(yield* Clock.currentTimeMillis, 20_000)
      }).pipe(Effect.provide(TestModel.layer([
        TestModel.fail(new HarnessError.RateLimited({ message: "slow down", retryAfter: Duration.seconds(20) })),
        TestModel.fail(new HarnessError.ProviderUnavailable({ message: "overloaded", status: 503 })),
        TestModel.text("Hello!")
      ], { advanceClock: true }))))

    it.effect("without it the clock stays where the test leaves it: the retry waits for TestClock.adjust", () =>
      Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(Harness.run(retried, "Hi?"))
        for (let i = 0; i < 50; i++) yield* Effect.yieldNow
        assert.strictEqual((yield* TestModel.requests).length, 1)
        assert.strictEqual(yield* Clock.currentTimeMillis, 0)
        yield* TestClock.adjust("1 minute")
        assert.strictEqual(yield* Fiber.join(fiber), "Hello!")
      }).pipe(Effect.provide(TestModel.layer([
        TestModel.fail(new HarnessError.ProviderUnavailable({ message: "overloaded", status: 503 })),
        TestModel.text("Hello!")
      ]))))

    it.live("does nothing under it.live, where the retry waits in real time", () =>
      Effect.gen(function*() {
        const quick = say.pipe(Harness.retry(RetryPolicy.make({ base: "5 millis", jitter: false })))
        assert.strictEqual(yield* Harness.run(quick, "Hi?"), "Hello!")
        assert.strictEqual((yield* TestModel.requests).length, 2)
      }).pipe(Effect.provide(TestModel.layer([
        TestModel.fail(new HarnessError.ProviderUnavailable({ message: "overloaded", status: 503 })),
        TestModel.text("Hello!")
      ], { advanceClock: true }))))
  })
})
