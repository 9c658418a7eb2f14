/**
 * @effect-harness/openai: the official `openai` SDK behind effect's
 * `LanguageModel`, with errors mapped onto effect-harness's recoverable and
 * fatal errors.
 *
 * @since 0.1.0
 */

/**
 * The `openai` SDK client as a service, configured explicitly or from `Config`.
 *
 * @since 0.1.0
 */
export * as OpenAiClient from "./OpenAiClient.ts"

/**
 * OpenAI models (Chat Completions or Responses) as effect's `LanguageModel`.
 *
 * @since 0.1.0
 */
export * as OpenAiLanguageModel from "./OpenAiLanguageModel.ts"

/**
 * Context windows, largest answers, encodings and prices of OpenAI models.
 *
 * @since 0.1.0
 */
export * as OpenAiModels from "./OpenAiModels.ts"

/**
 * A real BPE tokenizer for OpenAI models behind effect's `Tokenizer`, and a `ContextWindow` per model.
 *
 * @since 0.1.0
 */
export * as OpenAiTokenizer from "./OpenAiTokenizer.ts"
