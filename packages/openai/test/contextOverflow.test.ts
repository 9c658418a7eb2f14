/**
 * Every provider's "the prompt does not fit" error, as its server or an
 * OpenAI-compatible proxy sends it (status and body, the message text verbatim
 * from the source cited on each row), through the real SDK over HTTP, on both
 * effect's LanguageModel and core's DirectModel: each is a `ContextOverflow`
 * (so the context window compacts), never the fatal `InvalidRequest`. Other
 * 400s stay `InvalidRequest`. The bodies are synthetic: built from the
 * providers' documented and reported shapes, not recorded here.
 */
import { DirectModel, HarnessError, Messages } from "@effect-harness/core"
import { FakeOpenAiServer } from "@effect-harness/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { AiError, LanguageModel } from "effect/ai"
import { modelLayer } from "./support/env.ts"

interface Row {
  readonly provider: string
  readonly status: number
  readonly body: unknown
  readonly tokens?: number
  readonly limit?: number
}

const overflows: ReadonlyArray<Row> = [
  {
    // platform.openai.com error codes: context_length_exceeded
    provider: "OpenAI",
    status: 400,
    body: {
      error: {
        message:
          "This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens. Please reduce the length of the messages.",
        type: "invalid_request_error",
        param: "messages",
        code: "context_length_exceeded"
      }
    },
    tokens: 131072,
    limit: 128000
  },
  {
    // github.com/OpenHands/OpenHands/issues/1902
    provider: "Groq",
    status: 400,
    body: {
      error: {
        message: "Please reduce the length of the messages or completion.",
        type: "invalid_request_error",
        param: "messages",
        code: "context_length_exceeded"
      }
    }
  },
  {
    // github.com/FoundationAgents/OpenManus/issues/79
    provider: "DeepSeek",
    status: 400,
    body: {
      error: {
        message:
          "This model's maximum context length is 65536 tokens. However, you requested 66343 tokens (62247 in the messages, 4096 in the completion). Please reduce the length of the messages or completion.",
        type: "invalid_request_error",
        param: null,
        code: "invalid_request_error"
      }
    },
    tokens: 66343,
    limit: 65536
  },
  {
    // github.com/ogx-ai/ogx/issues/4534 (vLLM's top-level ErrorResponse)
    provider: "vLLM",
    status: 400,
    body: {
      object: "error",
      message:
        "This model's maximum context length is 6048 tokens. However, you requested 6616 tokens (568 in the messages, 6048 in the completion). Please reduce the length of the messages or completion.",
      type: "BadRequestError",
      param: null,
      code: 400
    },
    tokens: 6616,
    limit: 6048
  },
  {
    // github.com/vllm-project/vllm/issues/12165 (V1 engine)
    provider: "vLLM (V1)",
    status: 400,
    body: {
      object: "error",
      message:
        "The prompt (total length 25938) is too long to fit into the model (context length 4096). Make sure that `max_model_len` is no smaller than the number of text tokens plus multimodal tokens.",
      type: "BadRequestError",
      param: null,
      code: 400
    },
    tokens: 25938,
    limit: 4096
  },
  {
    // github.com/anthropics/claude-code/issues/59696 (Anthropic's own error shape, passed on by a proxy)
    provider: "Anthropic",
    status: 400,
    body: {
      type: "error",
      error: { type: "invalid_request_error", message: "prompt is too long: 203284 tokens > 200000 maximum" },
      request_id: "req_011Cb691naMZfUYHaJNPd2Xh"
    },
    tokens: 203284,
    limit: 200000
  },
  {
    // github.com/continuedev/continue/issues/6080
    provider: "Anthropic (input + max_tokens)",
    status: 400,
    body: {
      type: "error",
      error: {
        type: "invalid_request_error",
        message:
          "input length and `max_tokens` exceed context limit: 199759 + 8192 > 200000, decrease input length or `max_tokens` and try again"
      }
    },
    limit: 200000
  },
  {
    // github.com/google-gemini/gemini-cli/issues/6678 (an array, as Gemini's OpenAI-compatible endpoint sends it)
    provider: "Gemini",
    status: 400,
    body: [{
      error: {
        code: 400,
        message: "The input token count (1200293) exceeds the maximum number of tokens allowed (1048576).",
        errors: [{
          message: "The input token count (1200293) exceeds the maximum number of tokens allowed (1048576).",
          domain: "global",
          reason: "badRequest"
        }],
        status: "INVALID_ARGUMENT"
      }
    }],
    tokens: 1200293,
    limit: 1048576
  },
  {
    // api.mistral.ai's body as quoted by the mistralai client's SDKError (public client code)
    provider: "Mistral",
    status: 400,
    body: {
      object: "error",
      message: "Prompt contains 159202 tokens and 0 draft tokens, too large for model with 131072 maximum context length",
      type: "invalid_request_invalid_args",
      param: null,
      code: "3051",
      raw_status_code: 400
    },
    tokens: 159202,
    limit: 131072
  },
  {
    // github.com/oobabooga/textgen/issues/7257
    provider: "llama.cpp",
    status: 400,
    body: {
      error: {
        code: 400,
        message: "the request exceeds the available context size. try increasing the context size or enable context shift",
        type: "exceed_context_size_error",
        n_prompt_tokens: 14429,
        n_ctx: 8192
      }
    }
  },
  {
    // github.com/ggml-org/llama.cpp/pull/15780: the type was introduced with HTTP 500
    provider: "llama.cpp (500)",
    status: 500,
    body: {
      error: {
        code: 500,
        message: "the request exceeds the available context size. try increasing the context size or enable context shift",
        type: "exceed_context_size_error",
        n_prompt_tokens: 1407,
        n_ctx: 256
      }
    }
  },
  {
    // github.com/ollama/ollama llm/llama_server_test.go TestLlamaServerCompletionRejectsPromptOverContext,
    // in the OpenAI-compatible endpoint's error envelope
    provider: "Ollama",
    status: 400,
    body: {
      error: {
        message:
          "the prompt is longer than the context length currently available to the model; shorten the prompt or adjust the context length in settings",
        type: "invalid_request_error",
        param: null,
        code: null
      }
    }
  },
  {
    // github.com/nano-step/nano-brain/issues/208 (Ollama's native error body)
    provider: "Ollama (native)",
    status: 400,
    body: { error: "the input length exceeds the context length" }
  },
  {
    // github.com/anomalyco/opencode/issues/2259, github.com/lmstudio-ai/lmstudio-bug-tracker/issues/2205
    provider: "LM Studio",
    status: 400,
    body: {
      error:
        "The number of tokens to keep from the initial prompt is greater than the context length. Try to load the model with a larger context length, or provide a shorter input"
    }
  },
  {
    // github.com/cline/cline/issues/3664
    provider: "LM Studio (keep)",
    status: 400,
    body: {
      error:
        "Trying to keep the first 10136 tokens when context the overflows. However, the model is loaded with context length of only 7866 tokens, which is not enough. Try to load the model with a larger context length, or provide a shorter input"
    },
    tokens: 10136,
    limit: 7866
  },
  {
    // github.com/agno-agi/agno/issues/3980, github.com/earendil-works/pi/issues/6378 (body shape)
    provider: "OpenRouter",
    status: 400,
    body: {
      error: {
        message:
          "This endpoint's maximum context length is 200000 tokens. However, you requested about 5028244 tokens (4945291 of text input, 2953 of tool input, 80000 in the output). Please reduce the length of either one, or use the \"middle-out\" transform to compress your prompt automatically.",
        code: 400,
        metadata: { provider_name: null }
      }
    },
    tokens: 5028244,
    limit: 200000
  }
]

// 400s that are not about the context window: they stay the fatal InvalidRequest
const otherBadRequests: ReadonlyArray<Row> = [
  {
    // OpenAI's own parameter error
    provider: "OpenAI (bad parameter)",
    status: 400,
    body: { error: { message: "Invalid 'temperature': decimal above maximum value.", type: "invalid_request_error", param: "temperature", code: "decimal_above_max_value" } }
  },
  {
    // github.com/vllm-project/vllm/issues/4667
    provider: "vLLM (max_tokens)",
    status: 400,
    body: { object: "error", message: "max_tokens must be at least 1, got -186.", type: "BadRequestError", param: null, code: 400 }
  },
  {
    // Gemini's 400 for a bad key (status INVALID_ARGUMENT, like its overflow)
    provider: "Gemini (bad key)",
    status: 400,
    body: [{ error: { code: 400, message: "API key not valid. Please pass a valid API key.", status: "INVALID_ARGUMENT" } }]
  },
  {
    // an output cap, not the context window
    provider: "OpenAI (max_tokens too large)",
    status: 400,
    body: {
      error: {
        message: "max_tokens is too large: 100000. This model supports at most 16384 completion tokens, whereas you provided 100000.",
        type: "invalid_request_error",
        param: "max_tokens",
        code: "invalid_value"
      }
    }
  }
]

const reply = (row: Row): FakeOpenAiServer.Reply => FakeOpenAiServer.jsonResponse(row.body, { status: row.status })

const toHarness = (error: unknown): HarnessError.HarnessError => {
  if (!AiError.isAiError(error)) throw new Error(`not an AiError: ${String(error)}`)
  return HarnessError.fromAiError(error)
}

/** The error of one call through LanguageModel, then one through DirectModel. */
const bothPaths = (row: Row) =>
  Effect.gen(function*() {
    const server = yield* FakeOpenAiServer.FakeOpenAiServer
    yield* server.enqueue(reply(row), reply(row))
    const viaLanguageModel = yield* Effect.flip(LanguageModel.generateText({ prompt: "Hello" }))
    const direct = yield* DirectModel.current
    const viaDirect = yield* Effect.flip(
      direct.generate({ prompt: Messages.toPrompt("Hello"), tools: [], toolChoice: "none", responseFormat: { type: "text" } })
    )
    return [toHarness(viaLanguageModel), toHarness(viaDirect)]
  })

describe("every provider's context overflow through the real SDK (synthetic bodies)", () => {
  for (const row of overflows) {
    it.effect(`synthetic ${row.provider} overflow (${row.status}): ContextOverflow, recoverable, with the sizes it states`, () =>
      Effect.gen(function*() {
        for (const error of yield* bothPaths(row)) {
          assert.strictEqual(error._tag, "ContextOverflow", error.message)
          if (error._tag !== "ContextOverflow") continue
          assert.isTrue(HarnessError.isRecoverable(error))
          assert.strictEqual(error.tokens, row.tokens)
          assert.strictEqual(error.limit, row.limit)
        }
      }).pipe(Effect.provide(modelLayer({ model: "some-model" }))))
  }

  for (const row of otherBadRequests) {
    it.effect(`synthetic ${row.provider} 400: still InvalidRequest`, () =>
      Effect.gen(function*() {
        for (const error of yield* bothPaths(row)) assert.strictEqual(error._tag, "InvalidRequest", error.message)
      }).pipe(Effect.provide(modelLayer({ model: "some-model" }))))
  }

  it.effect("synthetic llama.cpp overflow in a stream's error event: ContextOverflow", () =>
    Effect.gen(function*() {
      const server = yield* FakeOpenAiServer.FakeOpenAiServer
      yield* server.enqueue(FakeOpenAiServer.sse([{
        error: {
          code: 400,
          message: "the request exceeds the available context size, try increasing it",
          type: "exceed_context_size_error",
          n_prompt_tokens: 9000,
          n_ctx: 8192
        }
      }]))
      const error = toHarness(yield* Effect.flip(Stream.runDrain(LanguageModel.streamText({ prompt: "Hello" }))))
      assert.strictEqual(error._tag, "ContextOverflow")
    }).pipe(Effect.provide(modelLayer({ model: "some-model" }))))

  it.effect("synthetic Gemini overflow: the message is the provider's sentence, not the JSON it came in", () =>
    Effect.gen(function*() {
      const [error] = yield* bothPaths(overflows.find((row) => row.provider === "Gemini")!)
      assert.strictEqual(error!.message, "The input token count (1200293) exceeds the maximum number of tokens allowed (1048576).")
    }).pipe(Effect.provide(modelLayer({ model: "some-model" }))))
})
