/**
 * `FakeOpenAiServer`'s fault mode: turns the reply a request would get into
 * the failure real APIs produce at the HTTP level, in OpenAI's own shapes.
 *
 * @internal
 */
import { Duration } from "effect"
import type { FaultKind } from "../FaultInjection.ts"
import type { Reply } from "./fakeServerIo.ts"

const errorReply = (status: number, error: Record<string, unknown>, headers?: Record<string, string>): Reply => ({
  status,
  contentType: "application/json",
  ...(headers === undefined ? {} : { headers }),
  body: JSON.stringify({ error: { type: null, param: null, code: null, ...error } })
})

const half = (text: string) => text.slice(0, Math.floor(text.length / 2))

/** Corrupts the answer inside a JSON body (chat completion or response); undefined when there is none. */
const corruptBody = (body: string, kind: "malformed-json" | "truncated" | "refusal"): string | undefined => {
  let parsed: any
  try {
    parsed = JSON.parse(body)
  } catch {
    return undefined
  }
  const refusal = "I'm sorry, but I can't help with that."
  const change = (text: string) => kind === "truncated" ? half(text) : `${text.slice(0, -1)},}`
  if (Array.isArray(parsed?.choices) && parsed.choices[0]?.message !== undefined) {
    const choice = parsed.choices[0]
    const message = choice.message
    if (kind === "refusal") {
      choice.message = { role: "assistant", content: null, refusal }
      choice.finish_reason = "stop"
    } else if (typeof message.content === "string" && message.content.length > 0) {
      message.content = change(message.content)
    } else if (Array.isArray(message.tool_calls) && message.tool_calls.length > 0) {
      const call = message.tool_calls[message.tool_calls.length - 1]
      call.function.arguments = change(call.function.arguments)
    } else return undefined
    if (kind === "truncated") choice.finish_reason = "length"
    return JSON.stringify(parsed)
  }
  if (Array.isArray(parsed?.output)) {
    for (const item of parsed.output) {
      if (item.type === "message" && Array.isArray(item.content)) {
        if (kind === "refusal") {
          item.content = [{ type: "refusal", refusal }]
          return JSON.stringify(parsed)
        }
        const part = item.content.find((p: any) => p.type === "output_text")
        if (part === undefined) continue
        part.text = change(part.text)
        if (kind === "truncated") {
          parsed.status = "incomplete"
          parsed.incomplete_details = { reason: "max_output_tokens" }
        }
        return JSON.stringify(parsed)
      }
      if (item.type === "function_call" && kind !== "refusal") {
        item.arguments = change(item.arguments)
        return JSON.stringify(parsed)
      }
    }
  }
  return undefined
}

/**
 * The reply a request gets instead of `reply` under a fault of `kind`.
 * `timeoutAfter` is how long a "timeout" holds the connection before it is
 * reset (the client's own timeout should fire first).
 */
export const applyFault = (
  kind: FaultKind,
  reply: Reply,
  options: { readonly retryAfter: Duration.Duration; readonly timeoutAfter: Duration.Duration }
): Reply => {
  switch (kind) {
    case "rate-limit":
      return errorReply(429, {
        message: "Rate limit reached for gpt-4o-mini in organization org-fake on requests per min (RPM): Limit 3, Used 3, Requested 1.",
        type: "requests",
        code: "rate_limit_exceeded"
      }, { "retry-after-ms": String(Duration.toMillis(options.retryAfter)) })
    case "server-error":
      return errorReply(500, {
        message: "The server had an error while processing your request. Sorry about that!",
        type: "server_error"
      })
    case "timeout":
      return { reset: true, delay: options.timeoutAfter }
    case "connection-reset":
      return { reset: true }
    case "stream-cut": {
      if (Array.isArray(reply.body)) return { ...reply, cutAfter: Math.max(1, Math.floor(reply.body.length / 2)) }
      // a JSON answer cut mid-body: the headers went out, then the connection dropped
      return { ...reply, body: [half(typeof reply.body === "string" ? reply.body : "")], cutAfter: 1 }
    }
    case "malformed-json":
    case "truncated":
    case "refusal": {
      const body = typeof reply.body === "string" && (reply.status ?? 200) === 200
        ? corruptBody(reply.body, kind)
        : undefined
      // streams and bodies without an answer break off instead
      return body === undefined ? applyFault("stream-cut", reply, options) : { ...reply, body }
    }
  }
}
