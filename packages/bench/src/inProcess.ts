/**
 * The bench server's answers without the network, for the focused CPU figures
 * (`cpu.ts loop --in-process`, `cpu.ts structured --in-process`): a global
 * `fetch` that answers every request in the same process with the server's
 * canned reply. Every side still does all of its SDK's work (the request, its
 * headers and body, the `Response` and its parsing); what goes is the
 * socket, the kernel and undici's connection handling, which cost the same on
 * every side but move by 10 to 20 % from run to run on a shared machine and so
 * hide differences of a few percent.
 *
 * Install it before any client is made: the SDKs keep the `fetch` they found.
 */
import { cannedReplies } from "./server.ts"

/** Replaces the global `fetch`; resolves to the base URL to give the SDKs. */
export const installFetch = async (): Promise<string> => {
  const choose = await cannedReplies()
  globalThis.fetch = (async (_url: unknown, init?: RequestInit) => {
    const reply = choose(typeof init?.body === "string" ? JSON.parse(init.body) : null)
    const body = typeof reply.body === "string" ? reply.body : (reply.body ?? []).join("")
    return new Response(body, {
      status: reply.status ?? 200,
      headers: { "content-type": reply.contentType ?? "application/json", ...reply.headers }
    })
  }) as typeof fetch
  return "http://in-process.invalid/v1"
}
