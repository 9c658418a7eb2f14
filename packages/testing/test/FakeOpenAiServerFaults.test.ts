import { Harness, HarnessError } from "@effect-harness/core"
import { OpenAiClient, OpenAiLanguageModel } from "@effect-harness/openai"
import { FakeOpenAiServer, FaultInjection } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Layer, Schema } from "effect"

const Answer = Schema.Struct({ answer: Schema.Int })
const ask = Harness.prompt({ name: "ask", output: Answer, render: (q: string) => q, repairs: 0 })

const only = (kind: FaultInjection.FaultKind) =>
  Object.fromEntries(FaultInjection.faultKinds.map((k) => [k, k === kind ? 1 : 0]))

/**
 * The real SDK against the server in fault mode; every reply is a correct answer before faults.
 * `timeout` is the client's: short only where a "timeout" fault must end in
 * `Timeout` (the fault holds the connection far longer); generous elsewhere,
 * so that a busy machine's slow answer is never taken for one.
 */
const run = (
  faults: NonNullable<FakeOpenAiServer.Options["faults"]>,
  calls: number,
  timeout: Duration.Input = "30 seconds"
) =>
  Effect.gen(function*() {
    const server = yield* FakeOpenAiServer.make({
      faults,
      fallback: () => FakeOpenAiServer.chatCompletion({ text: JSON.stringify({ answer: 42 }) })
    })
    const model = OpenAiLanguageModel.layer({ model: "gpt-4o-mini" }).pipe(
      Layer.provide(OpenAiClient.layer({ apiKey: "sk-test", baseURL: server.url, timeout }))
    )
    const exits = yield* Effect.forEach(
      Array.from({ length: calls }, (_, i) => i),
      (i) => Effect.exit(Harness.run(ask, `q${i}`)).pipe(Effect.provide(model))
    )
    return { exits, faults: yield* server.faults }
  }).pipe(Effect.scoped)

const tagOf = (exit: Exit.Exit<unknown, HarnessError.HarnessError>) =>
  Exit.isSuccess(exit) ? "ok" : Exit.findErrorOption(exit).pipe((o) => o._tag === "Some" ? o.value._tag : "defect")

describe("FakeOpenAiServer fault mode (synthetic HTTP faults in OpenAI's documented shapes)", () => {
  const expected: ReadonlyArray<[FaultInjection.FaultKind, string]> = [
    ["rate-limit", "RateLimited"],
    ["server-error", "ProviderUnavailable"],
    ["timeout", "Timeout"],
    ["connection-reset", "ConnectionFailed"],
    ["stream-cut", "ConnectionFailed"],
    ["malformed-json", "InvalidOutput"],
    // finish_reason "length": the cut answer is never a success
    ["truncated", "OutputTruncated"],
    ["refusal", "ContentRefused"]
  ]
  for (const [kind, tag] of expected) {
    it.live(`a ${kind} fault reaches the harness as ${tag}`, () =>
      Effect.gen(function*() {
        // (the "timeout" fault holds the connection for 2 s; the client gives up after 100 ms)
        const { exits, faults } = yield* run(
          { seed: 1, rate: 1, weights: only(kind), timeoutAfter: "2 seconds" },
          1,
          kind === "timeout" ? "100 millis" : undefined
        )
        assert.deepStrictEqual(faults, [{ call: 1, kind }])
        assert.strictEqual(tagOf(exits[0]!), tag)
        if (kind === "rate-limit") {
          const error = (exits[0] as Exit.Failure<unknown, HarnessError.RateLimited>)
          const rateLimited = Exit.findErrorOption(error)
          assert.strictEqual(rateLimited._tag === "Some" ? Duration.toMillis(rateLimited.value.retryAfter!) : 0, 1000)
        }
      }))
  }

  it.live("the same seed injects the same faults into the same requests", () =>
    Effect.gen(function*() {
      const faults = { seed: 99, rate: 0.4, weights: { timeout: 0 } }
      const a = yield* run(faults, 30)
      const b = yield* run(faults, 30)
      assert.isAbove(a.faults.length, 3)
      assert.deepStrictEqual(a.faults, b.faults)
      assert.deepStrictEqual(a.exits.map(tagOf), b.exits.map(tagOf))
      // a request without a fault gets its real answer
      const faulty = new Set(a.faults.map((fault) => fault.call))
      a.exits.forEach((exit, i) => {
        if (!faulty.has(i + 1)) assert.strictEqual(tagOf(exit), "ok")
      })
    }))
})
