/**
 * Running the tool calls of one agent step: approval, execution through the
 * toolkit's handlers, and turning every way a call can go wrong (bad
 * arguments, unknown tool, handler failure, defect) into an error result the
 * model can read, so that the run goes on.
 *
 * @internal
 */
import { Cause, Context, Effect, Option, Schema, Stream } from "effect"
import { AiError, type Prompt, Tool, type Toolkit } from "effect/ai"
import * as Journal from "../../durable/Journal.ts"
import type { Decision, FailureKind, PendingCall, ToolCallRecord, ToolStep } from "./agentModel.ts"
import { ToolStep as ToolStepSchema } from "./agentModel.ts"

export interface ToolRuntime {
  readonly tools: Record<string, Tool.Any>
  /** For the calls effect's Toolkit runs itself (see {@link viaToolkit}); its handlers are built when one comes. */
  readonly toolkit: Toolkit.Toolkit<Record<string, Tool.Any>> | undefined
  readonly idempotent: ReadonlySet<string>
  /** The services of the run, where `toolkit.toLayer` put the handlers. */
  readonly context: Context.Context<never>
  /** The run's journal; undefined for the passthrough one. */
  readonly journal: Journal.Service | undefined
  /** Whether each call gets its own span (only when a tracer is installed). */
  readonly traced: boolean
  /** Per handler: the run's services with the handler's own added, made once per run. */
  readonly handlerServices: Map<HandlerEntry, Context.Context<never>>
}

interface Codecs {
  readonly decodeParameters: (u: unknown) => Effect.Effect<unknown, Schema.SchemaError>
  /** Without an effect: the value, or undefined when the effect is needed (invalid input, services, async). */
  readonly decodeParametersNow: (u: unknown) => { readonly value: unknown } | undefined
  readonly encodeSuccess: (u: unknown) => Effect.Effect<unknown, Schema.SchemaError>
  readonly encodeSuccessNow: (u: unknown) => { readonly value: unknown } | undefined
  readonly encodeFailure: (u: unknown) => Effect.Effect<unknown, Schema.SchemaError>
  readonly outcome: Outcome
}

// What a handler's outcome becomes, the same for every call of a tool: built
// once per tool rather than as closures per call.
interface Outcome {
  readonly onSuccess: (value: unknown) => Effect.Effect<ToolStep>
  readonly onFailure: (error: unknown) => Effect.Effect<ToolStep>
  readonly interrupted: (cause: Cause.Cause<unknown>) => Effect.Effect<ToolStep>
}

// the agent keeps a call's final result only
const noPreliminary = () => Effect.void

// Schema's synchronous codecs run compiled, without an effect; anything they
// cannot do (an invalid value and its message, services, async steps) goes
// the effect way.
const now = (run: (u: unknown) => unknown) => (u: unknown): { readonly value: unknown } | undefined => {
  try {
    return { value: run(u) }
  } catch {
    return undefined
  }
}

// Built once per tool (tools are immutable values).
const codecsCache = new WeakMap<Tool.Any, Codecs>()

const codecsOf = (tool: Tool.Any): Codecs => {
  let codecs = codecsCache.get(tool)
  if (codecs === undefined) {
    const decodeParameters = Schema.isSchema(tool.parametersSchema)
      ? Schema.decodeUnknownEffect(tool.parametersSchema as Schema.Codec<unknown, unknown>)
      : Effect.succeed
    const decodeParametersNow = Schema.isSchema(tool.parametersSchema)
      ? now(Schema.decodeUnknownSync(tool.parametersSchema as Schema.Codec<unknown, unknown>))
      : (u: unknown) => ({ value: u })
    const encodeSuccess = Schema.encodeUnknownEffect(tool.successSchema as Schema.Codec<unknown, unknown>)
    const encodeSuccessNow = now(Schema.encodeUnknownSync(tool.successSchema as Schema.Codec<unknown, unknown>))
    const encodeFailure = Schema.encodeUnknownEffect(
      Tool.failureResultSchema(tool) as unknown as Schema.Codec<unknown, unknown>
    )
    codecs = {
      decodeParameters,
      decodeParametersNow,
      encodeSuccess,
      encodeSuccessNow,
      encodeFailure,
      outcome: {
        onSuccess: (value) => {
          const encoded = encodeSuccessNow(value)
          if (encoded !== undefined) return Effect.succeed<ToolStep>({ isFailure: false, result: encoded.value })
          return Effect.map(encodeSuccess(value), (result): ToolStep => ({ isFailure: false, result })).pipe(
            Effect.catchTag("SchemaError", (error) =>
              Effect.succeed(errorResult("handler", "InvalidResult", `${tool.name} returned an invalid result: ${error.message}`)))
          )
        },
        onFailure: (error) =>
          tool.failureMode === "return"
            ? Effect.map(encodeFailure(error), (result): ToolStep => ({ isFailure: true, failure: "handler", result }))
              .pipe(Effect.catchTag("SchemaError", () => Effect.succeed(failureResult(tool, error))))
            : Effect.succeed(failureResult(tool, error)),
        interrupted: interruptedOr(tool)
      }
    }
    codecsCache.set(tool, codecs)
  }
  return codecs
}

// Toolkit handlers are stored under the tool's id, a string key.
const keyOf = (key: string) => ({ key }) as Context.Key<never, unknown>

export interface HandlerEntry {
  readonly handler: (params: unknown, context: unknown) => Effect.Effect<unknown, unknown>
  readonly context: Context.Context<never>
}

const handlerOf = (runtime: ToolRuntime, tool: Tool.Any): HandlerEntry | undefined => {
  // a lookup by key: `mapUnsafe` would copy the run's whole context
  const entry: any = Context.getOrUndefined(runtime.context, keyOf(tool.id))
  return typeof entry === "object" && entry !== null && typeof entry.handler === "function" &&
      typeof entry.context === "object"
    ? entry as HandlerEntry
    : undefined
}

const errorResult = (failure: FailureKind, error: string, message: string): ToolStep => ({
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
const failureResult = (tool: Tool.Any, error: unknown): ToolStep => {
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
    result: Option.isSome(encoded)
      ? { error: "ToolFailed", message: messageOf(error), failure: encoded.value }
      : { error: "ToolFailed", message: messageOf(error) }
  }
}

const interruptedOr = (tool: Tool.Any) => (cause: Cause.Cause<unknown>): Effect.Effect<ToolStep> => {
  // an interrupted run stays interrupted; everything else becomes a result
  if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
  const error = Cause.findErrorOption(cause)
  if (Option.isSome(error)) return Effect.succeed(failureResult(tool, error.value))
  return Effect.succeed(errorResult("defect", "ToolCrashed", `${tool.name} crashed: ${messageOf(Cause.squash(cause))}`))
}

// Through effect's Toolkit: a stream of results per call (preliminary ones
// included), which costs a queue and a fiber per call.
const viaToolkit = (runtime: ToolRuntime, tool: Tool.Any, call: PendingCall): Effect.Effect<ToolStep> =>
  Effect.flatMap(
    Effect.flatMap(runtime.toolkit!, (handler) => handler.handle(tool.name, call.params as never, call.id)),
    (results) => Stream.runLast(Stream.filter(results, (result) => !result.preliminary))
  ).pipe(
    Effect.map((last): ToolStep => {
      if (Option.isNone(last)) return errorResult("handler", "ToolFailed", `${tool.name} returned no result`)
      const result = last.value
      if (!result.isFailure) return { isFailure: false, result: result.encodedResult }
      return {
        isFailure: true,
        failure: result.failureOrigin === "parameters" ? "parameters" : "handler",
        result: result.encodedResult
      }
    }),
    Effect.catchCause(interruptedOr(tool))
  ) as Effect.Effect<ToolStep>

// The same steps as effect's Toolkit (decode the parameters, run the handler
// with its layer's services, encode the result), called directly: the agent
// wants the final result only, so it skips the per-call queue and fiber.
const direct = (
  runtime: ToolRuntime,
  entry: HandlerEntry,
  tool: Tool.Any,
  call: PendingCall
): Effect.Effect<ToolStep> => {
  const codecs = codecsOf(tool)
  const outcome = codecs.outcome
  const run = (params: unknown): Effect.Effect<ToolStep> =>
    entry.handler(params, { toolCallId: call.id, preliminary: noPreliminary }).pipe(
      Effect.updateContext((services: Context.Context<never>) => handlerServices(runtime, entry, services)),
      Effect.matchEffect(outcome),
      Effect.catchCause(outcome.interrupted)
    ) as Effect.Effect<ToolStep>
  const decoded = codecs.decodeParametersNow(call.params)
  if (decoded !== undefined) return run(decoded.value)
  return Effect.flatMap(Effect.result(codecs.decodeParameters(call.params)), (decoded): Effect.Effect<ToolStep> =>
    decoded._tag === "Failure"
      ? Effect.succeed(
        errorResult("parameters", "InvalidParameters", `Invalid arguments for ${tool.name}: ${decoded.failure.message}`)
      )
      : run(decoded.success))
}

// The handler's own services under the current ones (the current ones win,
// as in effect's Toolkit). A handler layer usually holds a few services: they
// are added one by one, which is cheaper than copying the whole context.
const withHandlerServices = (own: Context.Context<never>, services: Context.Context<never>): Context.Context<never> => {
  const map = own.mapUnsafe
  if (map.size === 0) return services
  if (map.size > 8) return Context.merge(own, services)
  let merged = services
  for (const [key, value] of map) {
    if (Context.getOrUndefined(services, keyOf(key)) === undefined) merged = Context.addUnsafe(merged, key, value)
  }
  return merged
}

// The services a tool call runs in are the run's own unless a span was added
// around it: then the merge is made for that call alone.
const handlerServices = (runtime: ToolRuntime, entry: HandlerEntry, services: Context.Context<never>) => {
  if (services !== runtime.context) return withHandlerServices(entry.context, services)
  let merged = runtime.handlerServices.get(entry)
  if (merged === undefined) {
    merged = withHandlerServices(entry.context, services)
    runtime.handlerServices.set(entry, merged)
  }
  return merged
}

const execute = (runtime: ToolRuntime, tool: Tool.Any, call: PendingCall): Effect.Effect<ToolStep> => {
  const entry = tool.toModelOutput === undefined ? handlerOf(runtime, tool) : undefined
  return entry === undefined ? viaToolkit(runtime, tool, call) : direct(runtime, entry, tool, call)
}

/**
 * The steps of one tool call, as a generator the agent's loop delegates to
 * (see {@link runCall} for the effect). A denied call does not run and is not
 * journaled (its decision is).
 */
export function* callSteps(
  runtime: ToolRuntime,
  call: PendingCall,
  decision: Decision | undefined
): Generator<any, ToolCallRecord, any> {
  if (decision?._tag === "Deny") {
    return {
      id: call.id,
      name: call.name,
      params: call.params,
      isFailure: true,
      failure: "denied",
      // the shape of effect's Tool.ExecutionFailure
      result: { type: "execution-denied", reason: decision.reason ?? "The user denied this tool call." }
    }
  }
  const params = decision?._tag === "Edit" ? decision.params : call.params
  const effective = decision?._tag === "Edit" ? { ...call, params } : call
  const tool = Object.hasOwn(runtime.tools, call.name) ? runtime.tools[call.name] : undefined
  const run: Effect.Effect<ToolStep> = tool === undefined
    ? Effect.succeed(errorResult(
      "unknown-tool",
      "UnknownTool",
      `There is no tool named "${call.name}". Available tools: ${Object.keys(runtime.tools).join(", ")}`
    ))
    : execute(runtime, tool, effective)
  const journal = runtime.journal
  let step: ToolStep
  if (journal === undefined) step = yield* run
  else {
    const idempotent = runtime.idempotent.has(call.name) ||
      (tool !== undefined && Context.get(tool.annotations, Tool.Idempotent))
    step = yield* journal.step(
      {
        kind: "tool",
        name: call.name,
        request: { id: call.id, name: call.name, params },
        idempotent,
        ...(idempotent
          ? {}
          : { unknownOutcome: errorResult("handler", "UnknownOutcome", Journal.unknownOutcomeMessage(call.name)) })
      },
      ToolStepSchema,
      run
    )
  }
  return {
    id: call.id,
    name: call.name,
    params,
    isFailure: step.isFailure,
    failure: step.failure,
    result: step.result
  }
}

/**
 * Runs one tool call as a journaled tool step, in its own span when a tracer
 * is installed.
 */
export const runCall = (
  runtime: ToolRuntime,
  call: PendingCall,
  decision: Decision | undefined
): Effect.Effect<ToolCallRecord, Journal.JournalMismatch | Journal.JournalError> => {
  // the generator's yields are typed loosely: its errors are the journal's
  const steps = Effect.gen(() => callSteps(runtime, call, decision)) as Effect.Effect<
    ToolCallRecord,
    Journal.JournalMismatch | Journal.JournalError
  >
  return !runtime.traced ? steps : Effect.withSpan(steps, `execute_tool ${call.name}`, {
    attributes: {
      "gen_ai.operation.name": "execute_tool",
      "gen_ai.tool.name": call.name,
      "gen_ai.tool.call.id": call.id
    },
    captureStackTrace: false
  })
}

/** Whether a call needs the caller's approval before it runs. */
export const needsApproval = (
  runtime: ToolRuntime,
  call: PendingCall,
  messages: ReadonlyArray<Prompt.Message>
): Effect.Effect<boolean> => {
  const tool = Object.hasOwn(runtime.tools, call.name) ? runtime.tools[call.name] : undefined
  const rule = tool?.needsApproval
  if (rule === undefined || rule === false) return Effect.succeed(false)
  if (rule === true) return Effect.succeed(true)
  // arguments that do not decode will fail as a bad call: nothing to approve
  const decoded = Schema.decodeUnknownOption(tool!.parametersSchema as Schema.Codec<unknown, unknown>)(call.params)
  if (Option.isNone(decoded)) return Effect.succeed(false)
  const answer = rule(decoded.value, { toolCallId: call.id, messages })
  return typeof answer === "boolean" ? Effect.succeed(answer) : answer
}
