/**
 * A harness run without a model: the compiler refuses it (`LanguageModel` is
 * in the requirements, see types.test.ts), so at run time it happens only
 * when the requirement was hidden. The defect then says which layer to
 * provide, and which harness asked.
 */
import { Agent, DirectModel, Harness } from "@effect-harness/core"
import { TestModel } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, ManagedRuntime, Schema, Stream } from "effect"
import type { LanguageModel } from "effect/ai"

const ask = Harness.prompt({ name: "ask", output: Schema.String, render: (q: string) => q })

// what a cast does: the requirement is gone from the type, not from the program
const unprovided = <A, E>(effect: Effect.Effect<A, E, any>) => effect as Effect.Effect<A, E>

const defectOf = <A, E>(exit: Exit.Exit<A, E>): unknown => {
  assert.isTrue(Exit.isFailure(exit))
  if (Exit.isSuccess(exit)) return undefined
  assert.isTrue(Cause.hasDies(exit.cause))
  return Cause.squash(exit.cause)
}

const assertHint = (defect: unknown, harness: string | undefined) => {
  assert.instanceOf(defect, DirectModel.MissingLanguageModel)
  const missing = defect as DirectModel.MissingLanguageModel
  assert.strictEqual(missing.harness, harness)
  assert.match(missing.message, /^Service not found: effect\/ai\/LanguageModel/)
  if (harness !== undefined) assert.include(missing.message, `needed by harness "${harness}"`)
  assert.include(missing.message, "OpenAiLanguageModel.layerConfig")
  assert.include(missing.message, "TestModel.layer")
}

describe("a harness without a LanguageModel", () => {
  it.effect("Harness.prompt dies with MissingLanguageModel naming the harness and the layers that provide a model", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(unprovided(Harness.run(ask, "hi")))
      const defect = defectOf(exit)
      assertHint(defect, "ask")
      // what a user reads in a log
      if (Exit.isFailure(exit)) assert.include(Cause.pretty(exit.cause), "TestModel.layer([...]) from @effect-harness/testing")
    }))

  it.effect("an agent names itself", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "support", instructions: "Be brief." })
      assertHint(defectOf(yield* Effect.exit(unprovided(Agent.run(agent, "hi")))), "support")
    }))

  it.effect("Harness.streamText, DirectModel.current and DirectModel.of say the same", () =>
    Effect.gen(function*() {
      const stream = Stream.runDrain(Harness.streamText({ prompt: "hi" }))
      assertHint(defectOf(yield* Effect.exit(unprovided(stream))), undefined)
      assertHint(defectOf(yield* Effect.exit(unprovided(DirectModel.current))), undefined)
      assert.throws(() => DirectModel.of(undefined as unknown as LanguageModel.LanguageModel, "ask"), /needed by harness "ask"/)
    }))

  it("a ManagedRuntime built from a layer typed wider than what it builds", async () => {
    // the layer says it provides a LanguageModel; the value behind the cast provides nothing
    const AppLayer = Layer.empty as unknown as Layer.Layer<LanguageModel.LanguageModel>
    const runtime = ManagedRuntime.make(AppLayer)
    try {
      assertHint(defectOf(await runtime.runPromiseExit(Harness.run(ask, "hi"))), "ask")
    } finally {
      await runtime.dispose()
    }
  })

  it.effect("with the model provided the same harness runs (the check costs nothing on the way)", () =>
    Harness.run(ask, "hi").pipe(
      Effect.map((answer) => assert.strictEqual(answer, "hello")),
      Effect.provide(TestModel.layer([TestModel.text("hello")]))
    ))
})
