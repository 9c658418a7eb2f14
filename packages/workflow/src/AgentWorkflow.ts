/**
 * An agent run as an effect `Workflow` execution: started under a run id by
 * any process, run by whichever worker holds it, its model and tool calls
 * recorded as activities (see `WorkflowJournal`), resumed by another worker
 * when its worker dies, and suspended without holding a process while a tool
 * call waits for approval.
 *
 * - `AgentWorkflow.make(agent)` defines the workflow; its `layer` registers
 *   it with the engine of the context (what a worker provides).
 * - `AgentWorkflow.run(workflow, runId, input)` starts the run, or joins it
 *   when it exists, and waits for its answer; `start` returns at once.
 * - `around` (an option of `make`) wraps each run in the workflow body: the
 *   place for what belongs to one run (a `Budget`, an event sink that knows
 *   the run id, services built from the input).
 * - A tool that needs approval (effect's `needsApproval`) suspends the run on
 *   a durable deferred named `approval/<call id>`. `approve` / `deny` /
 *   `decide` answer it by run id and call id from any process; a decision for
 *   another call than the one the run waits for is refused with
 *   {@link ApprovalRefused}. The run goes on on whichever worker holds it.
 *
 * The engine is effect's (`effect/workflow`, marked unstable upstream): this
 * module's API is the stable surface; `WorkflowEngines` gives the layers.
 * On a cluster engine, a call that cannot reach the engine's database fails
 * with `WorkflowEngines.EngineUnavailable` (after the layer's
 * `unavailableAfter` at most) instead of dying with effect's SQL error.
 *
 * @example
 * ```ts
 * import { Agent } from "@effect-harness/core"
 * import { AgentWorkflow, WorkflowEngines } from "@effect-harness/workflow"
 * import { Effect, Layer } from "effect"
 *
 * declare const agent: Agent.Agent<string, string, never>
 *
 * const Support = AgentWorkflow.make(agent)
 *
 * const program = AgentWorkflow.run(Support, "ticket-42", "My order never came").pipe(
 *   Effect.provide(Support.layer.pipe(Layer.provideMerge(WorkflowEngines.layerMemory)))
 * )
 * ```
 *
 * @since 0.1.0
 */
import { Agent, HarnessError, Journal } from "@effect-harness/core"
import { createHash } from "node:crypto"
import { Effect, Exit, type Layer, Option, Schema } from "effect"
import { Activity, DurableDeferred, Workflow, WorkflowEngine } from "effect/workflow"
import { Approvals, type Waiting } from "./Approvals.ts"
import { type EngineUnavailable, guard } from "./internal/engineDatabase.ts"
import * as WorkflowJournal from "./WorkflowJournal.ts"

/**
 * The workflow engine a run needs (effect's `WorkflowEngine` service).
 *
 * @since 0.1.0
 */
export type Engine = WorkflowEngine.WorkflowEngine

/**
 * The errors an agent run ends with, as the workflow records them.
 *
 * @since 0.1.0
 */
export const AgentError: Schema.Codec<Agent.AgentError, unknown> = Schema.Union([
  HarnessError.Fatal,
  HarnessError.InvalidOutput,
  HarnessError.OutputTruncated,
  HarnessError.ContextOverflow,
  Agent.Paused,
  Journal.JournalMismatch,
  Journal.JournalError
])

/**
 * A decision that was not recorded: the run does not wait for that call
 * (`waiting` is the call it waits for, if any).
 *
 * @since 0.1.0
 */
export class ApprovalRefused extends Schema.TaggedError<ApprovalRefused>()("ApprovalRefused", {
  runId: Schema.String,
  callId: Schema.String,
  waiting: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return this.waiting === undefined
      ? `Run ${this.runId} is not waiting for an approval (decision for ${this.callId} refused)`
      : `Run ${this.runId} is waiting for call ${this.waiting}, not ${this.callId}`
  }
}

/**
 * Where a run stands.
 *
 * @since 0.1.0
 */
export type Status<Out> =
  /** Not started, or running without a result yet. */
  | { readonly _tag: "Pending" }
  /** Waiting (for an approval, or an engine wake-up); `waiting` names the call. */
  | { readonly _tag: "Suspended"; readonly waiting: Waiting | undefined }
  | { readonly _tag: "Completed"; readonly exit: Exit.Exit<Out, Agent.AgentError> }

/**
 * An agent as a workflow.
 *
 * @since 0.1.0
 */
export interface AgentWorkflow<In, Out, R> {
  /** The workflow's name (`Agent/<agent name>` unless given). */
  readonly name: string
  /** The agent (its services are the layer's `R`, less what `around` provides). */
  readonly agent: Agent.Agent<In, Out, any>
  /**
   * Registers the workflow with the engine of the context: provide it where
   * runs execute (a worker). It needs the agent's services (model, tool
   * handlers), or what `around` needs instead, and the {@link Approvals} store.
   */
  readonly layer: Layer.Layer<never, never, Engine | Approvals | R>
  /** The engine's execution id of a run. */
  readonly executionId: (runId: string) => string
  /** effect's workflow, for code that talks to the engine directly. */
  readonly workflow: Workflow.Any
  readonly execute: (
    runId: string,
    input: In,
    discard: boolean
  ) => Effect.Effect<Out | string, Agent.AgentError, Engine>
  readonly poll: (runId: string) => Effect.Effect<Option.Option<Workflow.Result<Out, Agent.AgentError>>, never, Engine>
}

/**
 * One run of the workflow, as {@link Options.around} sees it.
 *
 * @since 0.1.0
 */
export interface RunInfo<In> {
  readonly runId: string
  readonly input: In
  /** The engine's execution id of the run. */
  readonly executionId: string
}

/**
 * Options of {@link make}. `R` is what the agent needs, `R2` what the
 * workflow's layer needs (the same, unless `around` changes it).
 *
 * @since 0.1.0
 */
export interface Options<In, Out, R = never, R2 = R> {
  /** The workflow's name; default `Agent/<agent name>`. Runs are keyed by it and the run id. */
  readonly name?: string | undefined
  /** The Schema of the input (JSON); default `Schema.String`. */
  readonly input?: Schema.Codec<In, any> | undefined
  /** The Schema of the answer (JSON); default `Schema.String`. */
  readonly output?: Schema.Codec<Out, any> | undefined
  /**
   * How many times a model call may sleep durably (effect's `DurableClock`)
   * for a rate-limited provider's `retryAfter` longer than the agent's retry
   * policy waits in process, before the run fails (default 5). See
   * `WorkflowJournal`.
   */
  readonly maxRateLimitWaits?: number | undefined
  /**
   * Wraps each run of the agent in the workflow body, inside the run's
   * journal: what belongs to one run rather than to the worker, such as a
   * `Budget` of its own (one in the worker's layer would be shared by every
   * run), an `AgentEvent.Sink` or `RetryPolicy.OnRetry` that know which run
   * they report, or a service built from the input. The engine runs the body
   * again when it replays a run (on another worker after a crash, after a
   * suspension), so `around` runs again too: only steps of the journal run
   * once, and what `around` does itself must be safe to repeat.
   */
  readonly around?:
    | ((run: Effect.Effect<Out, Agent.AgentError, R>, info: RunInfo<In>) => Effect.Effect<Out, Agent.AgentError, R2>)
    | undefined
}

const approvalDeferred = (callId: string) => DurableDeferred.make(`approval/${callId}`, { success: Agent.Decision })

/**
 * Defines the workflow of an agent. An agent with a string input and a text
 * answer needs no options; otherwise give the Schemas of its input and answer.
 *
 * @example
 * ```ts
 * import { Agent, AgentEvent, Budget } from "@effect-harness/core"
 * import { AgentWorkflow } from "@effect-harness/workflow"
 * import { Effect } from "effect"
 *
 * declare const agent: Agent.Agent<string, string, never>
 *
 * // each run gets a budget of its own and reports its events under its run id
 * const Support = AgentWorkflow.make(agent, {
 *   around: (run, { runId }) =>
 *     run.pipe(
 *       Budget.provide({ limits: { totalTokens: 50_000 } }),
 *       Effect.provideService(AgentEvent.Sink, (event) => Effect.log(runId, event._tag))
 *     )
 * })
 * ```
 *
 * @since 0.1.0
 */
export const make: {
  <R, R2 = R>(
    agent: Agent.Agent<string, string, R>,
    options?: Options<string, string, R, R2>
  ): AgentWorkflow<string, string, R2>
  <In, Out, R, R2 = R>(
    agent: Agent.Agent<In, Out, R>,
    options: Options<In, Out, R, R2> & {
      readonly input: Schema.Codec<In, any>
      readonly output: Schema.Codec<Out, any>
    }
  ): AgentWorkflow<In, Out, R2>
} = <In, Out, R, R2>(agent: Agent.Agent<In, Out, R>, options?: Options<In, Out, R, R2>): AgentWorkflow<In, Out, R2> => {
  const name = options?.name ?? `Agent/${agent.name}`
  const workflow = Workflow.make(name, {
    payload: { runId: Schema.String, input: (options?.input ?? Schema.String) as Schema.Codec<In, any> },
    success: (options?.output ?? Schema.String) as Schema.Codec<Out, any>,
    error: AgentError,
    idempotencyKey: ({ runId }) => runId
  })

  const body = (payload: { readonly runId: string; readonly input: In }, executionId: string) =>
    Effect.gen(function*() {
      const journal = yield* WorkflowJournal.makeWith({ maxRateLimitWaits: options?.maxRateLimitWaits })
      const approvals = yield* Approvals
      const engine = yield* WorkflowEngine.WorkflowEngine
      const instance = yield* WorkflowEngine.WorkflowInstance
      const inWorkflow = <A, E>(
        effect: Effect.Effect<A, E, WorkflowEngine.WorkflowEngine | WorkflowEngine.WorkflowInstance>
      ) =>
        effect.pipe(
          Effect.provideService(WorkflowEngine.WorkflowInstance, instance),
          Effect.provideService(WorkflowEngine.WorkflowEngine, engine)
        )
      // the agent asks its approvals one call at a time; each suspends the
      // run until a decision is recorded in the call's durable deferred
      const approver = (request: Agent.ApprovalRequest): Effect.Effect<Agent.Decision> =>
        inWorkflow(Effect.gen(function*() {
          const callId = request.call.id
          yield* Activity.make({
            name: `approval/${callId}/asked`,
            execute: approvals.ask({
              workflow: name,
              runId: payload.runId,
              executionId,
              agent: request.agent,
              step: request.step,
              callId,
              name: request.call.name,
              params: request.call.params
            })
          })
          const decision = yield* DurableDeferred.await(approvalDeferred(callId))
          yield* Activity.make({
            name: `approval/${callId}/answered`,
            execute: approvals.answered(name, payload.runId, callId)
          })
          return decision
        }))
      const run = agent.run(payload.input)
      const around = options?.around
      const wrapped: Effect.Effect<Out, Agent.AgentError, R | R2> = around === undefined
        ? run
        : around(run, { runId: payload.runId, input: payload.input, executionId })
      return yield* wrapped.pipe(
        Effect.provideService(Journal.Journal, journal),
        Effect.provideService(Agent.Approval, approver)
      )
    })

  const executionId = (runId: string) => {
    // effect's derivation (Workflow.executionId) without building a payload
    const key = `${name.length}:${name}:${runId}`
    return createHash("sha256").update(key).digest("hex").slice(0, 32)
  }

  return {
    name,
    agent,
    workflow: workflow as unknown as Workflow.Any,
    layer: workflow.toLayer(body as any) as unknown as Layer.Layer<never, never, Engine | Approvals | R2>,
    executionId,
    execute: (runId, input, discard) =>
      workflow.execute({ runId, input } as any, { discard } as any) as Effect.Effect<
        Out | string,
        Agent.AgentError,
        Engine
      >,
    poll: (runId) =>
      workflow.poll(executionId(runId)) as Effect.Effect<
        Option.Option<Workflow.Result<Out, Agent.AgentError>>,
        never,
        Engine
      >
  }
}

/**
 * Starts run `runId` (or joins it when it exists) and waits for its answer,
 * through suspensions. On a cluster engine it fails with
 * `WorkflowEngines.EngineUnavailable` when the database is lost while it
 * waits (no check answered for the layer's `unavailableAfter`); the run
 * itself goes on with the workers, and `run` can join it again.
 *
 * @since 0.1.0
 */
export const run = <In, Out, R>(
  self: AgentWorkflow<In, Out, R>,
  runId: string,
  input: In
): Effect.Effect<Out, Agent.AgentError | EngineUnavailable, Engine> =>
  guard("run", self.execute(runId, input, false) as Effect.Effect<Out, Agent.AgentError, Engine>, "watch")

/**
 * Starts run `runId` (nothing happens when it exists) and returns its
 * execution id without waiting.
 *
 * @since 0.1.0
 */
export const start = <In, Out, R>(
  self: AgentWorkflow<In, Out, R>,
  runId: string,
  input: In
): Effect.Effect<string, EngineUnavailable, Engine> =>
  guard("start", self.execute(runId, input, true) as Effect.Effect<string, never, Engine>, "call")

/**
 * Where run `runId` stands.
 *
 * @since 0.1.0
 */
export const status = <In, Out, R>(
  self: AgentWorkflow<In, Out, R>,
  runId: string
): Effect.Effect<Status<Out>, EngineUnavailable, Engine | Approvals> =>
  guard(
    "status",
    Effect.gen(function*() {
      const result = yield* self.poll(runId)
      if (Option.isNone(result)) return { _tag: "Pending" } as const
      if (result.value._tag === "Complete") return { _tag: "Completed", exit: result.value.exit } as const
      const approvals = yield* Approvals
      return { _tag: "Suspended", waiting: yield* approvals.waiting(self.name, runId) } as const
    }),
    "call"
  )

/**
 * The tool call run `runId` waits for, if any.
 *
 * @since 0.1.0
 */
export const waiting = <In, Out, R>(
  self: AgentWorkflow<In, Out, R>,
  runId: string
): Effect.Effect<Waiting | undefined, EngineUnavailable, Approvals> =>
  guard("waiting", Effect.flatMap(Approvals, (approvals) => approvals.waiting(self.name, runId)), "call")

/**
 * Answers the approval run `runId` waits for, from any process: refused
 * unless the run waits for call `callId`.
 *
 * @since 0.1.0
 */
export const decide = <In, Out, R>(
  self: AgentWorkflow<In, Out, R>,
  runId: string,
  callId: string,
  decision: Agent.Decision
): Effect.Effect<void, ApprovalRefused | EngineUnavailable, Engine | Approvals> =>
  decideAs("decide", self, runId, callId, decision)

const decideAs = <In, Out, R>(
  operation: string,
  self: AgentWorkflow<In, Out, R>,
  runId: string,
  callId: string,
  decision: Agent.Decision
): Effect.Effect<void, ApprovalRefused | EngineUnavailable, Engine | Approvals> =>
  guard(operation, Effect.gen(function*() {
    const approvals = yield* Approvals
    const waiting = yield* approvals.waiting(self.name, runId)
    if (waiting === undefined || waiting.callId !== callId) {
      return yield* new ApprovalRefused({
        runId,
        callId,
        ...(waiting === undefined ? {} : { waiting: waiting.callId })
      })
    }
    const deferred = approvalDeferred(callId)
    yield* DurableDeferred.done(deferred, {
      token: DurableDeferred.tokenFromExecutionId(deferred, { workflow: self.workflow, executionId: waiting.executionId }),
      exit: Exit.succeed(decision)
    })
  }), "call")

/**
 * Approves the tool call `callId` that run `runId` waits for.
 *
 * @since 0.1.0
 */
export const approve = <In, Out, R>(
  self: AgentWorkflow<In, Out, R>,
  runId: string,
  callId: string
): Effect.Effect<void, ApprovalRefused | EngineUnavailable, Engine | Approvals> =>
  decideAs("approve", self, runId, callId, Agent.approve)

/**
 * Denies the tool call `callId` that run `runId` waits for; the model is told,
 * with the reason.
 *
 * @since 0.1.0
 */
export const deny = <In, Out, R>(
  self: AgentWorkflow<In, Out, R>,
  runId: string,
  callId: string,
  reason?: string
): Effect.Effect<void, ApprovalRefused | EngineUnavailable, Engine | Approvals> =>
  decideAs("deny", self, runId, callId, Agent.deny(reason))
