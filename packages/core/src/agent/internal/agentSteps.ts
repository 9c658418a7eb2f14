/**
 * The pure parts of an agent step: the journal form of a model reply, the
 * final answer's decoding and repair request, and the step-finished event.
 *
 * @internal
 */
import { Effect, type Schema } from "effect"
import * as AgentEvent from "../AgentEvent.ts"
import type * as DirectModel from "../../model/DirectModel.ts"
import type * as Model from "./agentModel.ts"

// A structured answer the provider decoded from its own wire form is recorded
// in the Schema's encoding: the final answer decodes the same way live and on
// replay from a journal.
const textOf = (reply: DirectModel.Reply, encode: ((value: unknown) => string | undefined) | undefined): string =>
  reply.structured === undefined || encode === undefined ? reply.text : encode(reply.structured.value) ?? reply.text

export const toStep = (
  reply: DirectModel.Reply,
  dropCalls: boolean,
  encode?: (value: unknown) => string | undefined
): Model.ModelStep => ({
  text: textOf(reply, encode),
  toolCalls: dropCalls ? [] : reply.toolCalls,
  finishReason: reply.finishReason,
  usage: {
    ...(reply.usage.inputTokens === undefined ? {} : { inputTokens: reply.usage.inputTokens }),
    ...(reply.usage.outputTokens === undefined ? {} : { outputTokens: reply.usage.outputTokens }),
    ...(reply.usage.cachedInputTokens === undefined ? {} : { cachedInputTokens: reply.usage.cachedInputTokens })
  },
  ...(reply.model === undefined ? {} : { model: reply.model })
})

export const repairRequest = (issues: string): string =>
  `Your final answer was not valid.\nIssues:\n${issues}\n` +
  "Answer again with only a JSON value that satisfies the schema, and nothing else."

export const decodeFinal = <O>(decode: (value: unknown) => Effect.Effect<O, Schema.SchemaError, any>, text: string) => {
  if (text.trim().length === 0) return Effect.succeed({ ok: false as const, issues: "The answer was empty" })
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    return Effect.succeed({ ok: false as const, issues: `The answer is not valid JSON: ${(error as Error).message}` })
  }
  return decode(value).pipe(
    Effect.map((value) => ({ ok: true as const, value })),
    Effect.catchTag("SchemaError", (error) => Effect.succeed({ ok: false as const, issues: error.message }))
  )
}

export const stepFinished = (agent: string, record: Model.StepRecord) =>
  AgentEvent.StepFinished({
    agent,
    step: record.step,
    failed: record.failed,
    toolCalls: record.toolCalls.length,
    finishReason: record.finishReason,
    inputTokens: record.inputTokens,
    outputTokens: record.outputTokens
  })
