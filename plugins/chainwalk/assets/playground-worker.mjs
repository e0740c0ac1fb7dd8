/* The playground's engine: chainwalk in Pyodide, in a Web Worker so that the page stays
 * responsive whatever a trace costs (playground.js terminates this worker when a trace
 * runs past its time bound or the reader cancels it, and starts a new one).
 *
 * Messages in: {kind: "init", base: URL of the playground's folder (manifest.json, the
 * wheels, the catalogs, rules.json), root: where the engine keeps the rules folder,
 * language: the page's}, then
 * {kind: "trace", id, rules, name, options: [CLI options], language: the page's},
 * {kind: "views", id: a trace's, language} (the CLI's text and the flowchart of that
 * trace, asked once its table is shown) or {kind: "journey", id, files: edited files,
 * file, name, list: whether to list the scenarios, language}.
 * Out: {kind: "ready", ms, timings}, {kind: "failed", message}, {kind: "result", id,
 * result, ms, scenarios}, {kind: "views", id, result}. A result is what
 * chainwalk.playground's trace, views or journey returns: the CLI's JSON and text, or its
 * problems.
 */
let playground = null;
let root = "/rules";
let rulesURL = null;
let rulesWritten = false;
// Where the start's time goes (ms from the worker's start), for the browser test's report.
const timings = {};

async function fetchOk(url) {
  const response = await fetch(url);
  if (!response.ok) {
    throw new Error("cannot load " + url + ": HTTP " + response.status);
  }
  return response;
}

async function init(message) {
  const started = performance.now();
  const mark = (name) => { timings[name] = Math.round(performance.now() - started); };
  root = message.root;
  const manifest = await (await fetchOk(new URL("manifest.json", message.base))).json();
  mark("manifest");
  rulesURL = new URL(manifest.rules, message.base);
  // Python's memory as a last visit left it, read while the rest arrives (see below).
  const stored = snapshots("get", manifest.engine).catch(() => undefined);
  const pyodideURL = new URL(manifest.pyodide, new URL("../../../", message.base)).href;
  // Pyodide (its wasm fetched and compiled, its standard library) and the wheels at once.
  const wheels = Promise.all(manifest.wheels.map(async (name) => {
    const data = await (await fetchOk(new URL(name, message.base))).arrayBuffer();
    mark("wheels fetched");
    return data;
  }));
  const language = Object.prototype.hasOwnProperty.call(manifest.catalogs, message.language)
    ? message.language : "en";
  const catalog = fetchOk(new URL(manifest.catalogs[language], message.base))
    .then((response) => response.text());
  const { loadPyodide } = await import(pyodideURL + "pyodide.mjs");
  mark("pyodide.mjs imported");
  const unpacked = await wheels;
  const key = await wheelsKey(unpacked);
  // The bytecode folder is read from IndexedDB while Python starts (see keepBytecode).
  const options = { indexURL: pyodideURL, fsInit: (FS) => {
    bytecodeRead = readBytecode(FS);
    bytecodeRead.catch(() => {});  // awaited (and its failure handled) in keepBytecode
  } };
  const start = async (more) => {
    const pyodide = await loadPyodide(Object.assign({}, options, more));
    mark("pyodide loaded");
    for (const data of unpacked) {
      pyodide.unpackArchive(data, "wheel");
    }
    mark("wheels unpacked");
    playground = pyodide.pyimport("chainwalk.playground");
    mark("chainwalk.playground imported");
    return pyodide;
  };
  // Python as the last visit left it once chainwalk.playground was imported (a memory
  // snapshot), else started and snapshotted for the next visit; any failure to restore
  // one is the normal start (and the snapshot goes).
  const snapshotKey = manifest.engine;
  const snapshot = await stored;
  mark("snapshot read");
  let pyodide = null;
  if (snapshot) {
    try {
      pyodide = await start({ _loadSnapshot: snapshot });
      timings["snapshot"] = "restored";
    } catch (error) {
      timings["snapshot"] = "failed: " + String(error && error.message || error);
      snapshots("delete", snapshotKey).catch(() => {});
    }
  }
  if (!pyodide) {
    pyodide = await start({ _makeSnapshot: true });
    try {
      snapshotMade = { key: snapshotKey, data: pyodide.makeMemorySnapshot() };
      timings["snapshot"] = timings["snapshot"] || "made";
    } catch (error) {
      timings["snapshot"] = "not made: " + String(error && error.message || error);
    }
  }
  // When each of Pyodide's files had arrived (the rest of its time is compiling the
  // wasm, when not cached, and starting Python).
  for (const entry of performance.getEntriesByType("resource")) {
    const name = entry.name.split("/").pop();
    if (/^(pyodide|python_stdlib)/.test(name)) {
      timings[name + " arrived"] = Math.round(entry.responseEnd - started);
    }
  }
  pyodideFS = pyodide.FS;
  await keepBytecode(key);
  mark("bytecode kept: " + Boolean(bytecodeKept));
  playground.use_catalog_json(language, await catalog);
  mark("catalog read");
  return performance.now() - started;
}

// The bytecode of chainwalk's modules, kept in IndexedDB from one visit to the next
// (Python compiles every module from source at each start otherwise), under the
// wheels' digest. Without IndexedDB, or on any failure, the engine compiles as before.
const BYTECODE = "/chainwalk-bytecode";
let bytecodeRead = null;  // the folder mounted on IndexedDB and read, or why not
let bytecodeKept = false;
let pyodideFS = null;
let bytecodeSaving = null;

// Called by Pyodide before Python starts; not awaited, so that IndexedDB reads while
// Python starts.
function readBytecode(FS) {
  try {
    FS.mkdirTree(BYTECODE);
    FS.mount(FS.filesystems.IDBFS, {}, BYTECODE);
    return new Promise((resolve, reject) => FS.syncfs(true, (error) =>
      error ? reject(error) : resolve()));
  } catch (error) {
    return Promise.reject(error);
  }
}

// The first 12 bytes of the wheels' SHA-256, in hex.
async function wheelsKey(wheels) {
  const digest = await crypto.subtle.digest("SHA-256", await new Blob(wheels).arrayBuffer());
  return Array.from(new Uint8Array(digest).slice(0, 12),
                    (b) => b.toString(16).padStart(2, "0")).join("");
}

async function keepBytecode(key) {
  try {
    await (bytecodeRead || Promise.reject(new Error("Pyodide called no fsInit")));
    playground.use_bytecode_cache(BYTECODE, key, ["chainwalk", "yaml"]);
    bytecodeKept = true;
  } catch (error) {
    bytecodeKept = false;
  }
}

// What the last request compiled, written to IndexedDB after its answer is sent.
function saveBytecode() {
  if (!bytecodeKept || bytecodeSaving) {
    return;
  }
  bytecodeSaving = new Promise((resolve) => pyodideFS.syncfs(false, resolve))
    .then(() => { bytecodeSaving = null; });
}

// Memory snapshots of Python in IndexedDB, under the manifest's engine key (a digest of
// Pyodide's loader, its standard library and the wheels): the last one made is kept.
const SNAPSHOTS = "chainwalk-playground-snapshots";
let snapshotMade = null;  // {key, data}: made by this start, written once it is ready

function snapshots(operation, key, value) {
  return new Promise((resolve, reject) => {
    const opened = indexedDB.open(SNAPSHOTS, 1);
    opened.onupgradeneeded = () => opened.result.createObjectStore("snapshots");
    opened.onerror = () => reject(opened.error);
    opened.onsuccess = () => {
      const db = opened.result;
      const transaction = db.transaction("snapshots",
                                         operation === "get" ? "readonly" : "readwrite");
      const store = transaction.objectStore("snapshots");
      if (operation === "put") {
        store.clear();
      }
      const request = operation === "put" ? store.put(value, key) : store[operation](key);
      transaction.oncomplete = () => { db.close(); resolve(request.result); };
      transaction.onerror = transaction.onabort = () => {
        db.close();
        reject(transaction.error || new Error("IndexedDB: " + operation + " failed"));
      };
    };
  });
}

// The site's rules folder, written once, when a journey first needs it.
async function ensureRules() {
  if (!rulesWritten) {
    const files = await (await fetchOk(rulesURL)).text();
    playground.write_rules_json(files, root);
    rulesWritten = true;
  }
}

function failure(error) {
  // A Python exception no check foresaw: its last line, never a half result.
  const text = String(error && error.message || error).trim().split("\n");
  return { problems: [{ line: 0, column: 0, message: text[text.length - 1] }] };
}

self.onmessage = async (event) => {
  const message = event.data;
  if (message.kind === "init") {
    try {
      const ms = await init(message);
      self.postMessage({ kind: "ready", ms: ms, timings: timings });
      if (snapshotMade) {
        snapshots("put", snapshotMade.key, snapshotMade.data).catch(() => {});
        snapshotMade = null;
      }
    } catch (error) {
      self.postMessage({ kind: "failed", message: String(error && error.message || error) });
    }
    return;
  }
  const started = performance.now();
  const language = message.language || "en";
  if (message.kind === "views") {
    let result;
    try {
      result = JSON.parse(playground.views_json(language));
    } catch (error) {
      result = {};
    }
    self.postMessage({ kind: "views", id: message.id, result: result,
                       ms: performance.now() - started });
    return;
  }
  if (message.kind === "trace" || message.kind === "journey") {
    let result;
    let scenarios = null;
    try {
      if (message.kind === "trace") {
        result = JSON.parse(playground.trace_json(message.rules, message.name,
                                                  JSON.stringify(message.options), language));
      } else {
        await ensureRules();
        result = JSON.parse(playground.journey_json(JSON.stringify(message.files), root,
                                                    message.file, message.name, language));
        if (message.list) {
          try {
            scenarios = JSON.parse(playground.scenarios_json(root));
          } catch (error) {
            scenarios = [];
          }
        }
      }
    } catch (error) {
      result = failure(error);
    }
    self.postMessage({ kind: "result", id: message.id, result: result, scenarios: scenarios,
                       ms: performance.now() - started });
    saveBytecode();
  }
};
