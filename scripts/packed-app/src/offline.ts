// core, testing and sql (loaded) only: this file's compiled JS runs on Node 20 too.
import { Harness } from "@effect-harness/core"
import { PgRunStore } from "@effect-harness/sql"
import { TestModel } from "@effect-harness/testing"
import { Effect } from "effect"
import { triage } from "./triage.ts"

const ticket = await Effect.runPromise(
  Harness.run(triage, "I was charged twice!").pipe(
    Effect.provide(TestModel.layer([TestModel.jsonAnswer({ category: "billing", urgent: true })]))
  )
)
if (typeof PgRunStore.layer !== "function") throw new Error("@effect-harness/sql did not load")
console.log(`offline ${JSON.stringify(ticket)}`)
