/**
 * Helpers for the scripted models: read the Chat Completions request the SDK
 * sent (decoded with Schema, like any input from the network), and build the
 * replies a real server sends, with plausible token counts and latency.
 *
 * A script is a function of the request, not a list of answers in order: it
 * reads the conversation (which ticket, which tool results are in it) and
 * answers what comes next. So concurrent runs, retries and resumed runs all
 * get the right answer whatever order their requests arrive in.
 */
import { FakeOpenAiServer } from "@effect-harness/testing"
import { Option, Schema } from "effect"

const ToolCall = Schema.Struct({
  id: Schema.String,
  function: Schema.Struct({ name: Schema.String, arguments: Schema.String })
})

const Message = Schema.Struct({
  role: Schema.String,
  content: Schema.optional(Schema.NullOr(Schema.Union([Schema.String, Schema.Array(Schema.Unknown)]))),
  tool_calls: Schema.optional(Schema.Array(ToolCall)),
  tool_call_id: Schema.optional(Schema.String)
})

const ChatRequest = Schema.Struct({
  model: Schema.String,
  messages: Schema.Array(Message),
  tools: Schema.optional(Schema.Array(Schema.Unknown)),
  stream: Schema.optional(Schema.Boolean)
})

export type ChatRequest = typeof ChatRequest.Type
export type Message = typeof Message.Type

const decodeRequest = Schema.decodeUnknownOption(ChatRequest)

/** The text of a message (text parts joined). */
export const textOf = (message: Message | undefined): string => {
  const content = message?.content
  if (content === undefined || content === null) return ""
  if (typeof content === "string") return content
  return content.map((part) =>
    typeof part === "object" && part !== null && "text" in part && typeof part.text === "string" ? part.text : ""
  ).join("")
}

/** A tool call of the conversation with its result, when it has one. */
export interface Exchange {
  readonly id: string
  readonly name: string
  readonly args: Record<string, unknown>
  /** The result as the model sees it, parsed from JSON; `undefined` until it arrives. */
  readonly result: unknown
  /** The tool failed (the result is `{ error, message }`). */
  readonly failed: boolean
}

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

const isFailure = (result: unknown): boolean =>
  typeof result === "object" && result !== null && "error" in result && "message" in result

/** The conversation of a request, read for a script. */
export interface Conversation {
  readonly request: ChatRequest
  readonly messages: ReadonlyArray<Message>
  readonly last: Message | undefined
  /** Every tool call with its result, grouped by the assistant turn that made them. */
  readonly turns: ReadonlyArray<ReadonlyArray<Exchange>>
}

export const read = (request: FakeOpenAiServer.ReceivedRequest): Option.Option<Conversation> =>
  Option.map(decodeRequest(request.body), (chat) => {
    const results = new Map<string, unknown>()
    for (const message of chat.messages) {
      if (message.role === "tool" && message.tool_call_id !== undefined) {
        results.set(message.tool_call_id, parseJson(textOf(message)))
      }
    }
    const turns = chat.messages.filter((message) => (message.tool_calls ?? []).length > 0).map((message) =>
      message.tool_calls!.map((call): Exchange => {
        const args = parseJson(call.function.arguments)
        const result = results.get(call.id)
        return {
          id: call.id,
          name: call.function.name,
          args: typeof args === "object" && args !== null ? args as Record<string, unknown> : {},
          result,
          failed: isFailure(result)
        }
      })
    )
    return { request: chat, messages: chat.messages, last: chat.messages[chat.messages.length - 1], turns }
  })

// -----------------------------------------------------------------------------
// Replies
// -----------------------------------------------------------------------------

/** A small deterministic hash, to vary latency and wording without randomness. */
export const hash = (text: string): number => {
  let h = 2166136261
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619)
  return h >>> 0
}

/**
 * How long the scripted model "thinks": 150 to 400 ms, a function of the
 * request, so that progress is visible; `SCRIPTED_LATENCY_MS` fixes it.
 */
export const latency = (seed: string): number => {
  const fixed = Number(process.env.SCRIPTED_LATENCY_MS)
  return Number.isFinite(fixed) && process.env.SCRIPTED_LATENCY_MS !== "" ? fixed : 150 + (hash(seed) % 250)
}

const inputTokens = (conversation: Conversation) =>
  Math.ceil((JSON.stringify(conversation.messages).length + JSON.stringify(conversation.request.tools ?? []).length) / 4)

/**
 * The pause between the chunks of a streamed answer: none, or
 * `SCRIPTED_CHUNK_DELAY_MS` (the live view's test sets it, so that the text
 * visibly grows).
 */
export const chunkDelay = (): number => {
  const fixed = Number(process.env.SCRIPTED_CHUNK_DELAY_MS)
  return Number.isFinite(fixed) && process.env.SCRIPTED_CHUNK_DELAY_MS !== "" ? fixed : 0
}

/** The reply as the request asks for it: streamed (`stream: true`) or whole. */
const reply = (conversation: Conversation, input: Parameters<typeof FakeOpenAiServer.chatCompletion>[0], seed: string) =>
  conversation.request.stream === true
    ? FakeOpenAiServer.chatCompletionStream(input, { delay: latency(seed), chunkDelay: chunkDelay() })
    : FakeOpenAiServer.chatCompletion(input, { delay: latency(seed) })

/** A text answer (streamed word by word when the request streams). */
export const text = (conversation: Conversation, answer: string, seed: string): FakeOpenAiServer.Reply =>
  reply(conversation, { text: answer, usage: { input: inputTokens(conversation), output: Math.ceil(answer.length / 4) + 3 } }, seed)

/** A turn of tool calls (several run in parallel on the agent's side). */
export const toolCalls = (
  conversation: Conversation,
  calls: ReadonlyArray<{ readonly name: string; readonly arguments: Record<string, unknown> }>,
  seed: string
): FakeOpenAiServer.Reply => {
  const step = conversation.turns.length + 1
  return reply(conversation, {
    toolCalls: calls.map((call, i) => ({ id: `call_${(hash(seed) % 100000).toString(36)}_${step}_${i}`, ...call })),
    usage: { input: inputTokens(conversation), output: Math.ceil(JSON.stringify(calls).length / 4) + 5 }
  }, seed)
}

/** OpenAI's 429 for a per-minute request limit, asking to retry after `ms` milliseconds. */
export const rateLimited = (model: string, ms: number): FakeOpenAiServer.Reply =>
  FakeOpenAiServer.error(429, {
    message: `Rate limit reached for ${model} in organization org-scripted on requests per min (RPM): Limit 500, ` +
      `Used 500, Requested 1. Please try again in ${ms}ms.`,
    type: "requests",
    code: "rate_limit_exceeded"
  }, {
    "retry-after-ms": String(ms),
    "x-ratelimit-limit-requests": "500",
    "x-ratelimit-remaining-requests": "0",
    "x-ratelimit-reset-requests": `${ms}ms`
  })

/** OpenAI's 503 when a model is overloaded. */
export const overloaded = (): FakeOpenAiServer.Reply =>
  FakeOpenAiServer.error(503, {
    message: "The server is overloaded or not ready yet.",
    type: "server_error"
  })

/** The answer to a request the script cannot read. */
export const unreadable = (): FakeOpenAiServer.Reply =>
  FakeOpenAiServer.error(400, {
    message: "Scripted model: the request is not a Chat Completions request it understands",
    type: "invalid_request_error"
  })
