/**
 * From what the `openai` SDK throws to effect's `AiError`, with the metadata
 * `HarnessError.fromAiError` reads (`effect-harness/details`,
 * `effect-harness/partial`).
 *
 * @internal
 */
import { HarnessError } from "@effect-harness/core"
import { Duration } from "effect"
import { AiError } from "effect/ai"
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from "openai"

/** What a broken response had delivered. */
export type Partial = HarnessError.PartialResponse

interface Details extends HarnessError.ProviderDetails {
  readonly type?: string | undefined
}

const module = "OpenAiLanguageModel"

const defined = (fields: Details): Record<string, any> => {
  const out: Record<string, any> = {}
  for (const key in fields) {
    const value = (fields as Record<string, unknown>)[key]
    if (value !== undefined && value !== null) out[key] = value
  }
  return out
}

const metadata = (details: Details, partial?: Partial) =>
  partial === undefined
    ? { [HarnessError.detailsMetadataKey]: defined(details) }
    : { [HarnessError.detailsMetadataKey]: defined(details), [HarnessError.partialMetadataKey]: partial as any }

/** Wraps a reason into an `AiError` of this module. */
export const make = (method: string, reason: AiError.AiErrorReason): AiError.AiError =>
  AiError.make({ module, method, reason })

const keptHeaders = ["retry-after", "retry-after-ms", "x-request-id"]

const httpOf = (status: number, headers: Headers | undefined) => {
  const kept: Record<string, string> = {}
  if (headers !== undefined) {
    for (const name of keptHeaders) {
      const value = headers.get(name)
      if (value !== null) kept[name] = value
    }
  }
  return { response: { status, headers: kept } }
}

/**
 * The delay a 429 asks for: `retry-after-ms` (milliseconds) first, then
 * `retry-after` (seconds, or an HTTP date).
 */
export const retryAfter = (headers: Headers | undefined): Duration.Duration | undefined => {
  if (headers === undefined) return undefined
  const ms = headers.get("retry-after-ms")
  if (ms !== null) {
    const value = Number(ms)
    if (Number.isFinite(value) && value >= 0) return Duration.millis(value)
  }
  const after = headers.get("retry-after")
  if (after !== null) {
    const seconds = Number(after)
    if (Number.isFinite(seconds) && seconds >= 0) return Duration.seconds(seconds)
    const date = Date.parse(after)
    if (Number.isFinite(date)) return Duration.millis(Math.max(0, date - Date.now()))
  }
  return undefined
}

const str = (u: unknown): string | undefined => typeof u === "string" ? u : undefined

/**
 * The reason for an error the provider reported with a code but no HTTP
 * status (an `error` event in a stream, a `failed` response).
 */
export const fromCode = (
  code: string | undefined,
  message: string,
  partial?: Partial,
  param?: string
): AiError.AiErrorReason => {
  const details = { code, param, message }
  switch (code) {
    case "rate_limit_exceeded":
      return new AiError.RateLimitError({ metadata: metadata(details) })
    case "insufficient_quota":
      return new AiError.QuotaExhaustedError({ metadata: metadata(details) })
    case "context_length_exceeded":
      return new AiError.InvalidRequestError({
        description: message,
        metadata: metadata({ ...details, kind: "context-overflow" })
      })
    case "invalid_api_key":
      return new AiError.AuthenticationError({ kind: "InvalidKey", description: message, metadata: metadata(details) })
    case "invalid_prompt":
    case "invalid_request_error":
    case "invalid_value":
    case "unsupported_value":
      return new AiError.InvalidRequestError({ description: message, metadata: metadata(details) })
    default:
      // server_error, overloaded, unknown: the provider failed on its side
      return new AiError.InternalProviderError({ description: message, metadata: metadata(details, partial) })
  }
}

/**
 * The error object inside a body that is not OpenAI's `{ error: { message } }`:
 * Gemini's OpenAI-compatible endpoint sends `[{ error: { code, message, status } }]`,
 * Ollama `{ error: "text" }`, sometimes with llama.cpp's own error JSON as that text.
 */
const innermost = (body: unknown, depth = 0): Record<string, unknown> | undefined => {
  if (depth > 4) return undefined
  if (Array.isArray(body)) return innermost(body[0], depth + 1)
  if (typeof body === "string") {
    if (body.trimStart().startsWith("{")) {
      try {
        return innermost(JSON.parse(body), depth + 1) ?? { message: body }
      } catch {
        // not JSON after all: the text is the message
      }
    }
    return { message: body }
  }
  if (typeof body !== "object" || body === null) return undefined
  const record = body as Record<string, unknown>
  if (typeof record.message !== "string" && record.error !== undefined) return innermost(record.error, depth + 1) ?? record
  return record
}

const fromStatus = (error: APIError, status: number, partial: Partial | undefined): AiError.AiErrorReason => {
  const body = innermost(error.error)
  const message = str(body?.message) ?? error.message
  const code = str(error.code) ?? str(body?.code)
  // Gemini's `status` (INVALID_ARGUMENT) stands where OpenAI has a type
  const type = str(error.type) ?? str(body?.type) ?? str(body?.status)
  const param = str(error.param) ?? undefined
  const http = httpOf(status, error.headers)
  const details: Details = { code, param, status, message, type }
  if (status === 401 || status === 403) {
    return new AiError.AuthenticationError({
      kind: status === 401 ? "InvalidKey" : "InsufficientPermissions",
      description: message,
      http,
      metadata: metadata(details)
    })
  }
  if (status === 429) {
    if (code === "insufficient_quota" || type === "insufficient_quota") {
      return new AiError.QuotaExhaustedError({ http, metadata: metadata(details) })
    }
    const after = retryAfter(error.headers)
    return new AiError.RateLimitError({
      ...(after === undefined ? {} : { retryAfter: after }),
      http,
      metadata: metadata(details)
    })
  }
  if (status === 408 || status === 409 || status >= 500) {
    return new AiError.InternalProviderError({ description: message, http, metadata: metadata(details, partial) })
  }
  return new AiError.InvalidRequestError({
    description: message,
    ...(param === undefined ? {} : { parameter: param }),
    http,
    metadata: metadata(code === "context_length_exceeded" ? { ...details, kind: "context-overflow" } : details)
  })
}

const causeText = (error: unknown): string => {
  let text = ""
  let current: unknown = error
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code
    text += `${text.length === 0 ? "" : ": "}${current.message}${typeof code === "string" ? ` (${code})` : ""}`
    current = current.cause
  }
  return text.length === 0 ? String(error) : text
}

/**
 * Maps anything a call can throw onto an `AiError` reason. `partial`, when
 * given, is what a stream had delivered before it broke.
 */
export const reasonOf = (error: unknown, url: string, partial?: Partial): AiError.AiErrorReason => {
  if (AiError.isAiErrorReason(error)) return error
  if (error instanceof APIConnectionTimeoutError) {
    return new AiError.NetworkError({ reason: "TransportError", method: "POST", url, description: "Request timed out" })
  }
  if (error instanceof APIUserAbortError) {
    return new AiError.NetworkError({ reason: "TransportError", method: "POST", url, description: "Request aborted" })
  }
  if (error instanceof APIConnectionError) {
    const description = `Connection failed: ${causeText(error.cause ?? error)}`
    return partial === undefined
      ? new AiError.NetworkError({ reason: "TransportError", method: "POST", url, description })
      : new AiError.InternalProviderError({ description, metadata: metadata({ kind: "connection", message: description }, partial) })
  }
  if (error instanceof APIError) {
    if (typeof error.status === "number") return fromStatus(error, error.status, partial)
    // an error reported inside a stream: no status, the body says what happened
    const body = error.error as Record<string, unknown> | undefined
    return fromCode(
      str(body?.code) ?? str(body?.type),
      str(body?.message) ?? error.message,
      partial,
      str(body?.param)
    )
  }
  if (error instanceof SyntaxError) {
    // the SDK could not parse a server-sent event: the provider sent garbage
    return new AiError.InvalidResponseError({
      description: error.message,
      metadata: metadata({ message: `Invalid response: ${error.message}` }, partial)
    })
  }
  // the body broke off (socket reset, truncated chunked body) after the
  // response had started: a recoverable broken connection
  const description = `Connection broken mid-response: ${causeText(error)}`
  return new AiError.InternalProviderError({
    description,
    metadata: metadata({ kind: "connection", message: description }, partial)
  })
}

/** The error for a response the model refused to give. */
export const refusal = (method: string, text: string): AiError.AiError =>
  make(
    method,
    new AiError.ContentPolicyError({
      description: text,
      metadata: metadata({ kind: "refusal", message: `The model refused to answer: ${text}` })
    })
  )

/** The error for a response that is not what the API documents. */
export const invalidResponse = (method: string, description: string): AiError.AiError =>
  make(method, new AiError.InvalidResponseError({ description, metadata: metadata({ message: description }) }))

/** The error for prompt content the API cannot take. */
export const invalidInput = (description: string): AiError.AiError =>
  make("request", new AiError.InvalidUserInputError({ description }))

/** The error for a stream that ended without saying it was complete. */
export const truncated = (method: string, partial: Partial): AiError.AiError =>
  make(
    method,
    new AiError.InternalProviderError({
      description: "The stream ended before the response was complete",
      metadata: metadata({ kind: "connection", message: "The stream ended before the response was complete" }, partial)
    })
  )

/** The error for a stream that sent nothing for `millis` after its response began. */
export const stalled = (method: string, millis: number, partial: Partial): AiError.AiError => {
  const description = `The stream sent no data for ${millis} ms (streamIdleTimeout)`
  return make(
    method,
    new AiError.InternalProviderError({ description, metadata: metadata({ kind: "timeout", message: description }, partial) })
  )
}

// -----------------------------------------------------------------------------
// Secrets in provider messages
// -----------------------------------------------------------------------------

// What looks like a credential: OpenAI-style keys (sk-, sk-proj-, rk-), Anthropic's
// (sk-ant-...), Google API keys, and whatever follows "Bearer".
const keyLike = /\b(?:sk|rk|pk)-[A-Za-z0-9_-]{12,}|\bAIza[0-9A-Za-z_-]{30,}|\b(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/g

/** Removes the configured key, and anything that looks like a key, from a provider's text. */
export const redactor = (apiKey: string | undefined): (text: string) => string => {
  const key = apiKey !== undefined && apiKey.length >= 8 ? apiKey : undefined
  return (text) => {
    const withoutKey = key === undefined || !text.includes(key) ? text : text.split(key).join("[redacted]")
    return withoutKey.replace(keyLike, (_, bearer: string | undefined) => `${bearer ?? ""}[redacted]`)
  }
}

const redactValue = (value: unknown, redact: (text: string) => string): unknown => {
  if (typeof value === "string") return redact(value)
  if (Array.isArray(value)) return value.map((item) => redactValue(item, redact))
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {}
    for (const [name, field] of Object.entries(value)) out[name] = redactValue(field, redact)
    return out
  }
  return value
}

/**
 * The error with every provider text in it (description, metadata) redacted;
 * the same error when there was nothing to redact, which is almost always.
 * A proxy or compatible server may echo the key in its messages: they must
 * not reach logs, error messages or journals.
 */
export const redactError = (error: AiError.AiError, redact: (text: string) => string): AiError.AiError => {
  const reason = error.reason as unknown as Record<string, unknown>
  const fields: Record<string, unknown> = {}
  let changed = false
  for (const [name, value] of Object.entries(reason)) {
    // provider text is in the string fields (description) and the metadata;
    // the rest (http, retryAfter) is structured and kept as it is
    const redacted = name === "_tag" ? undefined
      : typeof value === "string" ? redact(value)
      : name === "metadata" ? redactValue(value, redact)
      : value
    if (name === "_tag") continue
    if (redacted !== value && JSON.stringify(redacted) !== JSON.stringify(value)) changed = true
    fields[name] = redacted
  }
  if (!changed) return error
  const Reason = reason.constructor as new(fields: Record<string, unknown>) => AiError.AiErrorReason
  return AiError.make({ module: error.module, method: error.method, reason: new Reason(fields) })
}
