/**
 * An agent's model call: the provider's direct model with the agent's retry
 * policy, its errors made the harness's typed errors, and a context overflow
 * handed back as a value (the loop compacts and calls again). Also the
 * encoding of a structured answer for the journal.
 *
 * @internal
 */
import { Effect, Schema } from "effect"
import type * as DirectModel from "../../model/DirectModel.ts"
import * as Harness from "../../harness/Harness.ts"
import * as HarnessError from "../../harness/HarnessError.ts"
import type * as RetryPolicy from "../../harness/RetryPolicy.ts"
import { make as makeHarness } from "../../harness/internal/harness.ts"
import { type AgentError, type Config, Overflow } from "./agentRun.ts"

const generate = (model: DirectModel.Resolved, request: DirectModel.Request) =>
  Effect.catch(model.generate(request), (error): Effect.Effect<never, HarnessError.HarnessError | Overflow> => {
    const mapped = HarnessError.fromAiError(error)
    return mapped._tag === "ContextOverflow" ? Effect.fail(new Overflow({ error: mapped })) : Effect.fail(mapped)
  })

/**
 * Most calls succeed at once: one handler catches every failure, and the
 * retry schedule is only set up after a recoverable one, which it then sees
 * as the first attempt's.
 */
export const make = (name: string, policy: RetryPolicy.RetryPolicy): Config<unknown>["call"] => (model, request) =>
  Effect.catch(model.generate(request), (error) => {
    const first = HarnessError.fromAiError(error)
    if (first._tag === "ContextOverflow") return Effect.succeed(new Overflow({ error: first }))
    if (!HarnessError.isRecoverable(first)) return Effect.fail(first as AgentError)
    let replayed = false
    const retried = Harness.retry(
      makeHarness(name, () =>
        replayed ? generate(model, request) : Effect.suspend(() => {
          replayed = true
          return Effect.fail(first)
        })),
      policy
    )
    return Effect.catchTag(
      retried.run(undefined),
      "AgentContextOverflow",
      (overflow: Overflow) => Effect.succeed(overflow)
    ) as Effect.Effect<DirectModel.Reply | Overflow, AgentError>
  })

/** A structured answer back to the output Schema's JSON encoding; undefined if it does not encode. */
export const encodeJson = (schema: Schema.Top) => {
  const encode = Schema.encodeUnknownSync(schema as Schema.Codec<unknown, unknown>)
  return (value: unknown): string | undefined => {
    try {
      return JSON.stringify(encode(value))
    } catch {
      return undefined
    }
  }
}
