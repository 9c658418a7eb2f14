/**
 * One agent run's setting: the agent's configuration, the services the run
 * reads once from the context, its counters, and the messages of each request
 * (the history, or the context window's view of it).
 *
 * @internal
 */
import { Context, Data, Effect, Option, type Schema } from "effect"
import type { Prompt, Tool, Toolkit } from "effect/ai"
import * as AgentEvent from "../AgentEvent.ts"
import * as Budget from "../../state/Budget.ts"
import * as ContextWindow from "../../state/ContextWindow.ts"
import * as Conversation from "../../state/Conversation.ts"
import * as DirectModel from "../../model/DirectModel.ts"
import type * as HarnessError from "../../harness/HarnessError.ts"
import * as Journal from "../../durable/Journal.ts"
import type * as Model from "./agentModel.ts"
import { conversationStore, localStore, type Store } from "./agentStore.ts"
import type * as Tools from "./agentTools.ts"
import { isTraced } from "../../harness/internal/tracing.ts"

export type AgentError =
  | HarnessError.Fatal
  | HarnessError.InvalidOutput
  | Model.Paused
  | Journal.JournalMismatch
  | Journal.JournalError

/** A `ContextOverflow`, kept out of the retry policy: it calls for compaction, not waiting. */
export class Overflow extends Data.TaggedError("AgentContextOverflow")<{ readonly error: HarnessError.ContextOverflow }> {}

export interface Config<O> {
  readonly name: string
  readonly fixed: ReadonlyArray<Prompt.Message>
  readonly toolkit: Toolkit.Toolkit<Record<string, Tool.Any>> | undefined
  readonly tools: ReadonlyArray<Tool.Any>
  readonly toolsByName: Record<string, Tool.Any>
  readonly idempotent: ReadonlySet<string>
  /** Whether any tool may need approval (otherwise the check is skipped). */
  readonly approvals: boolean
  readonly maxSteps: number
  readonly concurrency: number | "unbounded"
  readonly stopWhen: ((state: Model.StopState) => boolean) | undefined
  readonly output: { readonly schema: Schema.Top; readonly objectName: string } | undefined
  readonly decode: ((u: unknown) => Effect.Effect<O, Schema.SchemaError, any>) | undefined
  /** A structured answer back to the output Schema's JSON encoding (undefined if it does not encode). */
  readonly encode: ((value: unknown) => string | undefined) | undefined
  readonly repairs: number
  readonly model: string | undefined
  /**
   * One model call with the agent's retry policy. A `ContextOverflow` comes
   * back as an `Overflow` value: it calls for compaction, not an error path.
   */
  readonly call: (
    model: DirectModel.Resolved,
    request: DirectModel.Request
  ) => Effect.Effect<DirectModel.Reply | Overflow, AgentError>
}

export interface RunContext {
  readonly model: DirectModel.Resolved
  /** The journal of the run; undefined for the passthrough one (no step descriptions to build). */
  readonly journal: Journal.Service | undefined
  readonly store: Store
  readonly emit: ((event: AgentEvent.AgentEvent) => Effect.Effect<void>) | undefined
  readonly budget: Budget.Service
  readonly window: ContextWindow.Service | undefined
  readonly runtime: Tools.ToolRuntime
  readonly responseFormat: DirectModel.ResponseFormat
  /** Whether step spans are made (see {@link isTraced}). */
  readonly traced: boolean
}

export interface RunState {
  step: number
  sinceModel: Array<Prompt.Message>
  lastInputTokens: number
  truncated: number
  repairs: number
  readonly usage: { inputTokens: number; outputTokens: number; steps: number; toolCalls: number; cost: number | undefined }
  readonly records: Array<Model.StepRecord>
}

export const usageOf = (state: RunState): Budget.Usage => ({
  ...state.usage,
  totalTokens: state.usage.inputTokens + state.usage.outputTokens
})

// A plain generator the loop delegates to (see agentLoop.ts).
export function* setup<O>(
  config: Config<O>,
  initial: ReadonlyArray<Prompt.Message> | undefined
): Generator<any, { readonly ctx: RunContext; readonly state: RunState }, any> {
  // every service the run needs, read once from the context
  const services = yield* Effect.context<never>()
  const conversation = Context.getOption(services, Conversation.Conversation)
  if (Option.isNone(conversation) && initial === undefined) {
    return yield* Effect.die(new Error(`Agent ${config.name}: resuming a run that used a Conversation needs it again`))
  }
  const model = DirectModel.fromContext(services)
  // (a model without a fast path sends a JSON request with tools as text: see
  // DirectModel.fromLanguageModel)
  const responseFormat: DirectModel.ResponseFormat = config.output !== undefined
    ? { type: "json", objectName: config.output.objectName, schema: config.output.schema }
    : { type: "text" }
  const journal = Context.get(services, Journal.Journal)
  const traced = isTraced(services)
  const ctx: RunContext = {
    model,
    journal: journal === Journal.passthrough ? undefined : journal,
    store: Option.isSome(conversation) ? conversationStore(conversation.value) : localStore(initial!),
    emit: Context.get(services, AgentEvent.Sink),
    budget: Context.get(services, Budget.Budget),
    window: Option.getOrUndefined(Context.getOption(services, ContextWindow.ContextWindow)),
    runtime: {
      tools: config.toolsByName,
      toolkit: config.toolkit,
      idempotent: config.idempotent,
      context: services,
      journal: journal === Journal.passthrough ? undefined : journal,
      traced,
      handlerServices: new Map()
    },
    responseFormat,
    traced
  }
  const state: RunState = {
    step: 0,
    sinceModel: [],
    lastInputTokens: 0,
    truncated: 0,
    repairs: 0,
    usage: { inputTokens: 0, outputTokens: 0, steps: 0, toolCalls: 0, cost: 0 },
    records: []
  }
  return { ctx, state }
}

type Prepared = Effect.Success<ReturnType<typeof prepare>>

// The request's messages without a context window, read without an effect
// when the store allows: the history as it is (a copy: the request must not
// change as the history grows). Undefined when `prepare` is needed.
export const prepareNow = <O>(config: Config<O>, ctx: RunContext): Prepared | undefined =>
  ctx.window === undefined && ctx.store.readNow !== undefined
    ? { messages: config.fixed.concat(ctx.store.readNow()), tokens: 0 }
    : undefined

// The request's messages: the history, or the window's view of it, trimmed
// or compacted.
export const prepare = Effect.fnUntraced(function*<O>(config: Config<O>, ctx: RunContext, state: RunState, force: boolean) {
  const history = yield* ctx.store.read
  if (ctx.window === undefined) return { messages: config.fixed.concat(history), tokens: 0 }
  const prepared = yield* ctx.window.prepare(ctx.store.owner, { fixed: config.fixed, history, tools: config.tools, force })
  if (prepared.compaction !== undefined) {
    yield* ctx.store.replace(prepared.compaction.count, prepared.compaction.replacement)
    if (ctx.emit) {
      yield* ctx.emit(AgentEvent.ContextTrimmed({
        agent: config.name,
        step: state.step + 1,
        strategy: "compact",
        messages: prepared.compaction.count,
        tokensBefore: prepared.compaction.tokensBefore,
        tokensAfter: prepared.tokens
      }))
    }
  }
  if (prepared.truncated > state.truncated) {
    if (ctx.emit) {
      yield* ctx.emit(AgentEvent.ContextTrimmed({
        agent: config.name,
        step: state.step + 1,
        strategy: "truncate",
        messages: prepared.truncated - state.truncated,
        tokensBefore: prepared.tokensBefore,
        tokensAfter: prepared.tokens
      }))
    }
    state.truncated = prepared.truncated
  }
  return prepared
})

export const append = (ctx: RunContext, messages: ReadonlyArray<Prompt.Message>): Effect.Effect<void> | undefined => {
  if (ctx.store.appendNow === undefined) return ctx.store.append(messages)
  ctx.store.appendNow(messages)
  return undefined
}
