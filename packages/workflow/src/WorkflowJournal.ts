/**
 * A `Journal` whose steps are effect workflow activities: any harness or agent
 * whose model and tool calls go through `Journal.step` runs, inside a workflow
 * body, with each step recorded by the workflow engine (in memory, or in
 * PostgreSQL through the cluster engine) and replayed when the body runs
 * again, on this worker or another one.
 *
 * Each step is an `Activity` with a deterministic name:
 * - a model step: `<agent name>/model/<step number>`;
 * - a tool step: `tool/<tool name>/<tool call id>`;
 * - any other step: `<kind>/<name>`; a name asked for again in the same run
 *   (the retried model call after a context overflow) gets `#2`, `#3`, ...
 *
 * The contract is `Durable.run`'s:
 * - a completed step never runs again: its recorded result is returned;
 * - a tool that is not idempotent records that it started (an activity
 *   `<name>/started`) before it runs. The engine runs again an activity that
 *   was in flight when its worker died; found started by an earlier run and
 *   without a result, the tool is not run again: the step returns the step's
 *   `unknownOutcome` (the agent tells the model the outcome is unknown), or
 *   fails with `JournalError` `reason: "unknown-outcome"`. An idempotent tool
 *   is simply run again;
 * - a recorded step whose request differs from the one the code asks for now
 *   fails with `JournalMismatch`, and nothing is written. A step under a name
 *   the history does not hold runs live (the engine keys results by name);
 * - the error of a failed step is given to the run that saw it; the engine
 *   records only that the step failed, so a replay runs the step again (as
 *   `Durable` runs failed steps again), under a new name (`/retry-<n>`).
 *
 * A step that failed because the provider asked to be called again later
 * than the retry policy waits in process (a `RateLimited` with `retryAfter`,
 * alone or as the `last` of `RetriesExhausted`) is not failed: the run sleeps
 * on effect's `DurableClock` for that `retryAfter` (no process waits; the
 * engine wakes the run, on any worker), then calls again, up to
 * `maxRateLimitWaits` times (default 5) before the failure is the step's.
 *
 * Input steps (`kind: "input"`, the agent's approval decisions) run in the
 * workflow body, not as activities: their source must itself be durable, as
 * the `DurableDeferred` of `AgentWorkflow`'s approvals is.
 *
 * @since 0.1.0
 */
import { HarnessError, Journal } from "@effect-harness/core"
import { Cause, Duration, Effect, Schema } from "effect"
import { Activity, DurableClock, WorkflowEngine } from "effect/workflow"
import { canonicalJson, preview } from "./internal/json.ts"

/**
 * What an activity records for a step: the request it answered (canonical
 * JSON), the encoding version and the encoded result, or that the step failed
 * or its outcome is unknown.
 *
 * @since 0.1.0
 */
export const Recorded = Schema.Struct({
  request: Schema.String,
  version: Schema.Int,
  result: Schema.optional(Schema.Unknown),
  outcome: Schema.optional(Schema.Literals(["failed", "unknown"])),
  detail: Schema.optional(Schema.String),
  /** A failed step's provider asked to be called again after this many milliseconds. */
  retryAfterMs: Schema.optional(Schema.Number)
})

/**
 * @since 0.1.0
 */
export type Recorded = typeof Recorded.Type

const describe = (step: Journal.Step, request: string) => `${step.kind} step "${step.name}" with request ${preview(request)}`

const baseName = (step: Journal.Step): string => {
  const request = step.request as { readonly step?: unknown; readonly id?: unknown } | null
  if (step.kind === "model" && typeof request?.step === "number") return `${step.name}/model/${request.step}`
  if (step.kind === "tool" && typeof request?.id === "string") return `tool/${step.name}/${request.id}`
  return `${step.kind}/${step.name}`
}

// The wait a rate-limited provider asked for, when the step failed on it.
const retryAfterOf = (cause: Cause.Cause<unknown>): Duration.Duration | undefined => {
  for (const reason of cause.reasons) {
    if (reason._tag !== "Fail") continue
    const error = reason.error as { readonly _tag?: unknown; readonly last?: unknown }
    const limited = error?._tag === "RetriesExhausted" ? error.last : error
    const wait = HarnessError.retryAfter(limited)
    if (wait !== undefined) return wait
  }
  return undefined
}

const detailOf = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return text.length > 500 ? `${text.slice(0, 500)}…` : text
}

/**
 * Options of {@link makeWith}.
 *
 * @since 0.1.0
 */
export interface Options {
  /**
   * How many times a step may sleep durably for a rate-limited provider's
   * `retryAfter` before its failure is the step's (default 5).
   */
  readonly maxRateLimitWaits?: number | undefined
}

/**
 * Makes the journal of one run of a workflow body (a replay makes a new one).
 * Provide it as the `Journal` of the harness or agent the body runs.
 *
 * @example
 * ```ts
 * import { Agent, Journal } from "@effect-harness/core"
 * import { WorkflowJournal } from "@effect-harness/workflow"
 * import { Effect, Schema } from "effect"
 * import { Workflow } from "effect/workflow"
 *
 * declare const agent: Agent.Agent<string, string, never>
 *
 * const Answer = Workflow.make("Answer", {
 *   payload: { question: Schema.String },
 *   success: Schema.String,
 *   error: Schema.Unknown,
 *   idempotencyKey: ({ question }) => question
 * })
 *
 * const AnswerLive = Answer.toLayer(({ question }) =>
 *   Effect.flatMap(WorkflowJournal.make, (journal) =>
 *     Agent.run(agent, question).pipe(Effect.provideService(Journal.Journal, journal))))
 * ```
 *
 * @since 0.1.0
 */
export const make: Effect.Effect<
  Journal.Service,
  never,
  WorkflowEngine.WorkflowEngine | WorkflowEngine.WorkflowInstance
> = Effect.suspend(() => makeWith())

/**
 * {@link make} with options.
 *
 * @since 0.1.0
 */
export const makeWith = (options?: Options): Effect.Effect<
  Journal.Service,
  never,
  WorkflowEngine.WorkflowEngine | WorkflowEngine.WorkflowInstance
> => Effect.gen(function*() {
  const maxWaits = options?.maxRateLimitWaits ?? 5
  const engine = yield* WorkflowEngine.WorkflowEngine
  const instance = yield* WorkflowEngine.WorkflowInstance
  const occurrences = new Map<string, number>()
  let sequence = 0

  const inWorkflow = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    effect.pipe(
      Effect.provideService(WorkflowEngine.WorkflowInstance, instance),
      Effect.provideService(WorkflowEngine.WorkflowEngine, engine)
    ) as Effect.Effect<A, E, Exclude<R, WorkflowEngine.WorkflowEngine | WorkflowEngine.WorkflowInstance>>

  const step = <A, E, R>(
    step: Journal.Step,
    codec: Schema.Codec<A, any>,
    run: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | Journal.JournalMismatch | Journal.JournalError, R> =>
    Effect.suspend(() => {
      if (step.kind === "input") return run
      const at = ++sequence
      const base = baseName(step)
      const count = (occurrences.get(base) ?? 0) + 1
      occurrences.set(base, count)
      const name = count === 1 ? base : `${base}#${count}`
      const request = canonicalJson(step.request)
      const version = step.version ?? 1
      const recordStart = step.kind === "tool" && step.idempotent !== true
      const runId = instance.executionId

      const fail = (reason: Journal.JournalError["reason"], detail: string) =>
        Effect.fail(new Journal.JournalError({ runId, reason, sequence: at, detail }))

      const decode = (recorded: Recorded, encoded: unknown): Effect.Effect<A, Journal.JournalError> => {
        let value = encoded
        if (recorded.version !== version) {
          if (recorded.version > version || step.migrate === undefined) {
            return fail(
              "version",
              `${describe(step, request)} was recorded in encoding version ${recorded.version}, the code reads ` +
                `version ${version}`
            )
          }
          try {
            value = step.migrate(value, recorded.version)
          } catch (error) {
            return fail("version", `migrating ${describe(step, request)} failed: ${String(error)}`)
          }
        }
        return Effect.mapError(
          Schema.decodeUnknownEffect(codec)(value) as Effect.Effect<A, Schema.SchemaError>,
          (error) =>
            new Journal.JournalError({
              runId,
              reason: "version",
              sequence: at,
              detail: `the recorded result of ${describe(step, request)} does not decode: ${error.message}`
            })
        )
      }

      return inWorkflow(Effect.gen(function*() {
        // set when this run records the start itself: a start found recorded
        // means an earlier run began the tool and never recorded its result
        let startedHere = false
        if (recordStart) {
          yield* Activity.make({
            name: `${name}/started`,
            execute: Effect.sync(() => {
              startedHere = true
            })
          })
        }
        for (let attempt = 0;; attempt++) {
          let failure: Cause.Cause<E> | undefined
          let entered = false
          const execute: Effect.Effect<Recorded, Journal.JournalError, R> = Effect.suspend(() => {
            if (recordStart && (!startedHere || entered)) {
              return Effect.succeed<Recorded>(
                step.unknownOutcome === undefined
                  ? { request, version, outcome: "unknown" }
                  : { request, version, outcome: "unknown", result: step.unknownOutcome }
              )
            }
            entered = true
            return Effect.provideService(run, Journal.Journal, Journal.passthrough).pipe(
              Effect.matchCauseEffect({
                onSuccess: (value) =>
                  Effect.mapError(
                    Schema.encodeUnknownEffect(codec)(value) as Effect.Effect<unknown, Schema.SchemaError>,
                    (error) =>
                      new Journal.JournalError({
                        runId,
                        reason: "store",
                        sequence: at,
                        detail: `the result of ${describe(step, request)} does not encode: ${error.message}`
                      })
                  ).pipe(Effect.map((result): Recorded => ({ request, version, result }))),
                onFailure: (cause) => {
                  // an interrupted step is not a result: the engine runs it again
                  if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
                  failure = cause
                  const wait = retryAfterOf(cause)
                  return Effect.succeed<Recorded>({
                    request,
                    version,
                    outcome: "failed",
                    detail: detailOf(cause),
                    ...(wait === undefined ? {} : { retryAfterMs: Duration.toMillis(wait) })
                  })
                }
              })
            )
          })
          const recorded: Recorded = yield* Activity.make({
            name: attempt === 0 ? name : `${name}/retry-${attempt}`,
            success: Recorded,
            error: Journal.JournalError,
            execute
          })
          if (recorded.request !== request) {
            return yield* new Journal.JournalMismatch({
              runId,
              sequence: at,
              expected: `${step.kind} step "${name}" with request ${preview(recorded.request)}`,
              actual: describe(step, request)
            })
          }
          if (recorded.outcome === "failed") {
            // the provider asked for a longer wait than the policy holds a
            // process for: sleep durably (the same name on replay), call again
            if (recorded.retryAfterMs !== undefined && attempt < maxWaits) {
              yield* DurableClock.sleep({
                name: `${name}/wait-${attempt + 1}`,
                duration: Duration.millis(recorded.retryAfterMs),
                inMemoryThreshold: Duration.zero
              })
              continue
            }
            if (failure !== undefined) return yield* Effect.failCause(failure)
            // failed in an earlier run: run it again, as Durable does
            continue
          }
          if (recorded.outcome === "unknown") {
            if (recorded.result === undefined) {
              return yield* fail(
                "unknown-outcome",
                `${describe(step, request)} started before the run stopped and its result was never recorded; it ` +
                  `is not idempotent, so it was not run again, and the step gives no unknownOutcome`
              )
            }
            return yield* decode({ ...recorded, version }, recorded.result)
          }
          return yield* decode(recorded, recorded.result)
        }
      }))
    })

  return { step, durable: true } satisfies Journal.Service
})

/**
 * Runs `self` (inside a workflow body) with this module's journal.
 *
 * @since 0.1.0
 */
export const provide = <A, E, R>(
  self: Effect.Effect<A, E, R>
): Effect.Effect<
  A,
  E,
  R | WorkflowEngine.WorkflowEngine | WorkflowEngine.WorkflowInstance
> => Effect.flatMap(make, (journal) => Effect.provideService(self, Journal.Journal, journal))

/**
 * The activity names a step is recorded under (for operators reading the
 * engine's storage).
 *
 * @since 0.1.0
 */
export const activityName = (step: Journal.Step): string => baseName(step)
