import { Harness } from "@effect-harness/core"
import { FaultInjection, TestModel } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Layer, Schema, Stream } from "effect"

const Answer = Schema.Struct({ answer: Schema.Int })
const ask = Harness.prompt({ name: "ask", output: Answer, render: (q: string) => q, repairs: 0 })
const say = Harness.prompt({ name: "say", output: Schema.String, render: (q: string) => q, repairs: 0 })

const wrapped = (options: FaultInjection.Options, replies: number) =>
  FaultInjection.layer(options).pipe(
    Layer.provideMerge(TestModel.layer(Array.from({ length: replies }, (_, i) => TestModel.jsonAnswer({ answer: i }))))
  )

const runMany = (n: number) =>
  Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) => Effect.exit(Harness.run(ask, `q${i}`)))

describe("FaultInjection", () => {
  it.effect("wraps the model below it: with rate 0 every call passes through", () =>
    Effect.gen(function*() {
      const exits = yield* runMany(20)
      assert.isTrue(exits.every(Exit.isSuccess))
      assert.strictEqual((yield* FaultInjection.faults).length, 0)
      assert.strictEqual((yield* TestModel.requests).length, 20)
    }).pipe(Effect.provide(wrapped({ seed: 1, rate: 0 }, 20))))

  it.effect("the same seed injects the same faults into the same calls", () =>
    Effect.gen(function*() {
      const once = Effect.gen(function*() {
        const exits = yield* runMany(200)
        const faults = yield* FaultInjection.faults
        return { faults, tags: exits.map((exit) => Exit.isSuccess(exit) ? "ok" : String((exit as any).cause)) }
      })
      const a = yield* Effect.provide(once, wrapped({ seed: 42, rate: 0.3 }, 200))
      const b = yield* Effect.provide(once, wrapped({ seed: 42, rate: 0.3 }, 200))
      const c = yield* Effect.provide(once, wrapped({ seed: 43, rate: 0.3 }, 200))
      assert.deepStrictEqual(a.faults, b.faults)
      assert.deepStrictEqual(a.tags, b.tags)
      assert.notDeepEqual(a.faults, c.faults)
      // about 30% of 200 calls, every kind drawn at least once
      assert.isAbove(a.faults.length, 40)
      assert.isBelow(a.faults.length, 80)
      assert.strictEqual(new Set(a.faults.map((f) => f.kind)).size, FaultInjection.faultKinds.length)
    }))

  const kinds: ReadonlyArray<[FaultInjection.FaultKind, string, string]> = [
    ["rate-limit", "RateLimited", "RateLimited"],
    ["server-error", "ProviderUnavailable", "ProviderUnavailable"],
    ["timeout", "Timeout", "Timeout"],
    ["connection-reset", "ConnectionFailed", "ConnectionFailed"],
    ["stream-cut", "ConnectionFailed", "ConnectionFailed"],
    ["malformed-json", "InvalidOutput", "ok"],
    // cut at the token limit (finish reason "length"): never a success, even as text
    ["truncated", "OutputTruncated", "OutputTruncated"],
    ["refusal", "ContentRefused", "ContentRefused"]
  ]
  for (const [kind, jsonTag, textTag] of kinds) {
    it.effect(`a ${kind} fault ends in ${jsonTag} for JSON output`, () =>
      Effect.gen(function*() {
        const only = { seed: 3, rate: 1, weights: Object.fromEntries(FaultInjection.faultKinds.map((k) => [k, k === kind ? 1 : 0])) }
        const jsonExit = yield* Effect.exit(Harness.run(ask, "q")).pipe(Effect.provide(wrapped(only, 1)))
        const jsonError = Exit.isFailure(jsonExit) ? yield* Effect.flip(jsonExit) : undefined
        assert.strictEqual(jsonError?._tag, jsonTag)
        if (kind === "rate-limit") {
          assert.strictEqual(Duration.toMillis((jsonError as any).retryAfter), 1000)
        }
        // text answers cannot be malformed JSON
        const textExit = yield* Effect.exit(Harness.run(say, "q")).pipe(
          Effect.provide(FaultInjection.layer(only).pipe(Layer.provide(TestModel.layer([TestModel.text("a complete sentence")]))))
        )
        assert.strictEqual(Exit.isSuccess(textExit) ? "ok" : (yield* Effect.flip(textExit))._tag, textTag)
        if (kind === "truncated" && Exit.isFailure(textExit)) {
          const error = yield* Effect.flip(textExit)
          if (error._tag === "OutputTruncated") assert.strictEqual(error.partial.text, "a complet")
        }
      }))
  }

  const streamed = (options: FaultInjection.Options) =>
    Stream.runCollect(Harness.streamText({ prompt: "q" })).pipe(
      Effect.map((parts) => Array.from(parts)),
      Effect.provide(FaultInjection.layer(options).pipe(Layer.provide(TestModel.layer([TestModel.text("one two three four")]))))
    )

  it.effect("a DirectModel stream passes through when no fault is drawn", () =>
    Effect.gen(function*() {
      const parts = yield* streamed({ seed: 1, rate: 0 })
      // TestModel's direct stream, one delta per word (not the LanguageModel fallback)
      assert.deepStrictEqual(parts.filter((part) => part.type === "text-delta").map((part) => part.delta), [
        "one ",
        "two ",
        "three ",
        "four"
      ])
      assert.strictEqual(parts.at(-1)?.type, "finish")
    }))

  it.effect("a DirectModel stream gets the faults: an answer fault is a cut after its first parts, keeping them", () =>
    Effect.gen(function*() {
      const only = (kind: FaultInjection.FaultKind) => ({
        seed: 3,
        rate: 1,
        weights: Object.fromEntries(FaultInjection.faultKinds.map((k) => [k, k === kind ? 1 : 0]))
      })
      const cut = yield* Effect.flip(streamed(only("truncated")))
      assert.strictEqual(cut._tag, "ConnectionFailed")
      if (cut._tag === "ConnectionFailed") assert.deepStrictEqual(cut.partial, { text: "one two ", toolCalls: [] })
      assert.strictEqual((yield* Effect.flip(streamed(only("rate-limit"))))._tag, "RateLimited")
    }))
})
