/**
 * Type-level tests: the compiler proves what a caller must still handle.
 * `npm run check` type-checks this file; a `@ts-expect-error` that no longer
 * finds an error fails the check.
 */
import { Harness, HarnessError } from "@effect-harness/core"
import { describe, expectTypeOf, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import type { LanguageModel } from "effect/ai"

const ask = Harness.prompt({ name: "ask", output: Schema.String, render: (q: string) => q })

describe("types", () => {
  it("a prompt harness fails with recoverable and fatal errors", () => {
    expectTypeOf(ask).toEqualTypeOf<Harness.Harness<string, string, Harness.PromptError, LanguageModel.LanguageModel>>()
    expectTypeOf<HarnessError.RateLimited>().toExtend<Harness.Error<typeof ask>>()
  })

  it("after retry only fatal errors and RetriesExhausted remain", () => {
    const retried = ask.pipe(Harness.retry())
    type E = Harness.Error<typeof retried>
    expectTypeOf<E>().toEqualTypeOf<
      | HarnessError.AuthenticationFailed
      | HarnessError.InvalidRequest
      | HarnessError.QuotaExhausted
      | HarnessError.ContentRefused
      | HarnessError.RetriesExhausted
    >()
    expectTypeOf<Extract<E, HarnessError.Recoverable>>().toBeNever()

    const program = Harness.run(retried, "hi")
    // @ts-expect-error RateLimited can no longer happen after retry
    program.pipe(Effect.catchTag("RateLimited", () => Effect.succeed("")))
    // @ts-expect-error neither can InvalidOutput
    program.pipe(Effect.catchTag("InvalidOutput", () => Effect.succeed("")))
    program.pipe(Effect.catchTag("RetriesExhausted", (e) => Effect.succeed(e.last.message)))
  })

  it("fallback removes the named errors, timeout adds Timeout", () => {
    const backup = Harness.make("backup", (_: string) => Effect.succeed(0))
    const guarded = ask.pipe(Harness.fallback(backup, { on: ["RateLimited", "Timeout"] }))
    expectTypeOf<Harness.Output<typeof guarded>>().toEqualTypeOf<string | number>()
    expectTypeOf<Extract<Harness.Error<typeof guarded>, { _tag: "RateLimited" | "Timeout" }>>().toBeNever()
    const bounded = Harness.make("pure", (n: number) => Effect.succeed(n)).pipe(Harness.timeout("1 second"))
    expectTypeOf<Harness.Error<typeof bounded>>().toEqualTypeOf<HarnessError.Timeout>()
  })

  it("the module's type names are the interface's (Harness.Error is Harness.Harness.Error)", () => {
    const retried = ask.pipe(Harness.retry())
    expectTypeOf<Harness.Error<typeof retried>>().toEqualTypeOf<Harness.Harness.Error<typeof retried>>()
    expectTypeOf<Harness.Output<typeof retried>>().toEqualTypeOf<string>()
    expectTypeOf<Harness.Input<typeof retried>>().toEqualTypeOf<string>()
    expectTypeOf<Harness.Services<typeof retried>>().toEqualTypeOf<LanguageModel.LanguageModel>()
    // RetriedError, the documented name, is the union retry spells out
    expectTypeOf<Harness.Error<typeof retried>>().toEqualTypeOf<Harness.RetriedError<Harness.PromptError>>()
  })

  it("forEach and all compute their input and output types", () => {
    const double = Harness.make("double", (n: number) => Effect.succeed(n * 2))
    expectTypeOf(Harness.forEach(double)).toEqualTypeOf<Harness.Harness<ReadonlyArray<number>, Array<number>>>()
    const both = Harness.all({ a: double, b: Harness.make("s", (n: number) => Effect.succeed(String(n))) })
    expectTypeOf<Harness.Output<typeof both>>().toEqualTypeOf<{ a: number; b: string }>()
  })
})
