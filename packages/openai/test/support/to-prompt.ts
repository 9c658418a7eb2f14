/**
 * From a recorded request body back to what an effect program would have
 * given the layer: a `Prompt`, tools, a tool choice and the extra request
 * fields (sent through the layer's `config`). Written independently of the
 * layer's own conversion, so that the replay test compares two directions:
 * recorded wire -> Prompt (here) -> wire (the layer) must give back the
 * recorded request.
 *
 * Anything of the recorded request that a Prompt cannot carry is listed in
 * `unsupported`, so the test can count it instead of comparing what cannot
 * match.
 */
import { Schema } from "effect"
import { type LanguageModel, Prompt, Tool } from "effect/ai"
import { type Api, args } from "./recorded.ts"

export interface Converted {
  readonly prompt: Prompt.Prompt
  readonly tools: Array<Tool.Any>
  readonly toolChoice: LanguageModel.ToolChoice<string> | undefined
  readonly config: Record<string, unknown>
  readonly systemMessageRole: "system" | "developer"
  readonly model: string
  /** Features of the recorded request that this conversion cannot reproduce. */
  readonly unsupported: Array<string>
}


const mediaOf = (url: string, fallback: string) => url.startsWith("data:") ? url.slice(5, url.indexOf(";")) : fallback

/** Fields the layer builds itself; everything else is passed through `config`. */
const builtFields: Record<Api, ReadonlyArray<string>> = {
  chat: ["model", "messages", "tools", "tool_choice", "stream", "stream_options"],
  responses: ["model", "input", "tools", "tool_choice", "stream"]
}

class Builder {
  readonly messages: Array<Prompt.Message> = []
  readonly unsupported: Array<string> = []
  readonly systemRoles = new Set<string>()
  private assistant: Array<Prompt.AssistantMessagePart> | undefined
  private tool: Array<Prompt.ToolResultPart> | undefined
  readonly names = new Map<string, string>()

  flush() {
    if (this.assistant !== undefined) this.messages.push(Prompt.assistantMessage({ content: this.assistant }))
    if (this.tool !== undefined) this.messages.push(Prompt.toolMessage({ content: this.tool }))
    this.assistant = undefined
    this.tool = undefined
  }
  push(message: Prompt.Message) {
    this.flush()
    this.messages.push(message)
  }
  assistantPart(part: Prompt.AssistantMessagePart) {
    if (this.tool !== undefined) this.flush()
    ;(this.assistant ??= []).push(part)
  }
  toolResult(id: string, result: unknown, modelOutput?: Array<Prompt.ToolModelOutputPart>) {
    if (this.assistant !== undefined) this.flush()
    ;(this.tool ??= []).push(Prompt.toolResultPart({
      id,
      name: this.names.get(id) ?? "unknown",
      isFailure: false,
      result,
      providerExecuted: false,
      ...(modelOutput === undefined ? {} : { modelOutput })
    }))
  }
  extraKeys(where: string, value: Record<string, unknown>, known: ReadonlyArray<string>) {
    for (const key of Object.keys(value)) {
      if (!known.includes(key) && value[key] !== null) this.unsupported.push(`${where}.${key}`)
    }
  }
}

const text = (value: string) => Prompt.textPart({ text: value })

// -----------------------------------------------------------------------------
// Chat Completions
// -----------------------------------------------------------------------------

const chatUserPart = (b: Builder, part: any): Prompt.UserMessagePart | undefined => {
  switch (part.type) {
    case "text":
      b.extraKeys("text part", part, ["type", "text"])
      return text(part.text)
    case "image_url": {
      const { url, detail } = part.image_url
      return Prompt.filePart({
        mediaType: mediaOf(url, "image/*"),
        data: url.startsWith("data:") ? url : new URL(url),
        ...(detail === undefined ? {} : { options: { openai: { imageDetail: detail } } })
      })
    }
    case "input_audio":
      return Prompt.filePart({
        mediaType: part.input_audio.format === "wav" ? "audio/wav" : "audio/mpeg",
        data: part.input_audio.data
      })
    case "file":
      if (part.file.file_id !== undefined) return Prompt.filePart({ mediaType: "application/pdf", data: part.file.file_id })
      return Prompt.filePart({
        mediaType: mediaOf(part.file.file_data, "application/octet-stream"),
        data: part.file.file_data,
        ...(part.file.filename === undefined ? {} : { fileName: part.file.filename })
      })
    default:
      b.unsupported.push(`user part ${part.type}`)
      return undefined
  }
}

const fromChat = (b: Builder, body: Record<string, any>) => {
  for (const message of body.messages) {
    switch (message.role) {
      case "system":
      case "developer":
        b.systemRoles.add(message.role)
        b.push(Prompt.systemMessage({
          content: typeof message.content === "string"
            ? message.content
            : message.content.map((part: any) => part.text).join("")
        }))
        break
      case "user":
        b.push(Prompt.userMessage({
          content: typeof message.content === "string"
            ? [text(message.content)]
            : message.content.flatMap((part: any) => chatUserPart(b, part) ?? [])
        }))
        break
      case "assistant": {
        b.extraKeys("assistant message", message, ["role", "content", "tool_calls"])
        if (typeof message.content === "string" && message.content.length > 0) b.assistantPart(text(message.content))
        for (const call of message.tool_calls ?? []) {
          b.names.set(call.id, call.function.name)
          b.assistantPart(Prompt.toolCallPart({
            id: call.id,
            name: call.function.name,
            params: args(call.function.arguments),
            providerExecuted: false
          }))
        }
        if (message.content === undefined || message.content === null || message.content === "") {
          if ((message.tool_calls ?? []).length === 0) b.assistantPart(text(""))
        }
        b.flush()
        break
      }
      case "tool":
        if (typeof message.content !== "string") b.unsupported.push("tool message with content parts")
        b.toolResult(message.tool_call_id, message.content)
        break
      default:
        b.unsupported.push(`message role ${message.role}`)
    }
  }
  b.flush()
}

// -----------------------------------------------------------------------------
// Responses
// -----------------------------------------------------------------------------

const responsesInputPart = (b: Builder, part: any): Prompt.UserMessagePart | undefined => {
  switch (part.type) {
    case "input_text":
      b.extraKeys("input_text", part, ["type", "text"])
      return text(part.text)
    case "input_image": {
      const options = { openai: { imageDetail: part.detail } }
      if (part.file_id !== undefined) return Prompt.filePart({ mediaType: "image/*", data: part.file_id, options })
      const url: string = part.image_url
      return Prompt.filePart({
        mediaType: mediaOf(url, "image/*"),
        data: url.startsWith("data:") ? url : new URL(url),
        options
      })
    }
    case "input_file":
      if (part.file_id !== undefined) return Prompt.filePart({ mediaType: "application/pdf", data: part.file_id })
      if (part.file_url !== undefined) {
        return Prompt.filePart({ mediaType: "application/octet-stream", data: new URL(part.file_url) })
      }
      return Prompt.filePart({
        mediaType: mediaOf(part.file_data, "application/octet-stream"),
        data: part.file_data,
        ...(part.filename === undefined ? {} : { fileName: part.filename })
      })
    default:
      b.unsupported.push(`input part ${part.type}`)
      return undefined
  }
}

const contentParts = (b: Builder, content: unknown) =>
  typeof content === "string" ? [text(content)] : (content as Array<any>).flatMap((p) => responsesInputPart(b, p) ?? [])

const fromResponses = (b: Builder, body: Record<string, any>) => {
  const input = typeof body.input === "string" ? [{ role: "user", content: body.input }] : body.input
  for (const item of input) {
    const type = item.type ?? "message"
    switch (type) {
      case "message":
        if (item.role === "user") b.push(Prompt.userMessage({ content: contentParts(b, item.content) }))
        else if (item.role === "system" || item.role === "developer") {
          b.systemRoles.add(item.role)
          b.push(Prompt.systemMessage({
            content: typeof item.content === "string" ? item.content : item.content.map((p: any) => p.text).join("")
          }))
        } else if (item.role === "assistant") {
          b.extraKeys("assistant message", item, ["type", "role", "content", "id", "status"])
          const options = item.id === undefined ? {} : { openai: { itemId: item.id, status: item.status } }
          if (typeof item.content === "string") b.assistantPart(Prompt.textPart({ text: item.content, options }))
          else {
            for (const part of item.content) {
              b.extraKeys("output_text", part, ["type", "text", "annotations"])
              if ((part.annotations ?? []).length > 0) b.unsupported.push("output_text annotations")
              b.assistantPart(Prompt.textPart({ text: part.text, options }))
            }
          }
        } else b.unsupported.push(`message role ${item.role}`)
        break
      case "function_call":
        b.extraKeys("function_call", item, ["type", "call_id", "name", "arguments", "id", "status"])
        b.names.set(item.call_id, item.name)
        b.assistantPart(Prompt.toolCallPart({
          id: item.call_id,
          name: item.name,
          params: args(item.arguments),
          providerExecuted: false,
          options: {
            openai: {
              ...(item.id === undefined ? {} : { itemId: item.id }),
              ...(typeof item.status === "string" ? { status: item.status } : {})
            }
          }
        }))
        break
      case "function_call_output":
        if (typeof item.output === "string") b.toolResult(item.call_id, item.output)
        else b.toolResult(item.call_id, item.output, contentParts(b, item.output) as Array<Prompt.ToolModelOutputPart>)
        break
      case "reasoning": {
        b.extraKeys("reasoning", item, ["type", "id", "summary", "encrypted_content"])
        const options = { openai: { itemId: item.id, encryptedContent: item.encrypted_content ?? null } }
        if (item.summary.length === 0) b.assistantPart(Prompt.reasoningPart({ text: "", options }))
        for (const entry of item.summary) b.assistantPart(Prompt.reasoningPart({ text: entry.text, options }))
        break
      }
      default:
        b.unsupported.push(`input item ${type}`)
    }
  }
  b.flush()
}

// -----------------------------------------------------------------------------
// Tools
// -----------------------------------------------------------------------------

const BuiltinArgs = Schema.Record(Schema.String, Schema.Unknown)

const toolsOf = (b: Builder, api: Api, tools: ReadonlyArray<any>): Array<Tool.Any> =>
  tools.map((tool, index) => {
    const fn = api === "chat" ? tool.function : tool
    if (tool.type === "function") {
      b.extraKeys("function tool", fn, ["type", "name", "description", "parameters", "strict"])
      const dynamic = Tool.dynamic(fn.name, {
        parameters: fn.parameters,
        ...(fn.description === undefined ? {} : { description: fn.description })
      })
      return (fn.strict === undefined ? dynamic : dynamic.annotate(Tool.Strict, fn.strict)) as Tool.Any
    }
    if (api === "chat") b.unsupported.push(`chat tool ${tool.type}`)
    const { type, ...rest } = tool
    return Tool.providerDefined({
      id: `openai.${type}`,
      customName: `${type}_${index}`,
      providerName: type,
      args: BuiltinArgs
    })(rest) as Tool.Any
  })

const toolChoiceOf = (b: Builder, choice: any): LanguageModel.ToolChoice<string> | undefined => {
  if (choice === undefined || choice === null) return undefined
  if (typeof choice === "string") return choice as "auto" | "none" | "required"
  if (choice.type === "function") return { tool: choice.function?.name ?? choice.name }
  if (choice.type === "allowed_tools") {
    const allowed = choice.allowed_tools ?? choice
    return { mode: allowed.mode, oneOf: allowed.tools.map((t: any) => t.function?.name ?? t.name) }
  }
  b.unsupported.push(`tool_choice ${choice.type}`)
  return undefined
}

/** Converts a recorded request body. */
export const convert = (api: Api, body: Record<string, any>): Converted => {
  const b = new Builder()
  if (api === "chat") fromChat(b, body)
  else fromResponses(b, body)
  if (b.systemRoles.size > 1) b.unsupported.push("both system and developer messages")
  const config: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(body)) {
    if (!builtFields[api].includes(key)) config[key] = value
  }
  return {
    prompt: Prompt.fromMessages(b.messages),
    tools: toolsOf(b, api, body.tools ?? []),
    toolChoice: toolChoiceOf(b, body.tool_choice),
    config,
    systemMessageRole: b.systemRoles.has("developer") ? "developer" : "system",
    model: body.model,
    unsupported: b.unsupported
  }
}
