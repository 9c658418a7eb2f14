/**
 * An agent: the tool-calling loop as a harness. Each step calls the model
 * with the history and the toolkit, runs the tool calls it asked for (in
 * parallel up to `concurrency`, results kept in the model's order), appends
 * the results to the history, and repeats until the model answers without
 * calling a tool (or `stopWhen` asks for the answer, or `maxSteps` runs out).
 *
 * A tool call with bad arguments, an unknown tool name, or a handler that
 * fails or dies does not end the run: the model gets an error result it can
 * react to, and the step is recorded as failed. A tool can require approval
 * (effect's `needsApproval`): the run then asks the {@link Approval} of the
 * context, or, without one, fails with {@link Paused}, which the caller
 * answers with `agent.resume(paused, decisions)`.
 *
 * State is ordinary Effect services: the history lives in the
 * `Conversation` of the context when there is one (multi-turn sessions), in
 * the run otherwise; the `ContextWindow`, the `Budget`, the event `Sink`
 * and the `Journal` of the context are used when present.
 *
 * **Journal contract** (for durable runs). Every model call and every tool
 * call goes through `Journal.step`, never nested:
 * - model step: `{ kind: "model", name: <agent name>, request: { step, messages } }`
 *   where `step` counts the run's model calls from 1 and `messages` are the
 *   messages the run appended since its previous model step (the input, tool
 *   results, repair requests; not the model's own reply), in effect `Prompt`'s
 *   encoded JSON shape; codec {@link ModelStep} `{ text, toolCalls, finishReason, usage, model? }`.
 *   Retries of the call happen inside the step. After a `ContextOverflow` the
 *   same request is stepped a second time, after a compaction.
 * - tool step: `{ kind: "tool", name: <tool name>, request: { id, name, params }, idempotent }`
 *   with the tool call id of the model; codec {@link ToolStep}
 *   `{ isFailure, result, failure? }`, `result` being exactly what the model
 *   sees. Tool steps of one model step start in the model's order but may run
 *   concurrently: match them by `request.id`. Denied calls do not run and
 *   have no tool step. `idempotent` comes from effect's `Tool.Idempotent`
 *   annotation or the agent's `idempotent` option; a tool that is not
 *   idempotent gives as `unknownOutcome` a failed result telling the model
 *   its outcome is unknown.
 * - approval: `{ kind: "input", name: "<agent name>/approval", request: { step, id, name, params } }`,
 *   codec {@link Decision}.
 * - compaction (ContextWindow): `{ kind: "compaction", name: "ContextWindow.compact", request: { folded, tokens } }`,
 *   codec `Schema.String` (the summary).
 *
 * @example
 * ```ts
 * import { Agent } from "@effect-harness/core"
 * import { Effect, Schema } from "effect"
 * import { Tool, Toolkit } from "effect/ai"
 *
 * const GetWeather = Tool.make("GetWeather", {
 *   parameters: Schema.Struct({ city: Schema.String }),
 *   success: Schema.String
 * })
 * const Weather = Toolkit.make(GetWeather)
 * const WeatherHandlers = Weather.toLayer({ GetWeather: ({ city }) => Effect.succeed(`Sunny in ${city}`) })
 *
 * const assistant = Agent.make({ name: "weather", instructions: "Be brief.", toolkit: Weather, maxSteps: 5 })
 * const answer = Agent.run(assistant, "Weather in Paris?").pipe(Effect.provide(WeatherHandlers))
 * ```
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, type Layer, Schema, type Stream } from "effect"
import { type LanguageModel, type Prompt, Tool, Toolkit } from "effect/ai"
import { type Harness as HarnessType, make as makeHarness } from "../harness/internal/harness.ts"
import * as HarnessError from "../harness/HarnessError.ts"
import * as ModelCalls from "../harness/internal/modelCalls.ts"
import { isTraced } from "../harness/internal/tracing.ts"
import * as RetryPolicy from "../harness/RetryPolicy.ts"
import * as Messages from "../model/Messages.ts"
import * as Budget from "../state/Budget.ts"
import * as AgentEvent from "./AgentEvent.ts"
import * as Model from "./internal/agentModel.ts"
import * as Loop from "./internal/loop.ts"
import * as SubAgent from "./internal/subAgent.ts"

/**
 * The errors an agent run can end with: the fatal ones (`BudgetExceeded` for
 * `maxSteps` and budget limits, `RetriesExhausted` after the model-call retry
 * policy or a second `ContextOverflow` after compaction), `InvalidOutput` once
 * the repairs of a structured answer are spent, `OutputTruncated` once those of
 * an answer cut at the output token limit are, `ContextOverflow` when no
 * `ContextWindow` could shrink the request, {@link Paused},
 * {@link ToolUnavailable} (a tool's MCP server went away), and journal
 * failures.
 *
 * @since 0.1.0
 */
export type AgentError = Loop.AgentError

/**
 * An agent: a harness with a way to resume a paused run and a way to get the
 * run's trace.
 *
 * @since 0.1.0
 */
export interface Agent<In, Out, R> extends HarnessType<In, Out, AgentError, R> {
  /** Like `run`, with every step's record and the usage of the run. */
  readonly runDetailed: (input: In) => Effect.Effect<RunResult<Out>, AgentError, R>
  /** Continues a paused run with the caller's decisions, keyed by tool call id. */
  readonly resume: (
    paused: Paused,
    decisions: Readonly<Record<string, Decision>>
  ) => Effect.Effect<Out, AgentError, R>
}

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 */
export interface Options<Tools extends Record<string, Tool.Any>, In, O, RO, RH = never, TK extends Toolkits = Toolkits> {
  /** The agent's name: spans, events, journal steps, and the `harness` its errors name. */
  readonly name: string
  /** What the agent does, for the models of other agents (its handoff tool, `asTool`'s default description). */
  readonly description?: string | undefined
  /** The system message sent first with every request (not stored in the history). */
  readonly instructions?: string | undefined
  /**
   * The tools: effect's `Toolkit`, whose handlers come from its layer
   * (`toolkit.toLayer(...)`), a toolkit with its handlers bound (such as
   * `McpClient.toolkit`'s), used as it is, or an array of both kinds (an MCP
   * server's tools next to local ones). A tool name in two toolkits is an
   * error (`McpClient.toolkit(client, "prefix__")` renames a server's tools).
   */
  readonly toolkit?: TK | undefined
  /**
   * Model steps per run before it fails with `BudgetExceeded { limit: "steps" }`
   * (a repair is a step; the retries of a step's call are not). Default 10.
   */
  readonly maxSteps?: number | undefined
  /** Tool calls of one step running at once. Default 4. */
  readonly concurrency?: number | "unbounded" | undefined
  /**
   * Checked after each step that ran tools; `true` makes the next model call
   * the last one, without tools (`toolChoice: "none"`), for the answer.
   */
  readonly stopWhen?: ((state: StopState) => boolean) | undefined
  /** The Schema of a structured final answer (JSON); the answer is plain text without it. */
  readonly output?: Schema.Codec<O, any, RO> | undefined
  /**
   * How many times an invalid structured answer, or a final answer cut at the
   * output token limit, is sent back for repair. Default 2: an answer that is
   * never valid costs 1 + repairs model calls (each a step of `maxSteps`).
   */
  readonly repairs?: number | undefined
  /**
   * Whether a final answer cut at the output token limit (finish reason
   * `"length"`) is taken as it is. Default `false`: it is sent back asking for
   * a shorter answer (within `repairs`), then the run fails with the
   * recoverable `OutputTruncated` carrying the partial text.
   */
  readonly allowTruncated?: boolean | undefined
  /** Turns the input into the messages that start the run. Default: a string is one user message. */
  readonly render?: ((input: In) => Prompt.RawInput) | undefined
  /**
   * Retries of each model call on recoverable errors. Default
   * `RetryPolicy.defaultPolicy` (4 attempts). Each step's call is retried on
   * its own, so a run makes at most `maxSteps x maxAttempts` model calls (40
   * with the defaults; repairs count as steps); see `maxModelCalls`.
   */
  readonly retry?: RetryPolicy.RetryPolicy | undefined
  /**
   * The most model calls one run may make: every step, repair and retry
   * attempt (and, with a `ContextWindow`, the call repeated after a compaction
   * and the summarizer's calls), the calls of sub-agents (`asTool`) included.
   * The call that would go over is not sent: the run fails with the fatal
   * `BudgetExceeded { limit: "modelCalls", max, used }`. Default: no cap
   * beyond `maxSteps x maxAttempts`. Caps nest: a handoff continues the run
   * under this cap (the target's calls count against it), and a handoff
   * target's own `maxModelCalls` bounds its part of the run too (the call
   * over either fails, named after the agent whose cap it is).
   */
  readonly maxModelCalls?: number | undefined
  /**
   * The model named on spans and used for pricing when the reply does not say
   * which model answered. Default: the provider's model id, when its
   * `LanguageModel` has a fast path that says.
   */
  readonly modelLabel?: string | undefined
  /**
   * How long a tool call may run before the model gets a `ToolTimedOut` error
   * result instead (the run goes on). Default: no limit.
   */
  readonly toolTimeout?: Duration.Input | undefined
  /** Per-tool limits, over `toolTimeout`. */
  readonly toolTimeouts?: { readonly [Name in keyof Tools]?: Duration.Input } | undefined
  /** Tools that can safely run twice (for durable runs), besides those annotated `Tool.Idempotent`. */
  readonly idempotent?: ReadonlyArray<Extract<keyof Tools, string>> | undefined
  /**
   * Agents this one can hand the conversation to (see {@link handoff}): the
   * model gets a `transfer_to_<name>` tool for each, and calling it ends this
   * agent's part of the run; the target answers from then on, with the same
   * history. They answer with this agent's output type.
   */
  readonly handoffs?: ReadonlyArray<Agent<any, O, RH>> | undefined
}

/**
 * The services an agent needs: a model, its tools' handlers and their services.
 *
 * @since 0.1.0
 */
export type Services<Tools extends Record<string, Tool.Any>> =
  | LanguageModel.LanguageModel
  | Tool.HandlersFor<Tools>
  | Tool.HandlerServices<Tools[keyof Tools]>

// The configuration of every agent `make` built, for handoffs and `asTool`.
const configs = new WeakMap<object, Loop.Config<any>>()

const configOf = (agent: Agent<any, any, any>): Loop.Config<any> => {
  const config = configs.get(agent)
  if (config === undefined) throw new Error(`${agent.name} is not an agent built by Agent.make`)
  return config
}

/**
 * What `Agent.make` takes as its `toolkit`: one toolkit, or several.
 *
 * @since 0.1.0
 */
export type Toolkits = AnyToolkit | ReadonlyArray<AnyToolkit>

/**
 * A toolkit an agent takes: effect's `Toolkit` (handlers from its layer) or a
 * toolkit with its handlers bound (such as `McpClient.toolkit`'s).
 *
 * @since 0.1.0
 */
export type AnyToolkit = Toolkit.Toolkit<any> | Toolkit.WithHandler<any>

type Members<TK> = TK extends ReadonlyArray<infer T> ? T : TK

type ToolsOfOne<T> = T extends Toolkit.Toolkit<infer Tools> ? Tools
  : T extends Toolkit.WithHandler<infer Tools> ? Tools
  : never

/**
 * The tools of one toolkit or of several, by name.
 *
 * @since 0.1.0
 */
export type ToolsOf<TK> = Toolkit.SimplifyRecord<Toolkit.MergeRecords<ToolsOfOne<Members<TK>>>>

type ServicesOfOne<T> = T extends Toolkit.Toolkit<infer Tools> ? Tool.HandlersFor<Tools> | Tool.HandlerServices<Tools[keyof Tools]>
  // handlers already bound: only their services
  : T extends Toolkit.WithHandler<infer Tools> ? Tool.HandlerServices<Tools[keyof Tools]>
  : never

/**
 * The services an agent with these toolkits needs: a model, the handlers of
 * the toolkits that have none bound, and the handlers' services.
 *
 * @since 0.1.0
 */
export type ToolkitServices<TK> = LanguageModel.LanguageModel | ServicesOfOne<Members<TK>>

/**
 * Builds an agent. Its output is the final text, or the decoded `output`.
 *
 * @since 0.1.0
 */
export const make = <
  const TK extends Toolkits = Toolkit.Toolkit<{}>,
  O = string,
  RO = never,
  In = Prompt.RawInput,
  RH = never
>(options: Options<ToolsOf<TK>, In, O, RO, RH, TK>): Agent<In, O, ToolkitServices<TK> | RO | RH> => {
  const handoffs = new Map<string, Loop.Handoff>()
  for (const target of options.handoffs ?? []) {
    const config = configOf(target)
    const tool = Tool.make(handoffToolName(target), {
      description: `Hand the conversation over to ${config.name}` +
        (config.description === undefined ? "" : ` (${config.description})`) +
        `, which answers the user from then on.`,
      success: Schema.String
    })
    handoffs.set(tool.name, { tool, target: config })
  }
  const toolkits: ReadonlyArray<AnyToolkit> = options.toolkit === undefined
    ? []
    : Array.isArray(options.toolkit)
    ? options.toolkit
    : [options.toolkit as AnyToolkit]
  const toolsByName: Record<string, Tool.Any> = {}
  for (const toolkit of toolkits) {
    for (const [name, tool] of Object.entries(toolkit.tools as Record<string, Tool.Any>)) {
      if (Object.hasOwn(toolsByName, name)) {
        throw new Error(
          `Agent ${options.name}: two toolkits have a tool named "${name}" (prefix one: McpClient.toolkit(client, "server__"))`
        )
      }
      toolsByName[name] = tool
    }
  }
  const tools: Array<Tool.Any> = Object.values(toolsByName)
  const offered = handoffs.size === 0 ? tools : tools.concat(Array.from(handoffs.values(), (handoff) => handoff.tool))
  const maxModelCalls = options.maxModelCalls === undefined
    ? undefined
    : ModelCalls.validMax(`Agent ${options.name}`, options.maxModelCalls)
  const config: Loop.Config<O> = {
    name: options.name,
    description: options.description,
    modelLabel: options.modelLabel,
    fixed: options.instructions === undefined ? [] : [Messages.system(options.instructions)],
    toolkits,
    tools: offered,
    toolsByName,
    idempotent: new Set(options.idempotent ?? []),
    approvals: tools.some((tool) => tool.needsApproval !== undefined && tool.needsApproval !== false),
    toolTimeout: options.toolTimeout === undefined ? undefined : Duration.fromInputUnsafe(options.toolTimeout),
    toolTimeouts: new Map(
      Object.entries(options.toolTimeouts ?? {}).flatMap(([name, limit]) =>
        limit === undefined ? [] : [[name, Duration.fromInputUnsafe(limit as Duration.Input)] as const]
      )
    ),
    maxSteps: options.maxSteps ?? 10,
    maxModelCalls,
    concurrency: options.concurrency ?? 4,
    stopWhen: options.stopWhen,
    handoffs,
    output: options.output === undefined ? undefined : Loop.output(options.output, options.name),
    repairs: options.repairs ?? 2,
    allowTruncated: options.allowTruncated === true,
    retry: options.retry ?? RetryPolicy.defaultPolicy
  }
  const render = options.render ?? ((input: In) => input as Prompt.RawInput)
  // built once; the run's span is made only when a tracer is installed, as
  // the step spans are (see the module docs)
  const spanName = `invoke_agent ${options.name}`
  const spanOptions = {
    attributes: {
      "gen_ai.operation.name": "invoke_agent",
      "gen_ai.agent.name": options.name,
      ...(options.modelLabel === undefined ? {} : { "gen_ai.request.model": options.modelLabel })
    },
    captureStackTrace: false
  } as const
  // The loop names the errors it makes after the agent (see
  // HarnessError.withOrigin); a budget's limit, shared by every run that spends
  // from it, is named here, and only when a budget is active: no run pays for
  // it otherwise.
  const origin: HarnessError.Origin = { harness: options.name }
  const name = (error: AgentError) => HarnessError.withOrigin(error, origin)
  const wrap = <A, R>(self: Effect.Effect<A, AgentError, R>, context: Context.Context<never>) => {
    const named = Context.get(context, Budget.Budget).active ? Effect.mapError(self, name) : self
    // a cap of its own only when asked for: the loop reads it from the context
    const run = maxModelCalls === undefined ? named : ModelCalls.capped(options.name, maxModelCalls, named)
    return isTraced(context) ? Effect.withSpan(run, spanName, spanOptions) : run
  }
  const span = <A, R>(self: Effect.Effect<A, AgentError, R>) => Effect.withFiber((fiber) => wrap(self, fiber.context))
  // (one closure per run: a run parked on its model call holds what it made)
  const runDetailed = (input: In): Effect.Effect<RunResult<O>, AgentError, ToolkitServices<TK> | RO | RH> =>
    Effect.withFiber((fiber) => wrap(Loop.run(config, Messages.toPrompt(render(input)).content), fiber.context))
  const outputOf = (result: RunResult<O>) => result.output
  const self = makeHarness(options.name, (input: In) => Effect.map(runDetailed(input), outputOf))
  configs.set(self, config)
  return Object.assign(self, {
    runDetailed,
    resume: (paused: Paused, decisions: Readonly<Record<string, Decision>>): Effect.Effect<O, AgentError, ToolkitServices<TK> | RO | RH> =>
      span(Effect.map(Loop.resume(config, paused, decisions), (result) => result.output))
  })
}

/**
 * Runs an agent on an input.
 *
 * @since 0.1.0
 */
export const run = <In, Out, R>(self: Agent<In, Out, R>, input: In): Effect.Effect<Out, AgentError, R> =>
  self.run(input)

/**
 * Runs an agent and streams its events; the last one is `Finished`, with the output.
 *
 * @example
 * ```ts
 * import { Agent } from "@effect-harness/core"
 * import { Effect, Stream } from "effect"
 *
 * declare const assistant: Agent.Agent<string, string, never>
 *
 * const progress = Agent.stream(assistant, "Book me a flight").pipe(
 *   Stream.runForEach((event) => Effect.log(event._tag))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const stream = <In, Out, R>(
  self: Agent<In, Out, R>,
  input: In
): Stream.Stream<AgentEvent.AgentEvent, AgentError, R> => AgentEvent.stream(self.run(input))

// -----------------------------------------------------------------------------
// Approvals
// -----------------------------------------------------------------------------

/**
 * A run waiting for approval of some tool calls (see the module docs).
 *
 * @since 0.1.0
 */
export const Paused = Model.Paused

/**
 * @since 0.1.0
 */
export type Paused = Model.Paused

/**
 * A run ended because a tool's server went away while it was called (an MCP
 * server that exited or closed its connection). effect's `McpClient` does not
 * reconnect: connect a new client (a new scope) and run again.
 *
 * @since 0.1.0
 */
export const ToolUnavailable = Model.ToolUnavailable

/**
 * @since 0.1.0
 */
export type ToolUnavailable = Model.ToolUnavailable

/**
 * A tool call waiting for a decision.
 *
 * @since 0.1.0
 */
export type PendingCall = Model.PendingCall

/**
 * The answer to an approval: approve, deny (the model is told, with the
 * reason), or edit (run the tool with other arguments).
 *
 * @since 0.1.0
 */
export const Decision = Model.Decision

/**
 * @since 0.1.0
 */
export type Decision = Model.Decision

/**
 * @since 0.1.0
 */
export const approve: Decision = { _tag: "Approve" }

/**
 * @since 0.1.0
 */
export const deny = (reason?: string): Decision => reason === undefined ? { _tag: "Deny" } : { _tag: "Deny", reason }

/**
 * @since 0.1.0
 */
export const edit = (params: unknown): Decision => ({ _tag: "Edit", params })

/**
 * What an approver is asked.
 *
 * @since 0.1.0
 */
export type ApprovalRequest = Model.ApprovalRequest

/**
 * The approver of the context. Provide one to answer approvals while the run
 * waits (from a UI, a queue, a policy); without one, runs pause.
 *
 * @example
 * ```ts
 * import { Agent } from "@effect-harness/core"
 * import { Effect } from "effect"
 *
 * const autoApproveReads = Effect.provideService(Agent.Approval, (request) =>
 *   Effect.succeed(request.call.name.startsWith("get_") ? Agent.approve : Agent.deny("read-only session")))
 * ```
 *
 * @since 0.1.0
 */
export const Approval = Model.Approval

// -----------------------------------------------------------------------------
// Records, stop conditions and journal codecs
// -----------------------------------------------------------------------------

/**
 * @since 0.1.0
 */
export type StepRecord = Model.StepRecord

/**
 * @since 0.1.0
 */
export type ToolCallRecord = Model.ToolCallRecord

/**
 * @since 0.1.0
 */
export type StopState = Model.StopState

/**
 * @since 0.1.0
 */
export type RunResult<Out> = Model.RunResult<Out>

/**
 * A stop condition: true once one of the named tools has run (for tools that
 * end a session, such as a transfer to a human).
 *
 * @since 0.1.0
 */
export const stopAfterTool = (...names: ReadonlyArray<string>) => (state: StopState): boolean =>
  state.last.toolCalls.some((call) => names.includes(call.name) && !call.isFailure)

/**
 * The journal codec of a model step.
 *
 * @since 0.1.0
 */
export const ModelStep = Model.ModelStep

/**
 * The journal codec of a tool step.
 *
 * @since 0.1.0
 */
export const ToolStep = Model.ToolStep

// -----------------------------------------------------------------------------
// Agents as tools, handoffs
// -----------------------------------------------------------------------------

/**
 * What the model of a calling agent reads when a sub-agent failed without
 * ending the run (`InvalidOutput`, `ContextOverflow`, a pause): the agent,
 * its error's tag and message.
 *
 * @since 0.1.0
 */
export const SubAgentFailed = SubAgent.SubAgentFailed

/**
 * @since 0.1.0
 */
export type SubAgentFailed = SubAgent.SubAgentFailed

/**
 * Ends the run of the agent that called a tool with one of the run's errors,
 * instead of giving its model a result: a tool handler returns
 * `Agent.endRun(error)` for a failure no model can work around (the
 * sub-agents of {@link asTool} do it for their fatal errors). It dies with an
 * {@link EndRun}, which passes through any tool's failure mode; the agent's
 * run fails with `error`.
 *
 * @example
 * ```ts
 * import { Agent, HarnessError } from "@effect-harness/core"
 * import { Schema } from "effect"
 * import { Tool, Toolkit } from "effect/ai"
 *
 * const Search = Tool.make("Search", { parameters: Schema.Struct({ query: Schema.String }), success: Schema.String })
 * const SearchHandlers = Toolkit.make(Search).toLayer({
 *   Search: () => Agent.endRun(new HarnessError.AuthenticationFailed({ message: "search API key revoked" }))
 * })
 * ```
 *
 * @since 0.1.0
 */
export const endRun = (error: AgentError): Effect.Effect<never> => Effect.die(new Loop.EndRun({ error }))

/**
 * The defect of {@link endRun}.
 *
 * @since 0.1.0
 */
export const EndRun = Loop.EndRun

/**
 * @since 0.1.0
 */
export type EndRun = Loop.EndRun

/**
 * An agent as a tool of other agents: the tool, its handler (for a
 * toolkit's `toLayer`), and a layer with the handler (for a toolkit of this
 * tool alone).
 *
 * @since 0.1.0
 */
export interface AgentTool<Name extends string, P, Out, R> {
  readonly tool: Tool.Tool<Name, {
    readonly parameters: Schema.Codec<P, any>
    readonly success: Schema.Codec<Out, any>
    readonly failure: typeof SubAgent.SubAgentFailed
    readonly failureMode: "error"
  }, R>
  readonly handler: (
    params: P,
    context: { readonly toolCallId?: string | undefined }
  ) => Effect.Effect<Out, SubAgentFailed, R>
  readonly layer: Layer.Layer<Tool.Handler<Name>>
}

/**
 * Options of {@link asTool}.
 *
 * @since 0.1.0
 */
export interface AsToolOptions<Name extends string, P, In> {
  /** The tool's name, as the calling model sees it. */
  readonly name: Name
  /** What the tool does; default: the agent's `description`. */
  readonly description?: string | undefined
  /** The tool's parameters; default `{ input: string }`, the input given to the agent. */
  readonly parameters?: Schema.Codec<P, any> | undefined
  /** The agent's input from the decoded parameters; default: `params.input` without `parameters`, the params themselves with. */
  readonly input?: ((params: P) => In) | undefined
}

/**
 * Turns an agent into a tool another agent can call. Each call is a run of
 * the agent (a sub-run) inside the caller's run:
 * - it spends from the caller's `Budget` (tokens, steps, tool calls, cost)
 *   and asks the caller's `Agent.Approval`; its history is its own (the
 *   caller's `Conversation` is not used);
 * - its events reach the caller's event stream, each wrapped in an
 *   `AgentEvent.SubAgent` event naming the tool and the call id;
 * - in a durable run its steps go to the run's journal, named
 *   `<tool>[<call id>]/<step name>`, and the call is not wrapped in a tool
 *   step: a resumed run replays the sub-run's recorded steps (nothing is
 *   called again) and goes on live where it stopped;
 * - its fatal errors (`AuthenticationFailed`, `QuotaExhausted`,
 *   `BudgetExceeded`, `RetriesExhausted`, journal errors…) end the caller's
 *   run with that error; `InvalidOutput`, `ContextOverflow` and a pause (an
 *   approval nobody can give) are a failed result, {@link SubAgentFailed},
 *   the caller's model reads.
 *
 * Its output is the tool's result, encoded with the agent's `output` Schema
 * (text without one). The sub-agent's services (its tools' handlers) become
 * the tool's requirements, so they are in the calling agent's requirements.
 *
 * @example
 * ```ts
 * import { Agent } from "@effect-harness/core"
 * import { Effect } from "effect"
 * import { Toolkit } from "effect/ai"
 *
 * const researcher = Agent.make({ name: "researcher", instructions: "Answer with sources." })
 * const Research = Agent.asTool(researcher, { name: "Research", description: "Researches a question" })
 *
 * const writer = Agent.make({ name: "writer", toolkit: Toolkit.make(Research.tool) })
 * const article = Agent.run(writer, "Write about tides").pipe(Effect.provide(Research.layer))
 * ```
 *
 * @since 0.1.0
 */
export const asTool: {
  <const Name extends string, Out, R>(
    agent: Agent<string, Out, R>,
    options: AsToolOptions<Name, { readonly input: string }, string> & { readonly parameters?: undefined }
  ): AgentTool<Name, { readonly input: string }, Out, R>
  <const Name extends string, P, In, Out, R>(
    agent: Agent<In, Out, R>,
    options: AsToolOptions<Name, P, In> & { readonly parameters: Schema.Codec<P, any> }
  ): AgentTool<Name, P, Out, R>
} = (agent: Agent<any, any, any>, options: AsToolOptions<string, any, any>): AgentTool<string, any, any, any> => {
  const config = configOf(agent)
  const parameters = options.parameters ?? Schema.Struct({ input: Schema.String })
  const tool = Tool.make(options.name, {
    description: options.description ?? config.description,
    parameters,
    success: config.output?.schema ?? Schema.String,
    failure: SubAgent.SubAgentFailed,
    failureMode: "error"
  }).annotate(Model.JournalsItsSteps, true)
  const input = options.input ?? (options.parameters === undefined ? (params: { input: string }) => params.input : (params: unknown) => params)
  const handler = SubAgent.handler(config.name, options.name, agent.run, input)
  const layer = Toolkit.make(tool).toLayer({ [options.name]: handler } as any)
  return { tool, handler, layer } as any
}

/**
 * The handoff tool name the model of an agent with `handoffs: [target]`
 * calls to hand the conversation to `target`: `transfer_to_<target name>`.
 *
 * A handoff ends the calling agent's part of the run: the tool results of
 * its step are appended to the history, and the target agent goes on from
 * there (its instructions, tools, output and `maxSteps`; the same history,
 * usage and step records). The run's result (`runDetailed`) says in `agent`
 * which agent answered. In a multi-turn session (a `Conversation`), run the
 * next turn with that agent.
 *
 * @since 0.1.0
 */
export const handoffToolName = (target: Agent<any, any, any>): string =>
  `transfer_to_${configOf(target).name.replace(/[^a-zA-Z0-9_-]/g, "_")}`
