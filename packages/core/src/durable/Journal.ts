/**
 * The journal hook: every model call and tool call that a harness or an agent
 * makes goes through `Journal.step`. By default a step simply runs. A durable
 * run (see `Durable`) provides a journal that records each completed step and,
 * on resume, returns the recorded result instead of running the step again.
 *
 * Keeping the hook in core lets harnesses stay unaware of persistence: they
 * name their steps, and whoever provides the journal decides what happens.
 *
 * @since 0.1.0
 */
import { Context, Effect, Schema } from "effect"

/**
 * A step as the journal sees it.
 *
 * @since 0.1.0
 */
export interface Step {
  /**
   * What the step is: a model call, a tool call, an input from outside the
   * run (a user message, an approval), a compaction of the history, or a
   * pause: the run stopped to wait for input from outside (an agent's
   * approvals). Code that continues a paused run (`agent.resume`) asks for
   * the same pause step first, before any other step; found recorded, it
   * stands for every step recorded before it, so the continuation replays
   * from the pause on instead of from the start. A pause step the code never asks for again
   * (the run re-run with an approver) is not a mismatch.
   */
  readonly kind: "model" | "tool" | "input" | "compaction" | "pause"
  /** The harness, the tool or the input source it belongs to. */
  readonly name: string
  /**
   * What the step asks for, as JSON-compatible data (the prompt's new
   * messages, the tool's call id and parameters). On resume it is compared
   * with what the journal holds: a difference is a `JournalMismatch`.
   */
  readonly request: unknown
  /** A tool that can safely run twice (re-run when its result was never recorded). */
  readonly idempotent?: boolean | undefined
  /**
   * The version of the result's encoding (default 1). Bump it when `codec`
   * changes: a result recorded under another version is read through
   * `migrate`, or refused with `JournalError` `reason: "version"`.
   */
  readonly version?: number | undefined
  /**
   * Turns a result recorded (encoded) by an older `version` into the current
   * encoding, which `codec` then decodes.
   */
  readonly migrate?: ((encoded: unknown, version: number) => unknown) | undefined
  /**
   * For a tool that is not idempotent: the result (as `codec` encodes it) to
   * return when the tool had started before the run stopped and its result
   * was never recorded, so its outcome is unknown. Typically a failed tool
   * result carrying {@link unknownOutcomeMessage}, so the model is told. The
   * tool is never run twice; without this field the step fails with
   * `JournalError` `reason: "unknown-outcome"`.
   */
  readonly unknownOutcome?: unknown
}

/**
 * What to tell a model about a tool call whose outcome is unknown: it had
 * started before the run stopped, its result was never recorded, and it is
 * not idempotent, so it was not run again.
 *
 * @since 0.1.0
 */
export const unknownOutcomeMessage = (name: string): string =>
  `The outcome of this ${name} call is unknown: the run stopped while it was running and it was not run again ` +
  `(it is not idempotent). Check its effect before calling it again.`

/**
 * The code asked, at step `sequence`, for something other than the journal
 * holds (the code changed between a crash and its resume). Fatal: the journal
 * is left untouched.
 *
 * @since 0.1.0
 */
export class JournalMismatch extends Schema.TaggedError<JournalMismatch>()("JournalMismatch", {
  runId: Schema.String,
  sequence: Schema.Int,
  expected: Schema.String,
  actual: Schema.String
}) {
  override get message(): string {
    return `Run ${this.runId} step ${this.sequence}: the journal holds ${this.expected}, the code now asks for ${this.actual}`
  }
}

/**
 * The live holder of a run: who holds its lease and until when
 * (milliseconds since the epoch).
 *
 * @since 0.1.0
 */
export const Lease = Schema.Struct({
  owner: Schema.String,
  expiresAt: Schema.Number
})

/**
 * @since 0.1.0
 */
export type Lease = typeof Lease.Type

/**
 * The journal could not be read or written: another process owns the run
 * (`reason: "conflict"`; `lease` is set when the run is live elsewhere, that
 * is another process holds its fresh lease), an entry is corrupted or of a
 * version the code cannot read, a non-idempotent tool's outcome is unknown and
 * the step gave no `unknownOutcome` (`reason: "unknown-outcome"`), the run id
 * is not one a store accepts (`reason: "invalid-run-id"`), or the store failed
 * (`reason: "store"`, with the underlying error as `cause`, and its message
 * and code in `detail`). Fatal.
 *
 * @since 0.1.0
 */
export class JournalError extends Schema.TaggedError<JournalError>()("JournalError", {
  runId: Schema.String,
  reason: Schema.Literals(["conflict", "corrupted", "version", "unknown-outcome", "store", "invalid-run-id"]),
  sequence: Schema.optional(Schema.Int),
  detail: Schema.String,
  lease: Schema.optional(Lease),
  cause: Schema.optional(Schema.Defect())
}) {
  override get message(): string {
    const at = this.sequence === undefined ? "" : ` at sequence ${this.sequence}`
    return `Journal of run ${this.runId}${at}: ${this.reason}: ${this.detail}`
  }
}

/**
 * The journal service.
 *
 * @since 0.1.0
 */
export interface Service {
  /**
   * Runs a step, or returns its recorded result. `codec` encodes the result
   * to JSON for the journal and decodes it back on replay.
   */
  readonly step: <A, E, R>(
    step: Step,
    codec: Schema.Codec<A, any>,
    run: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | JournalMismatch | JournalError, R>
  /** Whether this journal records and replays steps (true inside a durable run). */
  readonly durable: boolean
}

/**
 * The journal that runs every step directly and records nothing: the
 * default. Code that builds costly step descriptions can skip them when the
 * current journal is this one.
 *
 * @since 0.1.0
 */
export const passthrough: Service = { step: (_step, _codec, run) => run, durable: false }

/**
 * The current journal; the default is {@link passthrough}.
 *
 * @since 0.1.0
 */
export const Journal = Context.Reference<Service>("@effect-harness/core/Journal", {
  defaultValue: () => passthrough
})

/**
 * Runs `run` as a journaled step of the current journal.
 *
 * @example
 * ```ts
 * import { Journal } from "@effect-harness/core"
 * import { Effect, Schema } from "effect"
 *
 * const lookup = (id: string) =>
 *   Journal.step(
 *     { kind: "tool", name: "lookup", request: { id } },
 *     Schema.String,
 *     Effect.succeed(`order ${id}`)
 *   )
 * ```
 *
 * @since 0.1.0
 */
export const step = <A, E, R>(
  step: Step,
  codec: Schema.Codec<A, any>,
  run: Effect.Effect<A, E, R>
): Effect.Effect<A, E | JournalMismatch | JournalError, R> =>
  Effect.flatMap(Effect.service(Journal), (journal) => journal.step(step, codec, run))
