/**
 * The Chat Completions API (`POST /chat/completions`): effect's prompt, tools
 * and output format to a request body, and the response (or its stream of
 * chunks) back to effect's response parts and to a direct reply.
 *
 * Bodies are built directly as plain objects; what comes back was parsed once
 * by the SDK and is read field by field, never re-validated.
 *
 * @internal
 */
import type { DirectModel } from "@effect-harness/core"
import type { LanguageModel, Prompt, Response, Tool } from "effect/ai"
import * as Errors from "./errors.ts"
import {
  argumentsText,
  builtinTool,
  chatTokens,
  convertPrompt,
  directUsage,
  fileData,
  finishPart,
  functionTool,
  type JsonObject,
  metadataPart,
  openaiOptions,
  outputSchema,
  parseArguments,
  resultText,
  type Tokens,
  unsupportedTool
} from "./shared.ts"

/** What a request needs besides the prompt. */
export interface RequestInput {
  readonly prompt: Prompt.Prompt
  readonly tools: ReadonlyArray<Tool.Any>
  readonly toolChoice: LanguageModel.ToolChoice<string>
  readonly responseFormat: LanguageModel.ProviderOptions["responseFormat"]
}

/** Options of the conversion that come from the layer. */
export interface Settings {
  readonly model: string
  readonly config: JsonObject
  readonly systemRole: "system" | "developer"
}

// -----------------------------------------------------------------------------
// Request
// -----------------------------------------------------------------------------

const userPart = (part: Prompt.TextPart | Prompt.FilePart): JsonObject => {
  if (part.type === "text") return { type: "text", text: part.text }
  const data = fileData(part)
  const media = part.mediaType
  if (media.startsWith("image/")) {
    if (data._tag === "id") return { type: "file", file: { file_id: data.id } }
    const detail = openaiOptions(part.options)?.imageDetail
    const url = data._tag === "url" ? data.url : data.dataUrl
    return { type: "image_url", image_url: detail === undefined ? { url } : { url, detail } }
  }
  if (data._tag === "id") return { type: "file", file: { file_id: data.id } }
  if (data._tag === "url") throw Errors.invalidInput(`Chat Completions cannot fetch a ${media} file from a URL: ${data.url}`)
  if (media.startsWith("audio/")) {
    return { type: "input_audio", input_audio: { data: data.base64, format: media.endsWith("wav") ? "wav" : "mp3" } }
  }
  const file: JsonObject = { file_data: data.dataUrl }
  if (part.fileName !== undefined) file.filename = part.fileName
  return { type: "file", file }
}

/** The `messages` of a request. Throws an `AiError` for input the API cannot take. */
export const messages = (prompt: Prompt.Prompt, systemRole: "system" | "developer"): Array<JsonObject> =>
  convertPrompt(prompt, systemRole, messageEntries)

// The entries of one message other than a system one.
const messageEntries = (message: Prompt.Message, out: Array<JsonObject>): void => {
  switch (message.role) {
    case "user": {
      const parts = message.content
      out.push({
        role: "user",
        content: parts.length === 1 && parts[0]!.type === "text" ? parts[0]!.text : parts.map(userPart)
      })
      break
    }
    case "assistant": {
      let text = ""
      let calls: Array<JsonObject> | undefined
      for (const part of message.content) {
        if (part.type === "text") text += part.text
        else if (part.type === "tool-call" && !part.providerExecuted) {
          ;(calls ??= []).push({
            id: part.id,
            type: "function",
            function: { name: part.name, arguments: argumentsText(part.params) }
          })
        }
      }
      const entry: JsonObject = { role: "assistant" }
      if (text.length > 0 || calls === undefined) entry.content = text
      if (calls !== undefined) entry.tool_calls = calls
      out.push(entry)
      break
    }
    case "tool":
      for (const part of message.content) {
        if (part.type !== "tool-result" || part.providerExecuted) continue
        out.push({
          role: "tool",
          tool_call_id: part.id,
          content: part.modelOutput === undefined
            ? resultText(part.result)
            : part.modelOutput.flatMap((p) => p.type === "text" ? [{ type: "text", text: p.text }] : [])
        })
      }
      break
  }
}

const toolChoice = (choice: LanguageModel.ToolChoice<string>): unknown => {
  if (typeof choice === "string") return choice
  if ("tool" in choice) return { type: "function", function: { name: choice.tool } }
  // `oneOf`: the tools sent are the allowed ones (compatible servers do not know `allowed_tools`)
  return choice.mode ?? "auto"
}

/**
 * The request body. `direct` says who decodes a JSON answer (see
 * `outputSchema`).
 */
export const body = (
  input: RequestInput,
  settings: Settings,
  stream: boolean,
  direct: boolean,
  method: string
): JsonObject => {
  const out: JsonObject = { ...settings.config }
  if (out.model === undefined) out.model = settings.model
  out.messages = messages(input.prompt, settings.systemRole)
  if (input.tools.length > 0) {
    const tools: Array<JsonObject> = []
    const choice = input.toolChoice
    // `oneOf` narrows the tools: effect's LanguageModel did it already, a
    // direct request may not have
    const allowed = typeof choice === "object" && "oneOf" in choice ? choice.oneOf : undefined
    for (const tool of input.tools) {
      if (allowed !== undefined && !allowed.includes(tool.name)) continue
      if (builtinTool(tool) !== undefined) throw unsupportedTool(method, tool, "Chat Completions")
      const fn = functionTool(tool)
      const definition: JsonObject = { name: fn.name, parameters: fn.parameters }
      if (fn.description !== undefined) definition.description = fn.description
      if (fn.strict !== undefined) definition.strict = fn.strict
      tools.push({ type: "function", function: definition })
    }
    out.tools = tools
    out.tool_choice = toolChoice(input.toolChoice)
  }
  if (input.responseFormat.type === "json") {
    const output = outputSchema(input.responseFormat.schema, direct)
    out.response_format = {
      type: "json_schema",
      json_schema: { name: input.responseFormat.objectName, schema: output.schema, strict: output.strict }
    }
  }
  if (stream) {
    out.stream = true
    out.stream_options = { ...out.stream_options, include_usage: true }
  }
  return out
}

// -----------------------------------------------------------------------------
// Response
// -----------------------------------------------------------------------------

/** effect's finish reason for OpenAI's. */
export const finishReason = (reason: unknown): Response.FinishReason => {
  switch (reason) {
    case "stop":
      return "stop"
    case "length":
      return "length"
    case "tool_calls":
    case "function_call":
      return "tool-calls"
    case "content_filter":
      return "content-filter"
    case null:
    case undefined:
      return "unknown"
    default:
      return "other"
  }
}

/** effect's response parts for a completion; fails on a refusal. */
export const parts = (completion: JsonObject, method: string): Array<Response.PartEncoded> => {
  const choice = completion.choices?.[0]
  const message = choice?.message
  if (typeof message?.refusal === "string" && message.refusal.length > 0) throw Errors.refusal(method, message.refusal)
  const out: Array<Response.PartEncoded> = [metadataPart(completion.id, completion.model, completion.created)]
  if (typeof message?.content === "string" && message.content.length > 0) {
    out.push({ type: "text", text: message.content })
  }
  const calls = message?.tool_calls
  if (calls !== undefined && calls !== null) {
    for (const call of calls) {
      if (call.type !== "function") continue
      out.push({
        type: "tool-call",
        id: call.id,
        name: call.function.name,
        params: parseArguments(call.function.arguments)
      })
    }
  }
  out.push(finishPart(finishReason(choice?.finish_reason), chatTokens(completion.usage)))
  return out
}

/** The direct reply for a completion; fails on a refusal. */
export const reply = (completion: JsonObject, method: string): DirectModel.Reply => {
  const choice = completion.choices?.[0]
  const message = choice?.message
  if (typeof message?.refusal === "string" && message.refusal.length > 0) throw Errors.refusal(method, message.refusal)
  const toolCalls: Array<DirectModel.ToolCall> = []
  const calls = message?.tool_calls
  if (calls !== undefined && calls !== null) {
    for (const call of calls) {
      if (call.type === "function") {
        toolCalls.push({ id: call.id, name: call.function.name, params: parseArguments(call.function.arguments) })
      }
    }
  }
  return {
    text: typeof message?.content === "string" ? message.content : "",
    toolCalls,
    finishReason: finishReason(choice?.finish_reason),
    usage: directUsage(chatTokens(completion.usage)),
    model: completion.model
  }
}

// -----------------------------------------------------------------------------
// Stream
// -----------------------------------------------------------------------------

interface PendingCall {
  readonly id: string
  readonly name: string
  args: string
}

/**
 * Turns chunks into stream parts: text deltas as they come, tool-call deltas
 * assembled into complete calls, the finish reason and the usage of the last
 * chunk at the end. Keeps what arrived for the error of a broken stream.
 */
export class StreamState {
  private started = false
  private textStarted = false
  private text = ""
  private refusal = ""
  private readonly calls: Array<PendingCall> = []
  private finish: Response.FinishReason | undefined
  private tokens: Tokens | undefined
  readonly method: string

  constructor(method: string) {
    this.method = method
  }

  /** The parts for one chunk (often none or one). */
  chunk(chunk: JsonObject): Array<Response.StreamPartEncoded> {
    const out: Array<Response.StreamPartEncoded> = []
    if (!this.started) {
      this.started = true
      out.push(metadataPart(chunk.id, chunk.model, chunk.created))
    }
    if (chunk.usage !== undefined && chunk.usage !== null) this.tokens = chatTokens(chunk.usage)
    const choice = chunk.choices?.[0]
    if (choice === undefined) return out
    const delta = choice.delta
    if (delta !== undefined && delta !== null) {
      if (typeof delta.content === "string" && delta.content.length > 0) {
        if (!this.textStarted) {
          this.textStarted = true
          out.push({ type: "text-start", id: "0" })
        }
        this.text += delta.content
        out.push({ type: "text-delta", id: "0", delta: delta.content })
      }
      if (typeof delta.refusal === "string") this.refusal += delta.refusal
      const calls = delta.tool_calls
      if (calls !== undefined && calls !== null) {
        for (const call of calls) {
          const index: number = call.index ?? this.calls.length
          let pending = this.calls[index]
          if (pending === undefined) {
            pending = { id: call.id ?? `call_${index}`, name: call.function?.name ?? "", args: "" }
            this.calls[index] = pending
            out.push({ type: "tool-params-start", id: pending.id, name: pending.name })
          }
          const args = call.function?.arguments
          if (typeof args === "string" && args.length > 0) {
            pending.args += args
            out.push({ type: "tool-params-delta", id: pending.id, delta: args })
          }
        }
      }
    }
    if (choice.finish_reason !== undefined && choice.finish_reason !== null) {
      this.finish = finishReason(choice.finish_reason)
    }
    return out
  }

  /** The closing parts once the stream ended; fails when it ended too early or was a refusal. */
  end(): Array<Response.StreamPartEncoded> {
    if (this.finish === undefined) throw Errors.truncated(this.method, this.partial())
    if (this.refusal.length > 0) throw Errors.refusal(this.method, this.refusal)
    const out: Array<Response.StreamPartEncoded> = []
    if (this.textStarted) out.push({ type: "text-end", id: "0" })
    for (const call of this.calls) {
      if (call === undefined) continue
      out.push({ type: "tool-params-end", id: call.id })
      out.push({ type: "tool-call", id: call.id, name: call.name, params: parseArguments(call.args) })
    }
    out.push(finishPart(this.finish, this.tokens ?? chatTokens(undefined)) as Response.StreamPartEncoded)
    return out
  }

  /** What arrived so far. */
  partial(): Errors.Partial {
    return {
      text: this.text,
      toolCalls: this.calls.filter((call) => call !== undefined).map((call) => ({
        id: call.id,
        name: call.name,
        params: parseArguments(call.args)
      }))
    }
  }
}
