/**
 * What effect-harness knows about OpenAI models: context window, largest
 * answer, BPE encoding and price. It feeds `ContextWindow` (window sizes) and
 * `Budget` (prices) in `@effect-harness/core`.
 *
 * Prices are US dollars per million tokens, standard tier, as OpenAI
 * published them; they change, so check the table against
 * https://openai.com/api/pricing before relying on a cost limit, or pass your
 * own `Budget.Pricing`. A model that is not in the table has no known price:
 * its cost is `undefined`, never zero.
 *
 * @example
 * ```ts
 * import { OpenAiModels } from "@effect-harness/openai"
 * import { Budget } from "@effect-harness/core"
 *
 * OpenAiModels.contextWindow("gpt-4o-2024-08-06") // 128000
 * const BudgetLive = Budget.layer({ pricing: OpenAiModels.pricing, limits: { cost: 1 } })
 * ```
 *
 * @since 0.1.0
 */
import type { Budget } from "@effect-harness/core"

/**
 * The BPE encodings OpenAI's chat models use.
 *
 * @since 0.1.0
 */
export type Encoding = "o200k_base" | "cl100k_base"

/**
 * One model.
 *
 * @since 0.1.0
 */
export interface ModelInfo {
  /** Input and output tokens together, in one request. */
  readonly contextWindow: number
  readonly maxOutputTokens: number
  readonly encoding: Encoding
  readonly price: Budget.Price
}

const model = (
  contextWindow: number,
  maxOutputTokens: number,
  input: number,
  output: number,
  cachedInput?: number,
  encoding: Encoding = "o200k_base"
): ModelInfo => ({
  contextWindow,
  maxOutputTokens,
  encoding,
  price: cachedInput === undefined ? { input, output } : { input, output, cachedInput }
})

/**
 * The table, by model name. Dated snapshots resolve to their model unless
 * listed (`gpt-4o-2024-05-13` has its own price).
 *
 * @since 0.1.0
 */
export const models: Readonly<Record<string, ModelInfo>> = {
  "gpt-5": model(400_000, 128_000, 1.25, 10, 0.125),
  "gpt-5-mini": model(400_000, 128_000, 0.25, 2, 0.025),
  "gpt-5-nano": model(400_000, 128_000, 0.05, 0.4, 0.005),
  "gpt-4.1": model(1_047_576, 32_768, 2, 8, 0.5),
  "gpt-4.1-mini": model(1_047_576, 32_768, 0.4, 1.6, 0.1),
  "gpt-4.1-nano": model(1_047_576, 32_768, 0.1, 0.4, 0.025),
  "gpt-4o": model(128_000, 16_384, 2.5, 10, 1.25),
  "gpt-4o-2024-05-13": model(128_000, 4_096, 5, 15),
  "gpt-4o-mini": model(128_000, 16_384, 0.15, 0.6, 0.075),
  "chatgpt-4o-latest": model(128_000, 16_384, 5, 15),
  "o1": model(200_000, 100_000, 15, 60, 7.5),
  "o1-mini": model(128_000, 65_536, 1.1, 4.4, 0.55),
  "o3": model(200_000, 100_000, 2, 8, 0.5),
  "o3-mini": model(200_000, 100_000, 1.1, 4.4, 0.55),
  "o4-mini": model(200_000, 100_000, 1.1, 4.4, 0.275),
  "gpt-4-turbo": model(128_000, 4_096, 10, 30, undefined, "cl100k_base"),
  "gpt-4": model(8_192, 8_192, 30, 60, undefined, "cl100k_base"),
  "gpt-3.5-turbo": model(16_385, 4_096, 0.5, 1.5, undefined, "cl100k_base")
}

const datedSnapshot = /-\d{4}-\d{2}-\d{2}$/

/**
 * What the table knows about a model, or `undefined`.
 *
 * @since 0.1.0
 */
export const get = (name: string): ModelInfo | undefined => {
  if (Object.hasOwn(models, name)) return models[name]
  const base = name.replace(datedSnapshot, "")
  return base !== name && Object.hasOwn(models, base) ? models[base] : undefined
}

/**
 * The context window of a model, in tokens, or `undefined` when unknown.
 *
 * @since 0.1.0
 */
export const contextWindow = (name: string): number | undefined => get(name)?.contextWindow

/**
 * The price of a model: a `Budget.Pricing` for `Budget.layer({ pricing })`.
 * Unknown models have no price (their cost is unknown, not zero).
 *
 * @since 0.1.0
 */
export const pricing: Budget.Pricing = (name) => get(name)?.price

/**
 * The BPE encoding of a model; models not in the table are assumed to use
 * the encoding of current models, `o200k_base`.
 *
 * @since 0.1.0
 */
export const encoding = (name: string): Encoding =>
  get(name)?.encoding ?? (/^(gpt-4(?!o|\.)|gpt-3\.5)/.test(name) ? "cl100k_base" : "o200k_base")
