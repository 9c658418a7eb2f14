/**
 * The Responses API (`POST /responses`): effect's prompt, tools and output
 * format to a request body, and the response (or its stream of events) back
 * to effect's response parts and to a direct reply.
 *
 * Items the model produced keep their ids in the parts' `openai` metadata
 * (`itemId`, and `encryptedContent` for reasoning), which effect's `Prompt`
 * carries into the next turn's history, so reasoning survives round trips.
 * Built-in tool calls (web search, code interpreter, ...) run on OpenAI's side:
 * their items are not turned into parts.
 *
 * @internal
 */
import type { DirectModel } from "@effect-harness/core"
import type { LanguageModel, Prompt, Response } from "effect/ai"
import type { RequestInput, Settings } from "./chat.ts"
import * as Errors from "./errors.ts"
import {
  argumentsText,
  builtinTool,
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
  responsesTokens
} from "./shared.ts"

// -----------------------------------------------------------------------------
// Request
// -----------------------------------------------------------------------------

const inputPart = (part: Prompt.TextPart | Prompt.FilePart): JsonObject => {
  if (part.type === "text") return { type: "input_text", text: part.text }
  const data = fileData(part)
  if (part.mediaType.startsWith("image/")) {
    const detail = openaiOptions(part.options)?.imageDetail ?? "auto"
    return data._tag === "id"
      ? { type: "input_image", file_id: data.id, detail }
      : { type: "input_image", image_url: data._tag === "url" ? data.url : data.dataUrl, detail }
  }
  if (data._tag === "id") return { type: "input_file", file_id: data.id }
  if (data._tag === "url") return { type: "input_file", file_url: data.url }
  const out: JsonObject = { type: "input_file", file_data: data.dataUrl }
  if (part.fileName !== undefined) out.filename = part.fileName
  return out
}

const assistantItems = (content: ReadonlyArray<Prompt.AssistantMessagePart>, out: Array<JsonObject>) => {
  // consecutive parts of one output item (same itemId) go back as one item
  let message: JsonObject | undefined
  let reasoning: JsonObject | undefined
  for (const part of content) {
    const openai = openaiOptions(part.options)
    const itemId: string | undefined = openai?.itemId ?? undefined
    if (part.type !== "text" || itemId === undefined || message?.id !== itemId) message = undefined
    if (part.type !== "reasoning" || itemId === undefined || reasoning?.id !== itemId) reasoning = undefined
    switch (part.type) {
      case "text": {
        if (itemId === undefined) {
          out.push({ role: "assistant", content: part.text })
        } else if (message !== undefined) {
          message.content.push({ type: "output_text", text: part.text, annotations: [] })
        } else {
          message = {
            type: "message",
            id: itemId,
            role: "assistant",
            status: openai?.status ?? "completed",
            content: [{ type: "output_text", text: part.text, annotations: [] }]
          }
          out.push(message)
        }
        break
      }
      case "reasoning": {
        if (itemId === undefined) break // reasoning of another provider cannot be replayed
        if (reasoning === undefined) {
          reasoning = { type: "reasoning", id: itemId, summary: [] }
          if (typeof openai?.encryptedContent === "string") reasoning.encrypted_content = openai.encryptedContent
          out.push(reasoning)
        } else if (reasoning.encrypted_content === undefined && typeof openai?.encryptedContent === "string") {
          reasoning.encrypted_content = openai.encryptedContent
        }
        if (part.text.length > 0) reasoning.summary.push({ type: "summary_text", text: part.text })
        break
      }
      case "tool-call": {
        if (part.providerExecuted) break
        const item: JsonObject = {
          type: "function_call",
          call_id: part.id,
          name: part.name,
          arguments: argumentsText(part.params)
        }
        if (itemId !== undefined) item.id = itemId
        if (typeof openai?.status === "string") item.status = openai.status
        out.push(item)
        break
      }
    }
  }
}

const outputOf = (part: Prompt.ToolResultPart): unknown =>
  part.modelOutput === undefined ? resultText(part.result) : part.modelOutput.map(inputPart)

/** The `input` items of a request. */
export const input = (prompt: Prompt.Prompt, systemRole: "system" | "developer"): Array<JsonObject> =>
  convertPrompt(prompt, systemRole, messageItems)

// The items of one message other than a system one.
const messageItems = (message: Prompt.Message, out: Array<JsonObject>): void => {
  switch (message.role) {
    case "user": {
      const parts = message.content
      out.push({
        role: "user",
        content: parts.length === 1 && parts[0]!.type === "text" ? parts[0]!.text : parts.map(inputPart)
      })
      break
    }
    case "assistant":
      assistantItems(message.content, out)
      break
    case "tool":
      for (const part of message.content) {
        if (part.type !== "tool-result" || part.providerExecuted) continue
        out.push({ type: "function_call_output", call_id: part.id, output: outputOf(part) })
      }
      break
  }
}

const toolChoice = (choice: LanguageModel.ToolChoice<string>): unknown => {
  if (typeof choice === "string") return choice
  if ("tool" in choice) return { type: "function", name: choice.tool }
  return {
    type: "allowed_tools",
    mode: choice.mode ?? "auto",
    tools: choice.oneOf.map((name) => ({ type: "function", name }))
  }
}

/** The request body. */
export const body = (
  request: RequestInput,
  settings: Settings,
  stream: boolean,
  direct: boolean
): JsonObject => {
  const out: JsonObject = { ...settings.config }
  if (out.model === undefined) out.model = settings.model
  out.input = input(request.prompt, settings.systemRole)
  if (request.tools.length > 0) {
    const tools: Array<JsonObject> = []
    for (const tool of request.tools) {
      const builtin = builtinTool(tool)
      if (builtin !== undefined) {
        tools.push(builtin)
        continue
      }
      const fn = functionTool(tool)
      const definition: JsonObject = { type: "function", name: fn.name, parameters: fn.parameters }
      if (fn.description !== undefined) definition.description = fn.description
      // the Responses API is strict unless told otherwise; effect's schemas
      // rarely meet strict mode's rules, so strict is opt-in (Tool.Strict)
      definition.strict = fn.strict ?? false
      tools.push(definition)
    }
    out.tools = tools
    out.tool_choice = toolChoice(request.toolChoice)
  }
  if (request.responseFormat.type === "json") {
    const output = outputSchema(request.responseFormat.schema, direct)
    out.text = {
      ...out.text,
      format: { type: "json_schema", name: request.responseFormat.objectName, schema: output.schema, strict: output.strict }
    }
  }
  if (stream) out.stream = true
  return out
}

// -----------------------------------------------------------------------------
// Response
// -----------------------------------------------------------------------------

/** effect's finish reason for a response's status. */
export const finishReason = (response: JsonObject, hasToolCalls: boolean): Response.FinishReason => {
  switch (response.status) {
    case "completed":
    case "complete":
      return hasToolCalls ? "tool-calls" : "stop"
    case "incomplete": {
      const reason = response.incomplete_details?.reason
      return reason === "max_output_tokens" ? "length" : reason === "content_filter" ? "content-filter" : "other"
    }
    case "failed":
      return "error"
    case "queued":
    case "in_progress":
      return "unknown"
    default:
      return "other"
  }
}

const failure = (response: JsonObject, method: string, partial?: Errors.Partial): never => {
  const error = response.error
  throw Errors.make(
    method,
    Errors.fromCode(error?.code ?? undefined, error?.message ?? `The response failed (status ${response.status})`, partial)
  )
}

const refusalOf = (item: JsonObject): string | undefined => {
  for (const content of item.content ?? []) {
    if (content.type === "refusal") return content.refusal
  }
  return undefined
}

/** effect's response parts for a response; fails on a refusal or a failed response. */
export const parts = (response: JsonObject, method: string): Array<Response.PartEncoded> => {
  if (response.status === "failed") failure(response, method)
  const out: Array<Response.PartEncoded> = [metadataPart(response.id, response.model, response.created_at)]
  let hasToolCalls = false
  for (const item of response.output ?? []) {
    switch (item.type) {
      case "message":
        for (const content of item.content) {
          if (content.type === "output_text") {
            out.push({ type: "text", text: content.text, metadata: { openai: { itemId: item.id } } })
          } else if (content.type === "refusal") throw Errors.refusal(method, content.refusal)
        }
        break
      case "function_call":
        hasToolCalls = true
        out.push({
          type: "tool-call",
          id: item.call_id,
          name: item.name,
          params: parseArguments(item.arguments),
          metadata: { openai: { itemId: item.id } }
        })
        break
      case "reasoning": {
        const metadata = { openai: { itemId: item.id, encryptedContent: item.encrypted_content ?? null } }
        const summary = item.summary ?? []
        if (summary.length === 0) out.push({ type: "reasoning", text: "", metadata })
        for (const entry of summary) out.push({ type: "reasoning", text: entry.text, metadata })
        break
      }
    }
  }
  out.push(finishPart(finishReason(response, hasToolCalls), responsesTokens(response.usage)))
  return out
}

/** The direct reply for a response; fails on a refusal or a failed response. */
export const reply = (response: JsonObject, method: string): DirectModel.Reply => {
  if (response.status === "failed") failure(response, method)
  let text = ""
  const toolCalls: Array<DirectModel.ToolCall> = []
  for (const item of response.output ?? []) {
    if (item.type === "message") {
      const refusal = refusalOf(item)
      if (refusal !== undefined) throw Errors.refusal(method, refusal)
      for (const content of item.content) if (content.type === "output_text") text += content.text
    } else if (item.type === "function_call") {
      toolCalls.push({ id: item.call_id, name: item.name, params: parseArguments(item.arguments) })
    }
  }
  return {
    text,
    toolCalls,
    finishReason: finishReason(response, toolCalls.length > 0),
    usage: directUsage(responsesTokens(response.usage)),
    model: response.model
  }
}
