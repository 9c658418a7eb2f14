/**
 * The conformance suite of a `RunStore`: what every store (memory, files,
 * PostgreSQL, yours) must do for `Durable` runs to be correct. Fencing,
 * listing and pruning, run ids, leases, and the Durable semantics on top of
 * the store (replay, mismatch, concurrent resume, unknown tool outcomes,
 * migrations). Store specific damage (a corrupted entry, a torn write, a
 * record of another format version) runs where the subject can inflict it.
 *
 * It registers `@effect/vitest` tests, so it is a module of its own
 * (`@effect-harness/testing/RunStoreSuite`), not part of the package's main
 * entry: importing `@effect-harness/testing` does not load Vitest.
 *
 * @example
 * ```ts
 * import { RunStore } from "@effect-harness/core"
 * import * as RunStoreSuite from "@effect-harness/testing/RunStoreSuite"
 * import { Context, Effect, Layer } from "effect"
 *
 * // in a test file: one describe block of tests for the store
 * RunStoreSuite.suite({
 *   name: "memory",
 *   // one process: both "instances" are the same store
 *   stores: Effect.map(Layer.build(RunStore.layerMemory), (context) => {
 *     const store = Context.get(context, RunStore.RunStore)
 *     return [store, store] as const
 *   })
 * })
 * ```
 *
 * @since 0.1.0
 */
import { Durable, Journal, RunStore } from "@effect-harness/core"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Latch, type Scope, Schema } from "effect"
import { TestClock } from "effect/testing"

/**
 * The store under test, and what the suite may do to its storage.
 *
 * @since 0.1.0
 */
export interface Subject {
  readonly name: string
  /** Two store instances over the same data, as two processes would have them. */
  readonly stores: Effect.Effect<readonly [RunStore.Service, RunStore.Service], unknown, Scope.Scope>
  /** Damages the stored record of `sequence` (a flipped byte, invalid JSON). */
  readonly damage?: ((runId: string, sequence: number) => Effect.Effect<void, unknown>) | undefined
  /** Rewrites the record of `sequence` as a valid record of format version `version`. */
  readonly setFormatVersion?: ((runId: string, sequence: number, version: number) => Effect.Effect<void, unknown>) | undefined
  /** The run's journal as the store keeps it, to check that nothing was deleted. */
  readonly raw?: ((runId: string) => Effect.Effect<string, unknown>) | undefined
  /** Appends raw bytes to the run's journal file: a write cut short by a crash. */
  readonly tear?: ((runId: string, bytes: string) => Effect.Effect<void, unknown>) | undefined
}

let counter = 0

/**
 * A run id no other test (or test run, for shared stores) uses.
 *
 * @since 0.1.0
 */
export const freshRunId = (label: string) => `${label}-${Date.now().toString(36)}-${++counter}`

const step = (name: string, calls: Array<string>, kind: Journal.Step["kind"] = "model") =>
  Journal.step(
    { kind, name, request: { ask: name } },
    Schema.String,
    Effect.sync(() => {
      calls.push(name)
      return `${name}-result`
    })
  )

/**
 * A stand-in for a crash inside a test process: the run stops where it is,
 * without recording a status (the real thing, SIGKILL, is CrashDriver).
 */
const crash = Effect.interrupt

/**
 * Moves the test clock on in steps of one second until `fiber` is done, so
 * that a store doing real I/O between its sleeps keeps up.
 */
const untilDone = <A, E>(fiber: Fiber.Fiber<A, E>) =>
  Effect.gen(function*() {
    while (fiber.pollUnsafe() === undefined) {
      yield* TestClock.adjust("1 second")
      for (let turn = 0; turn < 5; turn++) yield* ioTurn
    }
    return yield* Fiber.join(fiber)
  })

/** One turn of the event loop, so that a store's real I/O can complete (no time passes on any clock). */
const ioTurn = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

/**
 * Moves the test clock on by `seconds`, one second at a time; after each,
 * waits (in event-loop turns) until the lease a live run renews in the
 * background (30 s, renewed every 10 s) is renewed where it is due.
 */
const advance = (seconds: number, lease: Effect.Effect<Journal.Lease | undefined, unknown>) =>
  Effect.gen(function*() {
    for (let i = 0; i < seconds; i++) {
      yield* TestClock.adjust("1 second")
      for (let turn = 0; turn < 1000; turn++) {
        const current = yield* lease
        const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
        if (current !== undefined && current.expiresAt - now >= 19_000) break
        yield* ioTurn
      }
    }
  })

/** A three-step program; `crashAfter` makes it stop after that many steps. */
const threeSteps = (calls: Array<string>, crashAfter = 3) =>
  Effect.gen(function*() {
    const out: Array<string> = []
    for (const name of ["plan", "search", "answer"]) {
      if (out.length === crashAfter) return yield* crash
      out.push(yield* step(name, calls))
    }
    return out
  })

const entryTags = (records: ReadonlyArray<RunStore.Record>) =>
  records.map((r) => r.entry._tag === "Status" ? `Status:${r.entry.status}` : `${r.entry._tag}:${r.entry.name}`)

/**
 * Registers the suite's tests for the store, in a `describe` block named
 * after it.
 *
 * @since 0.1.0
 */
export const suite = (subject: Subject) =>
  describe(`RunStore: ${subject.name}`, () => {
    /** Runs `f` with the subject's first store in the context too. */
    const withStores = <A, E, R>(f: (store: RunStore.Service, other: RunStore.Service) => Effect.Effect<A, E, R>) =>
      Effect.flatMap(subject.stores, ([store, other]) => Effect.provideService(f(store, other), RunStore.RunStore, store))

    it.effect("appends and reads entries in order, stamped with the clock", () =>
      Effect.gen(function*() {
        const [store] = yield* subject.stores
        const runId = freshRunId("roundtrip")
        yield* TestClock.adjust("1 second")
        yield* store.append(runId, 0, { _tag: "Status", status: "running" })
        yield* store.append(runId, 1, { _tag: "Step", kind: "model", name: "m", request: { a: [1, "x"] }, result: { text: "hé\nllo" }, version: 1 })
        yield* store.append(runId, 2, { _tag: "ToolStarted", name: "t", request: { id: "c1" } })
        const records = yield* store.read(runId)
        assert.deepStrictEqual(records.map((r) => r.sequence), [0, 1, 2])
        assert.deepStrictEqual(records[1]!.entry, {
          _tag: "Step",
          kind: "model",
          name: "m",
          request: { a: [1, "x"] },
          result: { text: "hé\nllo" },
          version: 1
        })
        assert.strictEqual(records[0]!.at, 1000)
        assert.deepStrictEqual(yield* store.read(freshRunId("unknown")), [])
      }))

    it.effect("fences appends by sequence: an existing or skipped sequence is a conflict, also from another instance", () =>
      Effect.gen(function*() {
        const [a, b] = yield* subject.stores
        const runId = freshRunId("fence")
        yield* a.append(runId, 0, { _tag: "Status", status: "running" })
        const again = yield* Effect.flip(b.append(runId, 0, { _tag: "Status", status: "running" }))
        assert.strictEqual(again.reason, "conflict")
        assert.strictEqual(again.runId, runId)
        assert.strictEqual(again.sequence, 0)
        const gap = yield* Effect.flip(b.append(runId, 5, { _tag: "Status", status: "running" }))
        assert.strictEqual(gap.reason, "conflict")
        yield* b.append(runId, 1, { _tag: "Status", status: "completed" })
        const stale = yield* Effect.flip(a.append(runId, 1, { _tag: "Status", status: "failed" }))
        assert.strictEqual(stale.reason, "conflict")
        assert.deepStrictEqual(entryTags(yield* a.read(runId)), ["Status:running", "Status:completed"])
      }))

    it.live("of two instances appending the same sequence at once, exactly one succeeds", () =>
      Effect.gen(function*() {
        const [a, b] = yield* subject.stores
        const runId = freshRunId("race")
        for (let sequence = 0; sequence < 10; sequence++) {
          const results = yield* Effect.all([
            Effect.exit(a.append(runId, sequence, { _tag: "Status", status: "running", detail: "a" })),
            Effect.exit(b.append(runId, sequence, { _tag: "Status", status: "running", detail: "b" }))
          ], { concurrency: 2 })
          assert.strictEqual(results.filter(Exit.isSuccess).length, 1, `sequence ${sequence}`)
        }
        assert.strictEqual((yield* b.read(runId)).length, 10)
      }))

    it.effect("lists runs with status, entries and last update; deletes a run", () =>
      Effect.gen(function*() {
        const [store] = yield* subject.stores
        const done = freshRunId("list-done")
        const open = freshRunId("list-open")
        yield* store.append(done, 0, { _tag: "Status", status: "running" })
        yield* TestClock.adjust("5 seconds")
        yield* store.append(done, 1, { _tag: "Status", status: "completed" })
        yield* store.append(open, 0, { _tag: "Status", status: "running" })
        yield* store.append(open, 1, { _tag: "Step", kind: "tool", name: "t", request: 1, result: 2, version: 1 })
        const runs = (yield* store.list).filter((run) => run.runId === done || run.runId === open)
        runs.sort((x, y) => x.runId.localeCompare(y.runId))
        assert.deepStrictEqual(runs.map((run) => [run.runId, run.status, run.entries, run.updatedAt]), [
          [done, "completed", 2, 5000],
          [open, "running", 2, 5000]
        ])
        yield* store.delete(done)
        yield* store.delete(freshRunId("never-existed"))
        assert.deepStrictEqual(yield* store.read(done), [])
        assert.isFalse((yield* store.list).some((run) => run.runId === done))
        // a deleted run can start again from sequence 0
        yield* store.append(done, 0, { _tag: "Status", status: "running" })
        assert.strictEqual((yield* store.read(done)).length, 1)
      }))

    it.effect("prunes finished runs older than the given age, keeps running and recent ones", () =>
      Effect.gen(function*() {
        const [store] = yield* subject.stores
        const prefix = freshRunId("prune")
        const finish = (runId: string, status: RunStore.RunStatus) =>
          Effect.andThen(
            store.append(runId, 0, { _tag: "Status", status: "running" }),
            store.append(runId, 1, { _tag: "Status", status })
          )
        yield* finish(`${prefix}-old-completed`, "completed")
        yield* finish(`${prefix}-old-failed`, "failed")
        yield* store.append(`${prefix}-old-running`, 0, { _tag: "Status", status: "running" })
        yield* TestClock.adjust("2 hours")
        yield* finish(`${prefix}-new-completed`, "completed")
        const pruned = (yield* store.prune({ olderThan: "1 hour" })).filter((id) => id.startsWith(prefix))
        assert.deepStrictEqual(pruned.sort(), [`${prefix}-old-completed`, `${prefix}-old-failed`])
        const left = (yield* store.list).filter((run) => run.runId.startsWith(prefix)).map((run) => run.runId).sort()
        assert.deepStrictEqual(left, [`${prefix}-new-completed`, `${prefix}-old-running`])
        // running runs go only when asked for
        const stuck = yield* store.prune({ olderThan: "1 hour", statuses: ["running"] })
        assert.include(stuck, `${prefix}-old-running`)
      }))

    it.effect("run ids: the empty id, a lone UTF-16 surrogate, a NUL and an id over 512 bytes are refused with a typed error, the same on every store", () =>
      Effect.gen(function*() {
        const [store] = yield* subject.stores
        const emoji = `ticket-😀-${freshRunId("cut")}`
        const cut = emoji.slice(0, emoji.indexOf("😀") + 1) // half an emoji: a lone high surrogate
        const refused = ["", cut, `a\u0000b`, "x".repeat(513), "é".repeat(257)]
        for (const runId of refused) {
          for (const operation of [
            store.append(runId, 0, { _tag: "Status", status: "running" }),
            store.read(runId),
            store.delete(runId),
            Effect.asVoid(store.claim(runId, "someone", "1 minute"))
          ]) {
            const error = yield* Effect.flip(operation)
            assert.strictEqual(error._tag, "JournalError")
            assert.strictEqual(error.reason, "invalid-run-id", JSON.stringify(runId.slice(0, 20)))
          }
        }
        assert.include((yield* Effect.flip(store.read(cut))).detail, "surrogate")
        // and nothing of them was stored
        assert.isFalse((yield* store.list).some((run) => refused.includes(run.runId)))
      }))

    it.effect("a long run id (up to 512 bytes in UTF-8, 1,500 once percent-encoded) is stored, read, listed and deleted like any other", () =>
      Effect.gen(function*() {
        const [store, other] = yield* subject.stores
        const prefix = freshRunId("long")
        const accented = `${prefix}-${"é".repeat(Math.floor((511 - prefix.length) / 2))}`
        const longest = `${prefix}-${"x".repeat(511 - prefix.length)}`
        assert.strictEqual(new TextEncoder().encode(longest).length, 512)
        for (const id of [accented, longest]) {
          yield* store.append(id, 0, { _tag: "Status", status: "running" })
          yield* other.append(id, 1, { _tag: "Status", status: "completed" })
          assert.strictEqual((yield* other.read(id)).length, 2)
          const listed = (yield* store.list).find((run) => run.runId === id)
          assert.deepStrictEqual([listed?.status, listed?.entries], ["completed", 2])
          yield* store.delete(id)
          assert.deepStrictEqual(yield* other.read(id), [])
        }
      }))

    describe("Durable on this store", () => {
      it.effect("a resume while the run is live elsewhere fails at once, before any live work, with a conflict carrying the lease; ifLive wait waits for it", () =>
        Effect.gen(function*() {
          const [a, b] = yield* subject.stores
          const runId = freshRunId("live")
          const release = yield* Deferred.make<void>()
          const calls: Array<string> = []
          // process A: a live step recorded, then a long one still running
          const first = yield* Effect.forkChild(Durable.run(
            Effect.gen(function*() {
              yield* step("plan", calls)
              yield* Deferred.await(release)
              return yield* step("answer", calls)
            }),
            runId
          ).pipe(Effect.provideService(RunStore.RunStore, a)))
          while (calls.length === 0) yield* Effect.yieldNow
          // its lease (30 s) is renewed while it runs: a minute later it is still live
          yield* advance(60, b.liveLease(runId, "probe"))
          const second: Array<string> = []
          const resumed = Durable.run(threeSteps(second), runId).pipe(Effect.provideService(RunStore.RunStore, b))
          const error = yield* Effect.flip(resumed)
          assert.strictEqual(error._tag, "JournalError")
          const conflict = error as Journal.JournalError
          assert.strictEqual(conflict.reason, "conflict")
          assert.isDefined(conflict.lease)
          assert.include(conflict.message, "live elsewhere")
          assert.isAbove(conflict.lease!.expiresAt, 60_000)
          assert.deepStrictEqual(second, [])
          // nothing was written by B: A's run goes on and completes
          const waiting = yield* Effect.forkChild(
            Durable.run(
              Effect.gen(function*() {
                yield* step("plan", second)
                return yield* step("answer", second)
              }),
              runId,
              { ifLive: "wait" }
            ).pipe(Effect.provideService(RunStore.RunStore, b))
          )
          yield* advance(5, a.liveLease(runId, "probe"))
          assert.isUndefined(waiting.pollUnsafe())
          yield* Deferred.succeed(release, undefined)
          assert.strictEqual(yield* Fiber.join(first), "answer-result")
          // the waiting resume replays A's completed run
          assert.strictEqual(yield* untilDone(waiting), "answer-result")
          assert.deepStrictEqual(calls, ["plan", "answer"])
          assert.deepStrictEqual(second, [])
          assert.deepStrictEqual(entryTags(yield* a.read(runId)), ["Status:running", "Step:plan", "Step:answer", "Status:completed"])
        }))

      it.effect("a stale lease is taken over: a lease held elsewhere is honoured until it expires, then the run resumes", () =>
        Effect.gen(function*() {
          const [a, b] = yield* subject.stores
          const runId = freshRunId("stale-lease")
          yield* Effect.exit(Durable.run(threeSteps([], 1), runId).pipe(Effect.provideService(RunStore.RunStore, a)))
          // a process on another host (or in another PID namespace) claimed it, then vanished
          const elsewhere = `other-host/${"f".repeat(32)}-4026531999/7/abc`
          yield* a.claim(runId, elsewhere, "30 seconds")
          const calls: Array<string> = []
          const resume = Durable.run(threeSteps(calls), runId).pipe(Effect.provideService(RunStore.RunStore, b))
          const early = yield* Effect.flip(resume)
          assert.strictEqual((early as Journal.JournalError).lease?.owner, elsewhere)
          yield* TestClock.adjust("29 seconds")
          assert.strictEqual(((yield* Effect.flip(resume)) as Journal.JournalError).reason, "conflict")
          yield* TestClock.adjust("2 seconds")
          assert.deepStrictEqual(yield* resume, ["plan-result", "search-result", "answer-result"])
          assert.deepStrictEqual(calls, ["search", "answer"])
          // the run ended: its lease was given up
          assert.isUndefined(yield* a.liveLease(runId, "anyone"))
        }))

      it.effect("resumes after a crash: recorded steps replay without running, the rest runs live", () =>
        withStores((store) => Effect.gen(function*() {
          const runId = freshRunId("resume")
          const first: Array<string> = []
          const crashed = yield* Effect.exit(Durable.run(threeSteps(first, 2), runId))
          assert.isTrue(Exit.hasInterrupts(crashed))
          assert.deepStrictEqual(first, ["plan", "search"])
          const second: Array<string> = []
          const result = yield* Durable.run(threeSteps(second), runId)
          assert.deepStrictEqual(result, ["plan-result", "search-result", "answer-result"])
          assert.deepStrictEqual(second, ["answer"])
          assert.deepStrictEqual(entryTags(yield* store.read(runId)), [
            "Status:running",
            "Step:plan",
            "Step:search",
            "Status:running",
            "Step:answer",
            "Status:completed"
          ])
          // a completed run replays to its result and writes nothing
          const third: Array<string> = []
          assert.deepStrictEqual(yield* Durable.run(threeSteps(third), runId), result)
          assert.deepStrictEqual(third, [])
          assert.strictEqual((yield* store.read(runId)).length, 6)
        })))

      it.effect("code that asks for another step fails with JournalMismatch naming the step and both sides; the journal is untouched", () =>
        withStores((store) => Effect.gen(function*() {
          const runId = freshRunId("mismatch")
          yield* Effect.exit(Durable.run(threeSteps([], 2), runId))
          const before = yield* store.read(runId)
          const changed = Effect.gen(function*() {
            yield* step("plan", [])
            return yield* step("browse", [])
          })
          const error = yield* Effect.flip(Durable.run(changed, runId))
          assert.strictEqual(error._tag, "JournalMismatch")
          if (error._tag !== "JournalMismatch") return
          assert.strictEqual(error.runId, runId)
          assert.strictEqual(error.sequence, 2)
          assert.include(error.expected, `"search"`)
          assert.include(error.actual, `"browse"`)
          assert.include(error.message, `step 2`)
          assert.deepStrictEqual(yield* store.read(runId), before)
        })))

      it.live("two processes resuming the same run: exactly one proceeds, the other fails with a conflict before any live work", () =>
        Effect.gen(function*() {
          const [a, b] = yield* subject.stores
          const runId = freshRunId("concurrent")
          yield* Effect.exit(Durable.run(threeSteps([], 1), runId).pipe(Effect.provideService(RunStore.RunStore, a)))
          const calls: Array<string> = []
          // both have read the journal before either goes on, as two processes started together would
          const bothStarted = yield* Latch.make()
          let started = 0
          const resume = Effect.gen(function*() {
            if (++started === 2) yield* bothStarted.open
            yield* bothStarted.await
            return yield* threeSteps(calls)
          })
          const results = yield* Effect.all([
            Effect.exit(Durable.run(resume, runId).pipe(Effect.provideService(RunStore.RunStore, a))),
            Effect.exit(Durable.run(resume, runId).pipe(Effect.provideService(RunStore.RunStore, b)))
          ], { concurrency: 2 })
          const winners = results.filter(Exit.isSuccess)
          assert.strictEqual(winners.length, 1)
          const loser = results.find(Exit.isFailure)!
          const error = yield* Effect.flip(loser)
          assert.strictEqual(error._tag, "JournalError")
          assert.strictEqual((error as Journal.JournalError).reason, "conflict")
          // the live steps ran once, by the winner
          assert.deepStrictEqual(calls, ["search", "answer"])
          const records = yield* a.read(runId)
          assert.deepStrictEqual(entryTags(records).filter((tag) => tag.startsWith("Step")), ["Step:plan", "Step:search", "Step:answer"])
        }))

      it.effect("a non-idempotent tool that started but was never recorded is not run again", () =>
        withStores((store) => Effect.gen(function*() {
          const runId = freshRunId("unknown-outcome")
          let charges = 0
          const charge = (unknownOutcome?: string) =>
            Journal.step(
              { kind: "tool", name: "charge", request: { id: "call_1", amount: 10 }, unknownOutcome },
              Schema.String,
              Effect.suspend(() => ++charges === 1 ? crash : Effect.succeed("charged"))
            )
          assert.isTrue(Exit.hasInterrupts(yield* Effect.exit(Durable.run(charge(), runId))))
          assert.strictEqual(charges, 1)
          const before = yield* store.read(runId)
          assert.deepStrictEqual(entryTags(before), ["Status:running", "ToolStarted:charge"])
          // without unknownOutcome: a typed failure, nothing written
          const refused = yield* Effect.flip(Durable.run(charge(), runId))
          assert.strictEqual(refused._tag, "JournalError")
          assert.strictEqual((refused as Journal.JournalError).reason, "unknown-outcome")
          assert.strictEqual((refused as Journal.JournalError).sequence, 1)
          assert.deepStrictEqual(yield* store.read(runId), before)
          // with it: the caller gets it (and can tell the model), and it is recorded
          const told = Journal.unknownOutcomeMessage("charge")
          assert.strictEqual(yield* Durable.run(charge(told), runId), told)
          assert.strictEqual(charges, 1)
          const after = yield* store.read(runId)
          const recorded = after.find((r) => r.entry._tag === "Step")!.entry
          assert.deepStrictEqual(recorded._tag === "Step" && [recorded.outcome, recorded.result], ["unknown", told])
          // and replays the same way
          assert.strictEqual(yield* Durable.run(charge(told), runId), told)
          assert.strictEqual(charges, 1)
        })))

      it.effect("reads a result of an older encoding version through migrate; refuses it without one or when it no longer decodes", () =>
        withStores((store) => Effect.gen(function*() {
          const runId = freshRunId("migrate")
          const V1 = Schema.Struct({ celsius: Schema.Number })
          const V2 = Schema.Struct({ kelvin: Schema.Number })
          yield* Durable.run(Journal.step({ kind: "tool", name: "temp", request: {}, idempotent: true }, V1, Effect.succeed({ celsius: 20 })), runId)
          const readV2 = (migrate?: (encoded: unknown, version: number) => unknown) =>
            Durable.run(
              Journal.step({ kind: "tool", name: "temp", request: {}, idempotent: true, version: 2, migrate }, V2, Effect.die("not replayed")),
              runId
            )
          const migrated = yield* readV2((encoded, version) => {
            assert.strictEqual(version, 1)
            return { kelvin: (encoded as { celsius: number }).celsius + 273.15 }
          })
          assert.deepStrictEqual(migrated, { kelvin: 293.15 })
          const noMigration = yield* Effect.flip(readV2())
          assert.strictEqual((noMigration as Journal.JournalError).reason, "version")
          assert.strictEqual((noMigration as Journal.JournalError).sequence, 1)
          assert.include(noMigration.message, "version 1")
          // same version, but the codec changed: refused, never misread
          const changedCodec = yield* Effect.flip(
            Durable.run(Journal.step({ kind: "tool", name: "temp", request: {}, idempotent: true }, V2, Effect.die("not replayed")), runId)
          )
          assert.strictEqual((changedCodec as Journal.JournalError).reason, "version")
          assert.include(changedCodec.message, "does not decode")
          // recorded by newer code: refused
          const older = yield* Effect.flip(
            Durable.run(Journal.step({ kind: "tool", name: "temp", request: {}, idempotent: true, version: 0 }, V1, Effect.die("not replayed")), runId)
          )
          assert.strictEqual((older as Journal.JournalError).reason, "version")
          assert.include(older.message, "newer code")
          assert.strictEqual((yield* store.read(runId)).length, 3)
        })))
    })

    if (subject.damage !== undefined && subject.raw !== undefined) {
      const damage = subject.damage
      const raw = subject.raw
      it.effect("a corrupted entry in the middle is a typed error naming the run and the sequence; nothing is deleted", () =>
        Effect.gen(function*() {
          const [store, other] = yield* subject.stores
          const runId = freshRunId("corrupted")
          for (let sequence = 0; sequence < 4; sequence++) {
            yield* store.append(runId, sequence, { _tag: "Step", kind: "model", name: `m${sequence}`, request: sequence, result: "ok", version: 1 })
          }
          yield* damage(runId, 1)
          const before = yield* raw(runId)
          for (const s of [store, other]) {
            const error = yield* Effect.flip(s.read(runId))
            assert.strictEqual(error.reason, "corrupted")
            assert.strictEqual(error.runId, runId)
            assert.strictEqual(error.sequence, 1)
            assert.include(error.message, runId)
          }
          // a resume fails the same way and writes nothing
          const resumed = yield* Effect.flip(Durable.run(Effect.void, runId).pipe(Effect.provideService(RunStore.RunStore, other)))
          assert.strictEqual((resumed as Journal.JournalError).reason, "corrupted")
          assert.strictEqual(yield* raw(runId), before)
          // a direct append never "repairs" by cutting the journal (the file
          // store refuses it, the database store adds a row after the damage)
          yield* Effect.exit(other.append(runId, 4, { _tag: "Status", status: "running" }))
          assert.isTrue((yield* raw(runId)).startsWith(before))
        }))
    }

    if (subject.setFormatVersion !== undefined) {
      const setFormatVersion = subject.setFormatVersion
      it.effect("a record of an unknown format version is refused with reason version, never misread", () =>
        Effect.gen(function*() {
          const [store] = yield* subject.stores
          const runId = freshRunId("format")
          yield* store.append(runId, 0, { _tag: "Status", status: "running" })
          yield* store.append(runId, 1, { _tag: "Step", kind: "model", name: "m", request: 1, result: "ok", version: 1 })
          yield* setFormatVersion(runId, 1, 2)
          const error = yield* Effect.flip(store.read(runId))
          assert.strictEqual(error.reason, "version")
          assert.strictEqual(error.sequence, 1)
          assert.include(error.message, "format version 2")
        }))
    }

    if (subject.tear !== undefined && subject.raw !== undefined) {
      const tear = subject.tear
      const raw = subject.raw
      it.effect("a torn last entry is treated as never written, and cut off by the next append", () =>
        Effect.gen(function*() {
          const [store, other] = yield* subject.stores
          const runId = freshRunId("torn")
          const calls: Array<string> = []
          yield* Effect.exit(Durable.run(threeSteps(calls, 2), runId).pipe(Effect.provideService(RunStore.RunStore, store)))
          const intact = yield* raw(runId)
          // the process died while writing entry 3: half a line, no newline
          yield* tear(runId, `0badc0de {"v":1,"s":3,"t":0,"e":{"_tag":"Step","kind":"model","na`)
          assert.deepStrictEqual((yield* other.read(runId)).length, 3)
          // and a complete but damaged last line (power loss) is a torn tail too
          yield* tear(runId, `\n00000000 {"v":1,"s":3}\n`)
          assert.deepStrictEqual((yield* other.read(runId)).length, 3)
          calls.length = 0
          const result = yield* Durable.run(threeSteps(calls), runId).pipe(Effect.provideService(RunStore.RunStore, other))
          assert.deepStrictEqual(result, ["plan-result", "search-result", "answer-result"])
          assert.deepStrictEqual(calls, ["answer"])
          const after = yield* raw(runId)
          assert.isTrue(after.startsWith(intact))
          assert.notInclude(after, "0badc0de")
          assert.deepStrictEqual(entryTags(yield* store.read(runId)).slice(3), ["Status:running", "Step:answer", "Status:completed"])
        }))
    }
  })
