/**
 * What the Chat Completions and Responses conversions share: tool and output
 * JSON Schemas (computed once per tool / schema and cached), file data,
 * tool arguments and results, usage.
 *
 * @internal
 */
import type { DirectModel } from "@effect-harness/core"
import { Exit, Schema } from "effect"
import { AiError, LanguageModel, OpenAiStructuredOutput, type Prompt, type Response, Tool } from "effect/ai"

/** A JSON object as sent on the wire. */
export type JsonObject = Record<string, any>

/** The `openai` entry of a part's provider options, when there is one. */
export const openaiOptions = (options: Prompt.ProviderOptions | undefined): JsonObject | undefined => {
  const value = options?.openai
  return typeof value === "object" && value !== null && !Array.isArray(value) ? value as JsonObject : undefined
}

// -----------------------------------------------------------------------------
// Messages
// -----------------------------------------------------------------------------

const convertedMessages = new WeakMap<
  (message: Prompt.Message, out: Array<JsonObject>) => void,
  WeakMap<Prompt.Message, ReadonlyArray<JsonObject>>
>()

/**
 * The wire entries of a prompt, each message converted once per message and
 * format: prompt messages are immutable, and an agent sends its whole history
 * again at every step, so each step converts only what it added. The entries
 * are shared between requests and never changed after conversion.
 *
 * The last message is not remembered when it is new: a one-off prompt (a
 * harness call) never comes back, and remembering its message would cost more
 * than converting it (a WeakMap entry for a new key, about 1 µs, against
 * 0.1 µs). A history that grows comes back with it no longer last, and it is
 * remembered then.
 */
export const convertPrompt = (
  prompt: Prompt.Prompt,
  systemRole: "system" | "developer",
  convert: (message: Prompt.Message, out: Array<JsonObject>) => void
): Array<JsonObject> => {
  const out: Array<JsonObject> = []
  const messages = prompt.content
  let cache = convertedMessages.get(convert)
  if (cache === undefined) convertedMessages.set(convert, cache = new WeakMap())
  const last = messages.length - 1
  for (let i = 0; i <= last; i++) {
    const message = messages[i]!
    // the system role follows each request's settings: not kept with the message
    if (message.role === "system") {
      out.push({ role: systemRole, content: message.content })
      continue
    }
    let entries = cache.get(message)
    if (entries === undefined) {
      if (i === last) {
        convert(message, out)
        continue
      }
      const converted: Array<JsonObject> = []
      convert(message, converted)
      cache.set(message, entries = converted)
    }
    for (const entry of entries) out.push(entry)
  }
  return out
}

// -----------------------------------------------------------------------------
// Tools
// -----------------------------------------------------------------------------

/** A function tool, as both APIs describe it. */
export interface FunctionTool {
  readonly name: string
  readonly description: string | undefined
  readonly parameters: JsonObject
  readonly strict: boolean | undefined
}

const functionTools = new WeakMap<Tool.Any, FunctionTool>()

/** The definition of a user-defined or dynamic tool, computed once per tool. */
export const functionTool = (tool: Tool.Any): FunctionTool => {
  let cached = functionTools.get(tool)
  if (cached === undefined) {
    cached = {
      name: tool.name,
      description: Tool.getDescription(tool),
      parameters: Tool.getJsonSchema(tool) as JsonObject,
      strict: Tool.getStrictMode(tool)
    }
    functionTools.set(tool, cached)
  }
  return cached
}

/** A built-in tool of the provider (`Tool.providerDefined` with an `openai.` id). */
export const builtinTool = (tool: Tool.Any): JsonObject | undefined => {
  if (!Tool.isProviderDefined(tool)) return undefined
  const args = tool.args
  return { ...(typeof args === "object" && args !== null ? args : {}), type: tool.providerName }
}

/** Fails for a tool the API cannot take. */
export const unsupportedTool = (method: string, tool: Tool.Any, api: string): AiError.AiError =>
  AiError.make({
    module: "OpenAiLanguageModel",
    method,
    reason: new AiError.ToolConfigurationError({
      toolName: tool.name,
      description: `The built-in tool ${tool.id} is not available on the ${api} API`
    })
  })

// -----------------------------------------------------------------------------
// Structured output
// -----------------------------------------------------------------------------

/** The JSON Schema an answer must follow, and whether OpenAI enforces it strictly. */
export interface OutputSchema {
  readonly schema: JsonObject
  readonly strict: boolean
}

interface Converted {
  readonly codec: Schema.Top
  readonly jsonSchema: JsonObject
  readonly strict: boolean
}

const converted = new WeakMap<Schema.Top, Converted>()

// OpenAI's strict mode takes a subset of JSON Schema: effect's converter
// rewrites the schema to fit (and returns the codec that decodes the rewritten
// form). Schemas it cannot express are sent as they are, without strict mode.
const convert = (schema: Schema.Top): Converted => {
  let cached = converted.get(schema)
  if (cached === undefined) {
    try {
      const { codec, jsonSchema } = OpenAiStructuredOutput.toCodecOpenAI(schema as any)
      cached = { codec: codec as Schema.Top, jsonSchema: jsonSchema as JsonObject, strict: true }
    } catch {
      const { codec, jsonSchema } = LanguageModel.defaultCodecTransformer(schema as any)
      cached = { codec: codec as Schema.Top, jsonSchema: jsonSchema as JsonObject, strict: false }
    }
    converted.set(schema, cached)
  }
  return cached
}

/** The codec transformer given to effect's `LanguageModel`: it decodes what {@link outputSchema} asked for. */
export const codecTransformer: LanguageModel.CodecTransformer = (schema) => {
  const { codec, jsonSchema } = convert(schema as unknown as Schema.Top)
  return { codec: codec as any, jsonSchema }
}

/**
 * The schema sent for a structured answer: the strict, converted one when the
 * conversion succeeded (the same for both paths), the original otherwise.
 */
export const outputSchema = (schema: Schema.Top, _direct: boolean): OutputSchema => {
  const result = convert(schema)
  return { schema: result.jsonSchema, strict: result.strict }
}

const decoders = new WeakMap<Schema.Top, ((text: string) => DirectModel.Structured | undefined) | null>()

/**
 * Through `DirectModel` the harness decodes the answer with its own Schema.
 * When OpenAI's strict form differs from that Schema's own encoding (optional
 * fields sent as nullable, non-finite numbers left out...), an answer in the
 * strict form does not decode with the Schema: the provider decodes it with
 * the converted codec instead and hands the value over as `structured` (one
 * decode, the network data validated once). An answer that is also in the
 * Schema's own encoding (most are: the forms differ only where the Schema
 * uses what strict mode cannot say) is decoded with the Schema itself, the
 * cheaper of the two. An answer that does not decode either way gets no
 * value: the harness reports it, with what the model said, and repairs it.
 * `undefined` when there is nothing to do (the strict form is the encoding).
 */
export const structuredAnswer = (schema: Schema.Top): ((text: string) => DirectModel.Structured | undefined) | undefined => {
  let cached = decoders.get(schema)
  if (cached === undefined) {
    const result = convert(schema)
    if (!result.strict || result.codec === schema) cached = null
    else {
      const own = Schema.decodeUnknownExit(schema as Schema.Codec<unknown, unknown>)
      const strict = Schema.decodeUnknownExit(result.codec as Schema.Codec<unknown, unknown>)
      cached = (text: string) => {
        try {
          const json: unknown = JSON.parse(text)
          const decoded = own(json)
          if (Exit.isSuccess(decoded)) return { value: decoded.value }
          const rewritten = strict(json)
          return Exit.isSuccess(rewritten) ? { value: rewritten.value } : undefined
        } catch {
          // not JSON, or a Schema that needs services to decode: the harness decodes it
          return undefined
        }
      }
    }
    decoders.set(schema, cached)
  }
  return cached ?? undefined
}

// -----------------------------------------------------------------------------
// Files
// -----------------------------------------------------------------------------

/** Where a file part's bytes are. */
export type FileData =
  | { readonly _tag: "url"; readonly url: string }
  | { readonly _tag: "id"; readonly id: string }
  | { readonly _tag: "data"; readonly base64: string; readonly dataUrl: string }

const fileIdPattern = /^file-[A-Za-z0-9_-]+$/

/**
 * Reads a prompt file part: a `URL`, an uploaded file id (`file-...`), a
 * data URL, base64 text or bytes.
 */
export const fileData = (part: Prompt.FilePart): FileData => {
  const data = part.data
  if (data instanceof URL) return { _tag: "url", url: data.href }
  if (typeof data === "string") {
    if (data.startsWith("data:")) {
      const comma = data.indexOf(",")
      return { _tag: "data", base64: data.slice(comma + 1), dataUrl: data }
    }
    if (fileIdPattern.test(data)) return { _tag: "id", id: data }
    if (data.startsWith("https://") || data.startsWith("http://")) return { _tag: "url", url: data }
    return { _tag: "data", base64: data, dataUrl: `data:${part.mediaType};base64,${data}` }
  }
  const base64 = Buffer.from(data).toString("base64")
  return { _tag: "data", base64, dataUrl: `data:${part.mediaType};base64,${base64}` }
}

/** The text a tool result is sent as. */
export const resultText = (result: unknown): string =>
  typeof result === "string" ? result : result === undefined ? "" : JSON.stringify(result)

/** The arguments of a tool call as sent back in history. */
export const argumentsText = (params: unknown): string =>
  typeof params === "string" ? params : JSON.stringify(params ?? {})

/** Parses tool-call arguments; text that is not JSON is kept as it is. */
export const parseArguments = (text: string): unknown => {
  if (text.length === 0) return {}
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

// -----------------------------------------------------------------------------
// Usage
// -----------------------------------------------------------------------------

/** Token counts as both APIs report them, read once. */
export interface Tokens {
  readonly input: number | undefined
  readonly output: number | undefined
  readonly cached: number | undefined
  readonly cacheWrite: number | undefined
  readonly reasoning: number | undefined
}

const num = (u: unknown): number | undefined => typeof u === "number" ? u : undefined

/** Reads Chat Completions usage. */
export const chatTokens = (usage: JsonObject | null | undefined): Tokens => ({
  input: num(usage?.prompt_tokens),
  output: num(usage?.completion_tokens),
  cached: num(usage?.prompt_tokens_details?.cached_tokens),
  cacheWrite: num(usage?.prompt_tokens_details?.cache_write_tokens),
  reasoning: num(usage?.completion_tokens_details?.reasoning_tokens)
})

/** Reads Responses usage. */
export const responsesTokens = (usage: JsonObject | null | undefined): Tokens => ({
  input: num(usage?.input_tokens),
  output: num(usage?.output_tokens),
  cached: num(usage?.input_tokens_details?.cached_tokens),
  cacheWrite: num(usage?.input_tokens_details?.cache_write_tokens),
  reasoning: num(usage?.output_tokens_details?.reasoning_tokens)
})

const minus = (a: number | undefined, b: number | undefined) => a === undefined ? undefined : a - (b ?? 0)

/** The finish part of effect's response. */
export const finishPart = (reason: Response.FinishReason, tokens: Tokens): Response.FinishPartEncoded => ({
  type: "finish",
  reason,
  usage: {
    inputTokens: {
      uncached: minus(tokens.input, tokens.cached),
      total: tokens.input,
      cacheRead: tokens.cached,
      cacheWrite: tokens.cacheWrite
    },
    outputTokens: { total: tokens.output, text: minus(tokens.output, tokens.reasoning), reasoning: tokens.reasoning }
  }
})

/** The usage of a direct reply. */
export const directUsage = (tokens: Tokens): DirectModel.Usage => ({
  inputTokens: tokens.input,
  outputTokens: tokens.output,
  cachedInputTokens: tokens.cached,
  reasoningTokens: tokens.reasoning
})

/** The response-metadata part. */
export const metadataPart = (
  id: string | undefined,
  model: string | undefined,
  created: number | undefined
): Response.ResponseMetadataPartEncoded => ({
  type: "response-metadata",
  id,
  modelId: model,
  timestamp: created === undefined ? undefined : new Date(created * 1000).toISOString()
})

