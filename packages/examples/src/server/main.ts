/**
 * `npm run server -w packages/examples`: an ordinary promise-based Node HTTP server (node:http,
 * async handlers, no Effect in sight) that serves `POST /triage` by running
 * the triage harness through a `ManagedRuntime`. This is how an existing
 * application adopts the library one endpoint at a time: build the runtime
 * once from the application's layer, then `runPromiseExit` per request, and
 * turn the `Exit` into a response (see `httpErrors.ts` for the statuses).
 *
 *   npm run server -w packages/examples -- [--port 3000] [--host 127.0.0.1] [--data DIR]
 *   curl -s localhost:3000/triage -d '{"subject":"Charged twice","body":"Two charges of $49 on my card."}'
 */
import { Cause, Effect, Exit, ManagedRuntime, Option, Schema } from "effect"
import * as Http from "node:http"
import { parseArgs } from "node:util"
import { defaultDataDir, Ticket } from "../shared/data.ts"
import { ModelInfo } from "../shared/model.ts"
import * as App from "./app.ts"
import * as HttpErrors from "./httpErrors.ts"

const maxBody = 64 * 1024

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

class BodyTooLarge extends Error {}

const readBody = (req: Http.IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    let size = 0
    req.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBody) {
        reject(new BodyTooLarge())
        req.destroy()
      } else chunks.push(chunk)
    })
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    req.on("error", reject)
  })

const main = async () => {
  const { values } = parseArgs({
    options: { port: { type: "string" }, host: { type: "string" }, data: { type: "string" } },
    strict: true
  })
  const port = Number(values.port ?? process.env.PORT ?? 3000)
  const host = values.host ?? "127.0.0.1"
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, got "${values.port}"`)

  // One runtime for the process: the layer (model, knowledge base, tools) is
  // built once and shared by every request.
  const runtime = ManagedRuntime.make(App.layer(values.data ?? defaultDataDir))

  // Build it now, so that a bad configuration fails at start, not on the first request.
  const started = await runtime.runPromiseExit(Effect.service(ModelInfo))
  if (Exit.isFailure(started)) {
    const error = Cause.findErrorOption(started.cause)
    throw new Error(Option.isSome(error) ? error.value.message : Cause.pretty(started.cause))
  }
  for (const line of started.value.banner) console.log(line)

  let requests = 0
  const triage = async (req: Http.IncomingMessage, res: Http.ServerResponse, url: URL) => {
    let text: string
    try {
      text = await readBody(req)
    } catch (error) {
      if (error instanceof BodyTooLarge) return fail(res, 413, "BodyTooLarge", `The body is over ${maxBody} bytes`)
      throw error
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

  const server = Http.createServer(async (req, res) => {
    const began = Date.now()
    const url = new URL(req.url ?? "/", "http://localhost")
    try {
      if (url.pathname === "/health" && req.method === "GET") {
        send(res, 200, { ok: true, model: { provider: started.value.provider, model: started.value.model } })
      } else if (url.pathname === "/triage") {
        if (req.method !== "POST") fail(res, 405, "MethodNotAllowed", "Use POST /triage", { allow: "POST" })
        else await triage(req, res, url)
      } else {
        fail(res, 404, "NotFound", "Try POST /triage or GET /health")
      }
    } catch (error) {
      console.error(`${req.method} ${url.pathname}: ${String(error)}`)
      if (!res.headersSent) fail(res, 500, "Internal", "Internal error")
    } finally {
      console.log(`${req.method} ${url.pathname}${url.search} ${res.statusCode} ${Date.now() - began}ms`)
    }
  })

  await new Promise<void>((resolve) => server.listen(port, host, resolve))
  const address = server.address() as { port: number }
  console.log(`Listening on http://${host}:${address.port} (POST /triage, GET /health)`)

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
