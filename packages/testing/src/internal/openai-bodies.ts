/**
 * OpenAI-shaped bodies built from simple inputs: Chat Completions responses
 * and chunks, Responses API responses and stream events, error bodies. The
 * shapes follow what api.openai.com sends (see the recorded fixtures).
 *
 * @internal
 */

/**
 * A tool call in a built reply. `arguments` is sent as JSON text: an object
 * is encoded, a string is sent as it is (to build malformed arguments).
 *
 * @since 0.1.0
 */
export interface ToolCallInput {
  readonly id?: string | undefined
  readonly name: string
  readonly arguments?: unknown
}

/**
 * Token counts of a built reply.
 *
 * @since 0.1.0
 */
export interface UsageInput {
  readonly input?: number | undefined
  readonly output?: number | undefined
  readonly cached?: number | undefined
  readonly reasoning?: number | undefined
}

/**
 * What a built reply says.
 *
 * @since 0.1.0
 */
export interface ReplyInput {
  readonly text?: string | undefined
  readonly toolCalls?: ReadonlyArray<ToolCallInput> | undefined
  readonly usage?: UsageInput | undefined
  readonly model?: string | undefined
  /** OpenAI's finish reason (`stop`, `length`, `tool_calls`, `content_filter`); derived when left out. */
  readonly finishReason?: string | undefined
  /** A refusal instead of an answer. */
  readonly refusal?: string | undefined
  readonly id?: string | undefined
}

const created = 1_750_000_000
const defaultModel = "gpt-4o-mini-2024-07-18"

const argumentsOf = (value: unknown) => typeof value === "string" ? value : JSON.stringify(value ?? {})

const callsOf = (input: ReplyInput) =>
  (input.toolCalls ?? []).map((call, index) => ({
    id: call.id ?? `call_${index + 1}`,
    name: call.name,
    arguments: argumentsOf(call.arguments)
  }))

const tokens = (input: ReplyInput) => {
  const usage = input.usage ?? {}
  const output = usage.output ?? Math.max(1, Math.ceil(((input.text ?? "").length + JSON.stringify(input.toolCalls ?? []).length) / 4))
  return { input: usage.input ?? 10, output, cached: usage.cached ?? 0, reasoning: usage.reasoning ?? 0 }
}

const chatUsage = (input: ReplyInput) => {
  const t = tokens(input)
  return {
    prompt_tokens: t.input,
    completion_tokens: t.output,
    total_tokens: t.input + t.output,
    prompt_tokens_details: { cached_tokens: t.cached, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: t.reasoning, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 }
  }
}

const finishOf = (input: ReplyInput) =>
  input.finishReason ?? ((input.toolCalls ?? []).length > 0 ? "tool_calls" : "stop")

/**
 * A Chat Completions response body.
 *
 * @since 0.1.0
 */
export const chatCompletionBody = (input: ReplyInput): Record<string, unknown> => {
  const calls = callsOf(input)
  return {
    id: input.id ?? "chatcmpl-fake",
    object: "chat.completion",
    created,
    model: input.model ?? defaultModel,
    choices: [{
      index: 0,
      message: {
        role: "assistant",
        content: input.refusal !== undefined ? null : input.text ?? (calls.length > 0 ? null : ""),
        refusal: input.refusal ?? null,
        annotations: [],
        ...(calls.length > 0
          ? { tool_calls: calls.map((call) => ({ id: call.id, type: "function", function: { name: call.name, arguments: call.arguments } })) }
          : {})
      },
      logprobs: null,
      finish_reason: finishOf(input)
    }],
    usage: chatUsage(input),
    service_tier: "default",
    system_fingerprint: "fp_fake"
  }
}

/** Splits text into word-sized deltas, spaces kept. */
export const pieces = (text: string): Array<string> => text.match(/\s*\S+|\s+$/g) ?? (text.length > 0 ? [text] : [])

/** Splits text into slices of at most `size` characters. */
export const slices = (text: string, size = 8): Array<string> => {
  const out: Array<string> = []
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size))
  return out
}

/**
 * The chunks of a streamed Chat Completions response (with the final usage
 * chunk that `stream_options.include_usage` asks for).
 *
 * @since 0.1.0
 */
export const chatCompletionChunks = (input: ReplyInput): Array<Record<string, unknown>> => {
  const base = { id: input.id ?? "chatcmpl-fake", object: "chat.completion.chunk", created, model: input.model ?? defaultModel }
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    usage: null
  })
  const out: Array<Record<string, unknown>> = [chunk({ role: "assistant", content: "", refusal: null })]
  if (input.refusal !== undefined) for (const piece of pieces(input.refusal)) out.push(chunk({ refusal: piece }))
  for (const piece of pieces(input.text ?? "")) out.push(chunk({ content: piece }))
  callsOf(input).forEach((call, index) => {
    out.push(chunk({ tool_calls: [{ index, id: call.id, type: "function", function: { name: call.name, arguments: "" } }] }))
    for (const piece of slices(call.arguments)) out.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }))
  })
  out.push(chunk({}, finishOf(input)))
  out.push({ ...base, choices: [], usage: chatUsage(input) })
  return out
}

const responseUsage = (input: ReplyInput) => {
  const t = tokens(input)
  return {
    input_tokens: t.input,
    input_tokens_details: { cached_tokens: t.cached },
    output_tokens: t.output,
    output_tokens_details: { reasoning_tokens: t.reasoning },
    total_tokens: t.input + t.output
  }
}

const outputOf = (input: ReplyInput) => {
  const output: Array<Record<string, unknown>> = []
  if (input.text !== undefined || input.refusal !== undefined) {
    output.push({
      id: "msg_fake",
      type: "message",
      status: "completed",
      role: "assistant",
      content: input.refusal !== undefined
        ? [{ type: "refusal", refusal: input.refusal }]
        : [{ type: "output_text", text: input.text, annotations: [], logprobs: [] }]
    })
  }
  callsOf(input).forEach((call, index) => {
    output.push({
      id: `fc_fake_${index + 1}`,
      type: "function_call",
      status: "completed",
      call_id: call.id,
      name: call.name,
      arguments: call.arguments
    })
  })
  return output
}

/**
 * A Responses API response body. `finishReason: "length"` makes it an
 * incomplete response (`max_output_tokens`).
 *
 * @since 0.1.0
 */
export const responseBody = (input: ReplyInput): Record<string, unknown> => {
  const incomplete = input.finishReason === "length" || input.finishReason === "content_filter"
  return {
    id: input.id ?? "resp_fake",
    object: "response",
    created_at: created,
    status: incomplete ? "incomplete" : "completed",
    incomplete_details: incomplete
      ? { reason: input.finishReason === "length" ? "max_output_tokens" : "content_filter" }
      : null,
    error: null,
    model: input.model ?? defaultModel,
    output: outputOf(input),
    parallel_tool_calls: true,
    tool_choice: "auto",
    tools: [],
    usage: responseUsage(input)
  }
}

/**
 * The events of a streamed Responses API response, ending with
 * `response.completed` (or `response.incomplete`).
 *
 * @since 0.1.0
 */
export const responseEvents = (input: ReplyInput): Array<Record<string, unknown>> => {
  const final = responseBody(input)
  const started = { ...final, status: "in_progress", output: [], usage: null, incomplete_details: null }
  let sequence = 0
  const event = (type: string, fields: Record<string, unknown>) => ({ type, sequence_number: sequence++, ...fields })
  const out = [event("response.created", { response: started }), event("response.in_progress", { response: started })]
  ;(final.output as Array<Record<string, any>>).forEach((item, output_index) => {
    if (item.type === "message") {
      out.push(event("response.output_item.added", { output_index, item: { ...item, status: "in_progress", content: [] } }))
      const part = item.content[0]
      if (part.type === "output_text") {
        for (const delta of pieces(part.text)) {
          out.push(event("response.output_text.delta", { item_id: item.id, output_index, content_index: 0, delta }))
        }
        out.push(event("response.output_text.done", { item_id: item.id, output_index, content_index: 0, text: part.text }))
      } else {
        for (const delta of pieces(part.refusal)) {
          out.push(event("response.refusal.delta", { item_id: item.id, output_index, content_index: 0, delta }))
        }
      }
    } else {
      out.push(event("response.output_item.added", { output_index, item: { ...item, status: "in_progress", arguments: "" } }))
      for (const delta of slices(item.arguments)) {
        out.push(event("response.function_call_arguments.delta", { item_id: item.id, output_index, delta }))
      }
      out.push(event("response.function_call_arguments.done", { item_id: item.id, output_index, arguments: item.arguments }))
    }
    out.push(event("response.output_item.done", { output_index, item }))
  })
  out.push(event(final.status === "completed" ? "response.completed" : "response.incomplete", { response: final }))
  return out
}

/**
 * An OpenAI error body: `{ error: { message, type, param, code } }`.
 *
 * @since 0.1.0
 */
export const errorBody = (error: {
  readonly message: string
  readonly type?: string | undefined
  readonly param?: string | null | undefined
  readonly code?: string | null | undefined
}): Record<string, unknown> => ({
  error: {
    message: error.message,
    type: error.type ?? "invalid_request_error",
    param: error.param ?? null,
    code: error.code ?? null
  }
})
