/**
 * A real BPE tokenizer for OpenAI models (`gpt-tokenizer`, a port of
 * tiktoken) behind effect's `Tokenizer` interface, and a `ContextWindow`
 * sized from `OpenAiModels`.
 *
 * A prompt is counted the way OpenAI's chat format counts it: each message
 * is `<|im_start|>role<|im_sep|>content<|im_end|>`, so the count of a prompt
 * is the sum of its messages' counts (which `ContextWindow` caches one by one).
 * The three tokens that prime the reply, and the exact serialization of tool
 * calls that OpenAI does not document, are approximated: keep a small
 * `reserve`.
 *
 * The encoding tables are loaded when the layer is built, not when the
 * package is imported.
 *
 * @example
 * ```ts
 * import { OpenAiTokenizer } from "@effect-harness/openai"
 * import { ContextWindow } from "@effect-harness/core"
 *
 * // a context window of gpt-4o's size, counted with its real tokenizer
 * const Window = OpenAiTokenizer.layerContextWindow("gpt-4o", { strategy: ContextWindow.truncate })
 * ```
 *
 * @since 0.1.0
 */
import { ContextWindow } from "@effect-harness/core"
import { Effect, Layer } from "effect"
import { type Prompt, Tokenizer } from "effect/ai"
import * as OpenAiModels from "./OpenAiModels.ts"

type ChatEncoder = (chat: ReadonlyArray<{ readonly role: string; readonly content: string }>) => Array<number>

// Both model modules bind encodeChat to their encoding's chat format.
const loadEncoder = (encoding: OpenAiModels.Encoding): Promise<ChatEncoder> =>
  encoding === "cl100k_base"
    ? import("gpt-tokenizer/model/gpt-4").then((m) => (chat) => m.encodeChat(chat as any))
    : import("gpt-tokenizer/model/gpt-4o").then((m) => (chat) => m.encodeChat(chat as any))

// `encodeChat` appends `<|im_start|>assistant<|im_sep|>` to prime the reply.
const replyPriming = 3

const contentOf = (message: Prompt.Message): string => {
  if (typeof message.content === "string") return message.content
  let out = ""
  for (const part of message.content) {
    switch (part.type) {
      case "text":
      case "reasoning":
        out += part.text
        break
      case "tool-call":
        out += `${part.name}(${JSON.stringify(part.params)})`
        break
      case "tool-result":
        out += typeof part.result === "string" ? part.result : JSON.stringify(part.result)
        break
    }
  }
  return out
}

/**
 * The tokenizer of a model, or of an encoding.
 *
 * @since 0.1.0
 */
export const make = (model: string): Effect.Effect<Tokenizer.Service> =>
  Effect.map(
    Effect.promise(() => loadEncoder(OpenAiModels.encoding(model))),
    (encodeChat) =>
      Tokenizer.make({
        tokenize: (prompt) =>
          Effect.sync(() => {
            const tokens: Array<number> = []
            for (const message of prompt.content) {
              const encoded = encodeChat([{ role: message.role, content: contentOf(message) }])
              for (let i = 0; i < encoded.length - replyPriming; i++) tokens.push(encoded[i]!)
            }
            return tokens
          })
      })
  )

/**
 * A layer providing effect's `Tokenizer` for a model.
 *
 * @example
 * ```ts
 * import { OpenAiTokenizer } from "@effect-harness/openai"
 * import { Effect } from "effect"
 * import { Tokenizer } from "effect/ai"
 *
 * const count = Effect.gen(function*() {
 *   const tokenizer = yield* Tokenizer.Tokenizer
 *   return (yield* tokenizer.tokenize("Hello, world!")).length
 * }).pipe(Effect.provide(OpenAiTokenizer.layer("gpt-4o")))
 * ```
 *
 * @since 0.1.0
 */
export const layer = (model: string): Layer.Layer<Tokenizer.Tokenizer> => Layer.effect(Tokenizer.Tokenizer, make(model))

/**
 * A `ContextWindow` for a model: its window size from `OpenAiModels` (or
 * `maxTokens`), its real tokenizer, and by default room kept for an answer of
 * 4,096 tokens (or the model's largest answer, if smaller).
 *
 * @since 0.1.0
 */
export const layerContextWindow = <R = never>(
  model: string,
  options?: {
    readonly maxTokens?: number | undefined
    readonly reserve?: number | undefined
    readonly strategy?: ContextWindow.Strategy<R> | undefined
  }
): Layer.Layer<ContextWindow.ContextWindow, never, R> => {
  const info = OpenAiModels.get(model)
  const maxTokens = options?.maxTokens ?? info?.contextWindow
  if (maxTokens === undefined) {
    return Layer.effect(
      ContextWindow.ContextWindow,
      Effect.die(new Error(`OpenAiTokenizer.layerContextWindow: the window of ${model} is unknown; pass maxTokens`))
    )
  }
  return ContextWindow.layer({
    maxTokens,
    reserve: options?.reserve ?? Math.min(4_096, info?.maxOutputTokens ?? 4_096),
    strategy: options?.strategy
  }).pipe(Layer.provide(layer(model)))
}
