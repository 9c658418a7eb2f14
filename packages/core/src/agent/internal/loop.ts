/**
 * The agent loop, top to bottom: a run starts (the services it uses are read
 * once from the context), then each step prepares the request (the history,
 * or the context window's view of it), calls the model (a journaled model
 * step, retried on recoverable errors, compacted and called once more on
 * `ContextOverflow`), runs the tool calls the model asked for (approval, then
 * journaled tool steps through the toolkit's handlers, in parallel, results in
 * the model's order), appends everything to the history, and repeats until
 * the model answers without calling a tool; a structured answer is decoded
 * and, when invalid, sent back for repair.
 *
 * The steps are generators the loop delegates to (`yield*`): a step costs no
 * effect of its own, only what it runs. Every effect they yield fails with an
 * {@link AgentError} and needs no service: the run's services are read once
 * when it starts ({@link start}). An event is built only when somebody
 * listens (`run.sink`), and work done without an effect (the run's own
 * history, counters) is done in place, not in a generator of its own: a step
 * allocates no generator or closure for what it does not run.
 *
 * @internal
 */
import { Cause, Context, Data, Duration, Effect, Option, Schema, Stream } from "effect"
import { AiError, McpClientError, Prompt, Tool, type Toolkit } from "effect/ai"
import * as Journal from "../../durable/Journal.ts"
import * as HarnessError from "../../harness/HarnessError.ts"
import * as Answer from "../../harness/internal/answer.ts"
import * as ModelCalls from "../../harness/internal/modelCalls.ts"
import { retryFrom } from "../../harness/internal/retry.ts"
import * as Tracing from "../../harness/internal/tracing.ts"
import type * as RetryPolicy from "../../harness/RetryPolicy.ts"
import * as DirectModel from "../../model/DirectModel.ts"
import * as Messages from "../../model/Messages.ts"
import { noOptions as options } from "../../model/internal/noOptions.ts"
import * as Budget from "../../state/Budget.ts"
import * as ContextWindow from "../../state/ContextWindow.ts"
import * as Conversation from "../../state/Conversation.ts"
import * as AgentEvent from "../AgentEvent.ts"
import * as Data_ from "./agentModel.ts"
import { conversationStore, localStore, messageJson, type Store, unanswered } from "./agentStore.ts"
import { estimatedTokens, makeShown, type Shown, streamedCall } from "./streamedCall.ts"

// -----------------------------------------------------------------------------
// Types
// -----------------------------------------------------------------------------

/**
 * The errors a run ends with: the fatal ones, `InvalidOutput` or
 * `OutputTruncated` once the repairs are spent, a `ContextOverflow` when no context window could shrink
 * the request, a pause for approval, and journal failures.
 */
export type AgentError =
  | HarnessError.Fatal
  | HarnessError.InvalidOutput
  | HarnessError.OutputTruncated
  | HarnessError.ContextOverflow
  | Data_.Paused
  | Data_.ToolUnavailable
  | Journal.JournalMismatch
  | Journal.JournalError

/**
 * A tool handler's way to end the run with one of the run's errors instead
 * of giving the model a result (a sub-agent's fatal error): the handler dies
 * with it, which passes through any tool's failure mode and Schema, and the
 * run fails with `error`.
 */
export class EndRun extends Data.TaggedError("EndRun")<{ readonly error: AgentError }> {}

// What the steps yield: effects with the agent's errors and no services.
type Step<A> = Generator<Effect.Effect<unknown, AgentError>, A, unknown>

/** Any toolkit an agent takes: effect's `Toolkit` (handlers from its layer), or one with handlers bound (MCP). */
export type AnyToolkit = Toolkit.Toolkit<Record<string, Tool.Any>> | Toolkit.WithHandler<Record<string, Tool.Any>>

/** An agent's configuration, built once by `Agent.make`. */
export interface Config<O> {
  readonly name: string
  readonly description: string | undefined
  /** The model named on spans and used for pricing, when the reply does not say. */
  readonly modelLabel: string | undefined
  readonly fixed: ReadonlyArray<Prompt.Message>
  /** The toolkits, each tool's name in one of them (see `Agent.make`). */
  readonly toolkits: ReadonlyArray<AnyToolkit>
  readonly tools: ReadonlyArray<Tool.Any>
  readonly toolsByName: Record<string, Tool.Any>
  readonly idempotent: ReadonlySet<string>
  /** Whether any tool may need approval (otherwise the check is skipped). */
  readonly approvals: boolean
  readonly toolTimeouts: ReadonlyMap<string, Duration.Duration>
  readonly toolTimeout: Duration.Duration | undefined
  readonly maxSteps: number
  /** The agent's own cap on model calls (applied by `Agent.make` to runs it starts, and at a handoff to it). */
  readonly maxModelCalls: number | undefined
  readonly concurrency: number | "unbounded"
  readonly stopWhen: ((state: Data_.StopState) => boolean) | undefined
  /** The agents this one can hand the conversation to, by the name of their tool. */
  readonly handoffs: ReadonlyMap<string, Handoff>
  readonly output: Output<O> | undefined
  readonly repairs: number
  /** Whether a final answer cut at the output token limit is taken as it is. */
  readonly allowTruncated: boolean
  readonly retry: RetryPolicy.RetryPolicy
}

/** A handoff: the tool the model calls, and the agent that answers from then on. */
export interface Handoff {
  readonly tool: Tool.Any
  readonly target: Config<unknown>
}

/** A structured final answer: its Schema, decoder, and encoding back to JSON text. */
export interface Output<O> {
  readonly schema: Schema.Top
  readonly objectName: string
  readonly decode: (u: unknown) => Effect.Effect<O, Schema.SchemaError>
  /** A structured answer back to the Schema's JSON encoding (undefined if it does not encode). */
  readonly encode: (value: unknown) => string | undefined
}

/** One run: its configuration, the services it read when it started, and its counters. */
interface Run<O> {
  readonly config: Config<O>
  readonly model: DirectModel.Resolved
  /** The journal; undefined for the passthrough one (no step descriptions to build). */
  readonly journal: Journal.Service | undefined
  readonly history: Store
  readonly sink: ((event: AgentEvent.AgentEvent) => Effect.Effect<void>) | undefined
  /** What the step in progress streamed (with a sink: model calls stream). */
  readonly shown: Shown | undefined
  readonly budget: Budget.Service
  readonly window: ContextWindow.Service | undefined
  /** The cap on the model calls of the run (the agent's `maxModelCalls`, or a run around it). */
  readonly cap: ModelCalls.Cap | undefined
  readonly traced: boolean
  readonly services: Context.Context<never>
  readonly responseFormat: DirectModel.ResponseFormat
  /** The toolkit with its handlers, made at the first tool call. */
  handlers: Toolkit.WithHandler<Record<string, Tool.Any>> | undefined
  /** Model calls so far. */
  step: number
  /** Messages this run appended since its last model call (the journal's request). */
  sinceModel: Array<Prompt.Message>
  lastInputTokens: number
  truncated: number
  repairs: number
  readonly usage: { inputTokens: number; outputTokens: number; steps: number; toolCalls: number; cost: number | undefined }
  readonly records: Array<Data_.StepRecord>
}

/** A `ContextOverflow` as a value: it calls for compaction, so the retry policy must not see it as recoverable. */
class Overflow extends Data.TaggedError("Overflow")<{ readonly error: HarnessError.ContextOverflow }> {}

// -----------------------------------------------------------------------------
// Starting and resuming a run
// -----------------------------------------------------------------------------

// (the generators are module-level functions called from an arrow: a
// generator function made per run would give each run's generator object a
// prototype of its own, and V8 a prototype map and PrototypeInfo per run; and
// the run's start is effects, not a generator of its own: a generator frame
// delegating to the loop would be held as long as the run)
export const run = <O>(config: Config<O>, input: ReadonlyArray<Prompt.Message>): Effect.Effect<Data_.RunResult<O>, AgentError> =>
  Effect.flatMap(start(config, []), (run) => {
    // (the history without an effect when the store can give it so)
    const history = run.history.readNow?.()
    return history === undefined
      ? Effect.flatMap(run.history.read, (history) => begin(run, history, input))
      : begin(run, history, input)
  })

// The input appended, then the loop.
const begin = <O>(run: Run<O>, history: ReadonlyArray<Prompt.Message>, input: ReadonlyArray<Prompt.Message>) => {
  // a conversation paused and never resumed: its calls are answered as denied
  const denied = unanswered(history)
  const appending = append(run, denied === undefined ? input : [denied, ...input])
  const steps = Effect.gen(() => loop(run, false))
  return appending === undefined ? steps : Effect.andThen(appending, steps)
}

export const resume = <O>(config: Config<O>, paused: Data_.Paused, decisions: Readonly<Record<string, Data_.Decision>>) =>
  Effect.gen(() => resumeSteps(config, paused, decisions))

function* resumeSteps<O>(
  config: Config<O>,
  paused: Data_.Paused,
  decisions: Readonly<Record<string, Data_.Decision>>
): Step<Data_.RunResult<O>> {
  const run = yield* start(config, paused.history?.content)
  run.step = paused.step
  // a durable run continues from its recorded pause, not from its start
  if (run.journal !== undefined) yield* pauseStep(run, paused.step, paused.pending)
  const reply: Data_.ModelStep = { text: "", toolCalls: paused.calls, finishReason: "tool-calls", usage: {} }
  const calls = yield* toolStep(run, paused.calls, decisions)
  const done = record(run, reply, calls)
  if (run.sink !== undefined) yield* run.sink(finished(run, done))
  const final = stopsAfter(run, done)
  const handoff = handoffOf(run, calls)
  return yield* handoff === undefined ? loop(run, final) : handOff(run, handoff)
}

// Every service the run uses, read once from the context.
const start = <O>(config: Config<O>, initial: ReadonlyArray<Prompt.Message> | undefined) =>
  Effect.withFiber((fiber) => {
    const services = fiber.context
    const conversation = Context.getOrUndefined(services, Conversation.Conversation)
    if (conversation === undefined && initial === undefined) {
      return Effect.die(new Error(`Agent ${config.name}: resuming a run that used a Conversation needs it again`))
    }
    const journal = Context.get(services, Journal.Journal)
    const sink = Context.get(services, AgentEvent.Sink)
    const run: Run<O> = {
      config,
      model: DirectModel.fromContext(services, config.name),
      journal: journal === Journal.passthrough ? undefined : journal,
      history: conversation !== undefined ? conversationStore(conversation) : localStore(initial!),
      sink,
      shown: sink === undefined ? undefined : makeShown(),
      budget: Context.get(services, Budget.Budget),
      window: Context.getOrUndefined(services, ContextWindow.ContextWindow),
      cap: Context.get(services, ModelCalls.CurrentCap),
      traced: Tracing.isTraced(services),
      services,
      // (a model without a fast path sends a JSON request with tools as text:
      // see DirectModel.fromLanguageModel)
      responseFormat: responseFormatOf(config),
      handlers: undefined,
      step: 0,
      // (only a journal reads them: a run without one shares an empty array it never appends to)
      sinceModel: journal === Journal.passthrough ? notJournaled : [],
      lastInputTokens: 0,
      truncated: 0,
      repairs: 0,
      usage: { inputTokens: 0, outputTokens: 0, steps: 0, toolCalls: 0, cost: 0 },
      records: []
    }
    if (!run.traced) return Effect.succeed(run)
    // the run's span (see Agent.make) names the provider and the model, known only now
    return Effect.as(Effect.annotateCurrentSpan(Tracing.requestAttributes(run.model.providerName, modelOf(run, undefined))), run)
  })

const notJournaled: Array<Prompt.Message> = []

const responseFormatOf = (config: Config<unknown>): DirectModel.ResponseFormat =>
  config.output === undefined
    ? textFormat
    : { type: "json", objectName: config.output.objectName, schema: config.output.schema }

const textFormat: DirectModel.ResponseFormat = { type: "text" }

// The first handoff the model asked for in a step, if any.
const handoffOf = <O>(run: Run<O>, calls: ReadonlyArray<Data_.ToolCallRecord>): Handoff | undefined => {
  if (run.config.handoffs.size === 0) return undefined
  for (const call of calls) {
    const handoff = run.config.handoffs.get(call.name)
    if (handoff !== undefined && !call.isFailure) return handoff
  }
  return undefined
}

// The run goes on with the target agent: same history, usage and records;
// its own instructions, tools, output and step limit. A target with its own
// `maxModelCalls` answers under a fresh cap of that many calls, inside the
// run's: its calls count against both, and so do those its tools and window
// make (the cap is in the context they run in).
const handOff = <O>(run: Run<O>, handoff: Handoff): Effect.Effect<Data_.RunResult<O>, AgentError> => {
  const target = handoff.target as Config<O>
  const cap = target.maxModelCalls === undefined ? run.cap : ModelCalls.make(target.name, target.maxModelCalls, run.cap)
  const steps = Effect.gen(() =>
    loop({ ...run, config: target, responseFormat: responseFormatOf(target), handlers: undefined, step: 0, repairs: 0, cap }, false)
  )
  return cap === run.cap ? steps : Effect.provideService(steps, ModelCalls.CurrentCap, cap)
}

// -----------------------------------------------------------------------------
// The loop
// -----------------------------------------------------------------------------

function* loop<O>(run: Run<O>, forceFinal: boolean): Step<Data_.RunResult<O>> {
  const { config } = run
  let final = forceFinal
  while (true) {
    if (run.step >= config.maxSteps) {
      return yield* new HarnessError.BudgetExceeded({ limit: "steps", max: config.maxSteps, used: run.step + 1, harness: config.name })
    }
    const reply = run.traced ? yield* tracedModelStep(run, final) : yield* modelStep(run, final)
    if (reply.toolCalls.length > 0) {
      const calls = yield* toolStep(run, reply.toolCalls, undefined)
      const done = record(run, reply, calls)
      if (run.sink !== undefined) yield* run.sink(finished(run, done))
      final = stopsAfter(run, done)
      const handoff = handoffOf(run, calls)
      if (handoff !== undefined) return yield* handOff(run, handoff)
      continue
    }
    const done = record(run, reply, [])
    if (run.sink !== undefined) yield* run.sink(finished(run, done))
    // (a text answer is the output as it is: no step of its own)
    const answer = reply.finishReason === "length" && !config.allowTruncated
      ? yield* truncatedAnswer(run, reply.text)
      : config.output === undefined
      ? { value: reply.text as O }
      : yield* finalAnswer(run, config.output, reply.text)
    if (answer === undefined) continue // sent back for repair
    const result: Data_.RunResult<O> = { output: answer.value, agent: config.name, steps: run.records, usage: usageOf(run) }
    if (run.sink !== undefined) {
      yield* run.sink(AgentEvent.Finished({ agent: config.name, steps: run.step, usage: result.usage, output: answer.value }))
    }
    return result
  }
}

// After a step that ran tools (recorded, its event sent): whether the stop
// condition asks for the answer now (the next call then offers no tools).
const stopsAfter = <O>(run: Run<O>, done: Data_.StepRecord): boolean =>
  run.config.stopWhen?.({ step: run.step, last: done, usage: usageOf(run) }) === true

// A structured final answer, decoded; undefined when an invalid answer was
// sent back for repair.
function* finalAnswer<O>(run: Run<O>, output: Output<O>, text: string): Step<{ readonly value: O } | undefined> {
  const decoded = yield* Answer.decode(output.decode, text, true)
  if (decoded.ok) return { value: decoded.value }
  if (run.repairs >= run.config.repairs) {
    return yield* new HarnessError.InvalidOutput({ raw: text, issues: decoded.issues, attempts: run.repairs + 1, harness: run.config.name })
  }
  run.repairs++
  const appending = append(run, [Messages.user(Answer.repairRequest(decoded.issues, true))])
  if (appending !== undefined) yield* appending
  return undefined
}

// A final answer cut at the output token limit is never the run's output: it
// is sent back asking for a shorter one (its step stays in the journal, so a
// replay asks the same), and once the repairs are spent the run fails with
// the partial text.
function* truncatedAnswer<O>(run: Run<O>, text: string): Step<undefined> {
  if (run.repairs >= run.config.repairs) {
    return yield* new HarnessError.OutputTruncated({ partial: { text, toolCalls: [] }, attempts: run.repairs + 1, harness: run.config.name })
  }
  run.repairs++
  const appending = append(run, [Messages.user(Answer.truncatedRequest(run.config.output !== undefined))])
  if (appending !== undefined) yield* appending
  return undefined
}

// -----------------------------------------------------------------------------
// A model step
// -----------------------------------------------------------------------------

function* modelStep<O>(run: Run<O>, final: boolean): Step<Data_.ModelStep> {
  const { budget, config } = run
  const step = run.step + 1
  if (run.sink !== undefined) yield* run.sink(AgentEvent.StepStarted({ agent: config.name, step }))
  let prepared = preparedNow(run) ?? (yield* prepare(run, false))
  if (budget.active) yield* budget.reserveStep(Math.max(run.lastInputTokens, prepared.tokens))
  run.step = step
  run.usage.steps++
  // (journaled when the run has a journal; without one, the first attempt is
  // yielded here, as callModel does: no frame of its own while the model answers)
  let request = requestOf(run, prepared.messages, final)
  const first = run.journal === undefined ? yield* firstAttempt(run, request) : undefined
  let reply = first === undefined
    ? yield* journaledCall(run, request, final)
    : AiError.isAiError(first)
    ? yield* retried(run, request, final, first)
    : unrecorded(first, final, config.output?.encode)
  if (reply instanceof Overflow) {
    // without a window nothing can shrink the request: the overflow is the answer
    if (run.window === undefined) return yield* reply.error
    // the provider counts differently than our tokenizer: shrink hard, call once more
    prepared = yield* prepare(run, true)
    request = requestOf(run, prepared.messages, final)
    reply = run.journal === undefined ? yield* callModel(run, request, final) : yield* journaledCall(run, request, final)
    if (reply instanceof Overflow) return yield* new HarnessError.RetriesExhausted({ attempts: 2, last: reply.error, harness: config.name })
  }
  if (run.journal !== undefined) run.sinceModel = []
  const cost = account(run, reply, prepared.tokens)
  if (run.traced || budget.active || run.sink !== undefined) yield* reported(run, reply, cost)
  // a filtered answer ends the run where it stands (streamed or not)
  if (reply.finishReason === "content-filter") {
    return yield* HarnessError.withOrigin(
      new HarnessError.ContentRefused({ message: "The model's answer was filtered or refused", refusal: reply.text }),
      { harness: config.name }
    )
  }
  // (an array of the exact size: a pushed-to one keeps room for 16 parts)
  const calls = reply.toolCalls.length
  const text = reply.text.length > 0 ? 1 : 0
  const content = new Array<Prompt.AssistantMessagePart>(text + calls)
  if (text === 1) content[0] = Prompt.textPart({ text: reply.text, options })
  for (let i = 0; i < calls; i++) {
    const call = reply.toolCalls[i]!
    content[text + i] = Prompt.toolCallPart({ id: call.id, name: call.name, params: call.params, providerExecuted: false, options })
  }
  const appending = append(run, [Prompt.assistantMessage({ content, options })], false)
  if (appending !== undefined) yield* appending
  return reply
}

// A model step in its span (only when a tracer is installed).
const tracedModelStep = <O>(run: Run<O>, final: boolean) => {
  const model = modelOf(run, undefined)
  return Effect.withSpan(Effect.gen(() => modelStep(run, final)), `chat ${model ?? run.config.name}`, {
    attributes: {
      "gen_ai.operation.name": "chat",
      "gen_ai.agent.name": run.config.name,
      ...Tracing.requestAttributes(run.model.providerName, model),
      "harness.step": run.step + 1
    },
    // a stack trace per span is the largest cost of a step; the span names say where
    captureStackTrace: false
  })
}

// The request's messages without an effect, when there is no window and the
// history can be read at once (no generator per step for it).
const preparedNow = <O>(run: Run<O>): { readonly messages: ReadonlyArray<Prompt.Message>; readonly tokens: number } | undefined =>
  run.window === undefined && run.history.readNow !== undefined
    // a copy: the request must not change as the history grows
    ? { messages: run.config.fixed.concat(run.history.readNow()), tokens: 0 }
    : undefined

// The request's messages when they need an effect (see preparedNow): the
// history read from its store, or the window's view of it (trimmed or
// compacted, with an event for each).
function* prepare<O>(run: Run<O>, force: boolean): Step<{ readonly messages: ReadonlyArray<Prompt.Message>; readonly tokens: number }> {
  const { config, history, window } = run
  // (a copy: the request must not change as the history grows)
  if (window === undefined) return { messages: config.fixed.concat(yield* history.read), tokens: 0 }
  const prepared = yield* window.prepare(history.owner, { fixed: config.fixed, history: yield* history.read, tools: config.tools, force }).pipe(
    // a summarizer that fails recoverably was tried once (retry the summarizer to retry it)
    Effect.catchIf(
      HarnessError.isRecoverable,
      (last) => Effect.fail(new HarnessError.RetriesExhausted({ attempts: 1, last, harness: config.name }))
    )
  ) as Effect.Effect<ContextWindow.Prepared, AgentError>
  const step = run.step + 1
  if (prepared.compaction !== undefined) {
    const compaction = prepared.compaction
    yield* history.replace(compaction.count, compaction.replacement)
    if (run.sink !== undefined) {
      yield* run.sink(AgentEvent.ContextTrimmed({
        agent: config.name,
        step,
        strategy: "compact",
        messages: compaction.count,
        tokensBefore: compaction.tokensBefore,
        tokensAfter: prepared.tokens
      }))
    }
  }
  if (prepared.truncated > run.truncated) {
    const messages = prepared.truncated - run.truncated
    run.truncated = prepared.truncated
    if (run.sink !== undefined) {
      yield* run.sink(AgentEvent.ContextTrimmed({
        agent: config.name,
        step,
        strategy: "truncate",
        messages,
        tokensBefore: prepared.tokensBefore,
        tokensAfter: prepared.tokens
      }))
    }
  }
  return prepared
}

// The request of a model call.
const requestOf = <O>(run: Run<O>, messages: ReadonlyArray<Prompt.Message>, final: boolean): DirectModel.Request => ({
  prompt: Prompt.fromMessages(messages),
  tools: run.config.tools,
  toolChoice: final ? "none" : "auto",
  responseFormat: run.responseFormat
})

// A model call as a journaled step: the journal's request is the messages the
// run appended since its previous model call (see the Agent module docs). An
// overflow is not recorded: the call runs again after compaction.
const journaledCall = <O>(run: Run<O>, request: DirectModel.Request, final: boolean): Effect.Effect<Data_.ModelStep | Overflow, AgentError> =>
  run.journal!.step(
    { kind: "model", name: run.config.name, request: { step: run.step, messages: run.sinceModel.map(messageJson) } },
    Data_.ModelStep,
    Effect.flatMap(
      Effect.gen(() => callModel(run, request, final)),
      (answer) => answer instanceof Overflow ? Effect.fail(answer) : Effect.succeed(answer)
    )
  ).pipe(Effect.catchTag("Overflow", (overflow) => Effect.succeed(overflow)))

// The model call with the agent's retry policy, set up only after a
// recoverable failure (see harness/internal/retry.ts). When somebody listens
// to the run's events, the call streams (see ./streamedCall.ts).
// Under a cap on the run's model calls, every attempt takes one first.
// (The first attempt's error comes back as a value, through effect's
// `Effect.match` with handlers made once: a run waiting on its model call
// holds no closure or continuation of its own for the failure case.)
function* callModel<O>(run: Run<O>, request: DirectModel.Request, final: boolean): Step<Data_.ModelStep | Overflow> {
  const first = yield* firstAttempt(run, request)
  return AiError.isAiError(first) ? yield* retried(run, request, final, first) : toStep(first, final, run.config.output?.encode)
}

// The first attempt: the reply, or the error as a value.
const firstAttempt = <O>(run: Run<O>, request: DirectModel.Request): Effect.Effect<DirectModel.Reply | AiError.AiError, AgentError> => {
  const attempt = Effect.match(run.sink === undefined ? run.model.generate(request) : streamed(run, request), replyOrError)
  return run.cap === undefined ? attempt : ModelCalls.counted(run.cap, attempt)
}

// After a failed first attempt, the step or an overflow.
const retried = <O>(run: Run<O>, request: DirectModel.Request, final: boolean, error: AiError.AiError) =>
  Effect.map(
    afterFailure(run, request, error),
    (reply): Data_.ModelStep | Overflow => reply instanceof Overflow ? reply : toStep(reply, final, run.config.output?.encode)
  )

const replyOrError = {
  onSuccess: (reply: DirectModel.Reply): DirectModel.Reply | AiError.AiError => reply,
  onFailure: (error: AiError.AiError): DirectModel.Reply | AiError.AiError => error
}

// After a failed first attempt: an overflow as a value, a fatal error as it
// is, a recoverable one retried by the agent's policy.
const afterFailure = <O>(
  run: Run<O>,
  request: DirectModel.Request,
  error: AiError.AiError
): Effect.Effect<DirectModel.Reply | Overflow, AgentError> => {
  // (the retries name the later attempts: see retryFrom)
  const first = HarnessError.fromAiError(error, { harness: run.config.name, attempt: 1 })
  if (first._tag === "ContextOverflow") return Effect.succeed(new Overflow({ error: first }))
  if (!HarnessError.isRecoverable(first)) return Effect.fail(first)
  const attempt = Effect.catch(run.sink === undefined ? run.model.generate(request) : streamed(run, request), (error) => {
    const mapped = HarnessError.fromAiError(error, { harness: run.config.name })
    return Effect.fail(mapped._tag === "ContextOverflow" ? new Overflow({ error: mapped }) : mapped)
  })
  const again = run.cap === undefined ? attempt : ModelCalls.counted(run.cap, attempt)
  return retryFrom(run.config.name, run.config.retry, first, again).pipe(
    Effect.catchTag("Overflow", (overflow) => Effect.succeed(overflow))
  )
}

const streamed = <O>(run: Run<O>, request: DirectModel.Request) =>
  streamedCall(run.model, request, run.sink!, run.config.name, run.step, run.shown!, (chars) => brokenStream(run, chars))

// An attempt that broke after streaming some output: that output was paid
// for, but a broken stream reports no usage, so it is counted as estimated.
const brokenStream = <O>(run: Run<O>, chars: number): Effect.Effect<void> => {
  const outputTokens = estimatedTokens(chars)
  run.usage.outputTokens += outputTokens
  const model = modelOf(run, undefined)
  if (run.usage.cost !== undefined) {
    const price = run.budget.price(model)
    run.usage.cost = price === undefined ? undefined : run.usage.cost + Budget.costOf({ outputTokens }, price)
  }
  return run.budget.active ? run.budget.record({ outputTokens }, model) : Effect.void
}

// What the journal records of a reply. A structured answer the provider
// decoded from its own wire form is recorded in the Schema's encoding, so the
// final answer decodes the same way live and on replay.
const toStep = (
  reply: DirectModel.Reply,
  final: boolean,
  encode: ((value: unknown) => string | undefined) | undefined
): Data_.ModelStep => {
  const text = reply.structured === undefined || encode === undefined
    ? reply.text
    : encode(reply.structured.value) ?? reply.text
  const toolCalls = final ? [] : reply.toolCalls
  const usage = usageJson(reply.usage)
  // (fields a provider did not say are absent, not undefined: a journal's
  // JSON has no undefined; and no spreads, which cost an object each and put
  // the result in dictionary mode)
  return reply.model === undefined
    ? { text, toolCalls, finishReason: reply.finishReason, usage }
    : { text, toolCalls, finishReason: reply.finishReason, usage, model: reply.model }
}

// The token counts the journal records, those the provider said.
const usageJson = (said: DirectModel.Usage): DirectModel.Usage => {
  const usage: { inputTokens?: number; outputTokens?: number; cachedInputTokens?: number } = {}
  if (said.inputTokens !== undefined) usage.inputTokens = said.inputTokens
  if (said.outputTokens !== undefined) usage.outputTokens = said.outputTokens
  if (said.cachedInputTokens !== undefined) usage.cachedInputTokens = said.cachedInputTokens
  return usage
}

// What the loop keeps of a reply no journal records: the reply itself, unless
// the step changes it (a final step's tool calls dropped, a structured answer
// encoded). The journal's copy (toStep) keeps only the step's fields.
const unrecorded = (
  reply: DirectModel.Reply,
  final: boolean,
  encode: ((value: unknown) => string | undefined) | undefined
): Data_.ModelStep => final || reply.structured !== undefined ? toStep(reply, final, encode) : reply

// The model named on spans and priced: the reply's, the agent's label, or the provider's id.
const modelOf = (run: Run<unknown>, reply: Data_.ModelStep | undefined): string | undefined =>
  reply?.model ?? run.config.modelLabel ?? run.model.modelId

// A model call's usage in the run's counters; its cost, when priced (for the span).
const account = <O>(run: Run<O>, reply: Data_.ModelStep, preparedTokens: number): number | undefined => {
  const { usage } = run
  run.lastInputTokens = reply.usage.inputTokens ?? preparedTokens
  usage.inputTokens += reply.usage.inputTokens ?? 0
  usage.outputTokens += reply.usage.outputTokens ?? 0
  const price = usage.cost !== undefined || run.traced ? run.budget.price(modelOf(run, reply)) : undefined
  if (usage.cost !== undefined) {
    usage.cost = price === undefined ? undefined : usage.cost + Budget.costOf(reply.usage, price)
  }
  return price === undefined ? undefined : Budget.costOf(reply.usage, price)
}

// A model call's usage told to its span, its budget and its event (run only
// when there is a span, an active budget or a listener).
function* reported<O>(run: Run<O>, reply: Data_.ModelStep, cost: number | undefined): Step<void> {
  const { budget } = run
  if (run.traced) {
    yield* Effect.annotateCurrentSpan(Tracing.usageAttributes(reply.usage, [reply.finishReason], reply.model, cost))
  }
  if (budget.active) {
    yield* budget.record(reply.usage, modelOf(run, reply))
    yield* budget.check
  }
  if (run.sink !== undefined) yield* run.sink(AgentEvent.UsageUpdated({ agent: run.config.name, step: run.step, usage: usageOf(run) }))
}

// -----------------------------------------------------------------------------
// A tool step
// -----------------------------------------------------------------------------

const noDecision: Data_.Decision = { _tag: "Deny", reason: "No decision was given for this tool call." }

function* toolStep<O>(
  run: Run<O>,
  calls: ReadonlyArray<Data_.PendingCall>,
  given: Readonly<Record<string, Data_.Decision>> | undefined
): Step<ReadonlyArray<Data_.ToolCallRecord>> {
  const { config } = run
  if (run.budget.active) yield* run.budget.reserveToolCalls(calls.length)
  run.usage.toolCalls += calls.length
  const decisions = config.approvals ? yield* approvals(run, calls, given) : undefined
  // one call runs in the run's fiber, delegated to without an effect of its
  // own when nothing wraps it (the concurrent forEach forks a fiber per call)
  const records = calls.length !== 1
    ? yield* Effect.forEach(calls, (call) => toolCall(run, call, decisions?.get(call.id)), { concurrency: config.concurrency })
    : run.traced || run.sink !== undefined
    ? [yield* toolCall(run, calls[0]!, decisions?.get(calls[0]!.id))]
    : [yield* journaledTool(run, calls[0]!, decisions?.get(calls[0]!.id))]
  const appending = append(run, [Prompt.toolMessage({
    content: records.map(resultPart),
    options
  })])
  if (appending !== undefined) yield* appending
  return records
}

// A call's result as the model reads it.
const resultPart = (record: Data_.ToolCallRecord): Prompt.ToolResultPart =>
  Prompt.toolResultPart({
    id: record.id,
    name: record.name,
    isFailure: record.isFailure,
    result: record.result,
    providerExecuted: false,
    options
  })

// The calls that need approval, asked of the context's approver (each answer
// journaled), or of the caller through a pause.
function* approvals<O>(
  run: Run<O>,
  calls: ReadonlyArray<Data_.PendingCall>,
  given: Readonly<Record<string, Data_.Decision>> | undefined
): Step<ReadonlyMap<string, Data_.Decision>> {
  const { config } = run
  const step = run.step
  const decisions = new Map<string, Data_.Decision>()
  const pending: Array<Data_.PendingCall> = []
  const messages = yield* run.history.read
  for (const call of calls) {
    if (yield* needsApproval(config.toolsByName, call, messages)) pending.push(call)
  }
  if (pending.length === 0) return decisions
  if (run.sink !== undefined) yield* run.sink(AgentEvent.ApprovalRequested({ agent: config.name, step, pending }))
  const approver = given === undefined ? Context.get(run.services, Data_.Approval) : undefined
  if (given === undefined && approver === undefined) {
    if (run.journal !== undefined) yield* pauseStep(run, step, pending)
    const history = yield* run.history.snapshot
    return yield* new Data_.Paused({ agent: config.name, step, calls, pending, ...(history === undefined ? {} : { history }) })
  }
  for (const call of pending) {
    const ask = given !== undefined ? Effect.succeed(given[call.id] ?? noDecision) : approver!({ agent: config.name, step, call })
    decisions.set(call.id, yield* Journal.step(
      { kind: "input", name: `${config.name}/approval`, request: { step, id: call.id, name: call.name, params: call.params } },
      Data_.Decision,
      ask
    ).pipe(Effect.provideContext(run.services)))
  }
  return decisions
}

// The pause of a run waiting for approvals, journaled: a resume asks for it
// first and replays from there (see Journal.Step's kind "pause").
const pauseStep = <O>(run: Run<O>, step: number, pending: ReadonlyArray<Data_.PendingCall>) =>
  run.journal!.step(
    { kind: "pause", name: `${run.config.name}/approval`, request: { step, pending: pending.map((call) => call.id) } },
    Schema.Null,
    Effect.succeed(null)
  )

/** Whether a call needs the caller's approval before it runs. */
const needsApproval = (
  tools: Record<string, Tool.Any>,
  call: Data_.PendingCall,
  messages: ReadonlyArray<Prompt.Message>
): Effect.Effect<boolean> => {
  const tool = Object.hasOwn(tools, call.name) ? tools[call.name] : undefined
  const rule = tool?.needsApproval
  if (rule === undefined || rule === false) return Effect.succeed(false)
  if (rule === true) return Effect.succeed(true)
  // arguments that do not decode will fail as a bad call: nothing to approve
  const decoded = Schema.decodeUnknownOption(tool!.parametersSchema as Schema.Codec<unknown, unknown>)(call.params)
  if (Option.isNone(decoded)) return Effect.succeed(false)
  const answer = rule(decoded.value, { toolCallId: call.id, messages })
  return typeof answer === "boolean" ? Effect.succeed(answer) : answer
}

// One tool call: its events and span around the journaled call.
const toolCall = <O>(run: Run<O>, call: Data_.PendingCall, decision: Data_.Decision | undefined) => {
  const steps = journaledTool(run, call, decision)
  const traced = run.traced
    ? Effect.withSpan(steps, `execute_tool ${call.name}`, {
      attributes: { "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": call.name, "gen_ai.tool.call.id": call.id },
      captureStackTrace: false
    })
    : steps
  const sink = run.sink
  if (sink === undefined) return traced
  return Effect.gen(() => observedCall(sink, run.config.name, run.step, call, traced))
}

// A tool call between its two events (with a sink).
function* observedCall(
  sink: (event: AgentEvent.AgentEvent) => Effect.Effect<void>,
  name: string,
  step: number,
  call: Data_.PendingCall,
  traced: Effect.Effect<Data_.ToolCallRecord, AgentError>
): Step<Data_.ToolCallRecord> {
  yield* sink(AgentEvent.ToolCalled({ agent: name, step, ...call }))
  const record = yield* traced
  yield* sink(AgentEvent.ToolReturned({ agent: name, step, id: record.id, name: record.name, isFailure: record.isFailure, result: record.result }))
  return record
}

// A call as a journaled tool step. A denied call does not run and is not
// journaled (its decision is). (An effect, not a step: the record is the
// one thing made after the call, and a generator frame per call costs more.)
const journaledTool = <O>(
  run: Run<O>,
  call: Data_.PendingCall,
  decision: Data_.Decision | undefined
): Effect.Effect<Data_.ToolCallRecord, AgentError> => {
  if (decision?._tag === "Deny") {
    // the shape of effect's Tool.ExecutionFailure
    const result = { type: "execution-denied", reason: decision.reason ?? "The user denied this tool call." }
    return Effect.succeed({ ...call, isFailure: true, failure: "denied", result })
  }
  const params = decision?._tag === "Edit" ? decision.params : call.params
  const { config } = run
  const handoff = config.handoffs.get(call.name)
  if (handoff !== undefined) {
    // nothing runs: the loop hands the run over after this step
    return Effect.succeed({ id: call.id, name: call.name, params, isFailure: false, result: `Transferred to ${handoff.target.name}.` })
  }
  const tool = Object.hasOwn(config.toolsByName, call.name) ? config.toolsByName[call.name] : undefined
  const execute = tool === undefined
    ? Effect.succeed(errorResult(
      "unknown-tool",
      "UnknownTool",
      `There is no tool named "${call.name}". Available tools: ${Object.keys(config.toolsByName).join(", ")}`
    ))
    : executeTool(run, tool, call.id, params)
  let step: Effect.Effect<Data_.ToolStep, AgentError>
  // a tool that journals its own steps (a sub-agent) is not wrapped in a tool
  // step: inside a step the journal records nothing
  if (run.journal === undefined || (tool !== undefined && Context.get(tool.annotations, Data_.JournalsItsSteps))) {
    step = execute
  } else {
    const idempotent = config.idempotent.has(call.name) || (tool !== undefined && Context.get(tool.annotations, Tool.Idempotent))
    step = run.journal.step(
      {
        kind: "tool",
        name: call.name,
        request: { id: call.id, name: call.name, params },
        idempotent,
        ...(idempotent
          ? {}
          : { unknownOutcome: errorResult("handler", "UnknownOutcome", Journal.unknownOutcomeMessage(call.name)) })
      },
      Data_.ToolStep,
      execute
    )
  }
  return Effect.map(step, (step): Data_.ToolCallRecord => ({
    id: call.id,
    name: call.name,
    params,
    isFailure: step.isFailure,
    failure: step.failure,
    result: step.result
  }))
}

// Runs a tool through its handler, and makes every way it can go wrong a
// result the model reads: bad arguments, a failure, a defect (a handler that
// throws), a result that is not JSON, a timeout. Only an interruption of the
// run and an {@link EndRun} end the run, and a tool server that went away
// (ToolUnavailable).
const executeTool = <O>(run: Run<O>, tool: Tool.Any, id: string, params: unknown): Effect.Effect<Data_.ToolStep, AgentError> => {
  const codecs = codecsOf(tool)
  const handler = tool.toModelOutput === undefined ? handlerInContext(run.services, codecs) : undefined
  // (data-first calls here and below: a pipeable one costs a closure per call)
  const call = Effect.catchCause(
    handler === undefined ? viaToolkit(run, tool, id, params) : viaHandler(handler, codecs, id, params),
    (cause) => {
      // an interrupted run stays interrupted; everything else becomes a result
      if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
      const end = cause.reasons.find((reason) => Cause.isDieReason(reason) && reason.defect instanceof EndRun)
      // (named after this agent unless a sub-agent named it: see HarnessError.withOrigin)
      if (end !== undefined) {
        return Effect.fail(HarnessError.withOrigin(((end as Cause.Die).defect as EndRun).error, { harness: run.config.name }))
      }
      const error = Cause.findErrorOption(cause)
      const gone = Option.isSome(error) && serverGone(error.value as unknown) ? error.value as unknown as McpClientError.McpClientError : undefined
      if (gone !== undefined) {
        return Effect.fail(new Data_.ToolUnavailable({ agent: run.config.name, tool: tool.name, message: gone.message }))
      }
      if (Option.isSome(error)) return Effect.succeed(failureResult(tool, error.value))
      return Effect.succeed(errorResult("defect", "ToolCrashed", `${tool.name} crashed: ${messageOf(Cause.squash(cause))}`))
    }
  )
  const limit = run.config.toolTimeouts.get(tool.name) ?? run.config.toolTimeout
  return limit === undefined ? call : Effect.timeoutOrElse(call, {
    duration: limit,
    orElse: () =>
      Effect.succeed(errorResult("handler", "ToolTimedOut", `${tool.name} did not finish within ${Duration.format(limit)}`))
  })
}

// What the model reads of a call's outcome (the last result, through a toolkit).
const toolStepOf = (tool: Tool.Any, last: Outcome | undefined): Data_.ToolStep => {
  if (last === undefined) return errorResult("handler", "ToolFailed", `${tool.name} returned no result`)
  const { encodedResult, failureOrigin, isFailure } = last
  if (!isJson(encodedResult)) {
    return errorResult("handler", "InvalidResult", `${tool.name} returned a result that cannot be sent as JSON`)
  }
  return isFailure
    ? { isFailure: true, failure: failureOrigin === "parameters" ? "parameters" : "handler", result: encodedResult }
    : { isFailure: false, result: encodedResult }
}

/** What a tool call produced: its result in the tool's encoding, and whether it is a failure (and of what). */
interface Outcome {
  readonly encodedResult: unknown
  readonly isFailure: boolean
  readonly failureOrigin?: Tool.FailureOrigin | undefined
}

// Through effect's Toolkit `handle`: a stream of results per call (preliminary
// ones included), which costs a queue, a forked fiber and a stream per call.
// For toolkits with bound handlers (MCP) and tools with `toModelOutput`.
const viaToolkit = <O>(run: Run<O>, tool: Tool.Any, id: string, params: unknown): Effect.Effect<Data_.ToolStep, unknown> =>
  Effect.flatMap(handlersOf(run), (handlers) => handlers.handle(tool.name, params as never, id)).pipe(
    Effect.flatMap((results) => Stream.runLast(Stream.filter(results, (result) => !result.preliminary))),
    Effect.map((last) => toolStepOf(tool, Option.getOrUndefined(last))),
    runsInContext
  )

// The handler a toolkit's layer (`toolkit.toLayer`, `toolkit.toHandlers`) put
// in the context: effect keeps each tool's `Tool.Handler` under the tool's
// public `id`. Checked for its shape: anything else goes through `handle`.
const handlerInContext = (services: Context.Context<never>, codecs: Codecs): Tool.Handler<string> | undefined => {
  const entry: unknown = Context.getOrUndefined(services, codecs.handlerKey)
  return typeof entry === "object" && entry !== null && "handler" in entry && typeof entry.handler === "function" &&
      "context" in entry && Context.isContext(entry.context)
    ? entry as Tool.Handler<string>
    : undefined
}

// The same steps as effect's Toolkit `handle` (decode the parameters, run the
// handler with its layer's services, encode the result), called directly: the
// agent wants the final result only, so it skips the per-call queue, fiber and
// stream (about three quarters of an agent's CPU per tool step, measured with
// packages/bench/src/cpu.ts).
const viaHandler = (handler: Tool.Handler<string>, codecs: Codecs, id: string, params: unknown): Effect.Effect<Data_.ToolStep, unknown> =>
  Effect.matchEffect(codecs.decodeParameters(params), {
    onFailure: codecs.invalidParameters,
    onSuccess: (decoded): Effect.Effect<Data_.ToolStep, unknown> =>
      // (called here, not in an `Effect.suspend`: this runs in the fiber, so a
      // handler that throws is a defect of the call all the same)
      Effect.matchEffect(
        Effect.updateContext(
          handler.handler(decoded, { toolCallId: id, preliminary: noPreliminary }),
          underHandler(handler.context)
        ),
        codecs.handled
      )
  })

// (the agent keeps the final result only)
const noPreliminary = () => Effect.void

// The handler's services under the run's (what effect's Toolkit does per
// call): the update of a handler context's calls, made once per handler
// context, merges once per context it runs under (contexts are immutable, and
// a context the fiber has not run in before costs a Map copy and a new fiber
// context cache, effect's makeFiberContextCache, per tool call).
const updaters = new WeakMap<Context.Context<never>, (current: Context.Context<never>) => Context.Context<never>>()

const underHandler = (services: Context.Context<never>) => {
  let update = updaters.get(services)
  if (update === undefined) {
    const merged = new WeakMap<Context.Context<never>, Context.Context<never>>()
    update = (current) => {
      let context = merged.get(current)
      if (context === undefined) merged.set(current, context = Context.merge(services, current))
      return context
    }
    updaters.set(services, update)
  }
  return update
}

// Each tool's codecs and its handler's key, made once (tools are immutable values), and what
// follows a direct handler call, made once per tool too (no closures per call).
interface Codecs {
  /** The key of the tool's handler in a toolkit layer's context. */
  readonly handlerKey: Context.Key<never, unknown>
  readonly decodeParameters: (u: unknown) => Effect.Effect<unknown, Schema.SchemaError>
  readonly invalidParameters: (issue: Schema.SchemaError) => Effect.Effect<Data_.ToolStep, unknown>
  readonly handled: {
    readonly onSuccess: (value: unknown) => Effect.Effect<Data_.ToolStep, unknown>
    readonly onFailure: (error: unknown) => Effect.Effect<Data_.ToolStep, unknown>
  }
}

const codecsCache = new WeakMap<Tool.Any, Codecs>()

const codecsOf = (tool: Tool.Any): Codecs => {
  let codecs = codecsCache.get(tool)
  if (codecs === undefined) {
    const encodeSuccess = Schema.encodeUnknownEffect(tool.successSchema as Schema.Codec<unknown, unknown>)
    const encodeFailure = Schema.encodeUnknownEffect(Tool.failureResultSchema(tool) as unknown as Schema.Codec<unknown, unknown>)
    const succeeded = (encodedResult: unknown) => toolStepOf(tool, { encodedResult, isFailure: false })
    const failed = (failureOrigin: Tool.FailureOrigin) => (encodedResult: unknown) =>
      toolStepOf(tool, { encodedResult, isFailure: true, failureOrigin })
    const failedParameters = failed("parameters"), failedHandler = failed("handler")
    codecs = {
      handlerKey: { key: tool.id } as Context.Key<never, unknown>,
      decodeParameters: Schema.isSchema(tool.parametersSchema)
        ? Schema.decodeUnknownEffect(tool.parametersSchema as Schema.Codec<unknown, unknown>)
        : Effect.succeed,
      invalidParameters: (issue) => {
        const error = new AiError.AiError({
          module: "Toolkit",
          method: `${tool.name}.handle`,
          reason: new AiError.ToolParameterValidationError({ toolName: tool.name, description: issue.message })
        })
        return tool.failureMode === "error"
          ? Effect.fail(error)
          : Effect.map(encodeFailure(error), failedParameters)
      },
      handled: {
        onSuccess: (value) => Effect.map(encodeSuccess(value), succeeded),
        onFailure: (error) =>
          tool.failureMode === "return"
            ? Effect.map(encodeFailure(error), failedHandler)
            : Effect.fail(error)
      }
    }
    codecsCache.set(tool, codecs)
  }
  return codecs
}

// The toolkits with their handlers, through effect's public Toolkit API (a
// toolkit with bound handlers, such as an MCP server's, is used as it is);
// several become one that hands each call to the toolkit owning the tool.
// Making a toolkit's handlers compiles each tool's Schemas and depends only on
// the context (the handlers' layer), so they are made once per toolkit and
// context and shared by the runs in that context; a run keeps them from its
// first call.
const madeHandlers = new WeakMap<object, WeakMap<Context.Context<never>, Toolkit.WithHandler<Record<string, Tool.Any>>>>()

const handlersOf = <O>(run: Run<O>): Effect.Effect<Toolkit.WithHandler<Record<string, Tool.Any>>> => {
  if (run.handlers !== undefined) return Effect.succeed(run.handlers)
  const { toolkits } = run.config
  if (toolkits.length === 1) return Effect.map(handlersOfOne(run, toolkits[0]!), (handlers) => run.handlers = handlers)
  return Effect.map(
    Effect.forEach(toolkits, (toolkit) => handlersOfOne(run, toolkit)),
    (all) => run.handlers = combined(run.config.toolsByName, all)
  )
}

const handlersOfOne = <O>(run: Run<O>, toolkit: AnyToolkit): Effect.Effect<Toolkit.WithHandler<Record<string, Tool.Any>>> => {
  if (!Effect.isEffect(toolkit)) return Effect.succeed(toolkit)
  let byContext = madeHandlers.get(toolkit)
  if (byContext === undefined) madeHandlers.set(toolkit, byContext = new WeakMap())
  const made = byContext.get(run.services)
  if (made !== undefined) return Effect.succeed(made)
  return Effect.map(runsInContext(toolkit as Toolkit.Toolkit<Record<string, Tool.Any>>), (handlers) => {
    byContext.set(run.services, handlers)
    return handlers
  })
}

const combined = (
  tools: Record<string, Tool.Any>,
  toolkits: ReadonlyArray<Toolkit.WithHandler<Record<string, Tool.Any>>>
): Toolkit.WithHandler<Record<string, Tool.Any>> => {
  const owners = new Map<string, Toolkit.WithHandler<Record<string, Tool.Any>>>()
  for (const toolkit of toolkits) for (const name of Object.keys(toolkit.tools)) owners.set(name, toolkit)
  return { tools, handle: (name, params, id, options) => owners.get(name)!.handle(name, params, id, options) }
}

// An MCP server that exited or whose connection closed: its client fails
// every later call too (effect's McpClient does not reconnect).
const serverGone = (error: unknown): error is McpClientError.McpClientError =>
  McpClientError.isMcpClientError(error) &&
  (error.reason._tag === "TransportError" || error.reason._tag === "ClosedError")

// The handlers' services: `Agent.make` lists them in the agent's requirements,
// so they are in the context every run of the loop runs in.
const runsInContext = <A, E>(effect: Effect.Effect<A, E, any>): Effect.Effect<A, E> => effect as Effect.Effect<A, E>

// Whether a tool's result can be sent as JSON as it is: JSON.stringify would
// throw on a BigInt or a cycle, and makes nothing of a top-level function,
// symbol or undefined. Plain data (arrays, plain objects, primitives) is walked
// without building its text; anything else, and data nested deeper than
// `maxWalkDepth` (a cycle), is tried with JSON.stringify.
const isJson = (value: unknown): boolean => {
  if (value === null || typeof value === "string" || typeof value === "boolean") return true
  if (typeof value === "number") return Number.isFinite(value)
  if (typeof value !== "object") return false
  return plainJson(value, 0) ?? stringifies(value)
}

const maxWalkDepth = 32

// true or false when plain data decides, undefined when JSON.stringify must
const plainJson = (value: object, depth: number): boolean | undefined => {
  if (depth > maxWalkDepth) return undefined
  if (Array.isArray(value)) {
    for (const item of value) {
      const ok = nestedJson(item, depth)
      if (ok !== true) return ok
    }
    return true
  }
  const proto = Object.getPrototypeOf(value)
  if ((proto !== Object.prototype && proto !== null) || typeof (value as { toJSON?: unknown }).toJSON === "function") {
    return undefined
  }
  // (for-in over a plain object, as Object.keys would list it, without an array of its keys per call)
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue
    const ok = nestedJson((value as Record<string, unknown>)[key], depth)
    if (ok !== true) return ok
  }
  return true
}

// (nested, a function, symbol or undefined is dropped or sent as null: only a BigInt fails)
const nestedJson = (item: unknown, depth: number): boolean | undefined =>
  typeof item === "bigint" ? false : typeof item === "object" && item !== null ? plainJson(item, depth + 1) : true

const stringifies = (value: object): boolean => {
  try {
    JSON.stringify(value)
    return true
  } catch {
    return false
  }
}

const errorResult = (failure: Data_.FailureKind, error: string, message: string): Data_.ToolStep => ({
  isFailure: true,
  failure,
  result: { error, message }
})

const messageOf = (u: unknown): string =>
  typeof u === "object" && u !== null && "message" in u && typeof u.message === "string" && u.message.length > 0
    ? u.message
    : String(u)

// The typed failure of a tool (failureMode "error"), encoded with its
// failure Schema when it can be, so the model sees the tool's own error data.
const failureResult = (tool: Tool.Any, error: unknown): Data_.ToolStep => {
  if (AiError.isAiError(error)) {
    const reason = error.reason
    if (reason._tag === "ToolParameterValidationError") {
      return errorResult("parameters", "InvalidParameters", `Invalid arguments for ${tool.name}: ${reason.description}`)
    }
    return errorResult("handler", "ToolFailed", reason.message)
  }
  const encoded = Schema.encodeUnknownOption(tool.failureSchema as Schema.Codec<unknown, unknown>)(error)
  return {
    isFailure: true,
    failure: "handler",
    result: Option.isSome(encoded) && isJson(encoded.value)
      ? { error: "ToolFailed", message: messageOf(error), failure: encoded.value }
      : { error: "ToolFailed", message: messageOf(error) }
  }
}

// -----------------------------------------------------------------------------
// History, records and events
// -----------------------------------------------------------------------------

// Appends to the history; `sent` messages are also the next model call's
// journal request (everything but the model's own reply). The run's own array
// is appended to at once; a store that needs an effect returns it, for the
// step to yield (no generator or effect per append otherwise).
const append = <O>(run: Run<O>, messages: ReadonlyArray<Prompt.Message>, sent = true): Effect.Effect<void> | undefined => {
  // (only a journal reads them)
  if (sent && run.journal !== undefined) run.sinceModel.push(...messages)
  if (run.history.appendNow === undefined) return run.history.append(messages)
  run.history.appendNow(messages)
  return undefined
}

const record = <O>(run: Run<O>, step: Data_.ModelStep, toolCalls: ReadonlyArray<Data_.ToolCallRecord>): Data_.StepRecord => {
  const record: Data_.StepRecord = {
    step: run.step,
    failed: toolCalls.some((call) => call.isFailure && call.failure !== "denied"),
    finishReason: step.finishReason,
    text: step.text,
    toolCalls,
    inputTokens: step.usage.inputTokens,
    outputTokens: step.usage.outputTokens
  }
  run.records.push(record)
  return record
}

const finished = <O>(run: Run<O>, record: Data_.StepRecord) =>
  AgentEvent.StepFinished({
    agent: run.config.name,
    step: record.step,
    failed: record.failed,
    toolCalls: record.toolCalls.length,
    finishReason: record.finishReason,
    inputTokens: record.inputTokens,
    outputTokens: record.outputTokens
  })

export const usageOf = <O>(run: Run<O>): Budget.Usage => {
  const { usage } = run
  return {
    inputTokens: usage.inputTokens,
    outputTokens: usage.outputTokens,
    totalTokens: usage.inputTokens + usage.outputTokens,
    steps: usage.steps,
    toolCalls: usage.toolCalls,
    cost: usage.cost
  }
}

/** The structured output of an agent: its decoder (every issue listed) and its JSON encoding. */
export const output = <O, RO>(schema: Schema.Codec<O, any, RO>, name: string): Output<O> => {
  const encode = Schema.encodeUnknownSync(schema as Schema.Codec<unknown, unknown>)
  const decode = Schema.decodeUnknownEffect(schema, { errors: "all" })
  return {
    schema,
    objectName: name.replace(/[^a-zA-Z0-9_-]/g, "_"),
    // the Schema's services are in the agent's requirements (see runsInContext)
    decode: (u) => runsInContext(decode(u)),
    encode: (value) => {
      try {
        return JSON.stringify(encode(value))
      } catch {
        return undefined
      }
    }
  }
}
