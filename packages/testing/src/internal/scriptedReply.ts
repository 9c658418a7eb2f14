/**
 * The pieces of a scripted reply that do not depend on the script: the
 * request as the model received it, the usage estimated from a prompt, and
 * effect's finish part and error reason. The request's and the usage's types
 * live here, as `TestModel.Request` and `TestModel.Usage`, since both modules
 * use them.
 *
 * @internal
 */
import { type DirectModel, HarnessError } from "@effect-harness/core"
import { AiError, type LanguageModel, type Prompt, type Response } from "effect/ai"

/**
 * Token counts a reply reports.
 */
export interface Usage {
  readonly inputTokens: number
  readonly outputTokens: number
}

/**
 * What the model received for one call.
 */
export interface Request {
  readonly prompt: Prompt.Prompt
  readonly tools: ReadonlyArray<string>
  readonly toolChoice: LanguageModel.ProviderOptions["toolChoice"]
  readonly responseFormat: "text" | "json"
  /** The text of the last user message, for quick assertions. */
  readonly lastUserText: string
}

export const estimateTokens = (text: string) => Math.max(1, Math.ceil(text.length / 4))

export const promptText = (prompt: Prompt.Prompt): string => {
  let out = ""
  for (const message of prompt.content) {
    if (typeof message.content === "string") out += message.content
    else {
      for (const part of message.content) {
        if (part.type === "text") out += part.text
        else if (part.type === "tool-call") out += JSON.stringify(part.params)
        else if (part.type === "tool-result") out += JSON.stringify(part.result)
      }
    }
  }
  return out
}

const lastUserText = (prompt: Prompt.Prompt): string => {
  for (let i = prompt.content.length - 1; i >= 0; i--) {
    const message = prompt.content[i]!
    if (message.role === "user") {
      return message.content.map((part) => part.type === "text" ? part.text : "").join("")
    }
  }
  return ""
}

// A request as the model received it; the last user text is read when asked
// for (most runs never look).
export class RecordedRequest implements Request {
  readonly prompt: Prompt.Prompt
  readonly tools: ReadonlyArray<string>
  readonly toolChoice: LanguageModel.ProviderOptions["toolChoice"]
  readonly responseFormat: "text" | "json"
  #lastUserText: string | undefined
  constructor(options: {
    readonly prompt: Prompt.Prompt
    readonly tools: ReadonlyArray<{ readonly name: string }>
    readonly toolChoice: LanguageModel.ToolChoice<string>
    readonly responseFormat: { readonly type: "text" | "json" }
  }) {
    this.prompt = options.prompt
    this.tools = options.tools.map((tool) => tool.name)
    this.toolChoice = options.toolChoice
    this.responseFormat = options.responseFormat.type
  }
  get lastUserText(): string {
    return this.#lastUserText ??= lastUserText(this.prompt)
  }
}

export const directUsage = (usage: Usage): DirectModel.Usage => ({
  inputTokens: usage.inputTokens,
  outputTokens: usage.outputTokens,
  cachedInputTokens: 0,
  reasoningTokens: 0
})

export const toReason = (error: HarnessError.HarnessError | AiError.AiErrorReason): AiError.AiErrorReason =>
  AiError.isAiErrorReason(error) ? error : HarnessError.toAiErrorReason(error)

export const finishPart = (
  reason: Response.FinishReason,
  usage: Usage
): Response.FinishPartEncoded => ({
  type: "finish",
  reason,
  usage: {
    inputTokens: { uncached: usage.inputTokens, total: usage.inputTokens, cacheRead: 0, cacheWrite: undefined },
    outputTokens: { total: usage.outputTokens, text: usage.outputTokens, reasoning: 0 }
  }
})
