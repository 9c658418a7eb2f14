/**
 * The mapping between effect's `AiError` reasons and `HarnessError`, both
 * ways. Re-exported by `HarnessError`.
 *
 * @internal
 */
import { Predicate, Schema } from "effect"
import { AiError } from "effect/ai"
import {
  AuthenticationFailed,
  ConnectionFailed,
  ContentRefused,
  ContextOverflow,
  type HarnessError,
  InvalidOutput,
  InvalidRequest,
  PartialResponse,
  ProviderUnavailable,
  QuotaExhausted,
  RateLimited,
  Timeout
} from "../HarnessError.ts"
import * as Overflow from "./contextOverflow.ts"

// -----------------------------------------------------------------------------
// Mapping from effect's AiError
// -----------------------------------------------------------------------------

/**
 * The key under which a provider stores, in an `AiError` reason's `metadata`,
 * what a broken response had delivered so far (a {@link PartialResponse}).
 *
 * @since 0.1.0
 */
export const partialMetadataKey = "effect-harness/partial"

/**
 * The key under which a provider stores, in an `AiError` reason's `metadata`,
 * facts the mapping needs that effect's reasons do not carry:
 * `{ code?, param?, status?, kind?: "timeout" | "context-overflow" | "refusal" | "connection" }`.
 * `kind: "connection"` on an `InternalProviderError` marks a connection that
 * broke mid-response (a stream cut): it maps onto `ConnectionFailed`, keeping
 * the partial response stored under {@link partialMetadataKey}.
 *
 * @since 0.1.0
 */
export const detailsMetadataKey = "effect-harness/details"

/**
 * The facts a provider stores under {@link detailsMetadataKey}.
 *
 * @since 0.1.0
 */
export interface ProviderDetails {
  readonly code?: string | undefined
  readonly param?: string | undefined
  readonly status?: number | undefined
  /** The provider's error type (OpenAI's `error.type`, llama.cpp's `exceed_context_size_error`). */
  readonly type?: string | undefined
  readonly kind?: "timeout" | "context-overflow" | "refusal" | "connection" | undefined
  readonly message?: string | undefined
}

const readDetails = (metadata: unknown): ProviderDetails => {
  const value = Predicate.isObject(metadata) ? (metadata as Record<string, unknown>)[detailsMetadataKey] : undefined
  return Predicate.isObject(value) ? value as ProviderDetails : {}
}

const readPartial = (metadata: unknown): PartialResponse | undefined => {
  const value = Predicate.isObject(metadata) ? (metadata as Record<string, unknown>)[partialMetadataKey] : undefined
  return Schema.is(PartialResponse)(value) ? value : undefined
}

const statusOf = (http: { readonly response?: { readonly status: number } | undefined } | undefined) =>
  http?.response?.status

const withDefined = <A extends object>(fields: A): A => {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) out[key] = value
  }
  return out as A
}

const timeoutPattern = /timed? ?out|timeout/i

// A provider's context overflow, recognised by the table of internal/contextOverflow.ts.
const overflowOf = (
  details: ProviderDetails,
  status: number | undefined,
  description: string | undefined,
  message: string
): ContextOverflow | undefined => {
  const evidence = { status, code: details.code, type: details.type, message: description ?? details.message }
  const found = details.kind === "context-overflow" ? Overflow.match(evidence) ?? { provider: "" } : Overflow.match(evidence)
  return found === undefined
    ? undefined
    : new ContextOverflow(withDefined({ message, tokens: found.tokens, limit: found.limit }))
}

/**
 * Maps effect's `AiError` (what every effect `LanguageModel` provider fails
 * with) onto a {@link HarnessError}.
 *
 * | AiError reason | HarnessError |
 * | --- | --- |
 * | RateLimitError | RateLimited (retryAfter kept) |
 * | QuotaExhaustedError | QuotaExhausted |
 * | AuthenticationError | AuthenticationFailed |
 * | ContentPolicyError | ContentRefused |
 * | InvalidRequestError, InternalProviderError, UnknownError saying the prompt is too long | ContextOverflow |
 * | InvalidRequestError, UnsupportedSchema, tool configuration | InvalidRequest |
 * | InternalProviderError, InvalidResponseError | ProviderUnavailable |
 * | InternalProviderError (details kind "connection": a stream cut) | ConnectionFailed (partial kept) |
 * | NetworkError (timeout) | Timeout |
 * | NetworkError (transport) | ConnectionFailed |
 * | InvalidOutputError, StructuredOutputError, tool parameter errors | InvalidOutput |
 *
 * @example
 * ```ts
 * import { HarnessError } from "@effect-harness/core"
 * import { AiError } from "effect/ai"
 *
 * const error = HarnessError.fromAiError(AiError.make({
 *   module: "OpenAi",
 *   method: "generateText",
 *   reason: new AiError.RateLimitError({})
 * }))
 * error._tag // "RateLimited"
 * ```
 *
 * @since 0.1.0
 */
export const fromAiError = (error: AiError.AiError): HarnessError => fromAiErrorReason(error.reason)

/**
 * Like {@link fromAiError}, on the reason alone.
 *
 * @since 0.1.0
 */
export const fromAiErrorReason = (reason: AiError.AiErrorReason): HarnessError => {
  const metadata = "metadata" in reason ? reason.metadata : undefined
  const details = readDetails(metadata)
  const partial = readPartial(metadata)
  const message = details.message ?? reason.message
  switch (reason._tag) {
    case "RateLimitError":
      return new RateLimited(withDefined({ message, retryAfter: reason.retryAfter, status: statusOf(reason.http) }))
    case "QuotaExhaustedError":
      return new QuotaExhausted(withDefined({ message, status: statusOf(reason.http) }))
    case "AuthenticationError":
      return new AuthenticationFailed(withDefined({ message, status: statusOf(reason.http) ?? details.status }))
    case "ContentPolicyError":
      return new ContentRefused(withDefined({ message, refusal: reason.description }))
    case "InvalidRequestError": {
      const status = statusOf(reason.http) ?? details.status
      const overflow = overflowOf(details, status, reason.description, message)
      if (overflow !== undefined) return overflow
      return new InvalidRequest(withDefined({
        message,
        status,
        code: details.code,
        param: details.param ?? reason.parameter
      }))
    }
    case "InternalProviderError":
    case "InvalidResponseError": {
      if (details.kind === "connection") return new ConnectionFailed(withDefined({ message, partial }))
      const status = statusOf(reason.http) ?? details.status
      // llama.cpp answered its overflow with a 500 at first; streams report it in an error event
      const overflow = reason._tag === "InternalProviderError" ? overflowOf(details, status, reason.description, message) : undefined
      return overflow ?? new ProviderUnavailable(withDefined({ message, status, partial }))
    }
    case "NetworkError":
      if (timeoutPattern.test(reason.description ?? "")) return new Timeout({ message })
      if (reason.reason === "TransportError") return new ConnectionFailed(withDefined({ message, partial }))
      return new InvalidRequest({ message })
    case "InvalidOutputError":
      return new InvalidOutput({ raw: "", issues: reason.description })
    case "StructuredOutputError":
      return new InvalidOutput({ raw: reason.responseText, issues: reason.description })
    case "ToolParameterValidationError":
    case "ToolNotFoundError":
    case "InvalidToolResultError":
      return new InvalidOutput({ raw: "", issues: reason.message })
    case "UnknownError": {
      const status = statusOf(reason.http) ?? details.status
      const overflow = overflowOf(details, status, reason.description, message)
      if (overflow !== undefined) return overflow
      if (status !== undefined && (status >= 500 || status === 408 || status === 409)) {
        return new ProviderUnavailable({ message, status })
      }
      return new InvalidRequest(withDefined({ message, status }))
    }
    default:
      return new InvalidRequest({ message })
  }
}


/**
 * The inverse of {@link fromAiErrorReason}: the `AiError` reason that maps
 * back onto the given error. Scripted models and providers use it to fail the
 * way effect's `LanguageModel` expects (`fromAiErrorReason(toAiErrorReason(e))`
 * has the tag and message of `e`).
 *
 * @since 0.1.0
 */
export const toAiErrorReason = (error: HarnessError): AiError.AiErrorReason => {
  const details = (extra: Omit<ProviderDetails, "message"> = {}) => ({
    [detailsMetadataKey]: withDefined({ message: error.message, ...extra }) as any
  })
  const http = (status: number | undefined) => status === undefined ? {} : { http: { response: { status, headers: {} } } }
  switch (error._tag) {
    case "RateLimited":
      return new AiError.RateLimitError({
        ...(error.retryAfter === undefined ? {} : { retryAfter: error.retryAfter }),
        ...http(error.status),
        metadata: details()
      })
    case "ProviderUnavailable":
      return new AiError.InternalProviderError({
        description: error.message,
        ...http(error.status),
        metadata: {
          ...details(),
          ...(error.partial === undefined ? {} : { [partialMetadataKey]: error.partial as any })
        }
      })
    case "Timeout":
      return new AiError.NetworkError({ reason: "TransportError", method: "POST", url: "", description: `timeout: ${error.message}` })
    case "ConnectionFailed":
      // effect's NetworkError has no metadata: a partial response travels on an
      // InternalProviderError marked as a broken connection instead
      return error.partial === undefined
        ? new AiError.NetworkError({ reason: "TransportError", method: "POST", url: "", description: error.message })
        : new AiError.InternalProviderError({
          description: error.message,
          metadata: { ...details({ kind: "connection" }), [partialMetadataKey]: error.partial as any }
        })
    case "InvalidOutput":
      return new AiError.StructuredOutputError({ description: error.issues, responseText: error.raw })
    case "ContextOverflow":
      return new AiError.InvalidRequestError({
        description: error.message,
        metadata: details({ kind: "context-overflow", code: "context_length_exceeded" })
      })
    case "AuthenticationFailed":
      return new AiError.AuthenticationError({ kind: "InvalidKey", ...http(error.status), metadata: details() })
    case "InvalidRequest":
      return new AiError.InvalidRequestError({
        description: error.message,
        ...http(error.status),
        metadata: details({ code: error.code, param: error.param, status: error.status })
      })
    case "QuotaExhausted":
      return new AiError.QuotaExhaustedError({ ...http(error.status), metadata: details() })
    case "ContentRefused":
      return new AiError.ContentPolicyError({ description: error.refusal ?? error.message, metadata: details() })
    case "BudgetExceeded":
    case "RetriesExhausted":
      return new AiError.UnknownError({ description: error.message, metadata: details() })
  }
}
