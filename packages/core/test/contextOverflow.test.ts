/**
 * `HarnessError.fromAiError` on every provider's context overflow, as an
 * effect `LanguageModel` provider reports it (an `AiError` reason carrying
 * the provider's status and message): each is `ContextOverflow`, so the
 * context window compacts. Messages verbatim from the sources cited in
 * packages/core/src/harness/internal/contextOverflow.ts (synthetic: not recorded here).
 */
import { HarnessError } from "@effect-harness/core"
import { assert, describe, it } from "@effect/vitest"
import { AiError } from "effect/ai"

interface Row {
  readonly provider: string
  readonly status: number
  readonly message: string
  readonly code?: string
  readonly type?: string
}

const overflows: ReadonlyArray<Row> = [
  { provider: "OpenAI", status: 400, code: "context_length_exceeded", message: "This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens. Please reduce the length of the messages." },
  { provider: "Groq", status: 400, code: "context_length_exceeded", message: "Please reduce the length of the messages or completion." },
  { provider: "DeepSeek", status: 400, code: "invalid_request_error", message: "This model's maximum context length is 65536 tokens. However, you requested 66343 tokens (62247 in the messages, 4096 in the completion). Please reduce the length of the messages or completion." },
  { provider: "vLLM", status: 400, type: "BadRequestError", message: "This model's maximum context length is 16384 tokens. However, you requested 122946 tokens (112946 in the messages, 10000 in the completion). Please reduce the length of the messages or completion." },
  { provider: "vLLM (V1)", status: 400, message: "The prompt (total length 25938) is too long to fit into the model (context length 4096). Make sure that `max_model_len` is no smaller than the number of text tokens plus multimodal tokens." },
  { provider: "Anthropic", status: 400, type: "invalid_request_error", message: "prompt is too long: 208656 tokens > 200000 maximum" },
  { provider: "Anthropic (input + max_tokens)", status: 400, message: "input length and `max_tokens` exceed context limit: 199759 + 8192 > 200000, decrease input length or `max_tokens` and try again" },
  { provider: "Gemini", status: 400, type: "INVALID_ARGUMENT", message: "The input token count (2551556) exceeds the maximum number of tokens allowed (1048576)." },
  { provider: "Mistral", status: 400, code: "3051", message: "Prompt contains 40046 tokens and 0 draft tokens, too large for model with 32768 maximum context length" },
  { provider: "llama.cpp", status: 400, type: "exceed_context_size_error", message: "the request exceeds the available context size. try increasing the context size or enable context shift" },
  { provider: "llama.cpp (message only)", status: 400, message: "request (8889 tokens) exceeds the available context size (4096 tokens), try increasing it" },
  { provider: "Ollama", status: 400, message: "the prompt is longer than the context length currently available to the model; shorten the prompt or adjust the context length in settings" },
  { provider: "Ollama (input)", status: 400, message: "the input length exceeds the context length" },
  { provider: "LM Studio", status: 400, message: "The number of tokens to keep from the initial prompt is greater than the context length. Try to load the model with a larger context length, or provide a shorter input" },
  { provider: "LM Studio (keep)", status: 400, message: "Trying to keep the first 111490 tokens when context the overflows. However, the model is loaded with context length of only 32768 tokens, which is not enough. Try to load the model with a larger context length, or provide a shorter input." },
  { provider: "OpenRouter", status: 400, message: "This endpoint's maximum context length is 32768 tokens. However, you requested about 42832 tokens (42832 of text input). Please reduce the length of either one, or use the \"middle-out\" transform to compress your prompt automatically." }
]

const reason = (row: Row) =>
  new AiError.InvalidRequestError({
    description: row.message,
    http: { response: { status: row.status, headers: {} } } as any,
    metadata: {
      [HarnessError.detailsMetadataKey]: JSON.parse(JSON.stringify({ message: row.message, code: row.code, type: row.type, status: row.status }))
    }
  })

const mapped = (row: Row) => HarnessError.fromAiError(AiError.make({ module: "Provider", method: "generateText", reason: reason(row) }))

describe("HarnessError.fromAiError: every provider's context overflow", () => {
  for (const row of overflows) {
    it(`synthetic ${row.provider}: ContextOverflow`, () => {
      const error = mapped(row)
      assert.strictEqual(error._tag, "ContextOverflow")
      assert.strictEqual(error.message, row.message)
    })
  }

  it("synthetic: the sizes a message states are kept (tokens, limit)", () => {
    const anthropic = mapped(overflows.find((row) => row.provider === "Anthropic")!)
    const gemini = mapped(overflows.find((row) => row.provider === "Gemini")!)
    assert.deepStrictEqual([anthropic._tag === "ContextOverflow" && anthropic.tokens, anthropic._tag === "ContextOverflow" && anthropic.limit], [208656, 200000])
    assert.deepStrictEqual([gemini._tag === "ContextOverflow" && gemini.tokens, gemini._tag === "ContextOverflow" && gemini.limit], [2551556, 1048576])
  })

  it("synthetic llama.cpp overflow answered with a 500 (InternalProviderError): ContextOverflow, not ProviderUnavailable", () => {
    const error = HarnessError.fromAiError(AiError.make({
      module: "Provider",
      method: "generateText",
      reason: new AiError.InternalProviderError({
        description: "the request exceeds the available context size. try increasing the context size or enable context shift",
        http: { response: { status: 500, headers: {} } } as any,
        metadata: { [HarnessError.detailsMetadataKey]: { type: "exceed_context_size_error", status: 500 } as any }
      })
    }))
    assert.strictEqual(error._tag, "ContextOverflow")
  })

  it("synthetic other 400s, and a 500 that mentions no context: not ContextOverflow", () => {
    const others: ReadonlyArray<Row> = [
      { provider: "OpenAI", status: 400, code: "invalid_value", message: "Invalid 'temperature': decimal above maximum value." },
      { provider: "vLLM", status: 400, message: "max_tokens must be at least 1, got -186." },
      { provider: "Gemini", status: 400, type: "INVALID_ARGUMENT", message: "API key not valid. Please pass a valid API key." },
      { provider: "OpenAI", status: 400, code: "invalid_value", message: "max_tokens is too large: 100000. This model supports at most 16384 completion tokens, whereas you provided 100000." }
    ]
    for (const row of others) assert.strictEqual(mapped(row)._tag, "InvalidRequest", row.message)
    // a message row never matches under a status its provider does not use for it
    assert.strictEqual(mapped({ provider: "Gemini", status: 429, message: "The input token count (1) exceeds the maximum number of tokens allowed (0)." })._tag, "InvalidRequest")
  })
})
