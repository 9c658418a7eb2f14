/**
 * How the harness's errors become HTTP responses. The harness's error type
 * lists exactly what can reach the handler after its retries: the fatal
 * errors, `InvalidOutput` once the repairs are spent, and the `Timeout` the
 * endpoint adds. Each gets a status that tells the client whose problem it
 * is and whether trying again can help:
 *
 * | error | status | why |
 * | --- | --- | --- |
 * | the body is not JSON, or not a ticket | 400 | the client's request is wrong |
 * | the body is over 64 KiB | 413 | |
 * | the request is not received within the request timeout | 408 | the client is too slow; the connection is closed |
 * | `InvalidRequest` | 422 | the model provider rejected what this ticket made us send |
 * | `InvalidOutput` (repairs spent), `ContentRefused` | 422 | no valid triage for this ticket; retrying the same ticket will not help |
 * | `OutputTruncated` (repairs spent), also after `RetriesExhausted` | 422 | the triage did not fit the model's output limit |
 * | `RetriesExhausted` after `ContextOverflow` | 413 | the ticket is too long for the model |
 * | `RetriesExhausted` after `InvalidOutput` | 422 | as `InvalidOutput` |
 * | `RetriesExhausted` after `RateLimited` | 503 + `Retry-After` | the provider asked us to wait (longer than our retry policy allows, or still after our retries): so does the client, with its delay |
 * | `RetriesExhausted` after `ProviderUnavailable` / `ConnectionFailed` | 503 | the provider is down or unreachable: try later |
 * | `RetriesExhausted` after `Timeout`, `Timeout` | 504 | the model did not answer in time |
 * | `QuotaExhausted` | 503 | our provider account is out of credit: not the client's fault, and not soon fixed |
 * | `AuthenticationFailed` | 502 | our credentials were rejected upstream: the operator must fix them; the client learns no detail |
 * | `BudgetExceeded` | 402 | the ticket needed more tokens than the request's budget (`?maxTokens=`) allows |
 * | anything else (a defect) | 500 | logged on the server, never shown to the client |
 *
 * The body is always `{ "error": <tag>, "message": <one line> }`.
 */
import type { Agent, HarnessError } from "@effect-harness/core"
import { Duration } from "effect"

export interface HttpError {
  readonly status: number
  readonly error: string
  readonly message: string
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** Worth a line in the server's own log (the operator must act). */
  readonly log?: boolean | undefined
}

/** What the triage endpoint can fail with after its retries. */
export type TriageError = Agent.AgentError | HarnessError.Timeout

const retryAfter = (duration: Duration.Duration | undefined) =>
  duration === undefined ? undefined : { "retry-after": String(Math.max(1, Math.ceil(Duration.toSeconds(duration)))) }

const exhausted = (error: HarnessError.RetriesExhausted): HttpError => {
  const last = error.last
  const after = `after ${error.attempts} attempts`
  switch (last._tag) {
    case "RateLimited":
      return {
        status: 503,
        error: "RateLimited",
        message: `The model provider is rate limiting us (${after}); try again later`,
        headers: retryAfter(last.retryAfter)
      }
    case "ProviderUnavailable":
    case "ConnectionFailed":
      return { status: 503, error: last._tag, message: `The model provider is unavailable (${after}); try again later`, log: true }
    case "Timeout":
      return { status: 504, error: "Timeout", message: `The model did not answer in time (${after})` }
    case "ContextOverflow":
      return { status: 413, error: "ContextOverflow", message: "The ticket is too long for the model's context window" }
    case "InvalidOutput":
      return { status: 422, error: "InvalidOutput", message: `The model gave no valid triage (${after}): ${last.issues}` }
    case "OutputTruncated":
      return { status: 422, error: "OutputTruncated", message: "The model's triage was cut at its output token limit" }
  }
}

/** The response for an error of the triage endpoint. */
export const fromError = (error: TriageError): HttpError => {
  switch (error._tag) {
    case "InvalidRequest":
      return { status: 422, error: error._tag, message: `The model provider rejected the request: ${error.message}` }
    case "InvalidOutput":
      return { status: 422, error: error._tag, message: `The model gave no valid triage: ${error.issues}` }
    case "ContentRefused":
      return { status: 422, error: error._tag, message: `The model refused this ticket: ${error.refusal ?? error.message}` }
    case "OutputTruncated":
      return { status: 422, error: error._tag, message: "The model's triage was cut at its output token limit" }
    case "RetriesExhausted":
      return exhausted(error)
    case "Timeout":
      return { status: 504, error: error._tag, message: error.message }
    case "QuotaExhausted":
      return { status: 503, error: error._tag, message: "The model provider account is out of quota", log: true }
    case "AuthenticationFailed":
      return {
        status: 502,
        error: error._tag,
        message: "The model provider rejected this server's credentials; the operator must fix OPENAI_API_KEY",
        log: true
      }
    case "BudgetExceeded":
      return { status: 402, error: error._tag, message: error.message }
    default:
      // Paused (no tool here needs approval) and journal errors (no durable run here) cannot happen
      return { status: 500, error: "Internal", message: "Internal error", log: true }
  }
}
