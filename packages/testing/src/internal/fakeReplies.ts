/**
 * The reply builders of `FakeOpenAiServer`, re-exported from there.
 *
 * @internal
 */
import type { Interaction } from "../Cassette.ts"
import type { Reply } from "../FakeOpenAiServer.ts"
import * as Bodies from "./openai-bodies.ts"

// -----------------------------------------------------------------------------
// Replies
// -----------------------------------------------------------------------------

/**
 * A JSON reply.
 *
 * @since 0.1.0
 */
export const json = (body: unknown, options?: Omit<Reply, "body" | "contentType">): Reply => ({
  ...options,
  contentType: "application/json",
  body: JSON.stringify(body)
})

/**
 * A server-sent events reply, one event per chunk. Objects are sent as JSON
 * `data:` lines; `named` adds an `event:` line with the object's `type` (as
 * the Responses API does); `done` ends with `data: [DONE]` (as Chat
 * Completions does).
 *
 * @since 0.1.0
 */
export const sse = (
  events: ReadonlyArray<unknown>,
  options?: Omit<Reply, "body" | "contentType"> & {
    readonly named?: boolean | undefined
    readonly done?: boolean | undefined
  }
): Reply => {
  const { done, named, ...rest } = options ?? {}
  const chunks = events.map((event) => {
    const data = typeof event === "string" ? event : JSON.stringify(event)
    const type = named === true && typeof event === "object" && event !== null ? (event as { type?: unknown }).type : undefined
    return `${typeof type === "string" ? `event: ${type}\n` : ""}data: ${data}\n\n`
  })
  if (done === true) chunks.push("data: [DONE]\n\n")
  return { ...rest, contentType: "text/event-stream", body: chunks }
}

/**
 * An OpenAI error reply (`{ error: { message, type, param, code } }`).
 *
 * @example
 * ```ts
 * import { FakeOpenAiServer } from "@effect-harness/testing"
 *
 * const quota = FakeOpenAiServer.error(429, {
 *   message: "You exceeded your current quota",
 *   type: "insufficient_quota",
 *   code: "insufficient_quota"
 * })
 * ```
 *
 * @since 0.1.0
 */
export const error = (
  status: number,
  body: Parameters<typeof Bodies.errorBody>[0],
  headers?: Readonly<Record<string, string>>
): Reply => json(Bodies.errorBody(body), { status, headers })

/**
 * A Chat Completions answer.
 *
 * @since 0.1.0
 */
export const chatCompletion = (input: Bodies.ReplyInput, options?: Omit<Reply, "body" | "contentType">): Reply =>
  json(Bodies.chatCompletionBody(input), options)

/**
 * A streamed Chat Completions answer (chunks, usage chunk, `[DONE]`).
 *
 * @since 0.1.0
 */
export const chatCompletionStream = (input: Bodies.ReplyInput, options?: Omit<Reply, "body" | "contentType">): Reply =>
  sse(Bodies.chatCompletionChunks(input), { ...options, done: true })

/**
 * A Responses API answer.
 *
 * @since 0.1.0
 */
export const response = (input: Bodies.ReplyInput, options?: Omit<Reply, "body" | "contentType">): Reply =>
  json(Bodies.responseBody(input), options)

/**
 * A streamed Responses API answer (named events up to `response.completed`).
 *
 * @since 0.1.0
 */
export const responseStream = (input: Bodies.ReplyInput, options?: Omit<Reply, "body" | "contentType">): Reply =>
  sse(Bodies.responseEvents(input), { ...options, named: true })

/**
 * The reply of a recorded interaction (fixture / cassette format): its status,
 * headers and body, streams split into their events; the request must have
 * the recorded method and path.
 *
 * @since 0.1.0
 */
export const fromInteraction = (interaction: Interaction): Reply => {
  const { request, response } = interaction
  const streamed = response.contentType.startsWith("text/event-stream")
  return {
    status: response.status,
    contentType: response.contentType,
    headers: response.headers,
    body: streamed ? response.body.split(/(?<=\n\n)/) : response.body,
    expect: { method: request.method, path: request.path }
  }
}

