import { Harness, HarnessError, RetryPolicy } from "@effect-harness/core"
import { TestModel, VirtualTime } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Schema } from "effect"

describe("VirtualTime", () => {
  it.effect("runs a retried harness through its back-off in virtual time", () =>
    Effect.gen(function*() {
      const ask = Harness.prompt({ name: "ask", output: Schema.String, render: (q: string) => q }).pipe(
        Harness.retry(RetryPolicy.make({ jitter: false, base: "2 seconds" }))
      )
      const { value, elapsed } = yield* VirtualTime.runTimed(Harness.run(ask, "hi"), { step: "1 second" })
      assert.strictEqual(value, "hello")
      // 30 s asked by the provider, then 4 s of back-off for the second retry
      assert.strictEqual(Duration.toSeconds(elapsed), 34)
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.fail(new HarnessError.RateLimited({ message: "slow down", retryAfter: Duration.seconds(30) })),
      TestModel.fail(new HarnessError.ProviderUnavailable({ message: "overloaded", status: 529 })),
      TestModel.text("hello")
    ]))))

  it.effect("dies when the effect outlives the limit", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(VirtualTime.run(Effect.never, { limit: "10 seconds", step: "1 second" }))
      assert.isTrue(Exit.hasDies(exit))
    }))
})
