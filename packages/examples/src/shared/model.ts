/**
 * Which model the examples talk to, chosen from the environment in this
 * order:
 *
 * 1. `OPENAI_API_KEY` set: OpenAI (or the server of `OPENAI_BASE_URL` when
 *    that is set too), model `OPENAI_MODEL`, default `gpt-4o-mini`;
 * 2. `OPENAI_BASE_URL` set: any OpenAI-compatible server (Ollama, llama.cpp,
 *    vLLM, LM Studio...), with a placeholder key, model `OPENAI_MODEL`;
 * 3. neither: a scripted model served by `FakeOpenAiServer` on 127.0.0.1, so
 *    that everything down to the SDK's HTTP calls runs offline.
 *
 * In every case the harness sees the same thing: effect's `LanguageModel`
 * (with core's `DirectModel` fast path attached) from `OpenAiLanguageModel`, over the
 * real `openai` SDK. Only the server at the other end changes.
 */
import { OpenAiClient, OpenAiLanguageModel } from "@effect-harness/openai"
import { FakeOpenAiServer } from "@effect-harness/testing"
import { Config, Context, Effect, Layer, Option, Redacted } from "effect"
import type { LanguageModel } from "effect/ai"
import { ExampleError, oneLine } from "./cli.ts"

export const defaultModel = "gpt-4o-mini"

/** How the model is chosen, for an example's `--help`. */
export const help = `Model: OPENAI_API_KEY (OpenAI; OPENAI_MODEL, default ${defaultModel}), else OPENAI_BASE_URL (any
OpenAI-compatible server), else a scripted model served offline on 127.0.0.1.`

/** The model in use, for the banner and for error messages. */
export interface Info {
  readonly provider: "openai" | "compatible" | "scripted"
  readonly model: string
  readonly baseURL: string
  /** What to print before starting: which model, and for the scripted one how to use a real one. */
  readonly banner: ReadonlyArray<string>
}

export class ModelInfo extends Context.Service<ModelInfo, Info>()("@effect-harness/examples/ModelInfo") {}

/** A scripted model: the reply to each request the fake server receives. */
export type Script = (request: FakeOpenAiServer.ReceivedRequest) => FakeOpenAiServer.Reply

const nonEmpty = <A>(option: Option.Option<A>, value: (a: A) => string) =>
  Option.filter(option, (a) => value(a).trim().length > 0)

/** Reads the three variables; empty values count as unset. */
export const readEnv = Effect.gen(function*() {
  const apiKey = yield* Config.option(Config.Redacted("OPENAI_API_KEY"))
  const baseURL = yield* Config.option(Config.String("OPENAI_BASE_URL"))
  const model = yield* Config.option(Config.String("OPENAI_MODEL"))
  return {
    apiKey: nonEmpty(apiKey, Redacted.value),
    baseURL: nonEmpty(baseURL, (s) => s),
    model: Option.getOrElse(nonEmpty(model, (s) => s), () => defaultModel)
  }
}).pipe(Effect.mapError((error) => new ExampleError({ message: `Invalid model configuration: ${oneLine(error.message)}` })))

const realModel = (info: Info, apiKey: Redacted.Redacted<string> | string) =>
  OpenAiLanguageModel.layer({ model: info.model }).pipe(
    Layer.provide(OpenAiClient.layer({ apiKey, baseURL: info.baseURL, timeout: "90 seconds" })),
    Layer.merge(Layer.succeed(ModelInfo, info))
  )

const scriptedModel = (script: Script, howToReal: string) =>
  Layer.unwrap(Effect.gen(function*() {
    const server = yield* FakeOpenAiServer.FakeOpenAiServer
    const info: Info = {
      provider: "scripted",
      model: defaultModel,
      baseURL: server.url,
      banner: [
        `Model: scripted, offline. The answers come from a script (the model's turns are a function of each ` +
        `request) served by FakeOpenAiServer on ${server.url}, through the real openai SDK; ` +
        `tokens are priced as ${defaultModel}.`,
        `To use a real model: ${howToReal}`
      ]
    }
    // the fake server keeps every request it received (tests read them): a long-running example
    // (the HTTP server) forgets them now and then instead of growing forever
    yield* server.reset.pipe(Effect.delay("1 minute"), Effect.forever, Effect.forkScoped)
    return realModel(info, "scripted-model-needs-no-key")
  })).pipe(Layer.provide(FakeOpenAiServer.layer({ fallback: script })))

/**
 * The model layer: `LanguageModel` and `ModelInfo`. `script`
 * answers when no real model is configured; `command` is how the user
 * starts this example (for the "use a real model" hint).
 */
export const layer = (options: {
  readonly script: Script
  readonly command: string
}): Layer.Layer<LanguageModel.LanguageModel | ModelInfo, ExampleError | OpenAiClient.OpenAiClientError> =>
  Layer.unwrap(Effect.gen(function*() {
    const env = yield* readEnv
    if (Option.isSome(env.apiKey)) {
      const baseURL = Option.getOrElse(env.baseURL, () => "https://api.openai.com/v1")
      const openai = Option.isNone(env.baseURL)
      return realModel({
        provider: openai ? "openai" : "compatible",
        model: env.model,
        baseURL,
        banner: [
          openai
            ? `Model: OpenAI ${env.model} (OPENAI_API_KEY is set; another model with OPENAI_MODEL=...)`
            : `Model: ${env.model} on the OpenAI-compatible server ${baseURL} (OPENAI_BASE_URL, OPENAI_MODEL)`
        ]
      }, env.apiKey.value)
    }
    if (Option.isSome(env.baseURL)) {
      return realModel({
        provider: "compatible",
        model: env.model,
        baseURL: env.baseURL.value,
        banner: [
          `Model: ${env.model} on the OpenAI-compatible server ${env.baseURL.value} ` +
          `(OPENAI_BASE_URL; the model with OPENAI_MODEL, a key with OPENAI_API_KEY if the server needs one)`
        ]
      }, "no-key")
    }
    return scriptedModel(
      options.script,
      `OPENAI_API_KEY=sk-... ${options.command} (OpenAI, model from OPENAI_MODEL, default ${defaultModel}), or ` +
        `OPENAI_BASE_URL=http://localhost:11434/v1 OPENAI_MODEL=llama3.1 ${options.command} (any OpenAI-compatible server)`
    )
  }))
