/**
 * OpenAI models behind effect's `LanguageModel`: any effect program (and every
 * harness of effect-harness) talks to OpenAI, or to any server speaking its
 * protocol, through the official `openai` SDK.
 *
 * Two APIs, chosen by `api`: `"chat"` (Chat Completions, the default, which
 * compatible servers speak) and `"responses"` (the Responses API). Both take
 * text, system/user/assistant/tool messages, images and files, tools from the
 * toolkit with tool choice, structured output, and stream text and tool
 * calls. Usage (input, output, cached and reasoning tokens) and the finish
 * reason come back in the finish part; a refusal fails with a
 * `ContentPolicyError`.
 *
 * The `LanguageModel` it provides carries core's `DirectModel` fast path
 * (attached to that value, see `DirectModel.attach`), which harnesses use
 * whenever this model is the `LanguageModel` of their context: same request,
 * same behaviour, without `LanguageModel`'s per-call Schema work,
 * for plain and streamed calls (`Harness.streamText`). Streams are read ahead
 * of their consumer, so that one pull carries every part that has arrived.
 * Interrupting a call aborts its HTTP request.
 *
 * @example
 * ```ts
 * import { OpenAiClient, OpenAiLanguageModel } from "@effect-harness/openai"
 * import { Effect, Layer } from "effect"
 * import { LanguageModel } from "effect/ai"
 *
 * const Gpt = OpenAiLanguageModel.layer({ model: "gpt-4o-mini" }).pipe(
 *   Layer.provide(OpenAiClient.layerConfig())
 * )
 *
 * const program = LanguageModel.generateText({ prompt: "Say hello" }).pipe(
 *   Effect.map((response) => response.text),
 *   Effect.provide(Gpt)
 * )
 * ```
 *
 * @since 0.1.0
 */
import { DirectModel } from "@effect-harness/core"
import { Duration, Effect, Layer, type Stream } from "effect"
import { AiError, LanguageModel, type Response } from "effect/ai"
import type OpenAI from "openai"
import type { APIPromise } from "openai/core/api-promise"
import * as Abort from "./internal/abort.ts"
import * as Chat from "./internal/chat.ts"
import * as Errors from "./internal/errors.ts"
import * as Pump from "./internal/pump.ts"
import * as Responses from "./internal/responses.ts"
import { StreamState as ResponsesStreamState } from "./internal/responses-stream.ts"
import { codecTransformer, type JsonObject, structuredAnswer } from "./internal/shared.ts"
import { OpenAiClient, type OpenAiClientError } from "./OpenAiClient.ts"
import * as OpenAiClientModule from "./OpenAiClient.ts"

/**
 * Extra Chat Completions request fields (temperature, max_completion_tokens,
 * parallel_tool_calls, reasoning_effort, ...), sent with every request.
 *
 * @since 0.1.0
 */
export type ChatConfig = Partial<
  Omit<OpenAI.Chat.ChatCompletionCreateParamsNonStreaming, "messages" | "tools" | "tool_choice" | "stream">
>

/**
 * Extra Responses request fields (instructions, reasoning, include, store,
 * previous_response_id, ...), sent with every request.
 *
 * @since 0.1.0
 */
export type ResponsesConfig = Partial<
  Omit<OpenAI.Responses.ResponseCreateParamsNonStreaming, "input" | "tools" | "tool_choice" | "stream">
>

/**
 * Options of {@link layer} and {@link make}.
 *
 * @since 0.1.0
 */
export type Options =
  & {
    /** The model id, e.g. `"gpt-4o-mini"` (or whatever a compatible server serves). */
    readonly model: string
    /**
     * The role system messages are sent with. Default `"system"`; OpenAI's
     * reasoning models also take `"developer"`.
     */
    readonly systemMessageRole?: "system" | "developer" | undefined
  }
  & (
    | { readonly api?: "chat" | undefined; readonly config?: ChatConfig | undefined }
    | { readonly api: "responses"; readonly config?: ResponsesConfig | undefined }
  )

interface Provider {
  readonly languageModel: LanguageModel.LanguageModel
  readonly direct: DirectModel.DirectModel
}


// What the SDK parsed is read as it is; a body that is not what the API
// documents (a proxy's HTML page, a server's own format) is the provider's
// fault, not a broken connection.
const readSafely = <A>(response: unknown, method: string, read: (response: JsonObject, method: string) => A): A => {
  if (typeof response !== "object" || response === null) {
    throw Errors.invalidResponse(method, `Expected a JSON object, got: ${String(response).slice(0, 200)}`)
  }
  try {
    return read(response as JsonObject, method)
  } catch (error) {
    if (AiError.isAiError(error)) throw error
    throw Errors.invalidResponse(method, `Unexpected response shape: ${(error as Error).message}`)
  }
}

const makeProvider = Effect.fnUntraced(function*(options: Options) {
  const client = yield* OpenAiClient
  const sdk = client.sdk
  const chat = options.api !== "responses"
  const url = `${client.baseURL}/${chat ? "chat/completions" : "responses"}`
  // how long a stream may send nothing once its response began (Duration.infinity: no limit)
  const idle = client.streamIdleTimeout ?? OpenAiClientModule.defaultStreamIdleTimeout
  const idleTimeout = Duration.isFinite(idle) ? Duration.toMillis(idle) : undefined
  // a proxy or compatible server may echo the key in its error messages
  const redact = Errors.redactor(sdk.apiKey ?? undefined)
  const toAiError = (method: string, url: string) => (error: unknown): AiError.AiError =>
    Errors.redactError(AiError.isAiError(error) ? error : Errors.make(method, Errors.reasonOf(error, url)), redact)
  const settings: Chat.Settings = {
    model: options.model,
    config: (options.config ?? {}) as JsonObject,
    systemRole: options.systemMessageRole ?? "system"
  }

  const send = (body: JsonObject, options: Abort.RequestOptions): Promise<any> =>
    chat
      ? sdk.chat.completions.create(body as any, options)
      : sdk.responses.create(body as any, options)
  // Our own client aborts a request through its link; a client built
  // elsewhere gets the call's signal.
  const abortable = Abort.isAbortable(sdk)

  const bodyOf = (input: Chat.RequestInput, stream: boolean, direct: boolean, method: string): JsonObject =>
    chat ? Chat.body(input, settings, stream, direct, method) : responsesBody(input, stream, direct)

  // With effect's ResponseIdTracker in context, LanguageModel offers the
  // previous response's id and only the new messages: the Responses API then
  // keeps the history on OpenAI's side (and LanguageModel retries with the
  // full prompt if OpenAI no longer has it).
  const responsesBody = (input: Chat.RequestInput | LanguageModel.ProviderOptions, stream: boolean, direct: boolean) => {
    if ("previousResponseId" in input && input.previousResponseId !== undefined && input.incrementalPrompt !== undefined) {
      const body = Responses.body({ ...input, prompt: input.incrementalPrompt }, settings, stream, direct)
      body.previous_response_id = input.previousResponseId
      return body
    }
    return Responses.body(input, settings, stream, direct)
  }

  // One effect per call: the body is built, sent and the answer read inside
  // one promise; interruption aborts the request through `signal`.
  const generate = <A>(
    input: Chat.RequestInput,
    direct: boolean,
    method: string,
    read: (response: JsonObject, method: string) => A
  ): Effect.Effect<A, AiError.AiError> =>
    abortable
      ? Effect.callback<A, AiError.AiError>((resume) => {
        const link = Abort.makeLink()
        const fail = (error: unknown) => resume(Effect.fail(toAiError(method, url)(error)))
        try {
          send(bodyOf(input, false, direct, method), Abort.requestOptions(link)).then((response) => {
            let value: A
            try {
              value = readSafely(response, method, read)
            } catch (error) {
              return fail(error)
            }
            resume(Effect.succeed(value))
          }, fail)
        } catch (error) {
          fail(error)
        }
        return Effect.sync(() => Abort.abort(link))
      })
      : Effect.tryPromise({
        try: (signal) => send(bodyOf(input, false, direct, method), { signal }).then((response) => readSafely(response, method, read)),
        catch: toAiError(method, url)
      })

  const readParts = chat ? Chat.parts : Responses.parts
  const readReply = chat ? Chat.reply : Responses.reply
  // a JSON answer decoded as the reply is read (see structuredAnswer), not in
  // an effect of its own
  const readStructured = (decode: (text: string) => DirectModel.Structured | undefined): typeof readReply =>
  (response, method) => {
    const reply = readReply(response, method)
    const structured = decode(reply.text)
    return structured === undefined ? reply : { ...reply, structured }
  }

  // A streamed call read by internal/pump.ts: the SDK sends the request and
  // fails on an error status; the body's events go through the API's stream
  // state (the same for both paths), and `emit` turns its parts into the
  // stream's own. A failure after the response began keeps what arrived.
  const streamed = <P>(
    input: Chat.RequestInput,
    direct: boolean,
    method: string,
    emit: () => (parts: Array<Response.StreamPartEncoded>, out: Array<P>) => void
  ): Stream.Stream<P, AiError.AiError> =>
    Pump.stream(() => {
      const state = chat ? new Chat.StreamState(method) : new ResponsesStreamState(method)
      const push = emit()
      return {
        abortable,
        open: (options) => (send(bodyOf(input, true, direct, method), options) as APIPromise<unknown>).asResponse(),
        event: (payload, out) => push(readSafely(payload, method, (event) => state.chunk(event)), out),
        // chat: complete at `[DONE]` only (the usage chunk comes after the finish reason)
        complete: () => state instanceof ResponsesStreamState && state.completed,
        end: (out) => push(state.end(), out),
        error: (error, started) =>
          !started || AiError.isAiError(error)
            ? toAiError(method, url)(error)
            : Errors.redactError(Errors.make(method, Errors.reasonOf(error, url, state.partial())), redact),
        idleTimeout,
        idle: (millis) => Errors.stalled(method, millis, state.partial())
      }
    })

  const pushEncoded = () => (parts: Array<Response.StreamPartEncoded>, out: Array<Response.StreamPartEncoded>) => {
    for (const part of parts) out.push(part)
  }
  const pushDirect = () => {
    const seen = { model: undefined as string | undefined }
    return (parts: Array<Response.StreamPartEncoded>, out: Array<DirectModel.StreamPart>) =>
      DirectModel.appendStreamParts(parts, out, seen)
  }
  // A JSON answer streamed: decoded at its finish as `generate` decodes it,
  // so that a streamed reply folds into the same reply
  const pushStructured = (decode: (text: string) => DirectModel.Structured | undefined) => () => {
    const push = pushDirect()
    let text = ""
    return (parts: Array<Response.StreamPartEncoded>, out: Array<DirectModel.StreamPart>) => {
      const from = out.length
      push(parts, out)
      for (let i = from; i < out.length; i++) {
        const part = out[i]!
        if (part.type === "text-delta") text += part.delta
        else if (part.type === "finish") {
          const structured = decode(text)
          if (structured !== undefined) out[i] = { ...part, structured }
        }
      }
    }
  }

  const streamText = (input: Chat.RequestInput): Stream.Stream<Response.StreamPartEncoded, AiError.AiError> =>
    streamed(input, false, "streamText", pushEncoded)

  const languageModel = yield* LanguageModel.make({
    generateText: (options) => generate(options, false, "generateText", readParts),
    streamText,
    codecTransformer
  })
  const direct: DirectModel.DirectModel = {
    generate: (request) => {
      const decode = request.responseFormat.type === "json" ? structuredAnswer(request.responseFormat.schema) : undefined
      return generate(request, true, "generate", decode === undefined ? readReply : readStructured(decode))
    },
    stream: (request) => {
      const decode = request.responseFormat.type === "json" ? structuredAnswer(request.responseFormat.schema) : undefined
      return streamed(request, true, "stream", decode === undefined ? pushDirect : pushStructured(decode))
    },
    modelId: options.model,
    providerName: "openai"
  }
  return { languageModel: DirectModel.attach(languageModel, direct), direct } satisfies Provider
})

/**
 * Builds effect's `LanguageModel` service for an OpenAI model.
 *
 * @example
 * ```ts
 * import { OpenAiLanguageModel } from "@effect-harness/openai"
 * import { Layer } from "effect"
 * import { LanguageModel } from "effect/ai"
 *
 * const model = Layer.effect(LanguageModel.LanguageModel, OpenAiLanguageModel.make({ model: "gpt-4o-mini" }))
 * ```
 *
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<LanguageModel.LanguageModel, never, OpenAiClient> =>
  Effect.map(makeProvider(options), (provider) => provider.languageModel)

/**
 * Builds core's `DirectModel` fast path for an OpenAI model (what
 * {@link make} attaches to the `LanguageModel` it builds).
 *
 * @since 0.1.0
 */
export const makeDirect = (options: Options): Effect.Effect<DirectModel.DirectModel, never, OpenAiClient> =>
  Effect.map(makeProvider(options), (provider) => provider.direct)

/**
 * A layer providing effect's `LanguageModel`, with core's `DirectModel` fast
 * path attached, for an OpenAI model. Needs an `OpenAiClient`.
 *
 * @example
 * ```ts
 * import { OpenAiClient, OpenAiLanguageModel } from "@effect-harness/openai"
 * import { Layer } from "effect"
 *
 * const Responses = OpenAiLanguageModel.layer({
 *   model: "gpt-5-mini",
 *   api: "responses",
 *   config: { reasoning: { effort: "low" } }
 * }).pipe(Layer.provide(OpenAiClient.layerConfig()))
 * ```
 *
 * @since 0.1.0
 */
export const layer = (
  options: Options
): Layer.Layer<LanguageModel.LanguageModel, never, OpenAiClient> =>
  Layer.effect(LanguageModel.LanguageModel, make(options))

/**
 * {@link layer} with its client read from configuration (`OPENAI_API_KEY`,
 * `OPENAI_BASE_URL`): the one-line setup.
 *
 * @example
 * ```ts
 * import { OpenAiLanguageModel } from "@effect-harness/openai"
 *
 * const Gpt = OpenAiLanguageModel.layerConfig({ model: "gpt-4o-mini" })
 * ```
 *
 * @since 0.1.0
 */
export const layerConfig = (
  options: Options,
  client?: Omit<OpenAiClientModule.Options, "apiKey">
): Layer.Layer<LanguageModel.LanguageModel, OpenAiClientError> =>
  layer(options).pipe(Layer.provide(OpenAiClientModule.layerConfig(client)))
