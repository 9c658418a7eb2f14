/**
 * Errors say where they came from: the harness or agent (its `name`) and the
 * attempt, as fields and in the message, and they stay serializable.
 */
import { Agent, Budget, Harness, HarnessError, RetryPolicy } from "@effect-harness/core"
import { TestModel, VirtualTime } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"

const City = Schema.Struct({ city: Schema.String, population: Schema.Int })

const extractCity = Harness.prompt({
  name: "extract-city",
  output: City,
  render: (text: string) => `Which city is this about? ${text}`,
  repairs: 1
})

const wrong = () => TestModel.jsonAnswer({ city: "Nice", population: "many" })

const flip = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.flip(VirtualTime.run(effect))

describe("errors name their harness and attempt", () => {
  it.effect("a named harness failing validation: InvalidOutput names it, in its fields and its message", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Harness.run(extractCity, "Nice"))
      assert.strictEqual(error._tag, "InvalidOutput")
      if (error._tag !== "InvalidOutput") return
      assert.deepStrictEqual([error.harness, error.attempt, error.attempts], ["extract-city", undefined, 2])
      assert.match(error.message, /^Invalid output from harness "extract-city": /)
      assert.include(error.message, "population")
    }).pipe(Effect.provide(TestModel.layer([wrong(), wrong()]))))

  it.effect("running out of retries: RetriesExhausted names the harness, its last error the attempt it failed in", () =>
    Effect.gen(function*() {
      const retried = extractCity.pipe(Harness.retry(RetryPolicy.make({ maxAttempts: 3 })))
      const error = yield* flip(Harness.run(retried, "Nice"))
      assert.strictEqual(error._tag, "RetriesExhausted")
      if (error._tag !== "RetriesExhausted") return
      assert.deepStrictEqual([error.harness, error.attempt, error.attempts], ["extract-city", 3, 3])
      assert.deepStrictEqual([error.last._tag, error.last.harness, error.last.attempt], ["InvalidOutput", "extract-city", 3])
      // the last error's own origin is not repeated
      assert.match(error.message, /^Retries exhausted after 3 attempts of harness "extract-city": Invalid output: /)
      assert.notInclude(error.message, "attempt 3")
      assert.match(error.last.message, /^Invalid output from harness "extract-city", attempt 3: /)
    }).pipe(Effect.provide(TestModel.layer(Array.from({ length: 6 }, wrong)))))

  it.effect("a fatal error in the second attempt names the harness and attempt 2 after the provider's words", () =>
    Effect.gen(function*() {
      const error = yield* flip(Harness.run(extractCity.pipe(Harness.retry()), "Nice"))
      assert.strictEqual(error._tag, "AuthenticationFailed")
      if (error._tag !== "AuthenticationFailed") return
      assert.deepStrictEqual([error.harness, error.attempt, error.status], ["extract-city", 2, 401])
      assert.strictEqual(error.message, `Incorrect API key (harness "extract-city", attempt 2)`)
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.fail(new HarnessError.ProviderUnavailable({ message: "overloaded", status: 503 })),
      TestModel.fail(new HarnessError.AuthenticationFailed({ message: "Incorrect API key", status: 401 }))
    ]))))

  it.effect("a fatal error of the first attempt says attempt 1", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Harness.run(extractCity.pipe(Harness.retry()), "Nice"))
      assert.deepStrictEqual([error._tag, error.harness, error.attempt], ["QuotaExhausted", "extract-city", 1])
      assert.strictEqual(error.message, `no credit (harness "extract-city", attempt 1)`)
    }).pipe(Effect.provide(TestModel.layer([TestModel.fail(new HarnessError.QuotaExhausted({ message: "no credit" }))]))))

  it.effect("the innermost harness keeps its name; the retried composite names itself on RetriesExhausted", () =>
    Effect.gen(function*() {
      const trim = Harness.make("trim", (text: string) => Effect.succeed(text.trim()))
      const pipeline = trim.pipe(Harness.andThen(extractCity), Harness.retry(RetryPolicy.make({ maxAttempts: 2 })))
      const error = yield* flip(Harness.run(pipeline, " Nice "))
      assert.strictEqual(error._tag, "RetriesExhausted")
      if (error._tag !== "RetriesExhausted") return
      assert.strictEqual(error.harness, "trim >> extract-city")
      assert.deepStrictEqual([error.last.harness, error.last.attempt], ["extract-city", 2])
    }).pipe(Effect.provide(TestModel.layer(Array.from({ length: 4 }, wrong)))))

  it.effect("a harness of one's own that fails with a HarnessError is named by retry", () =>
    Effect.gen(function*() {
      const flaky = Harness.make("flaky", (_: string) => Effect.fail(new HarnessError.ConnectionFailed({ message: "ECONNRESET" })))
      const error = yield* flip(Harness.run(flaky.pipe(Harness.retry(RetryPolicy.make({ maxAttempts: 2 }))), "x"))
      assert.strictEqual(error.message, `Retries exhausted after 2 attempts of harness "flaky": ECONNRESET`)
      assert.strictEqual(error.last.message, `ECONNRESET (harness "flaky", attempt 2)`)
    }))

  it.effect("Harness.timeout names the harness", () =>
    Effect.gen(function*() {
      const slow = Harness.make("slow", (n: number) => Effect.succeed(n).pipe(Effect.delay("1 minute")))
      const error = yield* flip(Harness.run(slow.pipe(Harness.timeout("10 seconds")), 1))
      assert.deepStrictEqual([error.harness, error.message], ["slow", `Timed out after 10s (harness "slow")`])
    }))

  it.effect("an unnamed harness gets a sensible label; an error no harness saw is as the provider said it", () =>
    Effect.gen(function*() {
      const unnamed = Harness.make("", (_: string) => Effect.fail(new HarnessError.Timeout({ message: "slow" })))
      const error = yield* flip(Harness.run(unnamed.pipe(Harness.retry(RetryPolicy.make({ maxAttempts: 2 }))), "x"))
      assert.strictEqual(error.message, "Retries exhausted after 2 attempts of an unnamed harness: slow")
      assert.strictEqual(error.last.message, "slow (an unnamed harness, attempt 2)")
      const plain = new HarnessError.RateLimited({ message: "slow down" })
      assert.deepStrictEqual([plain.message, plain.harness, plain.attempt], ["slow down", undefined, undefined])
      // the first harness to name an error keeps it
      const named = HarnessError.withOrigin(HarnessError.withOrigin(plain, { harness: "inner" }), { harness: "outer", attempt: 3 })
      assert.strictEqual(named.message, `slow down (harness "inner", attempt 3)`)
    }))

  it.effect("named errors stay serializable: the Schema round trip keeps the fields and the message", () =>
    Effect.gen(function*() {
      const codec = Schema.toCodecJson(HarnessError.HarnessError)
      const last = HarnessError.withOrigin(new HarnessError.RateLimited({ message: "slow down" }), { harness: "triage", attempt: 4 })
      const error = new HarnessError.RetriesExhausted({ attempts: 4, last, harness: "triage", attempt: 4 })
      const json = JSON.parse(JSON.stringify(yield* Schema.encodeEffect(codec)(error)))
      const decoded = yield* Schema.decodeUnknownEffect(codec)(json)
      assert.strictEqual(decoded._tag, "RetriesExhausted")
      if (decoded._tag !== "RetriesExhausted") return
      assert.strictEqual(decoded.message, error.message)
      assert.strictEqual(decoded.last.message, `slow down (harness "triage", attempt 4)`)
      assert.deepStrictEqual([decoded.harness, decoded.last.harness, decoded.last.attempt], ["triage", "triage", 4])
    }))
})

describe("an agent's errors name the agent", () => {
  const Answer = Schema.Struct({ verdict: Schema.Literals(["yes", "no"]) })

  it.effect("invalid answers after the repairs: InvalidOutput of the agent", () =>
    Effect.gen(function*() {
      const judge = Agent.make({ name: "judge", output: Answer, repairs: 1 })
      const error = yield* Effect.flip(Agent.run(judge, "Is water wet?"))
      assert.deepStrictEqual([error._tag, (error as HarnessError.InvalidOutput).harness], ["InvalidOutput", "judge"])
      assert.match((error as HarnessError.InvalidOutput).message, /^Invalid output from harness "judge": /)
    }).pipe(Effect.provide(TestModel.layer([TestModel.jsonAnswer({ verdict: "maybe" }), TestModel.jsonAnswer({ verdict: "perhaps" })]))))

  it.effect("a model call out of retries: RetriesExhausted of the agent, the last error with its attempt", () =>
    Effect.gen(function*() {
      const support = Agent.make({ name: "support", retry: RetryPolicy.make({ maxAttempts: 2 }) })
      const error = yield* flip(Agent.run(support, "hi"))
      assert.strictEqual(error._tag, "RetriesExhausted")
      if (error._tag !== "RetriesExhausted") return
      assert.strictEqual(error.message, `Retries exhausted after 2 attempts of harness "support": overloaded`)
      assert.deepStrictEqual([error.last.harness, error.last.attempt], ["support", 2])
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.fail(new HarnessError.ProviderUnavailable({ message: "overloaded", status: 503 })),
      TestModel.fail(new HarnessError.ProviderUnavailable({ message: "overloaded", status: 503 }))
    ]))))

  it.effect("a fatal model error names the agent and the attempt; a budget's limit names the agent", () =>
    Effect.gen(function*() {
      const support = Agent.make({ name: "support" })
      const auth = yield* Effect.flip(Agent.run(support, "hi"))
      assert.deepStrictEqual([auth._tag, (auth as HarnessError.AuthenticationFailed).harness, (auth as HarnessError.AuthenticationFailed).attempt], [
        "AuthenticationFailed",
        "support",
        1
      ])
      assert.strictEqual(auth.message, `bad key (harness "support", attempt 1)`)
      const spent = yield* Effect.flip(Agent.run(support, "hi")).pipe(Budget.provide({ limits: { totalTokens: 1 } }))
      assert.strictEqual(spent._tag, "BudgetExceeded")
      assert.strictEqual((spent as HarnessError.BudgetExceeded).harness, "support")
      assert.match(spent.message, /^Budget exceeded: totalTokens would reach \d+, the limit is 1 \(harness "support"\)$/)
    }).pipe(Effect.provide(TestModel.layer([
      TestModel.fail(new HarnessError.AuthenticationFailed({ message: "bad key", status: 401 })),
      TestModel.text("a long enough answer to spend the budget")
    ]))))
})
