/**
 * Normal forms of request bodies, so that two bodies the API reads the same
 * way compare equal: `null` fields dropped (null means "not set" in OpenAI's
 * API), `stream: false` dropped, message content given as a string turned
 * into its one-part array form, empty assistant content dropped, an explicit
 * `tool_choice: "auto"` (the default when tools are given) dropped, and tool-call
 * arguments compared as parsed JSON rather than as text (whitespace differs
 * between JSON encoders). Nothing else is relaxed.
 */
import type { Api } from "./recorded.ts"

const dropNulls = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(dropNulls)
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(value).sort()) {
      const field = (value as Record<string, unknown>)[key]
      if (field !== null && field !== undefined) out[key] = dropNulls(field)
    }
    return out
  }
  return value
}

const parsed = (text: unknown) => {
  if (typeof text !== "string") return text
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

const chatMessage = (message: any) => {
  const out = { ...message }
  if (typeof out.content === "string") {
    if (out.role === "assistant" && out.content.length === 0) delete out.content
    else out.content = [{ type: "text", text: out.content }]
  }
  if (Array.isArray(out.tool_calls)) {
    if (out.tool_calls.length === 0) delete out.tool_calls
    else {
      out.tool_calls = out.tool_calls.map((call: any) => ({
        ...call,
        function: { ...call.function, arguments: parsed(call.function.arguments) }
      }))
    }
  }
  return out
}

const responsesItem = (item: any) => {
  const out = { ...item }
  if (out.type === undefined && out.role !== undefined) out.type = "message"
  if (typeof out.content === "string") {
    out.content = [{ type: out.role === "assistant" ? "output_text" : "input_text", text: out.content }]
  }
  if (out.type === "function_call") out.arguments = parsed(out.arguments)
  return out
}

/** The normal form of a request body. */
export const normalize = (api: Api, body: Record<string, any>): unknown => {
  const out: Record<string, any> = dropNulls(body) as Record<string, any>
  if (out.stream === false) delete out.stream
  // with tools, "auto" is the API's default tool choice
  if (out.tool_choice === "auto" && out.tools !== undefined) delete out.tool_choice
  if (api === "chat") {
    out.messages = (out.messages ?? []).map(chatMessage)
  } else {
    const input = typeof out.input === "string" ? [{ role: "user", content: out.input }] : out.input ?? []
    out.input = input.map(responsesItem)
  }
  return dropNulls(out)
}

/** The first place two JSON values differ, as `path: recorded vs sent`, or undefined when equal. */
export const firstDifference = (recorded: unknown, sent: unknown, path = "$"): string | undefined => {
  if (Object.is(recorded, sent)) return undefined
  const show = (value: unknown) => {
    const text = JSON.stringify(value)
    return text === undefined ? "undefined" : text.length > 160 ? `${text.slice(0, 160)}...` : text
  }
  if (Array.isArray(recorded) && Array.isArray(sent)) {
    for (let i = 0; i < Math.max(recorded.length, sent.length); i++) {
      const difference = firstDifference(recorded[i], sent[i], `${path}[${i}]`)
      if (difference !== undefined) return difference
    }
    return undefined
  }
  if (
    typeof recorded === "object" && recorded !== null && typeof sent === "object" && sent !== null &&
    !Array.isArray(recorded) && !Array.isArray(sent)
  ) {
    const keys = new Set([...Object.keys(recorded), ...Object.keys(sent)])
    for (const key of [...keys].sort()) {
      const difference = firstDifference(
        (recorded as Record<string, unknown>)[key],
        (sent as Record<string, unknown>)[key],
        `${path}.${key}`
      )
      if (difference !== undefined) return difference
    }
    return undefined
  }
  return `${path}: recorded ${show(recorded)} vs sent ${show(sent)}`
}
