/**
 * How each provider says "the prompt does not fit the context window": one
 * row per documented shape (status, code or type, message), read by
 * `HarnessError.fromAiError` so that an overflow compacts the context instead
 * of failing as a fatal `InvalidRequest`, whichever OpenAI-compatible server
 * or proxy it came through. A row matches on its code alone when the provider
 * gives a dedicated one; otherwise on its message, and only under the
 * statuses the provider uses for it (or inside a stream, where there is no
 * status), so that other 400s stay `InvalidRequest`.
 *
 * @internal
 */

/** What a provider reported about a failed call. */
export interface OverflowEvidence {
  readonly status?: number | undefined
  readonly code?: string | undefined
  readonly type?: string | undefined
  readonly message?: string | undefined
}

/** One provider's overflow shape. `tokens` and `limit` are named groups of `message` when it states them. */
export interface OverflowShape {
  readonly provider: string
  /** A code or type that means overflow by itself (matched against both fields). */
  readonly code?: string | undefined
  /** The statuses the provider answers it with; a message matches only under these (or with no status). */
  readonly status?: ReadonlyArray<number> | undefined
  readonly message?: RegExp | undefined
}

/**
 * The known shapes. Each row cites where its text comes from; the tests use
 * that text verbatim.
 */
export const shapes: ReadonlyArray<OverflowShape> = [
  // OpenAI: code context_length_exceeded, 400 (platform.openai.com error codes;
  // "This model's maximum context length is 128000 tokens. However, your messages resulted in ...")
  { provider: "OpenAI", code: "context_length_exceeded" },
  {
    provider: "OpenAI",
    status: [400],
    message: /maximum context length is (?<limit>\d+) tokens\. However, (?:your messages resulted in|you requested) (?<tokens>\d+) tokens/i
  },
  // Groq: the same code, its own message "Please reduce the length of the messages or completion."
  // (github.com/OpenHands/OpenHands/issues/1902, github.com/ScrapeGraphAI/Scrapegraph-ai/issues/411)
  { provider: "Groq", code: "context_length_exceeded" },
  // DeepSeek: 400, code "invalid_request_error", "This model's maximum context length is 65536 tokens.
  // However, you requested 66343 tokens (62247 in the messages, 4096 in the completion)..."
  // (github.com/FoundationAgents/OpenManus/issues/79, github.com/BerriAI/litellm/issues/10431)
  {
    provider: "DeepSeek",
    status: [400],
    message: /maximum context length is (?<limit>\d+) tokens\. However, you requested (?<tokens>\d+) tokens/i
  },
  // vLLM: 400 BadRequestError, "This model's maximum context length is 16384 tokens. However, you requested
  // 122946 tokens (112946 in the messages, 10000 in the completion)..." (github.com/vllm-project/vllm/issues/20409);
  // V1 engine: "The prompt (total length 25938) is too long to fit into the model (context length 4096)..."
  // (github.com/vllm-project/vllm/issues/12165)
  {
    provider: "vLLM",
    status: [400],
    message: /maximum context length is (?<limit>\d+) tokens\. However, you requested (?<tokens>\d+) tokens/i
  },
  {
    provider: "vLLM",
    status: [400, 500],
    message: /prompt \(total length (?<tokens>\d+)\) is too long to fit into the model \(context length (?<limit>\d+)\)/i
  },
  // Anthropic: 400 invalid_request_error, "prompt is too long: 208656 tokens > 200000 maximum"
  // (github.com/anthropics/claude-code/issues/59696, github.com/sojohnnysaid/project-guide/issues/2);
  // input and max_tokens together: "input length and `max_tokens` exceed context limit: 199759 + 8192 > 200000, ..."
  // (github.com/continuedev/continue/issues/6080)
  { provider: "Anthropic", status: [400, 413], message: /prompt is too long: (?<tokens>\d+) tokens > (?<limit>\d+) maximum/i },
  { provider: "Anthropic", status: [400], message: /input length and `?max_tokens`? exceed context limit: \d+ \+ \d+ > (?<limit>\d+)/i },
  // Gemini: 400 INVALID_ARGUMENT, "The input token count (1200293) exceeds the maximum number of tokens allowed (1048576)."
  // (github.com/google-gemini/gemini-cli/issues/6678, .../issues/4118); the OpenAI-compatible endpoint sends it in an array
  {
    provider: "Gemini",
    status: [400],
    message: /input token count \((?<tokens>\d+)\) exceeds the maximum number of tokens allowed \((?<limit>\d+)\)/i
  },
  // Mistral: 400, "Prompt contains 40046 tokens and 0 draft tokens, too large for model with 32768 maximum
  // context length", body {"object":"error","message":...,"type":"invalid_request_invalid_args","code":"3051"}
  // (quoted from api.mistral.ai responses in public client code and fixtures; no Mistral-owned issue found)
  {
    provider: "Mistral",
    status: [400],
    message: /prompt contains (?<tokens>\d+) tokens.*too large for model with (?<limit>\d+) maximum context length/i
  },
  // llama.cpp server: type exceed_context_size_error, HTTP 500 when introduced, 400 since
  // (github.com/ggml-org/llama.cpp/pull/15780, github.com/oobabooga/textgen/issues/7257);
  // "request (8889 tokens) exceeds the available context size (4096 tokens), try increasing it"
  { provider: "llama.cpp", code: "exceed_context_size_error" },
  {
    provider: "llama.cpp",
    status: [400, 500],
    message: /(?:request \((?<tokens>\d+) tokens\) )?exceeds the available context size(?: \((?<limit>\d+) tokens\))?/i
  },
  // Ollama: 400 "the prompt is longer than the context length currently available to the model; ..."
  // (github.com/ollama/ollama llm/llama_server_test.go TestLlamaServerCompletionRejectsPromptOverContext),
  // and "the input length exceeds the context length" (github.com/nano-step/nano-brain/issues/208)
  { provider: "Ollama", status: [400, 500], message: /prompt is longer than the context length currently available/i },
  { provider: "Ollama", status: [400, 500], message: /input length exceeds the context length/i },
  // LM Studio: "The number of tokens to keep from the initial prompt is greater than the context length..."
  // (github.com/lmstudio-ai/lmstudio-bug-tracker/issues/2205, github.com/anomalyco/opencode/issues/2259) and
  // "Trying to keep the first 15857 tokens when context the overflows. However, the model is loaded with context
  // length of only 4096 tokens..." (github.com/lmstudio-ai/lmstudio-bug-tracker/issues/237)
  {
    provider: "LM Studio",
    status: [400, 500],
    message: /number of tokens to keep from the initial prompt is greater than the context length/i
  },
  {
    provider: "LM Studio",
    status: [400, 500],
    message: /keep the first (?<tokens>\d+) tokens when context the overflows.*context length of only (?<limit>\d+) tokens/i
  },
  // OpenRouter: 400, "This endpoint's maximum context length is 200000 tokens. However, you requested about
  // 5028244 tokens (...). Please reduce the length of either one, or use the "middle-out" transform..."
  // (github.com/agno-agi/agno/issues/3980, github.com/refly-ai/refly/issues/1177)
  {
    provider: "OpenRouter",
    status: [400],
    message: /endpoint's maximum context length is (?<limit>\d+) tokens\. However, you requested about (?<tokens>\d+) tokens/i
  }
]

/** What an overflow said about its size, when it said it. */
export interface Overflow {
  readonly provider: string
  readonly tokens?: number | undefined
  readonly limit?: number | undefined
}

const number = (text: string | undefined) => text === undefined ? undefined : Number(text)

// The sizes a message states, whichever row it matched on (a code row has none of its own).
const sizes = (message: string | undefined): Pick<Overflow, "tokens" | "limit"> => {
  if (message === undefined) return {}
  for (const shape of shapes) {
    const groups = shape.message?.exec(message)?.groups
    if (groups?.tokens !== undefined || groups?.limit !== undefined) {
      return { tokens: number(groups.tokens), limit: number(groups.limit) }
    }
  }
  return {}
}

/** The first shape the evidence matches, with the sizes its message states; undefined for any other error. */
export const match = (evidence: OverflowEvidence): Overflow | undefined => {
  for (const shape of shapes) {
    const matched = shape.code !== undefined
      ? evidence.code === shape.code || evidence.type === shape.code
      : shape.message !== undefined && evidence.message !== undefined &&
        (evidence.status === undefined || shape.status === undefined || shape.status.includes(evidence.status)) &&
        shape.message.test(evidence.message)
    if (matched) return { provider: shape.provider, ...sizes(evidence.message) }
  }
  return undefined
}
