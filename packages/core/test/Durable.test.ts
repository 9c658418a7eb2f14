import { Durable, Harness, Journal, RunStore } from "@effect-harness/core"
import { TestModel } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as Shop from "@effect-harness/testing/DurableShop"

const tags = (records: ReadonlyArray<RunStore.Record>) =>
  records.map((r) => r.entry._tag === "Status" ? `Status:${r.entry.status}` : `${r.entry._tag}:${r.entry.name}`)

const read = (runId: string) =>
  Effect.gen(function*() {
    return yield* (yield* RunStore.RunStore).read(runId)
  })

const fetch = (id: string, ms: number, calls: Array<string>) =>
  Journal.step(
    { kind: "tool", name: "fetch", request: { id }, idempotent: true },
    Schema.String,
    Effect.sync(() => calls.push(id)).pipe(Effect.andThen(Effect.sleep(ms)), Effect.as(`page ${id}`))
  )

describe("Durable", () => {
  it.effect("concurrent steps: recorded in the order they completed, replayed whatever order they are asked in", () =>
    Effect.gen(function*() {
      const calls: Array<string> = []
      // c finishes first, a last; the run stops after 25 ms, with a still running
      const batch = Effect.forEach([["a", 30], ["b", 20], ["c", 10]] as const, ([id, ms]) => fetch(id, ms, calls), {
        concurrency: "unbounded"
      })
      const first = yield* Effect.forkChild(Durable.run(batch, "batch"))
      yield* TestClock.adjust("25 millis")
      yield* Fiber.interrupt(first)
      assert.deepStrictEqual(tags(yield* read("batch")), ["Status:running", "Step:fetch", "Step:fetch"])
      calls.length = 0
      const resumed = yield* Effect.forkChild(Durable.run(batch, "batch"))
      yield* TestClock.adjust("30 millis")
      assert.deepStrictEqual(yield* Fiber.join(resumed), ["page a", "page b", "page c"])
      // only the step that was never recorded ran again
      assert.deepStrictEqual(calls, ["a"])
    }).pipe(Effect.provide(RunStore.layerMemory)))

  it.effect("a retried step records only the attempt that succeeded; replay does not retry", () =>
    Effect.gen(function*() {
      let attempts = 0
      const flaky = Journal.step(
        { kind: "model", name: "flaky", request: { q: 1 } },
        Schema.String,
        Effect.suspend(() => ++attempts < 3 ? Effect.fail("busy" as const) : Effect.succeed("ok"))
      ).pipe(Effect.retry({ times: 5 }))
      const program = (stop: boolean) =>
        Effect.gen(function*() {
          const answer = yield* flaky
          if (stop) return yield* Effect.interrupt
          return answer
        })
      yield* Effect.exit(Durable.run(program(true), "retry"))
      assert.strictEqual(attempts, 3)
      assert.strictEqual(yield* Durable.run(program(false), "retry"), "ok")
      assert.strictEqual(attempts, 3)
    }).pipe(Effect.provide(RunStore.layerMemory)))

  it.effect("a step's own inner steps are part of it: not recorded apart, not asked again on replay", () =>
    Effect.gen(function*() {
      const inner: Array<boolean> = []
      const innerStep = Journal.step(
        { kind: "model", name: "inner", request: 1 },
        Schema.Number,
        Effect.flatMap(Effect.service(Journal.Journal), (journal) => Effect.sync(() => inner.push(journal.durable)).pipe(Effect.as(1)))
      )
      const outer = Journal.step({ kind: "tool", name: "outer", request: 0, idempotent: true }, Schema.Number, Effect.map(innerStep, (n) => n + 1))
      assert.strictEqual(yield* Durable.run(outer, "nested"), 2)
      assert.strictEqual(yield* Durable.run(outer, "nested"), 2)
      assert.deepStrictEqual(inner, [false])
      assert.deepStrictEqual(tags(yield* read("nested")), ["Status:running", "Step:outer", "Status:completed"])
    }).pipe(Effect.provide(RunStore.layerMemory)))

  it.effect("records a failed status after live work, and a resumed run completes", () =>
    Effect.gen(function*() {
      let fail = true
      const program = Effect.gen(function*() {
        const plan = yield* Journal.step({ kind: "model", name: "plan", request: 1 }, Schema.String, Effect.succeed("plan"))
        if (fail) return yield* Effect.fail("boom")
        return plan
      })
      assert.strictEqual(yield* Effect.flip(Durable.run(program, "failing")), "boom")
      const store = yield* RunStore.RunStore
      const [info] = yield* store.list
      assert.strictEqual(info!.status, "failed")
      assert.include((yield* read("failing")).at(-1)!.entry._tag === "Status" ? "failed" : "", "failed")
      fail = false
      assert.strictEqual(yield* Durable.run(program, "failing"), "plan")
      assert.strictEqual((yield* store.list)[0]!.status, "completed")
    }).pipe(Effect.provide(RunStore.layerMemory)))

  it.effect("code that stops asking for recorded steps is a mismatch too; the journal is untouched", () =>
    Effect.gen(function*() {
      const step = (name: string) => Journal.step({ kind: "model", name, request: name }, Schema.String, Effect.succeed(name))
      yield* Durable.run(Effect.all([step("a"), step("b")]), "shorter")
      const before = yield* read("shorter")
      const error = yield* Effect.flip(Durable.run(step("a"), "shorter"))
      assert.strictEqual(error._tag, "JournalMismatch")
      assert.include((error as Journal.JournalMismatch).actual, "end of the run")
      assert.deepStrictEqual(yield* read("shorter"), before)
    }).pipe(Effect.provide(RunStore.layerMemory)))

  it.effect("the journal is durable inside a run and a plain pass-through outside", () =>
    Effect.gen(function*() {
      const durable = Effect.map(Effect.service(Journal.Journal), (journal) => journal.durable)
      assert.isFalse(yield* durable)
      assert.isTrue(yield* Durable.run(durable, "flag"))
    }).pipe(Effect.provide(RunStore.layerMemory)))

  it.effect("Durable.harness: a harness whose runs are durable, keyed by input", () =>
    Effect.gen(function*() {
      const answer = Harness.prompt({ name: "answer", output: Schema.String, render: (q: string) => q })
      const journaled = Harness.make("answer", (q: string) =>
        Journal.step({ kind: "model", name: "answer", request: q }, Schema.String, Harness.run(answer, q)))
      const durable = Durable.harness(journaled, (q) => `q:${q}`)
      assert.strictEqual(yield* Harness.run(durable, "why?"), "because")
      assert.strictEqual(yield* Harness.run(durable, "why?"), "because")
      assert.strictEqual(yield* TestModel.remaining, 0)
    }).pipe(Effect.provide(Layer.mergeAll(RunStore.layerMemory, TestModel.layer([TestModel.text("because")])))))
})

describe("Durable agent (in process)", () => {
  const env = (sink: Array<Shop.SideEffect>) => Layer.mergeAll(Shop.model(), Shop.handlers((effect) => sink.push(effect)))

  it.effect("a run stopped after any journal write resumes to the same history, usage and answer; tools never run twice", () =>
    Effect.gen(function*() {
      const baselineEffects: Array<Shop.SideEffect> = []
      const baseline = yield* Shop.run("baseline").pipe(Effect.provide(env(baselineEffects)))
      const writes = (yield* read("baseline")).length
      assert.strictEqual(writes, 17)
      assert.deepStrictEqual(baselineEffects.map((e) => e.ref).sort(), Object.keys(Shop.calls).sort())
      assert.strictEqual(baseline.usage.inputTokens, 1500)
      assert.strictEqual(baseline.budget.steps, 5)
      assert.closeTo(baseline.budget.cost!, (1500 * 2.5 + 35 * 10) / 1_000_000, 1e-12)

      const store = yield* RunStore.RunStore
      let unknown = 0
      for (let stopAfter = 1; stopAfter < writes; stopAfter++) {
        const runId = `stop-${stopAfter}`
        const effects: Array<Shop.SideEffect> = []
        // a store that stops the run right after its n-th write, as a kill would
        let written = 0
        const stopping = Layer.succeed(RunStore.RunStore, {
          ...store,
          append: (id, sequence, entry) =>
            Effect.andThen(store.append(id, sequence, entry), ++written === stopAfter ? Effect.interrupt : Effect.void)
        })
        const first = yield* Effect.exit(Shop.run(runId).pipe(Effect.provide(Layer.merge(env(effects), stopping))))
        assert.isTrue(Exit.hasInterrupts(first), `stop after ${stopAfter}`)
        // the charges the stopped run had started without recording their result
        const entries = (yield* read(runId)).map((record) => record.entry)
        const open = new Set(entries.flatMap((e) => e._tag === "ToolStarted" ? [JSON.stringify(e.request)] : []))
        for (const e of entries) if (e._tag === "Step") open.delete(JSON.stringify(e.request))
        const resumed = yield* Shop.run(runId).pipe(Effect.provide(env(effects)))
        const counts = new Map<string, number>()
        for (const effect of effects) counts.set(effect.ref, (counts.get(effect.ref) ?? 0) + 1)
        for (const [ref, tool] of Object.entries(Shop.calls)) {
          if (tool === "charge") assert.isAtMost(counts.get(ref) ?? 0, 1, `${ref} after stop ${stopAfter}`)
          else assert.isAtLeast(counts.get(ref) ?? 0, 1, `${ref} after stop ${stopAfter}`)
        }
        assert.strictEqual(resumed.output, baseline.output)
        assert.deepStrictEqual(resumed.usage, baseline.usage)
        assert.deepStrictEqual(resumed.budget, baseline.budget)
        const told = JSON.stringify(resumed.history).includes("UnknownOutcome")
        // the model is told of an unknown outcome exactly when a charge was left open
        assert.strictEqual(told, open.size > 0, `unknown outcome after stop ${stopAfter}`)
        if (told) unknown++
        else assert.deepStrictEqual(resumed.history, baseline.history, `history after stop ${stopAfter}`)
      }
      // at least each charge's own "started" entry was a stopping point: 3 charges
      assert.isAtLeast(unknown, 3)
    }).pipe(Effect.provide(RunStore.layerMemory)))
})
