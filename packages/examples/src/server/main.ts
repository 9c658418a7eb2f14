/**
 * `npm run server -w packages/examples`: an ordinary promise-based Node HTTP server (node:http,
 * async handlers, no Effect in sight) that serves `POST /triage` by running
 * the triage harness through a `ManagedRuntime`. This is how an existing
 * application adopts the library one endpoint at a time: build the runtime
 * once from the application's layer, then `runPromiseExit` per request, and
 * turn the `Exit` into a response (see `httpErrors.ts` for the statuses).
 *
 * It also streams a run as it goes: `POST /triage` with `Accept: text/event-stream`
 * answers with the run's events as server-sent events (each `id:` is the
 * event's sequence number, see `RunEvents`), the run id in `X-Run-Id`;
 * `GET /runs/:id/events` resumes from `Last-Event-ID`; `GET /` is a page
 * that shows a ticket being triaged, word by word (page.html).
 *
 *   npm run server -w packages/examples -- [--port 3000] [--host 127.0.0.1] [--data DIR] [--runs DIR] [--request-timeout 30s]
 *   curl -s localhost:3000/triage -d '{"subject":"Charged twice","body":"Two charges of $49 on my card."}'
 *   curl -N localhost:3000/triage -H 'accept: text/event-stream' -d '{"subject":"Charged twice","body":"Two charges."}'
 */
import { RunEvents, RunStore } from "@effect-harness/core"
import { Cause, Duration, Effect, Exit, ManagedRuntime, Option, Schema, Stream } from "effect"
import { randomUUID } from "node:crypto"
import { readFileSync } from "node:fs"
import * as Http from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { defaultDataDir, Ticket } from "../shared/data.ts"
import { ModelInfo } from "../shared/model.ts"
import * as App from "./app.ts"
import * as HttpErrors from "./httpErrors.ts"

const maxBody = 64 * 1024

// What the server reads and throws away of a body over the limit before it
// answers 413 and closes: a client that sends its whole body before reading
// the response (most do) then gets the 413 instead of a connection reset. A
// body larger still is cut at once.
const maxDrain = 16 * maxBody

// The time a client has to send its whole request, headers and body. Node's
// own default is 300 s (checked every 30 s): a client trickling a body would
// hold a connection and a handler that long.
const defaultRequestTimeout = "30 seconds"

/** What a client sends: a ticket, the id and sender optional. */
const TriageRequest = Schema.Struct({
  id: Schema.optional(Ticket.fields.id),
  subject: Ticket.fields.subject,
  body: Ticket.fields.body,
  from: Schema.optional(Schema.String)
})
const decodeRequest = Schema.decodeUnknownExit(TriageRequest)

const send = (res: Http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { "content-type": "application/json", ...headers })
  res.end(`${JSON.stringify(body)}\n`)
}

const fail = (res: Http.ServerResponse, status: number, error: string, message: string, headers?: Record<string, string>) =>
  send(res, status, { error, message }, headers)

/** Why a request's body could not be read. */
type BodyFailure = "TooLarge" | "Timeout" | "Aborted"

class BodyError extends Error {
  readonly reason: BodyFailure
  constructor(reason: BodyFailure) {
    super(reason)
    this.reason = reason
  }
}

/**
 * Reads a body of at most `maxBody` bytes within `deadline` (a `Date.now()`
 * time). Over the limit, it keeps reading (and discarding) up to `maxDrain`,
 * so that the 413 reaches a client still sending; past the deadline or past
 * `maxDrain` it stops reading, and the caller answers and closes.
 */
const readBody = (req: Http.IncomingMessage, deadline: number): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    let size = 0
    let settled = false
    const settle = (error: BodyError | undefined, body?: string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (error === undefined) resolve(body!)
      else reject(error)
    }
    const timer = setTimeout(() => {
      req.pause()
      settle(new BodyError("Timeout"))
    }, Math.max(0, deadline - Date.now()))
    req.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size <= maxBody) chunks.push(chunk)
      else if (size > maxBody + maxDrain) {
        req.pause()
        settle(new BodyError("TooLarge"))
      }
    })
    req.on("end", () => settle(size > maxBody ? new BodyError("TooLarge") : undefined, Buffer.concat(chunks).toString("utf8")))
    // the client closed its connection before the end of its body
    req.on("close", () => settle(new BodyError("Aborted")))
    req.on("error", () => settle(new BodyError("Aborted")))
  })

const main = async () => {
  const { values } = parseArgs({
    options: {
      port: { type: "string" },
      host: { type: "string" },
      data: { type: "string" },
      runs: { type: "string" },
      "request-timeout": { type: "string" }
    },
    strict: true
  })
  const port = Number(values.port ?? process.env.PORT ?? 3000)
  const host = values.host ?? "127.0.0.1"
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, got "${values.port}"`)
  const timeoutInput = values["request-timeout"] ?? process.env.REQUEST_TIMEOUT ?? defaultRequestTimeout
  const parsedTimeout = Duration.fromInput(timeoutInput as Duration.Input)
  if (Option.isNone(parsedTimeout) || !Duration.isFinite(parsedTimeout.value) || Duration.toMillis(parsedTimeout.value) < 1) {
    throw new Error(`--request-timeout must be a duration such as "30 seconds" or "500 millis", got "${timeoutInput}"`)
  }
  const requestTimeout = parsedTimeout.value
  const requestTimeoutMs = Duration.toMillis(requestTimeout)

  // One runtime for the process: the layer (model, knowledge base, tools) is
  // built once and shared by every request.
  const runtime = ManagedRuntime.make(App.layer(values.data ?? defaultDataDir, values.runs ?? process.env.RUNS_DIR ?? join(tmpdir(), "effect-harness-server-runs")))
  const page = readFileSync(new URL("./page.html", import.meta.url))

  // The outcome of each streamed run of this process, for the last event of its streams (kept 10 minutes).
  const outcomes = new Map<string, Promise<Exit.Exit<unknown, unknown>>>()

  // Build it now, so that a bad configuration fails at start, not on the first request.
  const started = await runtime.runPromiseExit(Effect.service(ModelInfo))
  if (Exit.isFailure(started)) {
    const error = Cause.findErrorOption(started.cause)
    throw new Error(Option.isSome(error) ? error.value.message : Cause.pretty(started.cause))
  }
  for (const line of started.value.banner) console.log(line)

  let requests = 0
  const triage = async (req: Http.IncomingMessage, res: Http.ServerResponse, url: URL, began: number) => {
    let text: string
    try {
      text = await readBody(req, began + requestTimeoutMs)
    } catch (error) {
      if (!(error instanceof BodyError)) throw error
      // the connection cannot carry another request: the rest of this body is still on it
      const close = { connection: "close" }
      switch (error.reason) {
        case "Aborted":
          return
        case "TooLarge":
          return fail(res, 413, "BodyTooLarge", `The body is over ${maxBody} bytes`, close)
        case "Timeout":
          return fail(res, 408, "RequestTimeout", `The request was not received within ${Duration.format(requestTimeout)}`, close)
      }
    }
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      return fail(res, 400, "InvalidJson", "The body is not JSON")
    }
    const decoded = decodeRequest(json)
    if (Exit.isFailure(decoded)) {
      const issue = Cause.findErrorOption(decoded.cause)
      const detail = Option.isSome(issue) ? issue.value.message.replace(/\s+/g, " ") : "invalid"
      return fail(res, 400, "InvalidTicket", `Not a ticket { subject, body, id?, from? }: ${detail}`)
    }
    const maxTokens = Number(url.searchParams.get("maxTokens") ?? 50_000)
    if (!Number.isInteger(maxTokens) || maxTokens <= 0) {
      return fail(res, 400, "InvalidMaxTokens", "maxTokens must be a positive integer")
    }
    const ticket: Ticket = {
      id: decoded.value.id ?? `REQ-${++requests}`,
      subject: decoded.value.subject,
      body: decoded.value.body,
      from: decoded.value.from ?? "customer@example.com"
    }

    if ((req.headers.accept ?? "").includes("text/event-stream")) {
      // A streamed run is durable and belongs to the server, not to the connection: a client that goes away
      // (a page reload) reconnects with GET /runs/:id/events and finds it still going.
      const runId = `triage-${ticket.id}-${randomUUID()}`
      const outcome = runtime.runPromiseExit(App.triageRun(ticket, { maxTokens }, runId))
      outcomes.set(runId, outcome)
      setTimeout(() => outcomes.delete(runId), 10 * 60_000).unref()
      return streamEvents(res, runId, ticket.id, -1, { "x-run-id": runId, location: `/runs/${encodeURIComponent(runId)}/events` })
    }

    // A client that goes away interrupts its run, which aborts the model's HTTP request.
    const abort = new AbortController()
    res.on("close", () => {
      if (!res.writableFinished) abort.abort()
    })
    const exit = await runtime.runPromiseExit(App.triage(ticket, { maxTokens }), { signal: abort.signal })
    if (Exit.isSuccess(exit)) return send(res, 200, { ticket: ticket.id, triage: exit.value })
    if (Cause.hasInterruptsOnly(exit.cause)) return // the client is gone: nobody to answer
    const error = Cause.findErrorOption(exit.cause)
    if (Option.isNone(error)) {
      console.error(`POST /triage ${ticket.id}: defect: ${Cause.pretty(exit.cause)}`)
      return fail(res, 500, "Internal", "Internal error")
    }
    const e = error.value
    // the layer's own errors were met at start: they cannot reach a request
    const http: HttpErrors.HttpError = e._tag === "ExampleError" || e._tag === "OpenAiClientError"
      ? { status: 500, error: "Internal", message: "Internal error", log: true }
      : HttpErrors.fromError(e)
    if (http.log === true) console.error(`POST /triage ${ticket.id}: ${e._tag}: ${e.message}`)
    return fail(res, http.status, http.error, http.message, { ...http.headers })
  }

  const errorOf = (exit: Exit.Exit<unknown, unknown>): HttpErrors.HttpError => {
    const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : Option.none()
    if (Option.isNone(error)) return { status: 500, error: "Internal", message: "Internal error" }
    const e = error.value as { readonly _tag?: string }
    return e._tag === "JournalError" || e._tag === "JournalMismatch" || e._tag === "ExampleError" || e._tag === "OpenAiClientError"
      ? { status: 500, error: "Internal", message: "Internal error", log: true }
      : HttpErrors.fromError(e as HttpErrors.TriageError)
  }

  /**
   * Writes the events of run `runId` after sequence `after` as server-sent
   * events (`id:` the sequence, `event:` the tag, `data:` the event as JSON),
   * then, once the run has ended in this process, its outcome: `event: result`
   * with the triage or `event: error` with the error response's body; and
   * last `event: end`.
   */
  const streamEvents = async (
    res: Http.ServerResponse,
    runId: string,
    ticketId: string | undefined,
    after: number,
    headers: Record<string, string> = {}
  ) => {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", ...headers })
    res.flushHeaders()
    const abort = new AbortController()
    res.on("close", () => abort.abort())
    const write = (id: number | undefined, event: string, data: unknown) =>
      res.write(`${id === undefined ? "" : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
    const exit = await runtime.runPromiseExit(
      RunEvents.stream(runId, { after }).pipe(
        Stream.runForEach((event) => Effect.sync(() => write(RunEvents.position(event), event._tag, event)))
      ),
      { signal: abort.signal }
    )
    if (abort.signal.aborted) return
    if (Exit.isFailure(exit)) {
      console.error(`events of ${runId}: ${Cause.pretty(exit.cause)}`)
      write(undefined, "error", { error: "Internal", message: "The run's events could not be read" })
      write(undefined, "end", {})
      return res.end()
    }
    const outcome = outcomes.get(runId)
    if (outcome !== undefined) {
      const ended = await outcome
      if (Exit.isSuccess(ended)) write(undefined, "result", { ticket: ticketId, triage: ended.value })
      else if (!Cause.hasInterruptsOnly(ended.cause)) {
        const http = errorOf(ended)
        write(undefined, "error", { status: http.status, error: http.error, message: http.message })
      }
    }
    // the run has ended: a client that reconnects would get nothing more
    write(undefined, "end", {})
    res.end()
  }

  const resume = async (req: Http.IncomingMessage, res: Http.ServerResponse, runId: string) => {
    const invalid = RunStore.validateRunId(runId)
    if (invalid !== undefined) return fail(res, 400, "InvalidRunId", invalid.detail)
    const header = req.headers["last-event-id"]
    const after = typeof header === "string" && header.trim() !== "" ? Number(header) : -1
    if (!Number.isSafeInteger(after) || after < -1) return fail(res, 400, "InvalidLastEventId", "Last-Event-ID is a sequence number")
    const known = outcomes.has(runId) ||
      (await runtime.runPromise(Effect.flatMap(Effect.service(RunStore.RunStore), (store) => store.read(runId)))).length > 0
    if (!known) return fail(res, 404, "NotFound", `No run ${runId}`)
    return streamEvents(res, runId, undefined, after)
  }

  const server = Http.createServer({ connectionsCheckingInterval: Math.min(30_000, Math.max(100, requestTimeoutMs / 4)) }, async (req, res) => {
    const began = Date.now()
    const url = new URL(req.url ?? "/", "http://localhost")
    // One line per request, once the response is sent or the client is gone:
    // a client that went away before its answer is logged as such, not as the
    // status the response would have had.
    res.once("close", () => {
      const outcome = res.writableFinished ? String(res.statusCode) : "aborted"
      console.log(`${req.method} ${url.pathname}${url.search} ${outcome} ${Date.now() - began}ms`)
    })
    try {
      const events = /^\/runs\/([^/]+)\/events$/.exec(url.pathname)
      if (url.pathname === "/" && req.method === "GET") {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" })
        res.end(page)
      } else if (events !== null && req.method === "GET") {
        await resume(req, res, decodeURIComponent(events[1]!))
      } else if (url.pathname === "/health" && req.method === "GET") {
        send(res, 200, { ok: true, model: { provider: started.value.provider, model: started.value.model } })
      } else if (url.pathname === "/triage") {
        if (req.method !== "POST") fail(res, 405, "MethodNotAllowed", "Use POST /triage", { allow: "POST" })
        else await triage(req, res, url, began)
      } else {
        fail(res, 404, "NotFound", "Try GET /, POST /triage, GET /runs/:id/events or GET /health")
      }
    } catch (error) {
      console.error(`${req.method} ${url.pathname}: ${String(error)}`)
      if (!res.headersSent) fail(res, 500, "Internal", "Internal error")
    }
  })
  // Node's own limit backs ours up for the headers (which arrive before the
  // handler runs): a little later, so that a slow body gets our 408 first.
  server.headersTimeout = requestTimeoutMs
  server.requestTimeout = requestTimeoutMs + 1_000

  await new Promise<void>((resolve) => server.listen(port, host, resolve))
  const address = server.address() as { port: number }
  console.log(`Listening on http://${host}:${address.port} (GET /, POST /triage, GET /runs/:id/events, GET /health)`)

  // Stop taking requests, let the runtime release what it holds (the scripted model's server), exit.
  const shutdown = async () => {
    server.close()
    server.closeAllConnections()
    await runtime.dispose()
    process.exit(0)
  }
  process.once("SIGINT", shutdown)
  process.once("SIGTERM", shutdown)
}

main().catch((error: unknown) => {
  // one line for what the user can fix; no stack trace
  process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
})
