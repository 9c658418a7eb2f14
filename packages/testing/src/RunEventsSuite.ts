/**
 * The conformance suite of a run store's event stream (`RunEvents`): the
 * same tests for every store (the file store and `PgRunStore` pass it).
 * Readers in this process follow runs of this process and of a child process
 * (internal/eventsChild.ts, which builds the store from a module the test
 * names) that runs `DurableShop`'s agent with latency, so the reader sees it
 * live. A subpath module: importing `@effect-harness/testing` does not load
 * Vitest.
 *
 * @since 0.1.0
 */
import { AgentEvent, Durable, Journal, RunEvents, RunStore } from "@effect-harness/core"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, type Duration, Effect, Fiber, Layer, Schema, Stream } from "effect"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import * as Shop from "./DurableShop.ts"
import type { EventsChildConfig } from "./internal/eventsChild.ts"

const childPath = fileURLToPath(
  new URL(`./internal/eventsChild${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url)
)

/**
 * What the suite needs of a store.
 *
 * @since 0.1.0
 */
export interface Options {
  readonly name: string
  /** A fresh store of the kind under test (each test builds its own). */
  readonly store: Layer.Layer<RunStore.RunStore, unknown>
  /** The same store, as a child process opens it. */
  readonly childStore: EventsChildConfig["store"]
  /**
   * How often the reader of another process's run polls: short for files;
   * an hour for PostgreSQL, whose reader must be woken by NOTIFY.
   */
  readonly pollInterval: string
}

let counter = 0
const freshRunId = (label: string) => `events-${label}-${process.pid}-${Date.now().toString(36)}-${++counter}`

/** What the journal holds, as events. */
const journalEvents = (runId: string) =>
  Effect.map(Effect.flatMap(Effect.service(RunStore.RunStore), (store) => store.read(runId)), (records) =>
    records.map((record) => RunEvents.fromRecord(record.sequence, record.entry)))

const recorded = (events: ReadonlyArray<RunEvents.RunEvent>) => events.filter(RunEvents.isRecorded)

/** Runs the durable agent in a child process; resolves with its exit code once it exits. */
const runChild = (config: EventsChildConfig) =>
  Effect.callback<{ readonly code: number | null; readonly stderr: string }>((resume) => {
    const child = spawn(process.execPath, ["--conditions=@effect-harness/source", childPath, JSON.stringify(config)], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stderr = ""
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.on("exit", (code) => resume(Effect.succeed({ code, stderr })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** A text delta of step 2, as the loop's `Sink` receives it. */
const delta = (text: string) =>
  Effect.flatMap(Effect.service(AgentEvent.Sink), (sink) =>
    sink === undefined ? Effect.void : sink(AgentEvent.TextDelta({ agent: "writer", step: 2, delta: text })))

/**
 * Registers the suite's tests for a store.
 *
 * @since 0.1.0
 */
export const suite = (options: Options) =>
  describe(`RunEvents (${options.name})`, () => {
    it.live("a reader from the start and one from a sequence get every recorded event once, in order", () =>
      Effect.gen(function*() {
        const runId = freshRunId("all")
        const fromStart = yield* RunEvents.stream(runId).pipe(Stream.runCollect, Effect.forkChild)
        yield* Shop.run(runId, RunEvents.run(runId))
        const events = yield* Fiber.join(fromStart)
        const journal = yield* journalEvents(runId)
        assert.deepStrictEqual(recorded(events), journal)
        assert.deepStrictEqual(recorded(events).map((event) => event.sequence), journal.map((_, i) => i))
        assert.strictEqual(events.at(-1)?._tag, "Status")
        const fromFour = yield* Stream.runCollect(RunEvents.stream(runId, { after: 4 }))
        assert.deepStrictEqual(fromFour, journal.slice(5))
      }).pipe(Effect.provide(Layer.mergeAll(Layer.fresh(options.store), Shop.model(), Shop.handlers(() => {})))))

    it.live("a reader that joins mid-step gets the step's text so far in one event, then the rest, nothing twice", () =>
      Effect.gen(function*() {
        const runId = freshRunId("mid")
        const midStep = yield* Deferred.make<void>()
        const goOn = yield* Deferred.make<void>()
        const step = (text: string, more: Effect.Effect<void>) =>
          Journal.step({ kind: "model", name: "writer", request: { text } }, Schema.Struct({ text: Schema.String }),
            Effect.as(more, { text }))
        const program = Effect.gen(function*() {
          yield* step("Plan.", Effect.void)
          yield* step(
            "Hello brave world",
            Effect.gen(function*() {
              yield* delta("Hello ")
              yield* delta("brave ")
              yield* Deferred.succeed(midStep, undefined)
              yield* Deferred.await(goOn)
              yield* delta("world")
            })
          )
          return "done"
        }).pipe(RunEvents.run(runId))
        const running = yield* Effect.forkChild(program)
        yield* Deferred.await(midStep)
        const joined = yield* RunEvents.stream(runId).pipe(Stream.runCollect, Effect.forkChild)
        const resumed = yield* RunEvents.stream(runId, { after: 1 }).pipe(Stream.runCollect, Effect.forkChild)
        // both readers follow the run before the step goes on
        const live = yield* RunEvents.Live
        while ((live.runs.get(runId)?.readers.size ?? 0) < 2) yield* Effect.yieldNow
        yield* Deferred.succeed(goOn, undefined)
        assert.strictEqual(yield* Fiber.join(running), "done")
        const events = yield* Fiber.join(joined)
        assert.deepStrictEqual(events.map((event) => event._tag), [
          "Status", // running
          "ModelStep", // Plan.
          "TextSoFar",
          "TextDelta",
          "ModelStep",
          "Status" // completed
        ])
        assert.deepStrictEqual(events[2], RunEvents.TextSoFar({ after: 1, text: "Hello brave " }))
        assert.deepStrictEqual(events[3], RunEvents.TextDelta({ after: 1, text: "world" }))
        const texts = events.filter((event) => event._tag === "TextSoFar" || event._tag === "TextDelta")
          .map((event) => (event as { readonly text: string }).text).join("")
        assert.strictEqual(texts, (events[4] as { readonly text: string }).text)
        assert.deepStrictEqual(yield* Fiber.join(resumed), events.slice(2))
      }).pipe(Effect.provide(Layer.fresh(options.store))))

    it.live("a reader in another process than the run's follows it live to its end, and resumes after a sequence", () =>
      Effect.gen(function*() {
        const runId = freshRunId("child")
        const seen: Array<{ readonly event: RunEvents.RunEvent; readonly at: number }> = []
        const third = yield* Deferred.make<void>()
        const reader = yield* RunEvents.stream(runId, { pollInterval: options.pollInterval as Duration.Input }).pipe(
          Stream.runForEach((event) =>
            Effect.suspend(() => seen.push({ event, at: performance.now() }) === 3 ? Deferred.succeed(third, undefined) : Effect.void)
          ),
          Effect.forkChild
        )
        // a second reader joins once the first has seen the third event, and resumes after it
        const resumed = yield* Deferred.await(third).pipe(
          Effect.andThen(Stream.runCollect(RunEvents.stream(runId, { after: 2, pollInterval: options.pollInterval as Duration.Input }))),
          Effect.forkChild
        )
        const child = yield* runChild({ runId, store: options.childStore, latencyMs: 40 })
        const exitedAt = performance.now()
        assert.strictEqual(child.code, 0, child.stderr)
        yield* Fiber.join(reader)
        const journal = yield* journalEvents(runId)
        assert.deepStrictEqual(seen.map((s) => s.event), journal)
        assert.isAbove(journal.length, 10)
        assert.deepStrictEqual(journal.at(-1), RunEvents.Status({ sequence: journal.length - 1, status: "completed", detail: undefined }))
        // live: most events reached this process while the child was still running
        assert.isBelow(seen[journal.length - 3]!.at, exitedAt)
        assert.deepStrictEqual(yield* Fiber.join(resumed), journal.slice(3))
      }).pipe(Effect.provide(Layer.fresh(options.store))), 60_000)

    it.live("a failed run ends the stream with its failed status", () =>
      Effect.gen(function*() {
        const runId = freshRunId("failed")
        const exit = yield* Effect.exit(
          Journal.step({ kind: "tool", name: "lookup", request: {}, idempotent: true }, Schema.String, Effect.succeed("x")).pipe(
            Effect.andThen(Effect.fail("boom")),
            Durable.run(runId)
          )
        )
        assert.strictEqual(exit._tag, "Failure")
        const events = yield* Stream.runCollect(RunEvents.stream(runId))
        assert.deepStrictEqual(events.map((event) => event._tag), ["Status", "ToolStep", "Status"])
        assert.strictEqual((events[2] as { readonly status: string }).status, "failed")
      }).pipe(Effect.provide(Layer.fresh(options.store))))
  })
