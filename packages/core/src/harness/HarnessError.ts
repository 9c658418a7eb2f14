/**
 * The errors a harness can fail with, split in two unions that say what a
 * caller can still do about them.
 *
 * - {@link Recoverable}: trying again may succeed (rate limits, 5xx, timeouts,
 *   dropped connections, output that failed validation, a prompt too long for
 *   the context window after compaction).
 * - {@link Fatal}: trying again is pointless or harmful (bad credentials, a
 *   malformed request, an exhausted billing quota, a refusal, a spent budget,
 *   or retries that already ran out).
 *
 * `Harness.retry` removes the Recoverable errors from a harness's error type:
 * what remains is what the caller must handle.
 *
 * @since 0.1.0
 */
import { Duration, Predicate, Schema } from "effect"
import * as DirectModel from "../model/DirectModel.ts"

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
  status: optionalStatus
}) {}

/**
 * The provider failed on its side: 5xx, overloaded, 408 or 409.
 *
 * @since 0.1.0
 */
export class ProviderUnavailable extends Schema.TaggedError<ProviderUnavailable>()("ProviderUnavailable", {
  message: Schema.String,
  status: optionalStatus,
  partial: Schema.optional(PartialResponse)
}) {}

/**
 * The call took longer than allowed (the harness's `timeout` or the client's).
 *
 * @since 0.1.0
 */
export class Timeout extends Schema.TaggedError<Timeout>()("Timeout", {
  message: Schema.String,
  after: Schema.optional(Schema.Duration)
}) {}

/**
 * The connection was refused, reset, or broke mid-response. `partial` holds
 * what had arrived before it broke.
 *
 * @since 0.1.0
 */
export class ConnectionFailed extends Schema.TaggedError<ConnectionFailed>()("ConnectionFailed", {
  message: Schema.String,
  partial: Schema.optional(PartialResponse)
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
  attempts: Schema.optional(Schema.Int)
}) {
  override get message(): string {
    return `Invalid output: ${this.issues}`
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
  limit: Schema.optional(Schema.Int)
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
  status: optionalStatus
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
  param: Schema.optional(Schema.String)
}) {}

/**
 * The account ran out of quota or credit (429 `insufficient_quota`): waiting
 * does not help, so it is not retried.
 *
 * @since 0.1.0
 */
export class QuotaExhausted extends Schema.TaggedError<QuotaExhausted>()("QuotaExhausted", {
  message: Schema.String,
  status: optionalStatus
}) {}

/**
 * The model declined to answer, or its answer was filtered. `refusal` is the
 * model's own words when it gave any.
 *
 * @since 0.1.0
 */
export class ContentRefused extends Schema.TaggedError<ContentRefused>()("ContentRefused", {
  message: Schema.String,
  refusal: Schema.optional(Schema.String)
}) {}

/**
 * The kinds of limit a `Budget` enforces.
 *
 * @since 0.1.0
 */
export const BudgetLimit = Schema.Literals(["inputTokens", "outputTokens", "totalTokens", "steps", "toolCalls", "cost"])

/**
 * @since 0.1.0
 */
export type BudgetLimit = typeof BudgetLimit.Type

/**
 * A run reached one of its limits: `limit` names it, `max` is the allowance
 * and `used` what would have been spent.
 *
 * @since 0.1.0
 */
export class BudgetExceeded extends Schema.TaggedError<BudgetExceeded>()("BudgetExceeded", {
  limit: BudgetLimit,
  max: Schema.Number,
  used: Schema.Number
}) {
  override get message(): string {
    return `Budget exceeded: ${this.limit} would reach ${this.used}, the limit is ${this.max}`
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
  last: Recoverable
}) {
  override get message(): string {
    return `Retries exhausted after ${this.attempts} attempts: ${this.last.message}`
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
 * The delay a recoverable error asks for, if any (a 429's `retry-after`).
 *
 * @since 0.1.0
 */
export const retryAfter = (error: unknown): Duration.Duration | undefined =>
  Predicate.hasProperty(error, "_tag") && error._tag === "RateLimited"
    ? (error as RateLimited).retryAfter
    : undefined

// The mapping from effect's AiError lives in its own file; it is part of this module's API.
export {
  detailsMetadataKey,
  fromAiError,
  fromAiErrorReason,
  partialMetadataKey,
  type ProviderDetails,
  toAiErrorReason
} from "./internal/aiErrorMapping.ts"
