/**
 * Durable runs: run any harness, agent or effect under a run id, with every
 * model call, tool call and input recorded in the `RunStore` journal as it
 * completes. Run it again with the same id after a crash and the recorded
 * results are returned in order, without calling the model or the tool
 * again; the run continues live from the first step that was not recorded.
 * Because the run's code rebuilds its conversation and usage from those
 * results, a resumed run ends with the same history, budget and cost as one
 * that never stopped.
 *
 * Semantics:
 * - a non-idempotent tool call that had started but whose result was not
 *   recorded is never run again: the step returns its `unknownOutcome` (the
 *   agent tells the model the outcome is unknown) or fails with
 *   `JournalError` `reason: "unknown-outcome"`; an idempotent tool is re-run;
 * - code that now asks, at some step, for something other than the journal
 *   holds fails with `JournalMismatch` naming the step and both sides, and
 *   nothing is written;
 * - a run is live in one process at a time: its first live step claims the
 *   run's lease, renewed while the run goes on and given up when it ends. A
 *   process resuming a run that is live elsewhere fails at once with
 *   `JournalError` `reason: "conflict"` carrying the holder's `lease` (or
 *   waits for it, with `ifLive: "wait"`); an expired lease, or one whose
 *   holder is known dead, is taken over. Of two processes resuming the same
 *   run together, exactly one proceeds; the other fails with
 *   `reason: "conflict"` before doing any live work;
 * - a result recorded in an older encoding `version` is read through the
 *   step's `migrate`, or refused with `reason: "version"`, never misread;
 * - an agent that pauses for approvals records the pause (status `paused`):
 *   `Durable.run(agent.resume(paused, decisions), sameRunId)`, in this
 *   process or another one, continues the run from the pause, and the
 *   decisions it records are the run's from then on.
 *
 * Errors of a step are not recorded: a failed step runs again on resume. A
 * failure the run continues after (a tool error shown to the model) must be
 * part of the step's result.
 *
 * @example
 * ```ts
 * import { Durable, Journal, RunStore } from "@effect-harness/core"
 * import { Effect, Schema } from "effect"
 *
 * const charge = (orderId: string) =>
 *   Journal.step(
 *     { kind: "tool", name: "charge", request: { orderId } },
 *     Schema.String,
 *     Effect.succeed(`receipt for ${orderId}`)
 *   )
 *
 * const program = Durable.run(charge("order-7"), "order-7").pipe(Effect.provide(RunStore.layerMemory))
 * ```
 *
 * @since 0.1.0
 */
import { Cause, Duration, Effect, Exit } from "effect"
import { dual } from "effect/Function"
import { type Harness, make as makeHarness } from "../harness/internal/harness.ts"
import * as DurableJournal from "./internal/durableJournal.ts"
import * as Owner from "./internal/runOwner.ts"
import * as Journal from "./Journal.ts"
import { RunStore } from "./RunStore.ts"

const failureDetail = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return text.length > 500 ? `${text.slice(0, 500)}…` : text
}

// an agent waiting for approvals (its Paused, matched by tag: the agent module depends on this one)
const isPause = (cause: Cause.Cause<unknown>): boolean =>
  cause.reasons.some((reason) =>
    reason._tag === "Fail" && typeof reason.error === "object" && reason.error !== null &&
    "_tag" in reason.error && reason.error._tag === "Paused"
  )

const ownsNothing = (cause: Cause.Cause<unknown>): boolean =>
  Cause.hasInterruptsOnly(cause) ||
  cause.reasons.some((reason) =>
    reason._tag === "Fail" && typeof reason.error === "object" && reason.error !== null &&
    (("_tag" in reason.error && reason.error._tag === "JournalMismatch") ||
      (reason.error instanceof Journal.JournalError && reason.error.reason === "conflict"))
  )

/**
 * Options of a durable run.
 *
 * @since 0.1.0
 */
export interface RunOptions {
  /**
   * What to do when the run is live in another process (it holds the run's
   * fresh lease): `"fail"` at once with `JournalError` `reason: "conflict"`
   * and the holder's `lease` (the default), or `"wait"` until it ends or its
   * lease expires, then go on.
   */
  readonly ifLive?: "fail" | "wait" | undefined
  /**
   * How long the run's lease lasts without renewal (default 30 seconds). It
   * is renewed every third of that while the run goes on, so a process that
   * dies leaves the run to others after at most this long (at once for a
   * process of the same PID namespace on the same machine).
   */
  readonly lease?: Duration.Input | undefined
}

const DEFAULT_LEASE = Duration.seconds(30)

const isEffect = (u: unknown): boolean => Effect.isEffect(u)

/**
 * Runs `self` as the durable run `runId` against the `RunStore` in the
 * context: a new run starts, an existing one resumes (a completed one replays
 * to its result without calling anything). The run's status is recorded:
 * `running` when this process claims it, then `completed` or `failed`.
 *
 * @example
 * ```ts
 * import { Durable, Harness, RunStore } from "@effect-harness/core"
 * import { NodeFileSystem } from "@effect/platform-node"
 * import { Effect, Layer, Schema } from "effect"
 *
 * const answer = Harness.prompt({ name: "answer", output: Schema.String, render: (q: string) => q })
 * const store = RunStore.layerFileSystem({ directory: ".runs" }).pipe(Layer.provide(NodeFileSystem.layer))
 *
 * // Run it again with the same id after a crash: it picks up where it stopped.
 * const program = Harness.run(answer, "What is a journal?").pipe(Durable.run("question-42"), Effect.provide(store))
 *
 * // A queue consumer that may get a message again while its run is still live elsewhere: wait for it.
 * const redelivered = Harness.run(answer, "What is a journal?").pipe(
 *   Durable.run("question-42", { ifLive: "wait" }),
 *   Effect.provide(store)
 * )
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
} = dual((args) => isEffect(args[0]), <A, E, R>(self: Effect.Effect<A, E, R>, runId: string, options?: RunOptions) =>
  Effect.gen(function*() {
    const store = yield* RunStore
    const owner = Owner.make()
    const wait = options?.ifLive === "wait"
    const ttl = options?.lease === undefined ? DEFAULT_LEASE : Duration.fromInputUnsafe(options.lease)
    return yield* Effect.gen(function*() {
      // a run live elsewhere: fail before replaying anything (or wait for it)
      if (wait) yield* DurableJournal.waitWhileLive(store.liveLease(runId, owner))
      else {
        const live = yield* store.liveLease(runId, owner)
        if (live !== undefined) return yield* Owner.liveElsewhere(runId, live)
      }
      const records = yield* store.read(runId)
      const durable = DurableJournal.make(store, runId, records, { owner, ttl, wait })
      return yield* Effect.ensuring(
        Effect.gen(function*() {
          const exit = yield* Effect.exit(Effect.provideService(self, Journal.Journal, durable.journal))
          if (Exit.isSuccess(exit)) {
            const left = durable.unconsumed()
            if (left !== undefined) {
              return yield* new Journal.JournalMismatch({
                runId,
                sequence: left.sequence,
                expected: left.describe,
                actual: "the end of the run (the code asked for no more steps)"
              })
            }
            const last = records[records.length - 1]?.entry
            const completed = !durable.wrote() && last?._tag === "Status" && last.status === "completed"
            if (!completed) yield* durable.status("completed")
            return exit.value
          }
          if (durable.wrote() && !ownsNothing(exit.cause)) {
            yield* Effect.ignore(
              isPause(exit.cause)
                ? durable.status("paused", failureDetail(exit.cause))
                : durable.status("failed", failureDetail(exit.cause))
            )
          }
          return yield* exit
        }),
        durable.close
      )
    }).pipe(Effect.ensuring(Effect.sync(() => Owner.end(owner))))
  }).pipe(Effect.withSpan("Durable.run", { attributes: { runId } })))

/**
 * Makes a harness durable: each run is the durable run whose id `runId`
 * computes from the input.
 *
 * @example
 * ```ts
 * import { Durable, Harness } from "@effect-harness/core"
 * import { Schema } from "effect"
 *
 * const triage = Harness.prompt({
 *   name: "triage",
 *   output: Schema.Literals(["bug", "question"]),
 *   render: (ticket: { readonly id: string; readonly text: string }) => ticket.text
 * })
 *
 * const durableTriage = Durable.harness(triage, (ticket) => `triage-${ticket.id}`)
 * ```
 *
 * @since 0.1.0
 */
export const harness = <In, Out, E, R>(
  self: Harness<In, Out, E, R>,
  runId: (input: In) => string
): Harness<In, Out, E | Journal.JournalMismatch | Journal.JournalError, R | RunStore> =>
  makeHarness(self.name, (input: In) => run(self.run(input), runId(input)))
