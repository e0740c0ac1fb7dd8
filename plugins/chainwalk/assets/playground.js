/* The playground: trace a packet through any ruleset in the page, offline.
 *
 * diagrams.js loads this script only on a page with <div id="chainwalk-playground">.
 * The engine is chainwalk itself, in Pyodide, in a Web Worker (playground-worker.mjs):
 * the page sends the ruleset's text and the options `chainwalk trace` would get, and
 * shows what comes back: the CLI's JSON (the same as `chainwalk trace --json`), its text,
 * every problem of the ruleset with its line and column, and the chains' flowchart.
 *
 * A journey works alike: the page sends a scenario file of the site (edited or not) and
 * shows what `chainwalk run FILE#NAME` prints (JSON, text, Mermaid sequence diagram).
 *
 * - The worker starts as soon as the script runs, before the page's own data arrive:
 *   the playground's page loads this script from its <head> (the plugin adds the tag),
 *   so the engine starts before the theme's scripts have run.
 * - A trace runs DEBOUNCE_MS after the last edit (an edit during a trace waits for it
 *   to end); one that runs past TRACE_LIMIT_MS, or that the reader cancels, is stopped by
 *   terminating the worker (a new one starts). The table comes first; the CLI's text and
 *   the flowchart are asked for once it is shown.
 * - The whole state (the site's ruleset's name, or the text, compressed; the packet)
 *   is in the URL fragment, so a link reproduces the trace; nothing leaves the page.
 * - Every string from the ruleset or the engine reaches the page as textContent; the
 *   only markup is Mermaid's SVG, drawn in its strict mode from escaped labels.
 */
(function () {
  "use strict";
  if (window.chainwalkPlayground) {
    return;
  }
  var here = document.currentScript && document.currentScript.src;
  var base = new URL(".", here || location.href);  // assets/chainwalk/playground/
  var root = new URL("../../../", base);            // the site's root
  var TRACE_LIMIT_MS = 10000;
  var DEBOUNCE_MS = 30;  // a keystroke's burst; a trace in progress queues the next one
  var MAX_FRAGMENT = 100000;  // characters of state in the address, compressed
  var PASTED = "pasted.rules";
  // The packet's fields: [state key, CLI option, label, placeholder or choices]; a
  // label, and a placeholder in words, is a message's key.
  var FIELDS = [
    ["hook", "--hook", "playground.ui.field.hook", ["output", "prerouting"]],
    ["proto", "--proto", "playground.ui.field.proto", ["tcp", "udp", "icmp"]],
    ["src", "--src", "playground.ui.field.src", "playground.ui.from-routing"],
    ["dst", "--dst", "playground.ui.field.dst", "10.0.0.9"],
    ["sport", "--sport", "playground.ui.field.sport", "40000"],
    ["dport", "--dport", "playground.ui.field.dport", "80"],
    ["uid", "--uid", "playground.ui.field.uid", "1000"],
    ["gid", "--gid", "playground.ui.field.gid", "playground.ui.the-uid"],
    ["mark", "--mark", "playground.ui.field.mark", "0"],
    ["in", "--in", "playground.ui.field.in", "eth0"],
    ["out", "--out", "playground.ui.field.out", "playground.ui.from-routing"],
    ["addr", "--addr", "playground.ui.field.addr", "eth0=10.0.0.5/24"]
  ];
  // The state without a link (manifest.defaults: the site computes its trace when it is
  // built, manifest.first, which the page shows before the engine has started).
  var DEFAULTS = {};
  var first = null;

  // -- The URL fragment: deflate-raw and base64url ------------------------------------
  function toBase64url(bytes) {
    var text = "";
    for (var i = 0; i < bytes.length; i += 0x8000) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function fromBase64url(text) {
    var binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes;
  }

  function through(stream, bytes) {
    var piped = new Blob([bytes]).stream().pipeThrough(stream);
    return new Response(piped).arrayBuffer().then(function (b) { return new Uint8Array(b); });
  }

  function encodeState(state) {
    var json = new TextEncoder().encode(JSON.stringify(state));
    return through(new CompressionStream("deflate-raw"), json).then(toBase64url);
  }

  function decodeState(fragment) {
    var match = /(?:^#|&)s=([A-Za-z0-9_-]+)/.exec(fragment);
    if (!match) {
      return Promise.resolve(null);
    }
    return Promise.resolve().then(function () {
      return through(new DecompressionStream("deflate-raw"), fromBase64url(match[1]));
    }).then(function (bytes) {
      var state = JSON.parse(new TextDecoder().decode(bytes));
      return state && typeof state === "object" ? state : null;
    }).catch(function () {
      return null;
    });
  }

  // -- The engine ----------------------------------------------------------------------
  var manifest = null;
  var rulesets = {};      // file name -> text, for the packet's ruleset
  var rulesFiles = {};    // the site's rules folder: path inside it -> text
  var scenarioList = [];  // [{id, title, zh_title}], from the engine once it has the folder
  var ROOT_DIR = "/rules";  // where the engine keeps the rules folder
  var engine = null;  // {worker, ready: Promise}
  var requests = 0;

  function fetchJson(path) {
    return fetch(new URL(path, base)).then(function (response) {
      if (!response.ok) {
        throw new Error("cannot load " + response.url + ": HTTP " + response.status);
      }
      return response.json();
    });
  }

  // Where the start went, for the tests: the page's marks in ms since navigation, the
  // worker's phases in ms since the worker started.
  var timings = {};

  function startEngine() {
    var worker = new Worker(new URL("playground-worker.mjs", base), { type: "module" });
    var started = performance.now();
    timings = { "worker started": Math.round(started) };
    var ready = new Promise(function (resolve, reject) {
      worker.onmessage = function (event) {
        if (event.data.kind === "ready") {
          Object.keys(event.data.timings || {}).forEach(function (name) {
            timings[name] = event.data.timings[name];
          });
          timings["engine ready"] = Math.round(performance.now());
          resolve(performance.now() - started);
        } else {
          reject(new Error(event.data.message || "the engine did not start"));
        }
      };
      worker.onerror = function (event) {
        reject(new Error(event.message || "the engine did not start"));
      };
    });
    worker.postMessage({ kind: "init", base: base.href, root: ROOT_DIR,
                         language: document.documentElement.lang });
    engine = { worker: worker, ready: ready };
    return engine;
  }

  function stopEngine() {
    if (engine) {
      engine.worker.terminate();
      engine = null;
    }
  }

  function known(name) {
    return typeof name === "string" && Object.prototype.hasOwnProperty.call(rulesets, name);
  }

  // -- The page ------------------------------------------------------------------------
  // The page's words in its language (<html lang>): the message catalogs' playground.ui
  // keys, which the site writes into manifest.json. msg("key", {name: value}).
  var words = {};
  function msg(key, values) {
    var text = Object.prototype.hasOwnProperty.call(words, key) ? words[key] : key;
    return text.replace(/\{(\w+)\}/g, function (all, name) {
      return values && Object.prototype.hasOwnProperty.call(values, name) ?
        String(values[name]) : all;
    });
  }

  function el(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (key) {
      node.setAttribute(key, attributes[key]);
    });
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function options(state) {
    var argv = [];
    FIELDS.forEach(function (field) {
      var value = String(state[field[0]] || "").trim();
      if (!value) {
        return;
      }
      if (field[0] === "addr") {
        value.split(/[\s,]+/).filter(Boolean).forEach(function (item) {
          argv.push("--addr", item);
        });
      } else {
        argv.push(field[1], value);
      }
    });
    return argv;
  }

  function Playground(host) {
    this.host = host;
    this.state = Object.assign({}, DEFAULTS);
    this.timer = null;
    this.running = null;  // {id, timer} of the trace the worker is running
    this.queued = false;
    this.last = null;     // the last result shown (for the tests: window.chainwalkPlayground)
    this.limitMs = TRACE_LIMIT_MS;
    this.build();
  }

  Playground.prototype.build = function () {
    var self = this;
    var host = this.host;
    host.textContent = "";
    host.classList.add("chainwalk-playground");
    var form = el("form", { "class": "cw-pg-form", autocomplete: "off" });
    form.addEventListener("submit", function (event) { event.preventDefault(); });

    var modes = el("label", { "class": "cw-pg-ruleset" }, msg("playground.ui.mode"));
    this.mode = el("select", { name: "mode" });
    this.mode.appendChild(el("option", { value: "packet" }, msg("playground.ui.mode.packet")));
    this.mode.appendChild(el("option", { value: "journey" },
                             msg("playground.ui.mode.journey")));
    modes.appendChild(this.mode);
    form.appendChild(modes);
    this.journeyPick = el("label", { "class": "cw-pg-ruleset" }, msg("playground.ui.scenario"));
    this.scenario = el("select", { name: "scenario" });
    this.journeyPick.appendChild(this.scenario);
    form.appendChild(this.journeyPick);

    var pick = el("label", { "class": "cw-pg-ruleset" }, msg("playground.ui.ruleset"));
    this.rulesetPick = pick;
    this.select = el("select", { name: "ruleset" });
    Object.keys(rulesets).forEach(function (name) {
      self.select.appendChild(el("option", { value: name }, name));
    });
    this.select.appendChild(el("option", { value: "" }, msg("playground.ui.your-own")));
    pick.appendChild(this.select);
    this.reset = el("button", { type: "button", "class": "md-button" },
                    msg("playground.ui.undo"));
    pick.appendChild(this.reset);
    form.appendChild(pick);

    this.text = el("textarea", { name: "rules", rows: "14", spellcheck: "false", wrap: "off",
                                 "aria-label": msg("playground.ui.text-label"),
                                 placeholder: msg("playground.ui.text-placeholder") });
    form.appendChild(this.text);
    this.problems = el("ol", { "class": "cw-pg-problems", "aria-live": "polite" });
    form.appendChild(this.problems);

    var packet = el("fieldset", { "class": "cw-pg-packet" });
    packet.appendChild(el("legend", {}, msg("playground.ui.packet")));
    this.inputs = {};
    FIELDS.forEach(function (field) {
      var label = el("label", {}, msg(field[2]) + " ");
      var input;
      if (Array.isArray(field[3])) {
        input = el("select", { name: field[0] });
        field[3].forEach(function (choice) { input.appendChild(el("option", {}, choice)); });
      } else {
        input = el("input", { name: field[0], type: "text", placeholder: msg(field[3]) });
      }
      label.appendChild(input);
      packet.appendChild(label);
      self.inputs[field[0]] = input;
    });
    form.appendChild(packet);
    this.packet = packet;
    host.appendChild(form);

    var bar = el("p", { "class": "cw-pg-status" });
    this.status = el("span", { role: "status" }, msg("playground.ui.loading"));
    this.cancel = el("button", { type: "button", "class": "md-button", hidden: "" },
                     msg("playground.ui.cancel"));
    this.share = el("a", { "class": "cw-pg-share", href: "#" }, msg("playground.ui.share"));
    bar.appendChild(this.status);
    bar.appendChild(this.cancel);
    bar.appendChild(this.share);
    host.appendChild(bar);

    this.output = el("div", { "class": "cw-pg-output" });
    host.appendChild(this.output);

    this.mode.addEventListener("change", function () {
      self.state.mode = self.mode.value;
      self.show();
      self.changed();
    });
    this.scenario.addEventListener("change", function () {
      self.state.scenario = self.scenario.value;
      delete self.state.yaml;
      self.show();
      self.changed();
    });
    this.select.addEventListener("change", function () {
      self.state.ruleset = self.select.value;
      if (self.select.value) {
        delete self.state.text;
      } else {
        self.state.text = "";
      }
      self.show();
      self.changed();
    });
    this.reset.addEventListener("click", function () {
      delete self.state[self.journeyMode() ? "yaml" : "text"];
      self.show();
      self.changed();
    });
    this.text.addEventListener("input", function () {
      self.state[self.journeyMode() ? "yaml" : "text"] = self.text.value;
      self.changed();
    });
    Object.keys(this.inputs).forEach(function (key) {
      self.inputs[key].addEventListener("input", function () {
        self.state[key] = self.inputs[key].value;
        self.changed();
      });
    });
    this.cancel.addEventListener("click", function () {
      self.stop(msg("playground.ui.cancelled"));
    });
  };

  Playground.prototype.journeyMode = function () {
    return this.state.mode === "journey";
  };

  // The scenario's file (inside the rules folder), name and the file's text.
  Playground.prototype.journeyInput = function () {
    var id = String(this.state.scenario || DEFAULTS.scenario);
    var stem = id.split("/")[0];
    var file = "scenarios/" + stem + ".yaml";
    var known = Object.prototype.hasOwnProperty.call(rulesFiles, file) &&
                /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(id);
    var original = known ? rulesFiles[file] : "";
    var text = typeof this.state.yaml === "string" ? this.state.yaml : original;
    return { file: known ? file : "", name: id.split("/")[1] || "", text: text,
             edited: known && text !== original };
  };

  // The ruleset's name (as messages show it) and text (in journey mode, the scenario
  // file's).
  Playground.prototype.rules = function () {
    if (this.journeyMode()) {
      var input = this.journeyInput();
      return { name: input.file || "scenario", text: input.text, edited: input.edited };
    }
    var name = known(this.state.ruleset) ? this.state.ruleset : "";
    if (typeof this.state.text === "string") {
      return { name: name || PASTED, text: this.state.text, edited: Boolean(name) };
    }
    return { name: name || PASTED, text: name ? rulesets[name] : "", edited: false };
  };

  // The state into the form.
  Playground.prototype.show = function () {
    var journey = this.journeyMode();
    this.mode.value = journey ? "journey" : "packet";
    this.journeyPick.hidden = !journey;
    this.rulesetPick.hidden = journey;
    this.packet.hidden = journey;
    if (this.scenario.options.length !== scenarioList.length) {
      var select = this.scenario;
      select.textContent = "";
      scenarioList.forEach(function (s) {
        // The Chinese title on a Chinese page; an edited file without one shows its own.
        var title = (document.documentElement.lang === "zh" && s.zh_title) || s.title;
        select.appendChild(el("option", { value: s.id }, s.id + ": " + title));
      });
    }
    this.scenario.value = String(this.state.scenario || "");
    var rules = this.rules();
    this.select.value = known(this.state.ruleset) ? this.state.ruleset : "";
    if (this.text.value !== rules.text) {
      this.text.value = rules.text;
    }
    this.reset.hidden = !rules.edited;
    var self = this;
    Object.keys(this.inputs).forEach(function (key) {
      var value = self.state[key] === undefined ? "" : String(self.state[key]);
      if (self.inputs[key].tagName === "SELECT") {
        self.inputs[key].value = value || self.inputs[key].options[0].value;
      } else if (self.inputs[key].value !== value) {
        self.inputs[key].value = value;
      }
    });
  };

  Playground.prototype.changed = function () {
    var self = this;
    this.editedAt = performance.now();
    this.reset.hidden = !this.rules().edited;
    clearTimeout(this.timer);
    this.timer = setTimeout(function () { self.run(); }, DEBOUNCE_MS);
  };

  Playground.prototype.saveState = function () {
    var self = this;
    var state = Object.assign({}, this.state);
    if (known(state.ruleset) && state.text === rulesets[state.ruleset]) {
      delete state.text;
    }
    if (typeof state.yaml === "string" && !this.journeyInput().edited) {
      delete state.yaml;
    }
    return encodeState(state).then(function (encoded) {
      var fragment = "#s=" + encoded;
      if (fragment.length > MAX_FRAGMENT) {
        // No address holds megabytes: the state stays in the page only.
        self.share.removeAttribute("href");
        self.share.textContent = msg("playground.ui.too-large");
        fragment = "";
      } else {
        self.share.href = fragment;
        self.share.textContent = msg("playground.ui.share");
      }
      self.written = fragment;
      if (location.hash !== fragment) {
        history.replaceState(history.state, "", fragment || location.pathname);
      }
    });
  };

  Playground.prototype.stop = function (message) {
    if (this.running) {
      clearTimeout(this.running.timer);
      this.running = null;
    }
    this.queued = false;
    this.cancel.hidden = true;
    stopEngine();
    this.status.textContent = message;
    this.host.setAttribute("data-state", "stopped");
    startEngine();
  };

  Playground.prototype.run = function () {
    var self = this;
    this.saveState();
    if (this.running) {
      this.queued = true;  // the latest edit runs when the current trace ends
      return;
    }
    var rules = this.rules();
    var journey = this.journeyMode() ? this.journeyInput() : null;
    var argv = journey ? ["journey", journey.file, journey.name] : options(this.state);
    var id = ++requests;
    if (!journey && first && first.ruleset === rules.name && !rules.edited &&
        typeof this.state.text !== "string" &&
        JSON.stringify(first.options) === JSON.stringify(argv)) {
      var lang = document.documentElement.lang;
      var built = first.results[lang] || first.results.en;
      this.render(built, rules, id);
      this.renderViews(id, built);
      this.last = { result: built, ms: 0, shownMs: 0, editedMs: 0, built: true,
                    name: rules.name, rules: rules.text, options: argv };
      if (timings["first trace shown"] === undefined) {
        timings["first trace shown"] = Math.round(performance.now());
      }
      this.status.textContent = msg("playground.ui.built");
      this.host.setAttribute("data-state", "done");
      this.host.setAttribute("data-request", String(id));
      return;
    }
    var current = engine || startEngine();
    this.host.setAttribute("data-state", "running");
    this.cancel.hidden = false;
    this.status.textContent = msg("playground.ui.tracing");
    this.running = { id: id, timer: null };
    var started = performance.now();
    var edited = this.editedAt === undefined ? started : this.editedAt;
    current.ready.then(function () {
      if (!self.running || self.running.id !== id) {
        return;
      }
      self.running.timer = setTimeout(function () {
        self.stop(msg("playground.ui.stopped", { seconds: self.limitMs / 1000 }));
      }, self.limitMs);
      current.worker.onmessage = function (event) {
        var data = event.data;
        if (data.kind === "views") {
          self.renderViews(data.id, data.result);
          return;
        }
        if (data.kind !== "result" || !self.running || self.running.id !== data.id) {
          return;
        }
        clearTimeout(self.running.timer);
        self.running = null;
        self.cancel.hidden = true;
        if (data.scenarios) {
          scenarioList = data.scenarios;
          self.show();
        }
        self.render(data.result, rules, id);
        var now = performance.now();
        self.last = { result: data.result, ms: data.ms, shownMs: now - started,
                      editedMs: now - edited, name: rules.name, rules: rules.text,
                      options: argv };
        if (timings["first trace shown"] === undefined) {
          timings["first trace shown"] = Math.round(now);
        }
        if (data.result.trace && !self.queued) {  // (a newer edit's trace goes first)
          current.worker.postMessage({ kind: "views", id: id });
        }
        self.status.textContent = msg("playground.ui.traced", { ms: Math.round(data.ms) });
        self.host.setAttribute("data-state", "done");
        self.host.setAttribute("data-request", String(data.id));
        if (self.queued) {
          self.queued = false;
          self.run();
        }
      };
      if (journey) {
        var files = {};
        files[journey.file] = journey.text;
        current.worker.postMessage({ kind: "journey", id: id, files: files, root: ROOT_DIR,
                                     file: journey.file, name: journey.name,
                                     language: document.documentElement.lang,
                                     list: scenarioList.length === 0 });
      } else {
        current.worker.postMessage({ kind: "trace", id: id, rules: rules.text,
                                     name: rules.name, options: argv,
                                     language: document.documentElement.lang });
      }
    }, function (error) {
      self.running = null;
      self.cancel.hidden = true;
      self.status.textContent = msg("playground.ui.no-engine", { error: error.message });
      self.host.setAttribute("data-state", "failed");
      stopEngine();
    });
  };

  Playground.prototype.render = function (result, rules, id) {
    var out = this.output;
    out.textContent = "";
    this.problems.textContent = "";
    var self = this;
    if (result.usage) {
      out.appendChild(el("p", { "class": "cw-pg-usage" }, result.usage));
      return;
    }
    if (result.problems) {
      result.problems.forEach(function (problem) {
        var item = el("li", {}, problem.message);
        if (problem.line > 0) {
          item.setAttribute("data-line", String(problem.line));
          item.addEventListener("click", function () { self.select_line(problem.line); });
        }
        self.problems.appendChild(item);
      });
      out.appendChild(el("p", {}, msg("playground.ui.no-parse",
                                      { count: result.problems.length })));
      return;
    }
    if (result.journey) {
      this.renderJourney(result);
      return;
    }
    var trace = result.trace;
    var lines = {};
    (result.rule_lines || []).forEach(function (r) {
      lines[r.table + ":" + r.chain + ":" + r.rule] = r.line;
    });
    // The engine words the table in the page's language (result.rows, one a branch).
    var rows = result.rows || [];
    out.appendChild(el("p", { "class": "cw-pg-verdict" },
                       msg("playground.ui.verdict", {
                         verdict: trace.verdict,
                         disposition: rows.length ? rows[0].disposition : trace.disposition,
                         final: trace.final ? " (" + trace.final.src + ":" + trace.final.sport +
                           " -> " + trace.final.dst + ":" + trace.final.dport + ")" : "" })));
    var branches = trace.branches || [{ steps: trace.steps }];
    branches.forEach(function (branch, index) {
      if (branches.length > 1) {
        out.appendChild(el("h3", {}, msg("playground.ui.branch",
                                          { number: index + 1, count: branches.length })));
      }
      out.appendChild(self.table(branch.steps || [], (rows[index] || {}).steps || [],
                                 lines, rules));
    });
    var text = el("details", { "class": "cw-pg-cli" });
    text.appendChild(el("summary", {}, msg("playground.ui.text-trace")));
    var pre = el("pre", { "class": "cw-pg-text" });
    text.appendChild(pre);
    out.appendChild(text);
    var figure = el("div", { "class": "cw-pg-diagram" });
    out.appendChild(figure);
    this.views = { id: id, text: pre, figure: figure };  // filled by renderViews
    var details = el("details", {});
    details.appendChild(el("summary", {}, msg("playground.ui.json-trace")));
    details.appendChild(el("pre", { "class": "cw-pg-json" }, JSON.stringify(trace, null, 2)));
    out.appendChild(details);
  };

  // The CLI's text and the flowchart of the trace shown (request id), once they come.
  Playground.prototype.renderViews = function (id, views) {
    if (!this.views || this.views.id !== id) {
      return;  // another trace is shown by now
    }
    this.views.text.textContent = views.text || "";
    if (views.diagram) {
      this.views.figure.appendChild(el("p", {}, msg("playground.ui.chains",
                                                    { table: views.diagram.table })));
      this.draw(this.views.figure, views.diagram.mermaid);
    }
  };

  Playground.prototype.renderJourney = function (result) {
    var out = this.output;
    var journey = result.journey;
    var said = result.words || journey;  // in the page's language
    out.appendChild(el("p", { "class": "cw-pg-verdict" },
                       msg("playground.ui.result", {
                         result: said.result, reason: said.reason,
                         receiver: journey.receiver ?
                           msg("playground.ui.at", { receiver: journey.receiver }) : "" })));
    if (result.title) {
      out.appendChild(el("p", { "class": "chainwalk-caption" }, result.title));
    }
    var figure = el("div", { "class": "cw-pg-diagram" });
    out.appendChild(figure);
    this.draw(figure, result.mermaid);
    var text = el("details", { "class": "cw-pg-cli" });
    text.appendChild(el("summary", {}, msg("playground.ui.text-run")));
    text.appendChild(el("pre", { "class": "cw-pg-text" }, result.text));
    out.appendChild(text);
    var details = el("details", {});
    details.appendChild(el("summary", {}, msg("playground.ui.json-run")));
    details.appendChild(el("pre", { "class": "cw-pg-json" }, JSON.stringify(journey, null, 2)));
    out.appendChild(details);
  };

  Playground.prototype.table = function (steps, words, lines, rules) {
    var self = this;
    var wrap = el("div", { "class": "cw-pg-steps" });
    var table = el("table");
    var head = el("tr");
    ["playground.ui.column.where", "playground.ui.column.result", "playground.ui.column.rule",
     "playground.ui.column.why", "playground.ui.column.what-if"].forEach(function (key) {
      head.appendChild(el("th", {}, msg(key)));
    });
    table.appendChild(el("thead")).appendChild(head);
    var body = el("tbody");
    steps.forEach(function (step, index) {
      var said = words[index] || {};
      var row = el("tr", { "class": "cw-pg-" + step.kind });
      if (step.kind === "rule") {
        row.setAttribute("data-rule", step.table + ":" + step.chain + ":" + step.rule);
      }
      if (step.kind === "event") {
        var cell = el("td", { colspan: "5" }, said.event || step.text);
        row.appendChild(cell);
        body.appendChild(row);
        return;
      }
      row.appendChild(el("td", {}, said.where || ""));
      row.appendChild(el("td", {}, said.result || ""));
      row.appendChild(el("td", {}, step.text || ""));
      row.appendChild(el("td", {}, said.why || ""));
      var action = el("td");
      var line = lines[step.table + ":" + step.chain + ":" + step.rule];
      if (step.kind === "rule" && line) {
        var remove = el("button", { type: "button", "class": "cw-pg-remove",
                                    title: msg("playground.ui.remove-title") },
                         msg("playground.ui.remove"));
        remove.addEventListener("click", function () { self.removeLine(rules, line); });
        action.appendChild(remove);
      }
      row.appendChild(action);
      body.appendChild(row);
    });
    table.appendChild(body);
    wrap.appendChild(table);
    return wrap;
  };

  // The what-if: the rule's line becomes a comment, and the trace runs again.
  Playground.prototype.removeLine = function (rules, line) {
    var all = rules.text.split("\n");
    if (line < 1 || line > all.length) {
      return;
    }
    all[line - 1] = "# removed: " + all[line - 1];
    this.state.text = all.join("\n");
    this.show();
    this.changed();
  };

  Playground.prototype.select_line = function (line) {
    var all = this.text.value.split("\n");
    var start = 0;
    for (var i = 0; i < line - 1 && i < all.length; i++) {
      start += all[i].length + 1;
    }
    this.text.focus();
    this.text.setSelectionRange(start, start + (all[line - 1] || "").length);
  };

  var drawn = 0;
  Playground.prototype.draw = function (figure, source) {
    var mermaid = window.mermaid;
    if (!mermaid || typeof mermaid.render !== "function") {
      figure.appendChild(el("pre", {}, source));
      return;
    }
    var dark = document.body.getAttribute("data-md-color-scheme") === "slate";
    mermaid.initialize({ startOnLoad: false, theme: dark ? "dark" : "default" });
    mermaid.render("cw-pg-diagram-" + (++drawn), source).then(function (result) {
      var holder = el("div", { "class": "cw-pg-svg" });
      holder.innerHTML = result.svg;  // Mermaid's own SVG, strict mode, escaped labels
      figure.appendChild(holder);
    }, function (error) {
      figure.appendChild(el("p", {}, msg("playground.ui.no-diagram", { error: error.message })));
    });
  };

  Playground.prototype.start = function () {
    var self = this;
    return decodeState(location.hash).then(function (state) {
      if (state) {
        self.state = {};
        Object.keys(DEFAULTS).concat(FIELDS.map(function (f) { return f[0]; }),
                                     ["text", "yaml"])
          .forEach(function (key) {
            if (typeof state[key] === "string") {
              self.state[key] = state[key];
            }
          });
      }
      self.show();
      self.run();
    });
  };

  function mount(host) {
    if (host.__chainwalkPlayground) {
      return host.__chainwalkPlayground;
    }
    if (!document.querySelector("link[data-chainwalk-playground]")) {
      var style = el("link", { rel: "stylesheet", "data-chainwalk-playground": "",
                               href: new URL("playground.css", base).href });
      document.head.appendChild(style);
    }
    var ready = manifest ? Promise.resolve() : Promise.all([
      fetchJson("manifest.json"), fetchJson("rules.json")
    ]).then(function (loaded) {
      manifest = loaded[0];
      DEFAULTS = manifest.defaults || {};
      first = manifest.first || null;
      var messages = manifest.messages || {};
      words = messages[document.documentElement.lang] || messages.en || {};
      rulesFiles = loaded[1];
      rulesets = {};
      Object.keys(rulesFiles).forEach(function (path) {
        var match = /^rulesets\/([^/]+\.(?:rules|nft))$/.exec(path);
        if (match) {
          rulesets[match[1]] = rulesFiles[path];
        }
      });
    });
    if (!engine) {
      startEngine();  // stopped since (its start failed)
    }
    return ready.then(function () {
      var playground = new Playground(host);
      host.__chainwalkPlayground = playground;
      // A link to another state opened in this tab: only the fragment changes.
      window.addEventListener("hashchange", function () {
        if (host.isConnected && location.hash !== playground.written) {
          playground.start();
        }
      });
      window.chainwalkPlayground.current = playground;
      return playground.start();
    }).catch(function (error) {
      // (Before the page's words may have loaded: in English.)
      host.textContent = "The playground cannot start: " + error.message;
    });
  }

  startEngine();  // Pyodide's download and compile, while the page loads
  window.chainwalkPlayground = {
    mount: mount,
    current: null,
    engineReady: function () { return engine ? engine.ready : Promise.reject(new Error("no engine")); },
    timings: function () { return Object.assign({}, timings); },
    encodeState: encodeState
  };
})();
