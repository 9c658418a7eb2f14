/**
 * The recorded OpenAI fixtures (../shared/fixtures/openai-recorded, read in
 * place) and what each recorded response says, read straight from the
 * recorded body: the expectations the replay test holds the layer to.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { openaiRecorded } from "../../../../scripts/fixtures.ts"

/** <repo>/../shared/fixtures/openai-recorded */
export const fixturesDir = openaiRecorded

export interface Interaction {
  readonly request: { readonly method: string; readonly path: string; readonly body: Record<string, any> }
  readonly response: {
    readonly status: number
    readonly contentType: string
    readonly headers?: Record<string, string>
    readonly body: string
  }
}

export interface RecordedFile {
  readonly name: string
  readonly interactions: ReadonlyArray<Interaction>
}

export const loadAll = (): Array<RecordedFile> =>
  Fs.readdirSync(fixturesDir).filter((name) => name.endsWith(".json")).sort().map((name) => ({
    name,
    interactions: JSON.parse(Fs.readFileSync(Path.join(fixturesDir, name), "utf8")).interactions
  }))

export type Api = "chat" | "responses"

export const apiOf = (interaction: Interaction): Api =>
  interaction.request.path.endsWith("/chat/completions") ? "chat" : "responses"

export const isStream = (interaction: Interaction) => interaction.request.body.stream === true

export const kindOf = (interaction: Interaction) =>
  `${apiOf(interaction)}/${isStream(interaction) ? "stream" : "plain"}/${
    interaction.response.status === 200 ? "ok" : "error"
  }`

export interface ExpectedCall {
  readonly id: string
  readonly name: string
  readonly params: unknown
}

export interface ExpectedUsage {
  readonly input: number | undefined
  readonly output: number | undefined
  readonly cached: number | undefined
  readonly reasoning: number | undefined
}

export interface ExpectedReasoning {
  readonly itemId: string
  readonly encryptedContent: string | null
}

export type Expected =
  | {
    readonly _tag: "Ok"
    readonly text: string
    readonly toolCalls: ReadonlyArray<ExpectedCall>
    readonly finishReason: string
    readonly usage: ExpectedUsage
    /** The reasoning items (Responses API): what the next turn must send back. */
    readonly reasoning: ReadonlyArray<ExpectedReasoning>
    /** Output items of built-in tools (web search, code interpreter, ...) that the layer does not surface. */
    readonly builtinItems: ReadonlyArray<string>
  }
  | { readonly _tag: "Refused"; readonly refusal: string }
  | {
    readonly _tag: "Error"
    readonly harnessTag: string
    readonly message: string
    readonly code: string | undefined
    readonly param: string | undefined
  }

/** Tool-call arguments as the SDK would parse them: JSON, or the raw text when it is not JSON. */
export const args = (text: string): unknown => {
  if (text.length === 0) return {}
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

const chatFinish: Record<string, string> = {
  stop: "stop",
  length: "length",
  tool_calls: "tool-calls",
  function_call: "tool-calls",
  content_filter: "content-filter"
}

const chatUsage = (usage: any): ExpectedUsage => ({
  input: usage?.prompt_tokens,
  output: usage?.completion_tokens,
  cached: usage?.prompt_tokens_details?.cached_tokens,
  reasoning: usage?.completion_tokens_details?.reasoning_tokens
})

const fromChat = (completion: any): Expected => {
  const choice = completion.choices[0]
  const message = choice.message
  if (typeof message.refusal === "string" && message.refusal.length > 0) return { _tag: "Refused", refusal: message.refusal }
  return {
    _tag: "Ok",
    text: message.content ?? "",
    toolCalls: (message.tool_calls ?? []).map((call: any) => ({
      id: call.id,
      name: call.function.name,
      params: args(call.function.arguments)
    })),
    finishReason: chatFinish[choice.finish_reason] ?? "other",
    usage: chatUsage(completion.usage),
    reasoning: [],
    builtinItems: []
  }
}

/** The data payloads of an SSE body. */
export const sseData = (body: string): Array<any> =>
  body.split("\n\n").flatMap((event) => {
    const data = event.split("\n").filter((line) => line.startsWith("data:")).map((line) => line.slice(5).trim()).join("\n")
    return data.length === 0 || data === "[DONE]" ? [] : [JSON.parse(data)]
  })

const fromChatStream = (body: string): Expected => {
  let text = ""
  let refusal = ""
  let finish: string | undefined
  let usage: any
  const calls: Array<{ id: string; name: string; args: string }> = []
  for (const chunk of sseData(body)) {
    if (chunk.usage) usage = chunk.usage
    const choice = chunk.choices?.[0]
    if (choice === undefined) continue
    text += choice.delta?.content ?? ""
    refusal += choice.delta?.refusal ?? ""
    for (const call of choice.delta?.tool_calls ?? []) {
      const entry = calls[call.index] ??= { id: call.id, name: call.function?.name, args: "" }
      entry.args += call.function?.arguments ?? ""
    }
    if (choice.finish_reason) finish = choice.finish_reason
  }
  if (refusal.length > 0) return { _tag: "Refused", refusal }
  return {
    _tag: "Ok",
    text,
    toolCalls: calls.map((call) => ({ id: call.id, name: call.name, params: args(call.args) })),
    finishReason: finish === undefined ? "unknown" : chatFinish[finish] ?? "other",
    usage: chatUsage(usage),
    reasoning: [],
    builtinItems: []
  }
}

const fromResponse = (response: any): Expected => {
  let text = ""
  const toolCalls: Array<ExpectedCall> = []
  const builtinItems: Array<string> = []
  const reasoning: Array<ExpectedReasoning> = []
  for (const item of response.output ?? []) {
    if (item.type === "message") {
      for (const part of item.content) {
        if (part.type === "output_text") text += part.text
        if (part.type === "refusal") return { _tag: "Refused", refusal: part.refusal }
      }
    } else if (item.type === "function_call") {
      toolCalls.push({ id: item.call_id, name: item.name, params: args(item.arguments) })
    } else if (item.type === "reasoning") {
      reasoning.push({ itemId: item.id, encryptedContent: item.encrypted_content ?? null })
    } else builtinItems.push(item.type)
  }
  const status = response.status
  const incomplete = response.incomplete_details?.reason
  const finishReason = status === "completed" || status === "complete"
    ? (toolCalls.length > 0 ? "tool-calls" : "stop")
    : status === "incomplete"
    ? (incomplete === "max_output_tokens" ? "length" : incomplete === "content_filter" ? "content-filter" : "other")
    : status === "queued" || status === "in_progress"
    ? "unknown"
    : "other"
  const usage = response.usage
  return {
    _tag: "Ok",
    text,
    toolCalls,
    finishReason,
    usage: {
      input: usage?.input_tokens,
      output: usage?.output_tokens,
      cached: usage?.input_tokens_details?.cached_tokens,
      reasoning: usage?.output_tokens_details?.reasoning_tokens
    },
    reasoning,
    builtinItems
  }
}

const fromResponseStream = (body: string): Expected => {
  const final = sseData(body).find((event) =>
    event.type === "response.completed" || event.type === "response.incomplete" || event.type === "response.failed"
  )
  if (final === undefined) throw new Error("recorded stream without a final event")
  return fromResponse(final.response)
}

const harnessTagOf = (status: number, code: string | undefined, type: string | undefined): string => {
  if (status === 401 || status === 403) return "AuthenticationFailed"
  if (status === 429) return code === "insufficient_quota" || type === "insufficient_quota" ? "QuotaExhausted" : "RateLimited"
  if (status === 408 || status === 409 || status >= 500) return "ProviderUnavailable"
  return code === "context_length_exceeded" ? "ContextOverflow" : "InvalidRequest"
}

/** What the layer must return (or fail with) for a recorded interaction. */
export const expectedOf = (interaction: Interaction): Expected => {
  const { body, status } = interaction.response
  if (status !== 200) {
    const error = JSON.parse(body).error
    return {
      _tag: "Error",
      harnessTag: harnessTagOf(status, error.code ?? undefined, error.type ?? undefined),
      message: error.message,
      code: error.code ?? undefined,
      param: error.param ?? undefined
    }
  }
  const api = apiOf(interaction)
  if (isStream(interaction)) return api === "chat" ? fromChatStream(body) : fromResponseStream(body)
  return api === "chat" ? fromChat(JSON.parse(body)) : fromResponse(JSON.parse(body))
}
