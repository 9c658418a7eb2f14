/**
 * The harness's direct line to a model: one request in, one decoded reply out,
 * without effect `LanguageModel`'s per-call Schema work (re-decoding the
 * response parts, rebuilding the JSON Schema of the output).
 *
 * There is one model seam: effect's `LanguageModel` service. A provider that
 * can answer faster attaches its fast path to the `LanguageModel` value it
 * provides ({@link attach}); harnesses resolve the model from whatever
 * `LanguageModel` their context holds ({@link fromContext}), so an inner
 * layer, an `ExecutionPlan` step or a middleware always wins, and a
 * `LanguageModel` without a fast path goes through an adapter
 * ({@link fromLanguageModel}) with the same behaviour.
 *
 * What comes from the network is still decoded once, by the provider; what
 * the harness built itself (the prompt, the tools) is not validated again.
 * Streaming works the same way: `stream` hands over plain {@link StreamPart}s
 * that the provider built, with no Schema decoding on the way.
 *
 * @since 0.1.0
 */
import { Array as Arr, Context, Data, Effect, type Pull, Schema, Stream } from "effect"
import { AiError, LanguageModel, type Prompt, type Response, type Tool } from "effect/ai"

/**
 * The answer format a request asks for.
 *
 * @since 0.1.0
 */
export type ResponseFormat =
  | { readonly type: "text" }
  | { readonly type: "json"; readonly objectName: string; readonly schema: Schema.Top }

/**
 * One model request.
 *
 * @since 0.1.0
 */
export interface Request {
  readonly prompt: Prompt.Prompt
  readonly tools: ReadonlyArray<Tool.Any>
  readonly toolChoice: LanguageModel.ToolChoice<string>
  readonly responseFormat: ResponseFormat
}

/**
 * A tool call the model asked for; `params` are the parsed JSON arguments, not
 * yet validated against the tool's Schema. The one shape of a tool call across
 * replies, partial responses, pauses, events and journals.
 *
 * @since 0.1.0
 */
export const ToolCall = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  params: Schema.Unknown
})

/**
 * @since 0.1.0
 */
export interface ToolCall extends Schema.Schema.Type<typeof ToolCall> {}

/**
 * Token counts of one model call; absent or `undefined` where the provider
 * did not say. The one per-call usage (a run's totals are `Budget.Usage`).
 *
 * @since 0.1.0
 */
export const Usage = Schema.Struct({
  inputTokens: Schema.optional(Schema.Number),
  outputTokens: Schema.optional(Schema.Number),
  cachedInputTokens: Schema.optional(Schema.Number),
  reasoningTokens: Schema.optional(Schema.Number)
})

/**
 * @since 0.1.0
 */
export interface Usage extends Schema.Schema.Type<typeof Usage> {}

/**
 * One model reply.
 *
 * @since 0.1.0
 */
export interface Reply {
  readonly text: string
  readonly toolCalls: ReadonlyArray<ToolCall>
  readonly finishReason: Response.FinishReason
  readonly usage: Usage
  /** The provider's model id, when it says. */
  readonly model?: string | undefined
  /**
   * A JSON answer the provider already decoded with the request's Schema
   * (through its own wire form of it, when `text` is in that form rather than
   * the Schema's encoding). Absent when the provider leaves decoding `text` to
   * the harness, or when the answer did not decode.
   */
  readonly structured?: Structured | undefined
}

/**
 * An answer decoded by the provider: the Schema's `Type`.
 *
 * @since 0.1.0
 */
export interface Structured {
  readonly value: unknown
}

/**
 * A piece of text, as it arrives.
 *
 * @since 0.1.0
 */
export interface TextDeltaPart {
  readonly type: "text-delta"
  readonly delta: string
}

/**
 * A piece of the model's reasoning (a summary, for providers that only show
 * that), as it arrives.
 *
 * @since 0.1.0
 */
export interface ReasoningDeltaPart {
  readonly type: "reasoning-delta"
  readonly delta: string
}

/**
 * A complete tool call: its arguments arrived in full and were parsed.
 *
 * @since 0.1.0
 */
export interface ToolCallPart extends ToolCall {
  readonly type: "tool-call"
}

/**
 * A piece of a tool call's JSON arguments, as it arrives (from providers that
 * stream them). The complete call follows as a {@link ToolCallPart}, with the
 * arguments parsed.
 *
 * @since 0.1.0
 */
export interface ToolParamsDeltaPart {
  readonly type: "tool-params-delta"
  /** The call's id, as its {@link ToolCallPart} will have it. */
  readonly id: string
  readonly name: string
  readonly delta: string
}

/**
 * The last part of a successful stream.
 *
 * @since 0.1.0
 */
export interface FinishPart {
  readonly type: "finish"
  readonly finishReason: Response.FinishReason
  readonly usage: Usage
  /** The provider's model id, when it says. */
  readonly model?: string | undefined
  /** As {@link Reply}'s `structured`: the JSON answer the provider decoded from the streamed text. */
  readonly structured?: Structured | undefined
}

/**
 * One part of a streamed reply: text, reasoning and tool-argument deltas as
 * they arrive, complete tool calls, and a {@link FinishPart} at the end. Plain
 * objects: concatenating the text deltas gives the reply's text.
 *
 * @since 0.1.0
 */
export type StreamPart = TextDeltaPart | ReasoningDeltaPart | ToolParamsDeltaPart | ToolCallPart | FinishPart

/**
 * A model's fast path: `generate`, and optionally `stream` (without it,
 * streams go through the `LanguageModel` the fast path is attached to).
 *
 * @since 0.1.0
 */
export interface DirectModel {
  readonly generate: (request: Request) => Effect.Effect<Reply, AiError.AiError>
  readonly stream?: ((request: Request) => Stream.Stream<StreamPart, AiError.AiError>) | undefined
  /** The provider's id of the model requests go to (for spans and pricing before a reply says). */
  readonly modelId?: string | undefined
  /**
   * The provider's name as OpenTelemetry's GenAI conventions spell it
   * (`gen_ai.provider.name`: "openai", "anthropic", "gcp.gemini", ...).
   */
  readonly providerName?: string | undefined
}

/**
 * A model as harnesses call it: a fast path completed with effect's
 * `LanguageModel` where it has no stream of its own, or the adapter over a
 * `LanguageModel` without a fast path.
 *
 * @since 0.1.0
 */
export interface Resolved {
  readonly generate: (request: Request) => Effect.Effect<Reply, AiError.AiError>
  readonly stream: (request: Request) => Stream.Stream<StreamPart, AiError.AiError>
  /** The provider's model id, when its fast path says. */
  readonly modelId: string | undefined
  /** The provider's name (`gen_ai.provider.name`), when its fast path says. */
  readonly providerName: string | undefined
}

// The one seam: the fast path belongs to the `LanguageModel` value it was
// attached to. Whatever `LanguageModel` the context holds (an inner layer, a
// step of an `ExecutionPlan`, a user's middleware) is the model harnesses
// use: a value without an attached fast path goes through the adapter.
const fastPaths = new WeakMap<LanguageModel.LanguageModel, DirectModel>()
const resolved = new WeakMap<LanguageModel.LanguageModel, Resolved>()

/**
 * Attaches a fast path to the `LanguageModel` value a provider builds, and
 * returns that value (provide it as the `LanguageModel` service). Harnesses
 * then call `direct` instead of going through effect's per-call Schema work,
 * whenever that very value is the `LanguageModel` of their context. A
 * `LanguageModel` built over it (middleware) has no fast path unless it
 * attaches its own, so it sees every call.
 *
 * The fast path must behave as the `LanguageModel` does (see the "Writing a
 * provider" guide): same answers, same errors.
 *
 * @example
 * ```ts
 * import { DirectModel } from "@effect-harness/core"
 * import { Layer } from "effect"
 * import { LanguageModel } from "effect/ai"
 *
 * declare const model: LanguageModel.LanguageModel
 * declare const fastPath: DirectModel.DirectModel
 *
 * const Provider = Layer.succeed(LanguageModel.LanguageModel, DirectModel.attach(model, fastPath))
 * ```
 *
 * @since 0.1.0
 */
export const attach = (model: LanguageModel.LanguageModel, direct: DirectModel): LanguageModel.LanguageModel => {
  fastPaths.set(model, direct)
  resolved.delete(model)
  return model
}

/**
 * The fast path attached to a `LanguageModel` value, if any.
 *
 * @since 0.1.0
 */
export const fastPathOf = (model: LanguageModel.LanguageModel): DirectModel | undefined => fastPaths.get(model)

/**
 * How harnesses call a `LanguageModel`: through its attached fast path when
 * it has one, otherwise through an adapter over its `generateText`,
 * `generateObject` and `streamText`. Resolved once per model value.
 *
 * @since 0.1.0
 */
export const of = (model: LanguageModel.LanguageModel, harness?: string): Resolved => {
  // a value the types promised but a cast, a loosely typed layer or an
  // incomplete runtime did not deliver: a defect that says what to provide
  if (model === undefined || model === null) throw new MissingLanguageModel(harness === undefined ? {} : { harness })
  let found = resolved.get(model)
  if (found === undefined) {
    const direct = fastPaths.get(model)
    found = direct === undefined
      ? fromLanguageModel(model)
      : {
        generate: direct.generate,
        stream: direct.stream ?? streamLanguageModel(model, direct.generate),
        modelId: direct.modelId,
        providerName: direct.providerName
      }
    resolved.set(model, found)
  }
  return found
}

/**
 * The model of a context (see {@link of}): the one place where harnesses,
 * agents and streams resolve which model they call. `harness` names the
 * harness or agent asking, for the message of {@link MissingLanguageModel}
 * (thrown when the context has no `LanguageModel`).
 *
 * @since 0.1.0
 */
export const fromContext = (context: Context.Context<never>, harness?: string): Resolved =>
  of(Context.getOrUndefined(context, LanguageModel.LanguageModel)!, harness)

/**
 * The defect of a harness, agent or stream run without a `LanguageModel` in
 * its context. Their types list `LanguageModel` in the requirements, so the
 * compiler refuses to run one without a model (`Type 'LanguageModel' is not
 * assignable to type 'never'`); it is missing at run time only when the
 * requirement was hidden from the compiler: a cast (`as any`, `as Effect<A, E>`),
 * a layer typed wider than what it builds, or a runtime whose layer leaves
 * the model out. Its message starts as effect's own (`Service not found:
 * effect/ai/LanguageModel`) and says which layers provide one.
 *
 * @since 0.1.0
 */
export class MissingLanguageModel extends Data.TaggedError("MissingLanguageModel")<{
  /** The harness or agent that needed the model, when known. */
  readonly harness?: string | undefined
}> {
  override get message(): string {
    const who = this.harness === undefined ? "" : ` (needed by harness "${this.harness}")`
    return `Service not found: effect/ai/LanguageModel${who}. Provide a model layer: ` +
      `OpenAiLanguageModel.layerConfig({ model: "gpt-4o-mini" }) from @effect-harness/openai ` +
      `(or OpenAiLanguageModel.layer({ model }) with an OpenAiClient layer, or any effect LanguageModel provider), ` +
      `or TestModel.layer([...]) from @effect-harness/testing in tests. ` +
      `The compiler lists LanguageModel in the requirements; it goes missing at run time when a cast (as any), ` +
      `a layer typed wider than what it builds, or a ManagedRuntime built from a layer without a model hides it.`
  }
}

const emptyUsage: Usage = { inputTokens: undefined, outputTokens: undefined }

// the fields read are the same in effect's decoded and encoded usage
const usageOf = (usage: Response.Usage | typeof Response.Usage.Encoded): Usage => ({
  inputTokens: usage.inputTokens.total,
  outputTokens: usage.outputTokens.total,
  cachedInputTokens: usage.inputTokens.cacheRead,
  reasoningTokens: usage.outputTokens.reasoning
})

/**
 * Reads a reply out of effect's response parts.
 *
 * @since 0.1.0
 */
export const replyFromParts = (content: ReadonlyArray<Response.AllParts<any>>): Reply => {
  let text = ""
  const toolCalls: Array<ToolCall> = []
  let finishReason: Response.FinishReason = "unknown"
  let usage = emptyUsage
  for (const part of content) {
    if (part.type === "text") text += part.text
    else if (part.type === "tool-call") toolCalls.push({ id: part.id, name: part.name, params: part.params })
    else if (part.type === "finish") {
      finishReason = part.reason
      usage = usageOf(part.usage)
    }
  }
  return { text, toolCalls, finishReason, usage }
}

/**
 * A whole reply as stream parts: its text as one delta, its tool calls, the
 * finish part.
 *
 * @since 0.1.0
 */
export const replyToParts = (reply: Reply): Array<StreamPart> => {
  const parts: Array<StreamPart> = []
  if (reply.text.length > 0) parts.push({ type: "text-delta", delta: reply.text })
  for (const call of reply.toolCalls) parts.push({ type: "tool-call", id: call.id, name: call.name, params: call.params })
  parts.push({
    type: "finish",
    finishReason: reply.finishReason,
    usage: reply.usage,
    model: reply.model,
    ...(reply.structured === undefined ? {} : { structured: reply.structured })
  })
  return parts
}

/**
 * Answers direct requests through effect's `LanguageModel` (the adapter, for
 * models without a fast path). Tool calls come back undecoded; a JSON answer
 * that fails the provider-side decoding still comes back as text, so that the
 * harness reports the issues itself. effect's `generateObject` takes no tools,
 * so a JSON request with tools is sent as a text request with the tools, and
 * the harness decodes the text answer. Streams go through
 * `LanguageModel.streamText` (see {@link streamLanguageModel}).
 *
 * @since 0.1.0
 */
export const fromLanguageModel = (model: LanguageModel.LanguageModel): Resolved => {
  const generate = (request: Request): Effect.Effect<Reply, AiError.AiError> => {
    if (request.responseFormat.type === "json" && request.tools.length === 0) {
      const { objectName, schema } = request.responseFormat
      return model.generateObject({ prompt: request.prompt, schema: schema as any, objectName }).pipe(
        Effect.map((response) => replyFromParts(response.content)),
        Effect.catchReason("AiError", "StructuredOutputError", (reason) =>
          Effect.succeed({ text: reason.responseText, toolCalls: [], finishReason: "stop", usage: emptyUsage } as Reply))
      ) as Effect.Effect<Reply, AiError.AiError>
    }
    return (model.generateText as any)(textOptions(request)).pipe(
      Effect.map((response: LanguageModel.GenerateTextResponse<any>) => replyFromParts(response.content))
    )
  }
  return { generate, stream: streamLanguageModel(model, generate), modelId: undefined, providerName: undefined }
}

// effect's LanguageModel takes tools as a toolkit; the handlers are never called
// because tool-call resolution is disabled.
const toolkitOf = (tools: ReadonlyArray<Tool.Any>) => ({
  tools: Object.fromEntries(tools.map((tool) => [tool.name, tool])),
  handle: () => Effect.die(new AiError.UnknownError({ description: "tool resolution is disabled" }))
})

const textOptions = (request: Request) => {
  const toolkit = request.tools.length === 0 ? undefined : toolkitOf(request.tools)
  return {
    prompt: request.prompt,
    ...(toolkit === undefined ? {} : { toolkit, toolChoice: request.toolChoice }),
    disableToolCallResolution: true,
    toolCallValidation: "deferred"
  }
}

/**
 * Appends the direct stream parts of effect's stream parts: deltas, complete
 * tool calls, and the finish part with the model id that the metadata part
 * carried before it (kept in `seen`, with the names of the tool calls whose
 * arguments are streaming). It reads the same fields of decoded and encoded
 * parts, so a provider can hand over the encoded parts it built.
 *
 * @since 0.1.0
 */
export const appendStreamParts = (
  parts: ReadonlyArray<Response.StreamPart<any> | Response.StreamPartEncoded>,
  out: Array<StreamPart>,
  seen: { model: string | undefined; toolNames?: Map<string, string> | undefined }
): void => {
  for (const part of parts) {
    switch (part.type) {
      case "text-delta":
      case "reasoning-delta":
        if (part.delta.length > 0) out.push({ type: part.type, delta: part.delta })
        break
      case "tool-params-start":
        ;(seen.toolNames ??= new Map()).set(part.id, part.name)
        break
      case "tool-params-delta":
        if (part.delta.length > 0) {
          out.push({ type: "tool-params-delta", id: part.id, name: seen.toolNames?.get(part.id) ?? "", delta: part.delta })
        }
        break
      case "tool-call":
        out.push({ type: "tool-call", id: part.id, name: part.name, params: part.params })
        break
      case "response-metadata":
        if (part.modelId !== undefined) seen.model = part.modelId
        break
      case "finish":
        out.push({ type: "finish", finishReason: part.reason, usage: usageOf(part.usage), model: seen.model })
        break
    }
  }
}

/**
 * Streams direct requests through effect's `LanguageModel.streamText` (the
 * slow path: every part is decoded through Schema on the way). effect's
 * `streamText` only asks for text, so a JSON request is answered through
 * `generate` and handed over in one piece.
 *
 * @since 0.1.0
 */
export const streamLanguageModel = (
  model: LanguageModel.LanguageModel,
  generate: (request: Request) => Effect.Effect<Reply, AiError.AiError>
) =>
(request: Request): Stream.Stream<StreamPart, AiError.AiError> => {
  if (request.responseFormat.type === "json") {
    return Stream.fromIterableEffect(Effect.map(generate(request), replyToParts))
  }
  const parts: Stream.Stream<Response.StreamPart<any>, AiError.AiError> = (model.streamText as any)(textOptions(request))
  return Stream.transformPull(parts, (pull) =>
    Effect.sync(() => {
      const seen = { model: undefined as string | undefined }
      // parts that carry nothing here (starts, ends, metadata) are skipped:
      // a pull gives at least one part
      const next: Pull.Pull<Arr.NonEmptyReadonlyArray<StreamPart>, AiError.AiError> = Effect.flatMap(pull, (parts) => {
        const out: Array<StreamPart> = []
        appendStreamParts(parts, out, seen)
        return Arr.isArrayNonEmpty(out) ? Effect.succeed(out) : next
      })
      return next
    }))
}

/**
 * Streams one request through the model of the context (see
 * {@link fromContext}), with effect's `AiError`. `Harness.streamText` is the
 * same with the harness's errors.
 *
 * @example
 * ```ts
 * import { DirectModel, Messages } from "@effect-harness/core"
 * import { Stream } from "effect"
 *
 * const text = DirectModel.stream({
 *   prompt: Messages.toPrompt("Tell me about Paris"),
 *   tools: [],
 *   toolChoice: "none",
 *   responseFormat: { type: "text" }
 * }).pipe(Stream.runFold(() => "", (text, part) => part.type === "text-delta" ? text + part.delta : text))
 * ```
 *
 * @since 0.1.0
 */
export const stream = (request: Request): Stream.Stream<StreamPart, AiError.AiError, LanguageModel.LanguageModel> =>
  Stream.unwrap(Effect.withFiber((fiber) => Effect.succeed(fromContext(fiber.context).stream(request))))

/**
 * The model of the context, as harnesses call it (see {@link of}).
 *
 * @since 0.1.0
 */
export const current: Effect.Effect<Resolved, never, LanguageModel.LanguageModel> = Effect.withFiber((fiber) =>
  Effect.succeed(fromContext(fiber.context))
)
