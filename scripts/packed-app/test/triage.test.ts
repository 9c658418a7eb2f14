import { Harness } from "@effect-harness/core"
import { TestModel } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { triage } from "../src/triage.ts"

describe("triage", () => {
  it.effect("classifies a ticket with the model layer swapped for TestModel", () =>
    Effect.gen(function*() {
      const ticket = yield* Harness.run(triage, "I was charged twice!")
      assert.deepStrictEqual(ticket, { category: "billing", urgent: true })
      const [request] = yield* TestModel.requests
      assert.include(request!.lastUserText, "charged twice")
    }).pipe(Effect.provide(TestModel.layer([TestModel.jsonAnswer({ category: "billing", urgent: true })]))))
})
