/**
 * One line per failure a user can meet: what went wrong and what to do.
 * The harness's error types say exactly which failures can reach the caller
 * after retries (the fatal ones); this module turns each into advice.
 */
import type { HarnessError, Journal } from "@effect-harness/core"
import { Duration } from "effect"
import { oneLine } from "./cli.ts"
import type { Info } from "./model.ts"

const keyHint = (info: Info) =>
  info.provider === "openai"
    ? "check OPENAI_API_KEY (keys: https://platform.openai.com/api-keys)"
    : "check OPENAI_API_KEY (the key this server expects)"

const where = (info: Info) => info.provider === "openai" ? "OpenAI" : `the model server at ${info.baseURL}`

const status = (s: number | undefined) => (s === undefined ? "" : ` (HTTP ${s})`)

/** The root of a connection failure ("connect ECONNREFUSED 127.0.0.1:9"), without the SDK's wrapping. */
export const connectionCause = (message: string): string => {
  const match = /fetch failed: (.+?)(?: \(|$)/.exec(message)
  return oneLine(match?.[1] ?? message, 100)
}

/** Why retrying did not help, from the last recoverable error. */
const exhausted = (error: HarnessError.RetriesExhausted, info: Info, resume: string): string => {
  const last = error.last
  const tries = `after ${error.attempts} attempt${error.attempts === 1 ? "" : "s"}`
  switch (last._tag) {
    case "ConnectionFailed":
      return `Cannot reach ${where(info)} ${tries} (${connectionCause(last.message)}): is it running? ` +
        (info.provider === "openai"
          ? "Check your network connection"
          : "Check OPENAI_BASE_URL, or unset it to use the scripted model") + resume
    case "Timeout":
      return `${where(info)} did not answer in time ${tries}: try again later${resume}`
    case "RateLimited":
      return `${where(info)} is still rate limiting ${tries}` +
        (last.retryAfter === undefined ? "" : ` (it asks to wait ${Duration.format(last.retryAfter)})`) +
        `: wait a little, or lower --concurrency${resume}`
    case "ProviderUnavailable":
      return `${where(info)} kept failing ${tries}${status(last.status)}: ${oneLine(last.message, 160)}; try again later${resume}`
    case "ContextOverflow":
      return `The conversation no longer fits the model's context window ${tries}: ${oneLine(last.message, 160)}`
    case "InvalidOutput":
      return `The model did not give a valid answer ${tries}: ${oneLine(last.issues, 160)}`
    case "OutputTruncated":
      return `The model's answer was cut at its output token limit ${tries}: raise the limit or ask for less`
  }
}

/**
 * Explains a fatal harness error. `resume` is appended where running again
 * helps (e.g. " (run again to resume: finished work is kept)").
 */
export const harnessError = (error: HarnessError.Fatal | HarnessError.ContextOverflow, info: Info, resume = ""): string => {
  const line = fatal(error, info, resume)
  return line.charAt(0).toUpperCase() + line.slice(1)
}

const fatal = (error: HarnessError.Fatal | HarnessError.ContextOverflow, info: Info, resume: string): string => {
  switch (error._tag) {
    case "ContextOverflow":
      return `The conversation no longer fits the model's context window: ${oneLine(error.message, 160)}`
    case "AuthenticationFailed":
      return `${where(info)} rejected the API key${status(error.status)}: ${oneLine(error.message, 160)}; ${keyHint(info)}`
    case "QuotaExhausted":
      return `${where(info)} says the account is out of quota or credit: ${oneLine(error.message, 160)}; ` +
        "check the account's billing"
    case "InvalidRequest":
      return `${where(info)} rejected the request${status(error.status)}: ${oneLine(error.message, 200)}; ` +
        `check OPENAI_MODEL (now "${info.model}") and that the server supports tools and JSON output`
    case "ContentRefused":
      return `The model refused to answer: ${oneLine(error.refusal ?? error.message, 200)}`
    case "BudgetExceeded":
      return error.message
    case "RetriesExhausted":
      return exhausted(error, info, resume)
  }
}

/** Explains a journal failure of a durable run. */
export const journalError = (error: Journal.JournalError | Journal.JournalMismatch, fresh: string): string => {
  if (error._tag === "JournalMismatch") {
    // the two sides are long JSON previews; where it diverged is what helps
    return `Run ${error.runId} cannot resume: its input or code changed since it started (entry ${error.sequence} ` +
      `of its journal differs); ${fresh}`
  }
  switch (error.reason) {
    case "conflict":
      return `Another process is working on run ${error.runId}: wait for it to finish, or ${fresh}`
    case "corrupted":
    case "version":
      return `The journal of run ${error.runId} cannot be read (${error.reason}: ${oneLine(error.detail, 160)}); ${fresh}`
    case "unknown-outcome":
      return `Run ${error.runId} stopped during a step that must not run twice: ${oneLine(error.detail, 160)}`
    case "store":
      return `Cannot write the journal of run ${error.runId}: ${oneLine(error.detail, 200)}; check the --state folder`
    case "invalid-run-id":
      return `Run id ${JSON.stringify(oneLine(error.runId, 80))} cannot be stored: ${oneLine(error.detail, 160)}`
  }
}
