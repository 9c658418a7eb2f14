/**
 * Small constructors for effect's `Prompt` messages. They build the messages
 * directly instead of decoding their encoded form, which keeps prompt
 * building off the Schema path on every call.
 *
 * @since 0.1.0
 */
import { Prompt } from "effect/ai"
import { noOptions as options } from "./internal/noOptions.ts"

/**
 * A system message.
 *
 * @since 0.1.0
 */
export const system = (text: string): Prompt.SystemMessage => Prompt.systemMessage({ content: text, options })

/**
 * A user message with one text part.
 *
 * @example
 * ```ts
 * import { Messages } from "@effect-harness/core"
 * import { Prompt } from "effect/ai"
 *
 * const prompt = Prompt.fromMessages([Messages.system("Be brief."), Messages.user("Hello")])
 * ```
 *
 * @since 0.1.0
 */
export const user = (text: string): Prompt.UserMessage =>
  Prompt.userMessage({ content: [Prompt.textPart({ text, options })], options })

/**
 * An assistant message with one text part.
 *
 * @since 0.1.0
 */
export const assistant = (text: string): Prompt.AssistantMessage =>
  Prompt.assistantMessage({ content: [Prompt.textPart({ text, options })], options })

/**
 * Turns any prompt input into a `Prompt`; a plain string becomes one user
 * message without going through Schema decoding.
 *
 * @since 0.1.0
 */
export const toPrompt = (input: Prompt.RawInput): Prompt.Prompt =>
  typeof input === "string"
    ? Prompt.fromMessages([user(input)])
    : Prompt.isPrompt(input)
    ? input
    : Prompt.make(input)
