/**
 * What the layer returned, in one shape for both paths (effect's
 * `LanguageModel`, plain or streamed, and core's `DirectModel`, plain or
 * streamed), and its
 * comparison with what the recorded response says.
 */
import { type DirectModel, HarnessError } from "@effect-harness/core"
import { Cause, Exit, Option } from "effect"
import { AiError, type LanguageModel, type Prompt, type Response } from "effect/ai"
import type { Expected, ExpectedCall, ExpectedReasoning, ExpectedUsage } from "./recorded.ts"

export interface Outcome {
  /** effect's decoded parts (empty for DirectModel replies). */
  readonly parts: ReadonlyArray<Response.AnyPart>
  readonly text: string
  readonly toolCalls: ReadonlyArray<ExpectedCall>
  readonly finishReason: string
  readonly usage: ExpectedUsage
}

export const fromResponse = (response: LanguageModel.GenerateTextResponse<any, any>): Outcome => ({
  parts: response.content as ReadonlyArray<Response.AnyPart>,
  text: response.text,
  toolCalls: response.toolCalls.map((call: any) => ({ id: call.id, name: call.name, params: call.params })),
  finishReason: response.finishReason,
  usage: {
    input: response.usage.inputTokens.total,
    output: response.usage.outputTokens.total,
    cached: response.usage.inputTokens.cacheRead,
    reasoning: response.usage.outputTokens.reasoning
  }
})

export const fromStreamParts = (parts: ReadonlyArray<Response.StreamPart<any, any>>): Outcome => {
  let text = ""
  const toolCalls: Array<ExpectedCall> = []
  let finish: Response.FinishPart | undefined
  for (const part of parts) {
    if (part.type === "text-delta") text += part.delta
    else if (part.type === "tool-call") toolCalls.push({ id: part.id, name: part.name, params: part.params })
    else if (part.type === "finish") finish = part
  }
  return {
    parts: parts as ReadonlyArray<Response.AnyPart>,
    text,
    toolCalls,
    finishReason: finish?.reason ?? "missing",
    usage: {
      input: finish?.usage.inputTokens.total,
      output: finish?.usage.outputTokens.total,
      cached: finish?.usage.inputTokens.cacheRead,
      reasoning: finish?.usage.outputTokens.reasoning
    }
  }
}

export const fromReply = (reply: DirectModel.Reply): Outcome => ({
  parts: [],
  text: reply.text,
  toolCalls: reply.toolCalls,
  finishReason: reply.finishReason,
  usage: {
    input: reply.usage.inputTokens,
    output: reply.usage.outputTokens,
    cached: reply.usage.cachedInputTokens,
    reasoning: reply.usage.reasoningTokens
  }
})

/** What core's direct stream gave: its deltas joined, its tool calls, its finish part. */
export const fromDirectParts = (parts: Iterable<DirectModel.StreamPart>): Outcome => {
  let text = ""
  const toolCalls: Array<ExpectedCall> = []
  let finish: DirectModel.FinishPart | undefined
  for (const part of parts) {
    if (part.type === "text-delta") text += part.delta
    else if (part.type === "tool-call") toolCalls.push({ id: part.id, name: part.name, params: part.params })
    else if (part.type === "finish") finish = part
  }
  return {
    parts: [],
    text,
    toolCalls,
    finishReason: finish?.finishReason ?? "missing",
    usage: {
      input: finish?.usage.inputTokens,
      output: finish?.usage.outputTokens,
      cached: finish?.usage.cachedInputTokens,
      reasoning: finish?.usage.reasoningTokens
    }
  }
}

/** The assistant side of a prompt message: its text, tool calls and reasoning items. */
export const assistantOutcome = (message: Prompt.AssistantMessage) => {
  let text = ""
  const toolCalls: Array<ExpectedCall> = []
  const reasoning: Array<ExpectedReasoning> = []
  for (const part of message.content) {
    if (part.type === "text") text += part.text
    else if (part.type === "tool-call") toolCalls.push({ id: part.id, name: part.name, params: part.params })
    else if (part.type === "reasoning") {
      const openai = part.options.openai as { itemId?: string; encryptedContent?: string | null } | undefined
      if (openai?.itemId !== undefined && reasoning.at(-1)?.itemId !== openai.itemId) {
        reasoning.push({ itemId: openai.itemId, encryptedContent: openai.encryptedContent ?? null })
      }
    }
  }
  return { text, toolCalls, reasoning }
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

/** The problems found comparing what the layer did with what was recorded (empty when they agree). */
export const compare = (expected: Expected, exit: Exit.Exit<Outcome, unknown>): Array<string> => {
  const problems: Array<string> = []
  if (Exit.isSuccess(exit)) {
    const outcome = exit.value
    if (expected._tag !== "Ok") return [`expected ${expected._tag === "Error" ? expected.harnessTag : "a refusal"}, got a success`]
    if (outcome.text !== expected.text) {
      problems.push(`text: expected ${JSON.stringify(expected.text.slice(0, 80))}, got ${JSON.stringify(outcome.text.slice(0, 80))}`)
    }
    if (!same(outcome.toolCalls, expected.toolCalls)) {
      problems.push(`tool calls: expected ${JSON.stringify(expected.toolCalls)}, got ${JSON.stringify(outcome.toolCalls)}`)
    }
    if (outcome.finishReason !== expected.finishReason) {
      problems.push(`finish reason: expected ${expected.finishReason}, got ${outcome.finishReason}`)
    }
    for (const key of ["input", "output", "cached", "reasoning"] as const) {
      if (outcome.usage[key] !== expected.usage[key]) {
        problems.push(`usage.${key}: expected ${expected.usage[key]}, got ${outcome.usage[key]}`)
      }
    }
    return problems
  }
  const failure = Option.getOrUndefined(Cause.findErrorOption(exit.cause))
  if (!AiError.isAiError(failure)) return [`failed without an AiError: ${Cause.pretty(exit.cause).slice(0, 300)}`]
  const error = HarnessError.fromAiError(failure)
  if (expected._tag === "Ok") return [`expected a success, got ${error._tag}: ${error.message}`]
  if (expected._tag === "Refused") {
    if (error._tag !== "ContentRefused" || error.refusal !== expected.refusal) problems.push(`expected the refusal, got ${error._tag}`)
    return problems
  }
  if (error._tag !== expected.harnessTag) problems.push(`error: expected ${expected.harnessTag}, got ${error._tag}`)
  if (error.message !== expected.message) problems.push(`error message: expected ${JSON.stringify(expected.message)}, got ${JSON.stringify(error.message)}`)
  if (error._tag === "InvalidRequest" && (error.code !== expected.code || error.param !== expected.param)) {
    problems.push(`code/param: expected ${expected.code}/${expected.param}, got ${error.code}/${error.param}`)
  }
  return problems
}
