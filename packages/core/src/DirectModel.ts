/**
 * The harness's direct line to a model: one request in, one decoded reply out,
 * without effect `LanguageModel`'s per-call Schema work (re-decoding the
 * response parts, rebuilding the JSON Schema of the output). Providers that
 * can answer this way (the OpenAI provider, `TestModel`) provide it next to
 * `LanguageModel`; harnesses use it when it is there and fall back to
 * `LanguageModel` otherwise, with the same behaviour.
 *
 * What comes from the network is still decoded once, by the provider; what
 * the harness built itself (the prompt, the tools) is not validated again.
 *
 * @since 0.1.0
 */
import { Context, Effect, Option } from "effect"
import type * as Schema from "effect/Schema"
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
 * yet validated against the tool's Schema.
 *
 * @since 0.1.0
 */
export interface ToolCall {
  readonly id: string
  readonly name: string
  readonly params: unknown
}

/**
 * Token counts of one call; `undefined` where the provider did not say.
 *
 * @since 0.1.0
 */
export interface Usage {
  readonly inputTokens: number | undefined
  readonly outputTokens: number | undefined
  readonly cachedInputTokens?: number | undefined
  readonly reasoningTokens?: number | undefined
}

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
 * The direct model service.
 *
 * @since 0.1.0
 */
export class DirectModel extends Context.Service<DirectModel, {
  readonly generate: (request: Request) => Effect.Effect<Reply, AiError.AiError>
}>()("@effect-harness/core/DirectModel") {}

const emptyUsage: Usage = { inputTokens: undefined, outputTokens: undefined }

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
      usage = {
        inputTokens: part.usage.inputTokens.total,
        outputTokens: part.usage.outputTokens.total,
        cachedInputTokens: part.usage.inputTokens.cacheRead,
        reasoningTokens: part.usage.outputTokens.reasoning
      }
    }
  }
  return { text, toolCalls, finishReason, usage }
}

/**
 * Answers direct requests through effect's `LanguageModel` (the slow path,
 * for providers that only offer `LanguageModel`). Tool calls come back
 * undecoded; a JSON answer that fails the provider-side decoding still comes
 * back as text, so that the harness reports the issues itself.
 *
 * @since 0.1.0
 */
export const fromLanguageModel = (model: LanguageModel.LanguageModel): DirectModel["Service"] => ({
  generate: (request) => {
    if (request.responseFormat.type === "json") {
      const { objectName, schema } = request.responseFormat
      return model.generateObject({ prompt: request.prompt, schema: schema as any, objectName }).pipe(
        Effect.map((response) => replyFromParts(response.content)),
        Effect.catchReason("AiError", "StructuredOutputError", (reason) =>
          Effect.succeed({ text: reason.responseText, toolCalls: [], finishReason: "stop", usage: emptyUsage } as Reply))
      )
    }
    const toolkit = request.tools.length === 0 ? undefined : toolkitOf(request.tools)
    return (model.generateText as any)({
      prompt: request.prompt,
      ...(toolkit === undefined ? {} : { toolkit, toolChoice: request.toolChoice }),
      disableToolCallResolution: true,
      toolCallValidation: "deferred"
    }).pipe(Effect.map((response: LanguageModel.GenerateTextResponse<any>) => replyFromParts(response.content)))
  }
})

// effect's LanguageModel takes tools as a toolkit; the handlers are never called
// because tool-call resolution is disabled.
const toolkitOf = (tools: ReadonlyArray<Tool.Any>) => ({
  tools: Object.fromEntries(tools.map((tool) => [tool.name, tool])),
  handle: () => Effect.die(new AiError.UnknownError({ description: "tool resolution is disabled" }))
})

/**
 * The direct model of the context: the provider's own when it offers one,
 * otherwise an adapter over `LanguageModel`.
 *
 * @since 0.1.0
 */
export const current: Effect.Effect<DirectModel["Service"], never, LanguageModel.LanguageModel> = Effect.flatMap(
  Effect.serviceOption(DirectModel),
  (direct) =>
    Option.isSome(direct)
      ? Effect.succeed(direct.value)
      : Effect.map(Effect.service(LanguageModel.LanguageModel), fromLanguageModel)
)
