/**
 * The official `openai` SDK client as an Effect service. Every model call of
 * this package goes through it, so a test or an application swaps the
 * endpoint (OpenAI, Azure-style gateways, vLLM, Ollama, llama.cpp, LM Studio,
 * OpenRouter, a fake server) by providing another layer.
 *
 * The SDK's own retries are always off (`maxRetries: 0`): retrying is the
 * harness's job, done once, by a `Schedule`. The API key is held as a
 * `Redacted` until the SDK client is built and never logged; the SDK's own
 * logging is off (failures reach the caller as typed errors).
 *
 * @example
 * ```ts
 * import { OpenAiClient } from "@effect-harness/openai"
 *
 * // reads OPENAI_API_KEY (and OPENAI_BASE_URL when set) through Config
 * const fromEnv = OpenAiClient.layerConfig()
 *
 * // or explicit, e.g. a local OpenAI-compatible server
 * const local = OpenAiClient.layer({ apiKey: "unused", baseURL: "http://127.0.0.1:11434/v1" })
 * ```
 *
 * An `OpenAI` (or `AzureOpenAI`) instance of your own, with a proxy, a custom
 * `fetch` or Azure's options, goes in through {@link layerFromClient}.
 *
 * @since 0.1.0
 */
import { Config, Context, Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import type OpenAI from "openai"
import { AbortableOpenAI } from "./internal/abort.ts"

/**
 * The client service: the configured SDK client.
 *
 * @since 0.1.0
 */
export class OpenAiClient extends Context.Service<OpenAiClient, {
  /** The SDK client (with `maxRetries: 0`). */
  readonly sdk: OpenAI
  /** The base URL requests go to, ending in `/v1` for OpenAI. */
  readonly baseURL: string
  /** How long a stream may send nothing once its response began; default {@link defaultStreamIdleTimeout}. */
  readonly streamIdleTimeout?: Duration.Duration | undefined
}>()("@effect-harness/openai/OpenAiClient") {}

/**
 * The client could not be configured: no API key, or options the SDK
 * rejected. Raised when the layer is built, before any call.
 *
 * @since 0.1.0
 */
export class OpenAiClientError extends Schema.TaggedError<OpenAiClientError>()("OpenAiClientError", {
  message: Schema.String
}) {}

/**
 * Options of {@link layer}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The API key. Required: compatible servers that ignore it still need a placeholder. */
  readonly apiKey?: Redacted.Redacted<string> | string | undefined
  /** Default `https://api.openai.com/v1`. */
  readonly baseURL?: string | undefined
  readonly organization?: string | undefined
  readonly project?: string | undefined
  /**
   * How long one HTTP request may take before it fails with `Timeout`.
   * Default 10 minutes. For a streamed call it stops once the response's
   * headers came: then {@link streamIdleTimeout} applies.
   */
  readonly timeout?: Duration.Input | undefined
  /**
   * How long a streamed response may send nothing (the time between two
   * network reads, once the headers came) before it fails with a recoverable
   * `Timeout` carrying the text and tool calls received, and its request is
   * aborted. Default {@link defaultStreamIdleTimeout} (60 seconds); raise it
   * for reasoning models that think long before their first token;
   * `Duration.infinity` turns it off.
   */
  readonly streamIdleTimeout?: Duration.Input | undefined
  /** Extra headers sent with every request. */
  readonly headers?: Readonly<Record<string, string>> | undefined
}

const defaultBaseURL = "https://api.openai.com/v1"

/**
 * How long a streamed response may send nothing when `streamIdleTimeout` is
 * not set: 60 seconds.
 *
 * @since 0.1.0
 */
export const defaultStreamIdleTimeout: Duration.Duration = Duration.seconds(60)

const idleOption = (options: { readonly streamIdleTimeout?: Duration.Input | undefined }) =>
  options.streamIdleTimeout === undefined ? {} : { streamIdleTimeout: Duration.fromInputUnsafe(options.streamIdleTimeout) }

const missingKey = new OpenAiClientError({
  message: "No OpenAI API key: set OPENAI_API_KEY (OpenAiClient.layerConfig) or pass apiKey to OpenAiClient.layer"
})

/**
 * Builds the client service. Every SDK default that would read the
 * environment behind Effect's back is set explicitly.
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<OpenAiClient["Service"], OpenAiClientError> =>
  Effect.suspend(() => {
    const apiKey = options.apiKey === undefined
      ? undefined
      : Redacted.isRedacted(options.apiKey)
      ? Redacted.value(options.apiKey)
      : options.apiKey
    if (apiKey === undefined || apiKey.length === 0) return Effect.fail(missingKey)
    const baseURL = options.baseURL ?? defaultBaseURL
    return Effect.try({
      try: () =>
        OpenAiClient.of({
          baseURL,
          ...idleOption(options),
          // an OpenAI client whose requests can be aborted without a caller signal (see internal/abort.ts)
          sdk: new AbortableOpenAI({
            apiKey,
            baseURL,
            organization: options.organization ?? null,
            project: options.project ?? null,
            adminAPIKey: null,
            webhookSecret: null,
            maxRetries: 0,
            // failures reach the caller as typed errors; the SDK's own logging
            // (and OPENAI_LOG) would only repeat them outside effect's logger
            logLevel: "off",
            ...(options.timeout === undefined
              ? {}
              : { timeout: Duration.toMillis(Duration.fromInputUnsafe(options.timeout)) }),
            ...(options.headers === undefined ? {} : { defaultHeaders: { ...options.headers } })
          })
        }),
      // the SDK's messages name options, never the key itself
      catch: (error) => new OpenAiClientError({ message: `Invalid OpenAI client options: ${(error as Error).message}` })
    })
  })

/**
 * A layer providing the client, configured explicitly.
 *
 * @example
 * ```ts
 * import { OpenAiClient } from "@effect-harness/openai"
 * import { Redacted } from "effect"
 *
 * const client = OpenAiClient.layer({ apiKey: Redacted.make("sk-..."), timeout: "30 seconds" })
 * ```
 *
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<OpenAiClient, OpenAiClientError> =>
  Layer.effect(OpenAiClient, make(options))

/**
 * A layer providing the client from configuration: `OPENAI_API_KEY` (as a
 * `Redacted`, required) and `OPENAI_BASE_URL` (optional), read through
 * effect's `Config`, so any `ConfigProvider` works. Options given here win
 * over the configuration. A missing key fails the layer with an
 * `OpenAiClientError` naming `OPENAI_API_KEY`.
 *
 * @example
 * ```ts
 * import { OpenAiClient } from "@effect-harness/openai"
 *
 * const client = OpenAiClient.layerConfig({ timeout: "60 seconds" })
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = (options: Omit<Options, "apiKey"> = {}): Layer.Layer<OpenAiClient, OpenAiClientError> =>
  Layer.effect(
    OpenAiClient,
    Effect.gen(function*() {
      const apiKey = yield* Config.Redacted("OPENAI_API_KEY").pipe(
        Config.option,
        Effect.mapError((error) =>
          new OpenAiClientError({ message: `Could not read OPENAI_API_KEY: ${error.message}` })
        )
      )
      if (Option.isNone(apiKey)) return yield* missingKey
      const baseURL = yield* Config.String("OPENAI_BASE_URL").pipe(
        Config.option,
        Effect.mapError((error) =>
          new OpenAiClientError({ message: `Could not read OPENAI_BASE_URL: ${error.message}` })
        )
      )
      return yield* make({
        ...options,
        apiKey: apiKey.value,
        baseURL: options.baseURL ?? Option.getOrUndefined(baseURL)
      })
    })
  )

/**
 * A layer providing the client from an `OpenAI` instance you built yourself:
 * a proxy or a custom `fetch` (`fetch`, `fetchOptions`), Azure
 * (`new AzureOpenAI({ endpoint, apiVersion, deployment })`), or any other
 * option this package does not expose. Requests go out with everything the
 * instance was configured with.
 *
 * The SDK's own retries stay off: when `client.maxRetries` is not 0, the layer
 * uses a copy made by `client.withOptions({ maxRetries: 0 })` (your instance
 * is not changed), so a failed request is retried once, by the harness's
 * `Schedule`, not also by the SDK. The instance's logging and timeout are
 * kept as you set them. Interrupting a call aborts its HTTP request through
 * the request's `signal`. `streamIdleTimeout` is as for {@link layer}.
 *
 * @example
 * ```ts
 * import { OpenAiClient, OpenAiLanguageModel } from "@effect-harness/openai"
 * import { Layer } from "effect"
 * import OpenAI from "openai"
 *
 * const sdk = new OpenAI({
 *   apiKey: "sk-...",
 *   baseURL: "https://llm-gateway.internal.example/v1",
 *   // e.g. through a corporate proxy, or with request logging
 *   fetch: (url, init) => fetch(url, init)
 * })
 *
 * const model = OpenAiLanguageModel.layer({ model: "gpt-4o-mini" }).pipe(
 *   Layer.provide(OpenAiClient.layerFromClient(sdk))
 * )
 * ```
 *
 * @since 0.1.0
 */
export const layerFromClient = (
  client: OpenAI,
  options: { readonly streamIdleTimeout?: Duration.Input | undefined } = {}
): Layer.Layer<OpenAiClient> =>
  Layer.sync(OpenAiClient, () => {
    const sdk = client.maxRetries === 0 ? client : client.withOptions({ maxRetries: 0 })
    return OpenAiClient.of({ sdk, baseURL: sdk.baseURL, ...idleOption(options) })
  })
