/**
 * The agent loop: prepare the request (context window), call the model (a
 * journaled model step, retried on recoverable errors, compacted and retried
 * once on `ContextOverflow`), run the tool calls (journaled tool steps, in
 * parallel, results in the model's order), append everything to the history
 * (the conversation, or the run's own), and repeat until the model answers.
 *
 * @internal
 */
import { Effect } from "effect"
import { Prompt } from "effect/ai"
import * as AgentEvent from "../AgentEvent.ts"
import * as Budget from "../../state/Budget.ts"
import * as HarnessError from "../../harness/HarnessError.ts"
import * as Journal from "../../durable/Journal.ts"
import * as Model from "./agentModel.ts"
import {
  append,
  type Config,
  Overflow,
  prepare,
  prepareNow,
  type RunContext,
  type RunState,
  setup,
  usageOf
} from "./agentRun.ts"
import { messageJson, unanswered } from "./agentStore.ts"
import { decodeFinal, repairRequest, stepFinished, toStep } from "./agentSteps.ts"
import * as Tools from "./agentTools.ts"

export { type AgentError, type Config, Overflow } from "./agentRun.ts"
export { isTraced } from "../../harness/internal/tracing.ts"

// The steps below are plain generators that the loop delegates to (`yield*`
// at the JavaScript level): a step costs no effect of its own, only what it
// runs. Their yields are the effects they run, typed loosely; the loop's
// result type is the agent's.
type Step<A> = Generator<any, A, any>

// One model call, journaled when the run has a journal. The journal request
// is the messages this run added since its previous model step (see the
// Agent module docs).
function* callModel<O>(
  config: Config<O>,
  ctx: RunContext,
  state: RunState,
  step: number,
  messages: ReadonlyArray<Prompt.Message>,
  final: boolean
): Step<Model.ModelStep | Overflow> {
  const reply = config.call(ctx.model, {
    prompt: Prompt.fromMessages(messages),
    tools: config.tools,
    toolChoice: final ? "none" : "auto",
    responseFormat: ctx.responseFormat
  })
  if (ctx.journal === undefined) {
    const answer = yield* reply
    return answer instanceof Overflow ? answer : toStep(answer, final, config.encode)
  }
  return yield* ctx.journal.step(
    { kind: "model", name: config.name, request: { step, messages: state.sinceModel.map(messageJson) } },
    Model.ModelStep,
    // an overflow is not recorded: the step runs again after compaction
    Effect.flatMap(reply, (reply) =>
      reply instanceof Overflow ? Effect.fail(reply) : Effect.succeed(toStep(reply, final, config.encode)))
  ).pipe(Effect.catchTag("AgentContextOverflow", (overflow) => Effect.succeed(overflow)))
}

function* modelStep<O>(config: Config<O>, ctx: RunContext, state: RunState, final: boolean): Step<Model.ModelStep> {
  const step = state.step + 1
  if (ctx.emit) yield* ctx.emit(AgentEvent.StepStarted({ agent: config.name, step }))
  let prepared = prepareNow(config, ctx) ?? (yield* prepare(config, ctx, state, false))
  if (ctx.budget.active) yield* ctx.budget.reserveStep(Math.max(state.lastInputTokens, prepared.tokens))
  state.step = step
  state.usage.steps++
  let reply: Model.ModelStep | Overflow = yield* callModel(config, ctx, state, step, prepared.messages, final)
  if (reply instanceof Overflow) {
    // the provider counts differently than our tokenizer: shrink hard, retry once
    if (ctx.window === undefined) {
      return yield* new HarnessError.RetriesExhausted({ attempts: 1, last: reply.error })
    }
    prepared = yield* prepare(config, ctx, state, true)
    reply = yield* callModel(config, ctx, state, step, prepared.messages, final)
    if (reply instanceof Overflow) {
      return yield* new HarnessError.RetriesExhausted({ attempts: 2, last: reply.error })
    }
  }
  state.sinceModel = []
  const model = reply.model ?? config.model
  const usage = reply.usage
  state.lastInputTokens = usage.inputTokens ?? prepared.tokens
  state.usage.inputTokens += usage.inputTokens ?? 0
  state.usage.outputTokens += usage.outputTokens ?? 0
  if (state.usage.cost !== undefined) {
    const price = ctx.budget.price(model)
    state.usage.cost = price === undefined ? undefined : state.usage.cost + Budget.costOf(usage, price)
  }
  if (ctx.traced) {
    yield* Effect.annotateCurrentSpan({
    "gen_ai.usage.input_tokens": usage.inputTokens ?? 0,
    "gen_ai.usage.output_tokens": usage.outputTokens ?? 0,
      "gen_ai.response.finish_reasons": [reply.finishReason]
    })
  }
  if (ctx.budget.active) {
    yield* ctx.budget.record(usage, model)
    yield* ctx.budget.check
  }
  if (ctx.emit) yield* ctx.emit(AgentEvent.UsageUpdated({ agent: config.name, step, usage: usageOf(state) }))
  const content: Array<Prompt.AssistantMessagePart> = []
  if (reply.text.length > 0) content.push(Prompt.textPart({ text: reply.text }))
  for (const call of reply.toolCalls) {
    content.push(Prompt.toolCallPart({ id: call.id, name: call.name, params: call.params, providerExecuted: false }))
  }
  const appended = append(ctx, [Prompt.assistantMessage({ content })])
  if (appended !== undefined) yield* appended
  return reply
}

// A model step in its span, when a tracer is installed.
const tracedModelStep = <O>(config: Config<O>, ctx: RunContext, state: RunState, final: boolean) =>
  Effect.withSpan(Effect.gen(() => modelStep(config, ctx, state, final)), `chat ${config.model ?? config.name}`, {
    attributes: {
      "gen_ai.operation.name": "chat",
      "gen_ai.agent.name": config.name,
      ...(config.model === undefined ? {} : { "gen_ai.request.model": config.model }),
      "harness.step": state.step + 1
    },
    // a stack trace per span is the largest cost of a step; the span names say where
    captureStackTrace: false
  })

const decisionOf = (config: Config<any>, step: number, call: Model.PendingCall, ask: Effect.Effect<Model.Decision>) =>
  Journal.step(
    { kind: "input", name: `${config.name}/approval`, request: { step, id: call.id, name: call.name, params: call.params } },
    Model.Decision,
    ask
  )

const noDecision: Model.Decision = { _tag: "Deny", reason: "No decision was given for this tool call." }

function* toolPhase<O>(
  config: Config<O>,
  ctx: RunContext,
  state: RunState,
  calls: ReadonlyArray<Model.PendingCall>,
  given: Readonly<Record<string, Model.Decision>> | undefined
): Step<ReadonlyArray<Model.ToolCallRecord>> {
  const step = state.step
  if (ctx.budget.active) yield* ctx.budget.reserveToolCalls(calls.length)
  state.usage.toolCalls += calls.length

  const decisions = new Map<string, Model.Decision>()
  const pending: Array<Model.PendingCall> = []
  if (config.approvals) {
    const history = yield* ctx.store.read
    for (const call of calls) {
      if (yield* Tools.needsApproval(ctx.runtime, call, history)) pending.push(call)
    }
  }
  if (pending.length > 0) {
    const approver = given === undefined ? yield* Model.Approval : undefined
    if (ctx.emit) yield* ctx.emit(AgentEvent.ApprovalRequested({ agent: config.name, step, pending }))
    if (given === undefined && approver === undefined) {
      const history = yield* ctx.store.snapshot
      return yield* new Model.Paused({
        agent: config.name,
        step,
        calls,
        pending,
        ...(history === undefined ? {} : { history })
      })
    }
    for (const call of pending) {
      const ask = given !== undefined
        ? Effect.succeed(given[call.id] ?? noDecision)
        : approver!({ agent: config.name, step, call })
      decisions.set(call.id, yield* decisionOf(config, step, call, ask))
    }
  }

  const emit = ctx.emit
  const run = emit === undefined
    ? (call: Model.PendingCall) => Tools.runCall(ctx.runtime, call, decisions.get(call.id))
    : (call: Model.PendingCall) =>
      Effect.gen(function*() {
        yield* emit(AgentEvent.ToolCalled({ agent: config.name, step, ...call }))
        const record = yield* Tools.runCall(ctx.runtime, call, decisions.get(call.id))
        yield* emit(AgentEvent.ToolReturned({
          agent: config.name,
          step,
          id: record.id,
          name: record.name,
          isFailure: record.isFailure,
          result: record.result
        }))
        return record
      })
  const records: ReadonlyArray<Model.ToolCallRecord> = calls.length !== 1
    ? yield* Effect.forEach(calls, run, { concurrency: config.concurrency })
    : emit === undefined && !ctx.traced
    ? [yield* Tools.callSteps(ctx.runtime, calls[0]!, decisions.get(calls[0]!.id))]
    : [yield* run(calls[0]!)]
  const message = Prompt.toolMessage({
    content: records.map((record) =>
      Prompt.toolResultPart({
        id: record.id,
        name: record.name,
        isFailure: record.isFailure,
        result: record.result,
        providerExecuted: false
      })
    )
  })
  const appended = append(ctx, [message])
  if (appended !== undefined) yield* appended
  state.sinceModel.push(message)
  return records
}

const record = (state: RunState, step: Model.ModelStep, toolCalls: ReadonlyArray<Model.ToolCallRecord>) => {
  const record: Model.StepRecord = {
    step: state.step,
    failed: toolCalls.some((call) => call.isFailure && call.failure !== "denied"),
    finishReason: step.finishReason,
    text: step.text,
    toolCalls,
    inputTokens: step.usage.inputTokens,
    outputTokens: step.usage.outputTokens
  }
  state.records.push(record)
  return record
}

function* loop<O>(
  config: Config<O>,
  ctx: RunContext,
  state: RunState,
  forceFinal: boolean
): Step<Model.RunResult<O>> {
  let final = forceFinal
  while (true) {
    if (state.step >= config.maxSteps) {
      return yield* new HarnessError.BudgetExceeded({ limit: "steps", max: config.maxSteps, used: state.step + 1 })
    }
    const reply: Model.ModelStep = ctx.traced
      ? yield* tracedModelStep(config, ctx, state, final)
      : yield* modelStep(config, ctx, state, final)
    if (reply.toolCalls.length === 0) {
      const done = record(state, reply, [])
      if (ctx.emit) yield* ctx.emit(stepFinished(config.name, done))
      let output: O
      if (config.decode === undefined) {
        output = reply.text as O
      } else {
        const decoded = yield* decodeFinal(config.decode!, reply.text)
        if (!decoded.ok) {
          if (state.repairs >= config.repairs) {
            return yield* new HarnessError.InvalidOutput({
              raw: reply.text,
              issues: decoded.issues,
              attempts: state.repairs + 1
            })
          }
          state.repairs++
          const repair = Prompt.userMessage({ content: [Prompt.textPart({ text: repairRequest(decoded.issues) })] })
          yield* ctx.store.append([repair])
          state.sinceModel.push(repair)
          continue
        }
        output = decoded.value
      }
      const result: Model.RunResult<O> = { output, steps: state.records, usage: usageOf(state) }
      if (ctx.emit) {
        yield* ctx.emit(AgentEvent.Finished({ agent: config.name, steps: state.step, usage: result.usage, output }))
      }
      return result
    }
    const calls = yield* toolPhase(config, ctx, state, reply.toolCalls, undefined)
    const done = record(state, reply, calls)
    if (ctx.emit) yield* ctx.emit(stepFinished(config.name, done))
    if (config.stopWhen?.({ step: state.step, last: done, usage: usageOf(state) }) === true) final = true
  }
}

export const run = Effect.fnUntraced(function*<O>(config: Config<O>, input: ReadonlyArray<Prompt.Message>) {
  const { ctx, state } = yield* setup(config, [])
  const denied = unanswered(yield* ctx.store.read)
  if (denied !== undefined) {
    yield* ctx.store.append([denied])
    state.sinceModel.push(denied)
  }
  yield* ctx.store.append(input)
  state.sinceModel.push(...input)
  return yield* loop(config, ctx, state, false)
})

export const resume = Effect.fnUntraced(function*<O>(
  config: Config<O>,
  paused: Model.Paused,
  decisions: Readonly<Record<string, Model.Decision>>
) {
  const { ctx, state } = yield* setup(config, paused.history?.content)
  state.step = paused.step
  const calls = yield* toolPhase(config, ctx, state, paused.calls, decisions)
  const done = record(state, { text: "", toolCalls: paused.calls, finishReason: "tool-calls", usage: {} }, calls)
  if (ctx.emit) yield* ctx.emit(stepFinished(config.name, done))
  const stop = config.stopWhen?.({ step: state.step, last: done, usage: usageOf(state) }) === true
  return yield* loop(config, ctx, state, stop)
})
