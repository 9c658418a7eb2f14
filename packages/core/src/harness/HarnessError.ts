/**
 * The errors a harness can fail with, split in two unions that say what a
 * caller can still do about them.
 *
 * - {@link Recoverable}: trying again may succeed (rate limits, 5xx, timeouts,
 *   dropped connections, output that failed validation or was cut at the
 *   output token limit, a prompt too long for the context window after
 *   compaction).
 * - {@link Fatal}: trying again is pointless or harmful (bad credentials, a
 *   malformed request, an exhausted billing quota, a refusal, a spent budget,
 *   or retries that already ran out).
 *
 * `Harness.retry` removes the Recoverable errors from a harness's error type:
 * what remains is what the caller must handle.
 *
 * Every error says where it came from once a harness run fails with it:
 * `harness` (the name of the harness or agent) and `attempt` (which attempt of
 * a retried run or model call, from 1), both in its `message` too (see
 * {@link withOrigin}).
 *
 * @since 0.1.0
 */
import { Duration, Predicate, Schema } from "effect"
import { AiError } from "effect/ai"
import * as DirectModel from "../model/DirectModel.ts"
import * as Overflow from "./internal/contextOverflow.ts"

/**
 * What a response had delivered before it broke off (a stream cut mid-way):
 * kept on the error so that nothing already paid for is thrown away.
 *
 * @since 0.1.0
 */
export const PartialResponse = Schema.Struct({
  text: Schema.String,
  toolCalls: Schema.Array(DirectModel.ToolCall)
})

/**
 * @since 0.1.0
 */
export type PartialResponse = typeof PartialResponse.Type

const optionalStatus = Schema.optional(Schema.Int)

// -----------------------------------------------------------------------------
// Where an error came from
// -----------------------------------------------------------------------------

/**
 * Where an error came from: the harness or agent whose run failed with it
 * (its `name`), and the attempt (from 1) of the retried run or model call
 * that failed. Both are absent on an error no harness run has seen (a
 * provider's mapped error, one built by hand); `attempt` is absent when
 * nothing retried the run.
 *
 * @since 0.1.0
 */
export interface Origin {
  readonly harness?: string | undefined
  readonly attempt?: number | undefined
}

// the fields of every error class, filled by `withOrigin`
const originFields = {
  /** The harness or agent whose run failed with this error (its `name`). */
  harness: Schema.optional(Schema.String),
  /** The attempt (from 1) of the retried run or model call that failed. */
  attempt: Schema.optional(Schema.Int)
}

const harnessLabel = (name: string): string => name === "" ? "an unnamed harness" : `harness ${JSON.stringify(name)}`

// " (harness \"triage\", attempt 2)": what a message ends with once its origin is known
const originSuffix = (origin: Origin): string => {
  const parts: Array<string> = []
  if (origin.harness !== undefined) parts.push(harnessLabel(origin.harness))
  if (origin.attempt !== undefined) parts.push(`attempt ${origin.attempt}`)
  return parts.length === 0 ? "" : ` (${parts.join(", ")})`
}

// " from harness \"extract\", attempt 2": where a message names its origin in front
// (the issues of an invalid output may take several lines)
const from = (origin: Origin): string => {
  if (origin.harness === undefined) return origin.attempt === undefined ? "" : ` in attempt ${origin.attempt}`
  return ` from ${harnessLabel(origin.harness)}${origin.attempt === undefined ? "" : `, attempt ${origin.attempt}`}`
}

// A message without the origin `withOrigin` added to it.
const withoutOrigin = (message: string, origin: Origin): string => {
  const suffix = originSuffix(origin)
  return suffix !== "" && message.endsWith(suffix) ? message.slice(0, -suffix.length) : message
}

// -----------------------------------------------------------------------------
// Recoverable
// -----------------------------------------------------------------------------

/**
 * The provider asked us to slow down (HTTP 429 `rate_limit_exceeded`).
 * `retryAfter` is the provider's own hint; `RetryPolicy` waits at least that
 * long.
 *
 * @since 0.1.0
 */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  message: Schema.String,
  retryAfter: Schema.optional(Schema.Duration),
  status: optionalStatus,
  ...originFields
}) {}

/**
 * The provider failed on its side: 5xx, overloaded, 408 or 409.
 *
 * @since 0.1.0
 */
export class ProviderUnavailable extends Schema.TaggedError<ProviderUnavailable>()("ProviderUnavailable", {
  message: Schema.String,
  status: optionalStatus,
  partial: Schema.optional(PartialResponse),
  ...originFields
}) {}

/**
 * The call took longer than allowed (the harness's `timeout` or the client's),
 * or a stream went idle: no data for longer than the provider's idle timeout
 * (OpenAI: `OpenAiClient`'s `streamIdleTimeout`). `partial` holds what a
 * stream had delivered before it stalled.
 *
 * @since 0.1.0
 */
export class Timeout extends Schema.TaggedError<Timeout>()("Timeout", {
  message: Schema.String,
  after: Schema.optional(Schema.Duration),
  partial: Schema.optional(PartialResponse),
  ...originFields
}) {}

/**
 * The connection was refused, reset, or broke mid-response. `partial` holds
 * what had arrived before it broke.
 *
 * @since 0.1.0
 */
export class ConnectionFailed extends Schema.TaggedError<ConnectionFailed>()("ConnectionFailed", {
  message: Schema.String,
  partial: Schema.optional(PartialResponse),
  ...originFields
}) {}

/**
 * The model answered, but the answer did not match the expected output:
 * `raw` is what it said, `issues` what was wrong with it.
 *
 * @since 0.1.0
 */
export class InvalidOutput extends Schema.TaggedError<InvalidOutput>()("InvalidOutput", {
  raw: Schema.String,
  issues: Schema.String,
  attempts: Schema.optional(Schema.Int),
  ...originFields
}) {
  override get message(): string {
    return `Invalid output${from(this)}: ${this.issues}`
  }
}

/**
 * The model's answer was cut at its output token limit (finish reason
 * `"length"`), and the repairs asking it for a shorter answer did not help:
 * `partial` holds what it said. `Harness.prompt` and agents never return a cut
 * answer as a success unless the caller opts in (`allowTruncated: true`).
 * Raising the model's output limit (OpenAI: `max_completion_tokens`) or
 * asking for less is what fixes it; a retry sends the same request again.
 *
 * @since 0.1.0
 */
export class OutputTruncated extends Schema.TaggedError<OutputTruncated>()("OutputTruncated", {
  partial: PartialResponse,
  attempts: Schema.optional(Schema.Int),
  ...originFields
}) {
  override get message(): string {
    return `The answer was cut at the output token limit after ${this.partial.text.length} characters${originSuffix(this)}`
  }
}

/**
 * The prompt does not fit the model's context window.
 *
 * @since 0.1.0
 */
export class ContextOverflow extends Schema.TaggedError<ContextOverflow>()("ContextOverflow", {
  message: Schema.String,
  tokens: Schema.optional(Schema.Int),
  limit: Schema.optional(Schema.Int),
  ...originFields
}) {}

// -----------------------------------------------------------------------------
// Fatal
// -----------------------------------------------------------------------------

/**
 * The credentials were missing, wrong, or lack permission (401/403).
 *
 * @since 0.1.0
 */
export class AuthenticationFailed extends Schema.TaggedError<AuthenticationFailed>()("AuthenticationFailed", {
  message: Schema.String,
  status: optionalStatus,
  ...originFields
}) {}

/**
 * The provider rejected the request itself (400/404/422 and the like). `code`
 * and `param` are the provider's, when it gave them.
 *
 * @since 0.1.0
 */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  message: Schema.String,
  status: optionalStatus,
  code: Schema.optional(Schema.String),
  param: Schema.optional(Schema.String),
  ...originFields
}) {}

/**
 * The account ran out of quota or credit (429 `insufficient_quota`): waiting
 * does not help, so it is not retried.
 *
 * @since 0.1.0
 */
export class QuotaExhausted extends Schema.TaggedError<QuotaExhausted>()("QuotaExhausted", {
  message: Schema.String,
  status: optionalStatus,
  ...originFields
}) {}

/**
 * The model declined to answer, or its answer was filtered. `refusal` is the
 * model's own words when it gave any.
 *
 * @since 0.1.0
 */
export class ContentRefused extends Schema.TaggedError<ContentRefused>()("ContentRefused", {
  message: Schema.String,
  refusal: Schema.optional(Schema.String),
  ...originFields
}) {}

/**
 * The kinds of limit a run can reach: those a `Budget` enforces, and
 * `modelCalls`, the cap on the model calls of one harness run that
 * `maxModelCalls` sets (`Harness.retry`, `Agent.make`).
 *
 * @since 0.1.0
 */
export const BudgetLimit = Schema.Literals(["inputTokens", "outputTokens", "totalTokens", "steps", "toolCalls", "cost", "modelCalls"])

/**
 * @since 0.1.0
 */
export type BudgetLimit = typeof BudgetLimit.Type

/**
 * A run reached one of its limits: `limit` names it, `max` is the allowance
 * and `used` what would have been spent. With `limit: "modelCalls"`, the run
 * made its `maxModelCalls` model calls (retries and repairs included) and the
 * next one was not sent.
 *
 * @since 0.1.0
 */
export class BudgetExceeded extends Schema.TaggedError<BudgetExceeded>()("BudgetExceeded", {
  limit: BudgetLimit,
  max: Schema.Number,
  used: Schema.Number,
  ...originFields
}) {
  override get message(): string {
    return this.limit === "modelCalls"
      ? `Budget exceeded: model call ${this.used} not made, the run's maxModelCalls is ${this.max}${originSuffix(this)}`
      : `Budget exceeded: ${this.limit} would reach ${this.used}, the limit is ${this.max}${originSuffix(this)}`
  }
}

// -----------------------------------------------------------------------------
// Unions
// -----------------------------------------------------------------------------

/**
 * The errors that trying again may fix.
 *
 * @since 0.1.0
 */
export type Recoverable =
  | RateLimited
  | ProviderUnavailable
  | Timeout
  | ConnectionFailed
  | InvalidOutput
  | OutputTruncated
  | ContextOverflow

/**
 * Schema of the {@link Recoverable} union.
 *
 * @since 0.1.0
 */
export const Recoverable = Schema.Union([
  RateLimited,
  ProviderUnavailable,
  Timeout,
  ConnectionFailed,
  InvalidOutput,
  OutputTruncated,
  ContextOverflow
])

/**
 * Retries ran out: `attempts` calls were made and `last` is the error of the
 * last one.
 *
 * @since 0.1.0
 */
export class RetriesExhausted extends Schema.TaggedError<RetriesExhausted>()("RetriesExhausted", {
  attempts: Schema.Int,
  last: Recoverable,
  ...originFields
}) {
  override get message(): string {
    const of = this.harness === undefined ? "" : ` of ${harnessLabel(this.harness)}`
    // the last error's own origin would repeat this one's
    const last = this.last._tag === "InvalidOutput"
      ? `Invalid output: ${this.last.issues}`
      : withoutOrigin(this.last.message, this.last)
    return `Retries exhausted after ${this.attempts} attempts${of}: ${last}`
  }
}

/**
 * The errors that trying again does not fix.
 *
 * @since 0.1.0
 */
export type Fatal =
  | AuthenticationFailed
  | InvalidRequest
  | QuotaExhausted
  | ContentRefused
  | BudgetExceeded
  | RetriesExhausted

/**
 * Schema of the {@link Fatal} union.
 *
 * @since 0.1.0
 */
export const Fatal = Schema.Union([
  AuthenticationFailed,
  InvalidRequest,
  QuotaExhausted,
  ContentRefused,
  BudgetExceeded,
  RetriesExhausted
])

/**
 * Every error a harness built by this library can fail with.
 *
 * @since 0.1.0
 */
export type HarnessError = Recoverable | Fatal

/**
 * Schema of every {@link HarnessError}, for journals and wire formats.
 *
 * @since 0.1.0
 */
export const HarnessError = Schema.Union([Recoverable, Fatal])

const recoverableTags: ReadonlySet<string> = new Set([
  "RateLimited",
  "ProviderUnavailable",
  "Timeout",
  "ConnectionFailed",
  "InvalidOutput",
  "OutputTruncated",
  "ContextOverflow"
])

const fatalTags: ReadonlySet<string> = new Set([
  "AuthenticationFailed",
  "InvalidRequest",
  "QuotaExhausted",
  "ContentRefused",
  "BudgetExceeded",
  "RetriesExhausted"
])

/**
 * Whether trying again may fix the error. Works on any value, so it can be
 * used as a retry predicate over wider error unions.
 *
 * @example
 * ```ts
 * import { HarnessError } from "@effect-harness/core"
 *
 * HarnessError.isRecoverable(new HarnessError.Timeout({ message: "slow" })) // true
 * ```
 *
 * @since 0.1.0
 */
export const isRecoverable = (u: unknown): u is Recoverable =>
  Predicate.hasProperty(u, "_tag") && typeof u._tag === "string" && recoverableTags.has(u._tag)

/**
 * Whether the error is one of the {@link Fatal} errors.
 *
 * @since 0.1.0
 */
export const isFatal = (u: unknown): u is Fatal =>
  Predicate.hasProperty(u, "_tag") && typeof u._tag === "string" && fatalTags.has(u._tag)

/**
 * Whether the value is any {@link HarnessError}.
 *
 * @since 0.1.0
 */
export const isHarnessError = (u: unknown): u is HarnessError => isRecoverable(u) || isFatal(u)

/**
 * Says where an error came from: fills the `harness` and `attempt` of a
 * {@link HarnessError} that does not have them yet (the first harness to see
 * an error names it: an inner harness, a sub-agent), and names them at the
 * end of its `message` (`Incorrect API key (harness "triage", attempt 1)`;
 * `InvalidOutput` and `RetriesExhausted` name them in front). Any other value
 * is returned as it is.
 *
 * Harnesses call it where their run fails, so an error only pays for it when
 * it happens; a harness of one's own (`Harness.make`) can too.
 *
 * @example
 * ```ts
 * import { HarnessError } from "@effect-harness/core"
 *
 * const error = HarnessError.withOrigin(new HarnessError.AuthenticationFailed({ message: "Incorrect API key" }), {
 *   harness: "triage",
 *   attempt: 1
 * })
 * error.message // 'Incorrect API key (harness "triage", attempt 1)'
 * ```
 *
 * @since 0.1.0
 */
export const withOrigin = <E>(error: E, origin: Origin): E => {
  if (!isHarnessError(error)) return error
  const harness = error.harness ?? origin.harness
  const attempt = error.attempt ?? origin.attempt
  if (harness === error.harness && attempt === error.attempt) return error
  // the class's own fields, read off the error: each class is a Schema with its fields
  const Class = error.constructor as unknown as {
    readonly fields: Record<string, unknown>
    new(fields: Record<string, unknown>): E
  }
  const fields: Record<string, unknown> = {}
  for (const key of Object.keys(Class.fields)) {
    const value = (error as unknown as Record<string, unknown>)[key]
    if (key !== "_tag" && value !== undefined) fields[key] = value
  }
  if (harness !== undefined) fields.harness = harness
  if (attempt !== undefined) fields.attempt = attempt
  // a stored message names its origin at its end (the computed ones do it themselves)
  if ("message" in Class.fields) fields.message = withoutOrigin(error.message, error) + originSuffix({ harness, attempt })
  return new Class(fields)
}

/**
 * The delay a recoverable error asks for, if any (a 429's `retry-after`).
 *
 * @since 0.1.0
 */
export const retryAfter = (error: unknown): Duration.Duration | undefined =>
  Predicate.hasProperty(error, "_tag") && error._tag === "RateLimited"
    ? (error as RateLimited).retryAfter
    : undefined

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
 * the partial response stored under {@link partialMetadataKey}; `kind: "timeout"`
 * marks a stream that stalled (no data for longer than its idle timeout): it
 * maps onto `Timeout`, keeping the partial response too.
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
  readonly kind?: "timeout" | "context-overflow" | "refusal" | "connection" | "truncated" | undefined
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
 * | InternalProviderError (details kind "timeout": a stalled stream) | Timeout (partial kept) |
 * | NetworkError (timeout) | Timeout |
 * | NetworkError (transport) | ConnectionFailed |
 * | InvalidOutputError, StructuredOutputError, tool parameter errors | InvalidOutput |
 * | InvalidOutputError (details kind "truncated", partial kept) | OutputTruncated |
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
 * With an `origin`, the error says where it came from (see {@link withOrigin}).
 *
 * @since 0.1.0
 */
export const fromAiError = (error: AiError.AiError, origin?: Origin): HarnessError =>
  origin === undefined ? fromAiErrorReason(error.reason) : withOrigin(fromAiErrorReason(error.reason), origin)

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
      if (details.kind === "timeout") return new Timeout(withDefined({ message, partial }))
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
      if (details.kind === "truncated" && partial !== undefined) return new OutputTruncated({ partial })
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
      // as for ConnectionFailed: a partial response needs the metadata of an InternalProviderError
      return error.partial === undefined
        ? new AiError.NetworkError({ reason: "TransportError", method: "POST", url: "", description: `timeout: ${error.message}` })
        : new AiError.InternalProviderError({
          description: error.message,
          metadata: { ...details({ kind: "timeout" }), [partialMetadataKey]: error.partial as any }
        })
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
    case "OutputTruncated":
      // effect has no reason for a cut answer: an invalid output, marked as truncated
      return new AiError.InvalidOutputError({
        description: error.message,
        metadata: { ...details({ kind: "truncated" }), [partialMetadataKey]: error.partial as any }
      })
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
