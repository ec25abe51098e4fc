// Runs AG-UI's TypeScript client (@ag-ui/client HttpAgent) against the server and prints what it
// parsed, as JSON, for the Python tests to check. One argument: a JSON object with
// url, apiKey, threadId, runId, messages, and optionally state, resume (entries), lastEventId (resume
// the stream from there), stopAfter (abort the request after that many events).
import { HttpAgent } from "@ag-ui/client";

const options = JSON.parse(process.argv[2]);
let lastEventId = null;

// The client does not expose SSE ids; this fetch notes the last `id:` line that went through.
async function recordingFetch(url, init) {
  const response = await fetch(url, init);
  if (!response.ok || !response.body) return response;
  const decoder = new TextDecoder();
  let pending = "";
  const body = response.body.pipeThrough(new TransformStream({
    transform(chunk, controller) {
      pending += decoder.decode(chunk, { stream: true });
      const blocks = pending.split("\n\n");
      pending = blocks.pop();
      for (const block of blocks) {
        for (const line of block.split("\n")) if (line.startsWith("id:")) lastEventId = line.slice(3).trim();
      }
      controller.enqueue(chunk);
    },
  }));
  return new Response(body, { status: response.status, headers: response.headers });
}

const headers = { Authorization: `Bearer ${options.apiKey}` };
if (options.lastEventId) headers["Last-Event-ID"] = options.lastEventId;
const agent = new HttpAgent({
  url: options.url,
  headers,
  threadId: options.threadId,
  initialMessages: options.messages ?? [],
  initialState: options.state,
  fetch: recordingFetch,
});

const events = [];
let outcome = {};
try {
  const run = await agent.runAgent(
    { runId: options.runId, ...(options.resume ? { resume: options.resume } : {}) },
    {
      onEvent({ event }) {
        events.push(event);
        if (options.stopAfter && events.length >= options.stopAfter) agent.abortRun();
      },
    },
  );
  outcome = { result: run.result ?? null, newMessages: run.newMessages };
} catch (error) {
  outcome = { error: `${error?.name}: ${error?.message}` };
}
console.log(JSON.stringify({
  events,
  lastEventId,
  messages: agent.messages,
  pendingInterrupts: agent.pendingInterrupts ?? [],
  ...outcome,
}));
