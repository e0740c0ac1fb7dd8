/* chainwalk's diagrams in the browser: Mermaid only where needed, its settings, and a
 * full-screen viewer with pan and zoom. Served by the site itself (no CDN); the
 * chainwalk plugin adds this script to every page.
 *
 * Loading. Material renders each <pre class="mermaid"> with the global `mermaid`, and
 * fetches Mermaid from a CDN when there is none. mkdocs-mermaid2 adds the site's own
 * js/mermaid.min.js only to pages with diagrams, so a page without diagrams never
 * downloads it. Here `mermaid` is a small stand-in until the real one arrives: when
 * Material asks it to render (a page with diagrams reached by instant navigation), it
 * loads js/mermaid.min.js from the site and hands the work over.
 *
 * Settings, added to whatever Material passes to initialize():
 *  - securityLevel "strict": no HTML or scripts from diagram text (every label is
 *    escaped already; this is the second fence);
 *  - CSS for sequence-diagram arrowheads: Mermaid 11 prefixes marker ids
 *    ("...-arrowhead"), so Material's "#arrowhead" rule no longer matches and the
 *    arrowheads stay black on the dark palette;
 *  - sequence diagrams scale to the text column (they are drawn to fit it).
 *
 * Viewer. Each rendered diagram opens full screen on a click, Enter or Space: drag or
 * the arrow keys pan, the wheel, a pinch, + and - zoom, 0 fits, Escape closes. It
 * opens at the diagram's natural size (16 px text) when fitting would make text
 * smaller than 11 px, as on a phone. The pan and zoom library (svg-pan-zoom, from npm)
 * is loaded the first time a viewer opens.
 */
(function () {
  "use strict";
  if (window.__chainwalkDiagrams) {
    return;
  }
  window.__chainwalkDiagrams = true;

  var here = document.currentScript && document.currentScript.src;
  var root = here ? new URL("../../", here) : new URL(".", location.href);
  var MIN_TEXT_PX = 11;

  function loadScript(path) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = new URL(path, root).href;
      script.onload = resolve;
      script.onerror = function () {
        reject(new Error("chainwalk: cannot load " + script.src));
      };
      document.head.appendChild(script);
    });
  }

  // -- Mermaid ---------------------------------------------------------------------
  var arrowheads =
    "marker[id$='-arrowhead'] path,marker[id$='-crosshead'] path," +
    "marker[id$='-filled-head'] path{fill:var(--md-mermaid-sequence-message-line-color," +
    "currentColor)!important;stroke:var(--md-mermaid-sequence-message-line-color," +
    "currentColor)!important}" +
    "marker[id$='-sequencenumber']{fill:var(--md-mermaid-sequence-number-bg-color)!important}";

  function settings(config) {
    var merged = Object.assign({}, config || {});
    merged.securityLevel = "strict";
    merged.startOnLoad = false;
    merged.themeCSS = (merged.themeCSS || "") + arrowheads;
    merged.sequence = Object.assign({}, merged.sequence || {}, {
      useMaxWidth: true,
      actorMargin: 24,
      width: 120,
      noteMargin: 6,
      wrap: false
    });
    return merged;
  }

  var real = null;
  var asked = null; // the configuration Material gave the stand-in
  var initialized = false;

  function adopt(mermaid) {
    if (!mermaid || mermaid.__chainwalk) {
      return mermaid;
    }
    var initialize = mermaid.initialize.bind(mermaid);
    var render = mermaid.render.bind(mermaid);
    mermaid.initialize = function (config) {
      initialized = true;
      return initialize(settings(config));
    };
    // Material calls the returned fn with the shadow root it put the SVG in.
    mermaid.render = function (id, text) {
      return render(id, text).then(function (result) {
        var bind = result.fn;
        return Object.assign({}, result, {
          fn: function (shadow) {
            if (bind) {
              bind(shadow);
            }
            offerViewer(shadow);
          }
        });
      });
    };
    mermaid.__chainwalk = true;
    return mermaid;
  }

  var loading = null;
  function loadMermaid() {
    if (!loading) {
      loading = (real ? Promise.resolve() : loadScript("js/mermaid.min.js")).then(function () {
        if (!initialized && asked) {
          real.initialize(asked);
        }
        return real;
      });
    }
    return loading;
  }

  var standIn = {
    initialize: function (config) {
      asked = config;
    },
    render: function (id, text) {
      return loadMermaid().then(function (mermaid) {
        return mermaid.render(id, text);
      });
    }
  };

  if (window.mermaid && typeof window.mermaid.initialize === "function") {
    real = adopt(window.mermaid);
  }
  Object.defineProperty(window, "mermaid", {
    configurable: true,
    get: function () {
      return real || standIn;
    },
    set: function (value) {
      real = adopt(value);
    }
  });

  // -- Viewer ----------------------------------------------------------------------
  function offerViewer(shadow) {
    var host = shadow.host;
    var svg = shadow.querySelector("svg");
    if (!host || !svg) {
      return;
    }
    host.classList.add("chainwalk-diagram");
    host.setAttribute("tabindex", "0");
    host.setAttribute("role", "button");
    host.setAttribute("aria-label", "Open the diagram full screen (pan and zoom)");
    host.setAttribute("title", "Open full screen: pan and zoom");
    var open = function () {
      openViewer(svg, host);
    };
    host.addEventListener("click", open);
    host.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        open();
      }
    });
  }

  var panZoom = null;
  function loadPanZoom() {
    if (!panZoom) {
      panZoom = window.svgPanZoom ? Promise.resolve() : loadScript("js/svg-pan-zoom.min.js");
    }
    return panZoom.then(function () {
      return window.svgPanZoom;
    });
  }

  function button(label, text, action) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "chainwalk-viewer__button";
    b.setAttribute("aria-label", label);
    b.title = label;
    b.textContent = text;
    b.addEventListener("click", function (event) {
      event.stopPropagation();
      action();
    });
    return b;
  }

  function smallestText(svg) {
    var smallest = Infinity;
    svg.querySelectorAll("text, foreignObject div, foreignObject span").forEach(function (t) {
      if (t.textContent.trim()) {
        smallest = Math.min(smallest, parseFloat(getComputedStyle(t).fontSize) || Infinity);
      }
    });
    return smallest === Infinity ? 16 : smallest;
  }

  function openViewer(original, host) {
    var overlay = document.createElement("div");
    overlay.className = "chainwalk-viewer";
    overlay.setAttribute("role", "dialog");
    overlay.setAttribute("aria-modal", "true");
    overlay.setAttribute("aria-label", "Diagram, full screen");
    var stage = document.createElement("div");
    stage.className = "chainwalk-viewer__stage";
    var svg = original.cloneNode(true);
    var box = original.viewBox.baseVal;
    svg.removeAttribute("style");
    svg.setAttribute("width", "100%");
    svg.setAttribute("height", "100%");
    stage.appendChild(svg);
    var bar = document.createElement("div");
    bar.className = "chainwalk-viewer__bar";
    overlay.appendChild(stage);
    overlay.appendChild(bar);
    document.body.appendChild(overlay);
    document.documentElement.classList.add("chainwalk-viewer-open");

    var instance = null;
    var previous = document.activeElement;
    function close() {
      if (instance) {
        instance.destroy();
      }
      overlay.remove();
      document.documentElement.classList.remove("chainwalk-viewer-open");
      document.removeEventListener("keydown", keys, true);
      (previous || host).focus();
    }
    function keys(event) {
      if (!instance && event.key !== "Escape") {
        return;
      }
      var step = 60;
      var handled = true;
      switch (event.key) {
        case "Escape": close(); break;
        case "+": case "=": instance.zoomIn(); break;
        case "-": case "_": instance.zoomOut(); break;
        case "0": instance.resetZoom(); instance.fit(); instance.center(); break;
        case "ArrowLeft": instance.panBy({ x: step, y: 0 }); break;
        case "ArrowRight": instance.panBy({ x: -step, y: 0 }); break;
        case "ArrowUp": instance.panBy({ x: 0, y: step }); break;
        case "ArrowDown": instance.panBy({ x: 0, y: -step }); break;
        default: handled = false;
      }
      if (handled) {
        event.preventDefault();
        event.stopPropagation();
      }
    }
    document.addEventListener("keydown", keys, true);
    var closer = button("Close (Escape)", "\u2715", close);
    bar.appendChild(button("Zoom in (+)", "+", function () { instance && instance.zoomIn(); }));
    bar.appendChild(button("Zoom out (-)", "\u2212", function () { instance && instance.zoomOut(); }));
    bar.appendChild(button("Fit (0)", "\u2922", function () {
      if (instance) { instance.resetZoom(); instance.fit(); instance.center(); }
    }));
    bar.appendChild(closer);
    closer.focus();

    loadPanZoom().then(function (svgPanZoom) {
      if (!overlay.isConnected) {
        return;
      }
      instance = svgPanZoom(svg, {
        zoomEnabled: true, panEnabled: true, controlIconsEnabled: false,
        dblClickZoomEnabled: true, mouseWheelZoomEnabled: true, preventMouseEventsDefault: true,
        zoomScaleSensitivity: 0.3, minZoom: 0.2, maxZoom: 40, fit: true, center: true
      });
      // Fitted, a label must still read at MIN_TEXT_PX; otherwise show the diagram at
      // its natural size from its top left corner, and let the reader pan.
      var fitted = instance.getSizes().realZoom;
      if (smallestText(svg) * fitted < MIN_TEXT_PX && box && box.width) {
        instance.zoom(1 / fitted);
        var zoom = instance.getSizes().realZoom;
        instance.pan({ x: 8 - box.x * zoom, y: 8 - box.y * zoom });
      }
      overlay.__chainwalkPanZoom = instance;
      pinch(stage, instance);
    }).catch(function (error) {
      console.error(error);
      close();
    });
  }

  // Two fingers zoom about their midpoint (svg-pan-zoom pans with one by itself).
  function pinch(element, instance) {
    var distance = 0;
    function spread(touches) {
      var dx = touches[0].clientX - touches[1].clientX;
      var dy = touches[0].clientY - touches[1].clientY;
      return Math.sqrt(dx * dx + dy * dy);
    }
    element.addEventListener("touchstart", function (event) {
      if (event.touches.length === 2) {
        distance = spread(event.touches);
      }
    }, { passive: true });
    element.addEventListener("touchmove", function (event) {
      if (event.touches.length !== 2 || !distance) {
        return;
      }
      var now = spread(event.touches);
      var rect = element.getBoundingClientRect();
      var point = {
        x: (event.touches[0].clientX + event.touches[1].clientX) / 2 - rect.left,
        y: (event.touches[0].clientY + event.touches[1].clientY) / 2 - rect.top
      };
      instance.zoomAtPointBy(now / distance, point);
      distance = now;
      event.preventDefault();
    }, { passive: false });
    element.addEventListener("touchend", function () {
      distance = 0;
    }, { passive: true });
  }

  // -- Playground: its script (which starts Pyodide) only on the page that has one -----
  // A journey's "try it" link names the playground from the site's root; shown here,
  // since without JavaScript there is no playground to open.
  function mountPlayground() {
    document.querySelectorAll("a[data-chainwalk-try]").forEach(function (link) {
      link.href = new URL(link.getAttribute("data-chainwalk-try"), root).href;
      link.closest(".chainwalk-try").hidden = false;
    });
    var host = document.getElementById("chainwalk-playground");
    if (!host) {
      return;
    }
    (window.chainwalkPlayground ? Promise.resolve()
      : loadScript("assets/chainwalk/playground/playground.js")).then(function () {
      window.chainwalkPlayground.mount(host);
    }).catch(function (error) {
      host.textContent = error.message;
    });
  }
  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(mountPlayground);
  } else {
    document.addEventListener("DOMContentLoaded", mountPlayground);
  }
})();
