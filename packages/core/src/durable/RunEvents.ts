/**
 * The events of a durable run as a resumable stream: what the journal
 * recorded, then what happens while the run goes on, read by any process.
 *
 * Recorded events are derived from the run's journal entries, not written as
 * entries of their own: a completed model step, a tool about to run or
 * returned, an input, a change of status. Each carries the `sequence` of its
 * entry, so the journal's contract (one fenced append per step, nothing
 * else) and its cost are unchanged, and what a reader gets after sequence
 * `n` is exactly what the journal holds after entry `n`, once and in order.
 *
 * Live events are not recorded: the text deltas of the model step in
 * progress, a partial text discarded by a retry, a scheduled retry. They
 * reach the readers of the process that runs the run ({@link run}), in order
 * with the recorded events, and carry `after`, the sequence of the last
 * recorded event before them. A reader that joins mid-step first gets the
 * step's text so far in one `TextSoFar` event. A reader in another process
 * gets the recorded events only, live from the store: PostgreSQL wakes it
 * with LISTEN/NOTIFY, the file store is polled on a `Clock`-driven schedule.
 *
 * @example
 * ```ts
 * import { RunEvents, RunStore } from "@effect-harness/core"
 * import { NodeFileSystem } from "@effect/platform-node"
 * import { Effect, Layer, Stream } from "effect"
 *
 * const store = RunStore.layerFileSystem({ directory: ".runs" }).pipe(Layer.provide(NodeFileSystem.layer))
 *
 * // everything after event 4 of run "order-7", then live until the run completes or fails
 * const tail = RunEvents.stream("order-7", { after: 4 }).pipe(
 *   Stream.runForEach((event) => Effect.log(event._tag)),
 *   Effect.provide(store)
 * )
 * ```
 *
 * @since 0.1.0
 */
import { Context, Data, Duration, Effect, Queue, Stream } from "effect"
import { dual } from "effect/Function"
import * as AgentEvent from "../agent/AgentEvent.ts"
import * as RetryPolicy from "../harness/RetryPolicy.ts"
import * as Durable from "./Durable.ts"
import type * as Journal from "./Journal.ts"
import { RunStore, type Entry, type Record, type RunStatus, type Service as RunStoreService } from "./RunStore.ts"

// -----------------------------------------------------------------------------
// Events
// -----------------------------------------------------------------------------

/**
 * A tool call of a model step.
 *
 * @since 0.1.0
 */
export interface ToolCall {
  readonly id: string
  readonly name: string
  readonly params: unknown
}

/**
 * The events of a run. Recorded ones carry their journal `sequence`; live
 * ones carry `after`, the sequence of the last recorded event before them.
 *
 * @since 0.1.0
 */
export type RunEvent = Data.TaggedEnum<{
  /**
   * The run's status changed: `running` when a process starts or resumes it, then `completed` or `failed`, or
   * `paused` when it waits for decisions from outside (an agent's approvals).
   */
  Status: { readonly sequence: number; readonly status: RunStatus; readonly detail: string | undefined }
  /** A model step completed: its whole text and the tool calls it asks for. */
  ModelStep: {
    readonly sequence: number
    readonly name: string
    readonly text: string
    readonly toolCalls: ReadonlyArray<ToolCall>
    readonly finishReason: string | undefined
  }
  /** A tool that is not idempotent is about to run. */
  ToolStarted: { readonly sequence: number; readonly name: string; readonly request: unknown }
  /** A tool returned: its result as the model sees it; `outcome: "unknown"` when it was never known. */
  ToolStep: {
    readonly sequence: number
    readonly name: string
    readonly request: unknown
    readonly isFailure: boolean
    readonly result: unknown
    readonly outcome: "unknown" | undefined
  }
  /** An input from outside the run, a compaction of its history, or the run's pause for approvals. */
  Step: {
    readonly sequence: number
    readonly kind: "input" | "compaction" | "pause"
    readonly name: string
    readonly request: unknown
    readonly result: unknown
  }
  /** Live: text of the model step in progress. */
  TextDelta: { readonly after: number; readonly text: string }
  /** Live: to a reader that joined mid-step, the text of the step in progress so far. */
  TextSoFar: { readonly after: number; readonly text: string }
  /** Live: the step in progress is retried; its text so far is discarded. */
  TextDiscarded: { readonly after: number }
  /** Live: a retry is scheduled after a recoverable error. */
  RetryScheduled: {
    readonly after: number
    readonly harness: string
    readonly attempt: number
    readonly delayMillis: number
    readonly error: string
    readonly message: string
  }
}>

/**
 * Constructors and matchers of the events.
 *
 * @since 0.1.0
 */
export const {
  $is,
  $match,
  ModelStep,
  RetryScheduled,
  Status,
  Step,
  TextDelta,
  TextDiscarded,
  TextSoFar,
  ToolStarted,
  ToolStep
} = Data.taggedEnum<RunEvent>()

/**
 * A live event, as the publisher builds it (without `after`).
 *
 * @since 0.1.0
 */
export type LiveEvent = Exclude<RunEvent, { readonly sequence: number }>

/**
 * Whether an event is recorded (it has a `sequence`).
 *
 * @since 0.1.0
 */
export const isRecorded = (event: RunEvent): event is Extract<RunEvent, { readonly sequence: number }> =>
  "sequence" in event

/**
 * The sequence to resume after this event: its own, or for a live event the
 * last recorded one before it (the `id` of a server-sent event).
 *
 * @since 0.1.0
 */
export const position = (event: RunEvent): number => "sequence" in event ? event.sequence : event.after

const isObject = (u: unknown): u is { readonly [key: string]: unknown } => typeof u === "object" && u !== null

/**
 * The event of a journal entry.
 *
 * @since 0.1.0
 */
export const fromRecord = (sequence: number, entry: Entry): RunEvent => {
  switch (entry._tag) {
    case "Status":
      return Status({ sequence, status: entry.status, detail: entry.detail })
    case "ToolStarted":
      return ToolStarted({ sequence, name: entry.name, request: entry.request })
    case "Step": {
      const result = entry.result
      switch (entry.kind) {
        case "model": {
          // an agent's step has text and tool calls; a prompt's step records its reply's text
          const text = isObject(result) && typeof result.text === "string" ? result.text : typeof result === "string" ? result : ""
          const calls = isObject(result) && Array.isArray(result.toolCalls) ? result.toolCalls as ReadonlyArray<ToolCall> : []
          const finishReason = isObject(result) && typeof result.finishReason === "string" ? result.finishReason : undefined
          return ModelStep({ sequence, name: entry.name, text, toolCalls: calls, finishReason })
        }
        case "tool": {
          const shaped = isObject(result) && typeof result.isFailure === "boolean"
          return ToolStep({
            sequence,
            name: entry.name,
            request: entry.request,
            isFailure: shaped ? result.isFailure as boolean : false,
            result: shaped ? result.result : result,
            outcome: entry.outcome
          })
        }
        default:
          return Step({ sequence, kind: entry.kind, name: entry.name, request: entry.request, result })
      }
    }
  }
}

const isFinal = (entry: Entry) => entry._tag === "Status" && entry.status !== "running"

// -----------------------------------------------------------------------------
// The runs live in this process
// -----------------------------------------------------------------------------

type Item =
  | { readonly _tag: "Recorded"; readonly sequence: number; readonly entry: Entry }
  | { readonly _tag: "Live"; readonly event: LiveEvent }
  | { readonly _tag: "Closed" }

interface LiveRun {
  /** The sequence of the run's last entry (-1: none). */
  last: number
  /** The text of the model step in progress. */
  text: string
  readonly readers: Set<Queue.Queue<Item>>
}

/**
 * The runs this process runs with {@link run}, and their readers: a registry
 * per process (the default), or one of your own.
 *
 * @since 0.1.0
 */
export interface Registry {
  readonly runs: Map<string, LiveRun>
}

/**
 * The registry of live runs; the default is one for the whole process.
 *
 * @since 0.1.0
 */
export const Live = Context.Reference<Registry>("@effect-harness/core/RunEvents/Live", {
  defaultValue: () => ({ runs: new Map() })
})

const publish = (live: LiveRun, item: Item) => {
  for (const reader of live.readers) Queue.offerUnsafe(reader, item)
}

const withAfter = (event: LiveEvent, after: number): RunEvent => ({ ...event, after }) as RunEvent

/** Keeps the text of the step in progress, for readers that join mid-step. */
const track = (live: LiveRun, event: LiveEvent) => {
  if (event._tag === "TextDelta") live.text += event.text
  else if (event._tag === "TextDiscarded") live.text = ""
}

/** The live events of the agent events (the recorded ones come from the journal). */
const liveOf = (event: AgentEvent.AgentEvent): LiveEvent | undefined => {
  switch (event._tag) {
    case "TextDelta":
      return event.delta.length === 0 ? undefined : TextDelta({ after: -1, text: event.delta })
    case "StreamRestarted":
      return TextDiscarded({ after: -1 })
    default:
      return undefined
  }
}

/**
 * Options of {@link run}.
 *
 * @since 0.1.0
 */
export interface RunOptions extends Durable.RunOptions {}

/**
 * `Durable.run` that also publishes the run's events to the readers of this
 * process ({@link stream}): its recorded events as the journal records them,
 * and its live events (text deltas, retries) as they happen. The run's
 * agents report events (a `Sink` listens) even when no reader is connected
 * yet, since one may join at any time.
 *
 * @example
 * ```ts
 * import { RunEvents, RunStore } from "@effect-harness/core"
 * import { Effect } from "effect"
 *
 * declare const triage: Effect.Effect<string>
 *
 * const program = triage.pipe(RunEvents.run("ticket-42"), Effect.provide(RunStore.layerMemory))
 * ```
 *
 * @since 0.1.0
 */
export const run: {
  (runId: string, options?: RunOptions): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | Journal.JournalMismatch | Journal.JournalError, R | RunStore>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    runId: string,
    options?: RunOptions
  ): Effect.Effect<A, E | Journal.JournalMismatch | Journal.JournalError, R | RunStore>
} = dual((args) => Effect.isEffect(args[0]), <A, E, R>(self: Effect.Effect<A, E, R>, runId: string, options?: RunOptions) =>
  Effect.gen(function*() {
    const registry = yield* Live
    const store = yield* RunStore
    const outerSink = yield* AgentEvent.Sink
    const onRetry = yield* RetryPolicy.OnRetry
    let live: LiveRun | undefined
    const emit = (event: LiveEvent) =>
      Effect.sync(() => {
        if (live === undefined) return
        track(live, event)
        publish(live, { _tag: "Live", event })
      })
    // Durable.run reads the journal once, then appends: the run becomes visible to readers with what it read,
    // and each append reaches them in the journal's order (appends are serialized by the journal).
    const published: RunStoreService = {
      ...store,
      read: (id) =>
        Effect.tap(store.read(id), (records) =>
          Effect.sync(() => {
            if (id !== runId || live !== undefined) return
            live = { last: records.length - 1, text: "", readers: new Set() }
            registry.runs.get(runId)?.readers.forEach((reader) => Queue.offerUnsafe(reader, { _tag: "Closed" }))
            registry.runs.set(runId, live)
          })),
      append: (id, sequence, entry) =>
        Effect.tap(store.append(id, sequence, entry), () =>
          Effect.sync(() => {
            if (id !== runId || live === undefined) return
            live.last = sequence
            if (entry._tag === "Step" && entry.kind === "model") live.text = ""
            publish(live, { _tag: "Recorded", sequence, entry })
          }))
    }
    const close = Effect.sync(() => {
      if (live === undefined) return
      publish(live, { _tag: "Closed" })
      if (registry.runs.get(runId) === live) registry.runs.delete(runId)
    })
    const sink = (event: AgentEvent.AgentEvent) => {
      const mapped = liveOf(event)
      const own = mapped === undefined ? Effect.void : emit(mapped)
      return outerSink === undefined ? own : Effect.andThen(own, outerSink(event))
    }
    return yield* Durable.run(self, runId, options).pipe(
      Effect.provideService(AgentEvent.Sink, sink),
      Effect.provideService(RetryPolicy.OnRetry, (retry) =>
        Effect.andThen(
          onRetry(retry),
          emit(RetryScheduled({
            after: -1,
            harness: retry.harness,
            attempt: retry.attempt,
            delayMillis: Duration.toMillis(retry.delay),
            error: retry.error._tag,
            message: retry.error.message
          }))
        )),
      Effect.provideService(RunStore, published),
      Effect.ensuring(close)
    )
  }))

// -----------------------------------------------------------------------------
// Reading
// -----------------------------------------------------------------------------

/**
 * Options of {@link stream}.
 *
 * @since 0.1.0
 */
export interface StreamOptions {
  /** Read the events after this sequence (default: from the start, -1). */
  readonly after?: number | undefined
  /**
   * How often to read the store for a run that is not live in this process
   * (default 250 milliseconds; with PostgreSQL, NOTIFY wakes the reader
   * sooner, and the poll is a safety net).
   */
  readonly pollInterval?: Duration.Input | undefined
}

/**
 * The events of run `runId` after sequence `after`: those the store holds,
 * then live while the run goes on, wherever it runs, each recorded event
 * once and in order. The stream ends after the run's `completed`, `failed`
 * or `paused` status (a resumed run is read again from the pause's sequence
 * on); it fails with the store's `JournalError`. For a run that has not
 * started, it waits for it.
 *
 * From a run live in this process ({@link run}), live events too: the text
 * deltas of the step in progress (first, to a reader that joins mid-step,
 * the step's text so far as one `TextSoFar`), discarded texts and retries.
 *
 * @example
 * ```ts
 * import { RunEvents } from "@effect-harness/core"
 * import { Stream } from "effect"
 *
 * // resume a client that saw event 12 (the id of its last server-sent event)
 * const resumed = RunEvents.stream("ticket-42", { after: 12 }).pipe(
 *   Stream.filter(RunEvents.isRecorded),
 *   Stream.runCollect
 * )
 * ```
 *
 * @since 0.1.0
 */
export const stream = (runId: string, options?: StreamOptions): Stream.Stream<RunEvent, Journal.JournalError, RunStore> =>
  Stream.callback<RunEvent, Journal.JournalError, RunStore>((out) =>
    Effect.gen(function*() {
      const store = yield* RunStore
      const registry = yield* Live
      const poll = Duration.fromInputUnsafe(options?.pollInterval ?? "250 millis")
      let after = options?.after ?? -1
      let ended = false
      const emit = (event: RunEvent) => Queue.offerUnsafe(out, event)
      // `last`: no entry follows it yet (a failed or paused run resumed later goes on after its status)
      const emitRecord = (sequence: number, entry: Entry, last = true) => {
        emit(fromRecord(sequence, entry))
        after = sequence
        if (last && isFinal(entry)) ended = true
      }
      const emitStored = (records: ReadonlyArray<Record>, upTo: number) => {
        for (let i = 0; i < records.length; i++) {
          const record = records[i]!
          if (ended || record.sequence > upTo) break
          if (record.sequence > after) emitRecord(record.sequence, record.entry, i === records.length - 1)
        }
        // a reader that already saw the run end
        const last = records[records.length - 1]
        if (last !== undefined && last.sequence <= Math.min(after, upTo) && isFinal(last.entry)) ended = true
      }
      // with PostgreSQL: listening before each read, so no append between the read and the wait is missed
      const wake = store.watch === undefined ? undefined : yield* store.watch(runId)

      while (!ended) {
        const live = registry.runs.get(runId)
        if (live !== undefined) {
          // Live in this process: subscribe, catch up from the store up to where the run was when we
          // subscribed, give the step's text so far, then follow the run in its own order.
          const reader = yield* Queue.unbounded<Item>()
          live.readers.add(reader)
          const joinedAt = live.last
          const text = live.text
          yield* Effect.gen(function*() {
            emitStored(yield* store.read(runId), joinedAt)
            if (ended) return
            if (after === joinedAt && text.length > 0) emit(TextSoFar({ after, text }))
            while (!ended) {
              const item = yield* Queue.take(reader)
              if (item._tag === "Closed") return
              if (item._tag === "Live") {
                if (after >= joinedAt) emit(withAfter(item.event, after))
              } else if (item.sequence > after) {
                if (item.sequence > after + 1) emitStored(yield* store.read(runId), item.sequence - 1)
                emitRecord(item.sequence, item.entry)
              }
            }
          }).pipe(Effect.ensuring(Effect.sync(() => live.readers.delete(reader))))
          continue
        }
        const records = yield* store.read(runId)
        emitStored(records, Number.MAX_SAFE_INTEGER)
        if (ended || registry.runs.has(runId)) continue
        yield* wake === undefined ? Effect.sleep(poll) : Effect.raceFirst(wake, Effect.sleep(poll))
      }
      yield* Queue.end(out)
    })
  )
