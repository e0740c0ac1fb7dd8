/* The playground's engine: chainwalk in Pyodide, in a Web Worker so that the page stays
 * responsive whatever a trace costs (playground.js terminates this worker when a trace
 * runs past its time bound or the reader cancels it, and starts a new one).
 *
 * Messages in: {kind: "init", pyodide: URL of the folder, wheels: [URL...], files: the
 * site's rules folder (path -> text), root: where to write it}, then {kind: "trace", id,
 * rules, name, options: [CLI options], language: the page's} or {kind: "journey", id, files: edited files,
 * root, file, name, list: whether to list the scenarios}. Out: {kind: "ready", ms},
 * {kind: "failed", message}, {kind: "result", id, result, ms, scenarios}. The result is what chainwalk.playground's trace or
 * journey returns: the CLI's JSON and text, or its problems.
 */
let playground = null;

async function init(message) {
  const started = performance.now();
  const { loadPyodide } = await import(message.pyodide + "pyodide.mjs");
  const pyodide = await loadPyodide({ indexURL: message.pyodide });
  for (const url of message.wheels) {
    const response = await fetch(url);
    if (!response.ok) {
      throw new Error("cannot load " + url + ": HTTP " + response.status);
    }
    pyodide.unpackArchive(await response.arrayBuffer(), "wheel");
  }
  playground = pyodide.pyimport("chainwalk.playground");
  playground.write_rules_json(JSON.stringify(message.files), message.root);
  return performance.now() - started;
}

self.onmessage = async (event) => {
  const message = event.data;
  if (message.kind === "init") {
    try {
      self.postMessage({ kind: "ready", ms: await init(message) });
    } catch (error) {
      self.postMessage({ kind: "failed", message: String(error && error.message || error) });
    }
    return;
  }
  if (message.kind === "trace" || message.kind === "journey") {
    const started = performance.now();
    let result;
    try {
      result = JSON.parse(message.kind === "trace"
        ? playground.trace_json(message.rules, message.name, JSON.stringify(message.options),
                                message.language || "en")
        : playground.journey_json(JSON.stringify(message.files), message.root, message.file,
                                  message.name, message.language || "en"));
    } catch (error) {
      // A Python exception no check foresaw: its last line, never a half result.
      const text = String(error && error.message || error).trim().split("\n");
      result = { problems: [{ line: 0, column: 0, message: text[text.length - 1] }] };
    }
    let scenarios = null;
    if (message.kind === "journey" && message.list) {
      try {
        scenarios = JSON.parse(playground.scenarios_json(message.root));
      } catch (error) {
        scenarios = [];
      }
    }
    self.postMessage({ kind: "result", id: message.id, result: result, scenarios: scenarios,
                       ms: performance.now() - started });
  }
};
