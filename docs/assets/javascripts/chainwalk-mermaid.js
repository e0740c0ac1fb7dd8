/* Mermaid settings for the chainwalk site, applied to Material's own initialisation.
 *
 * Material (with superfences' fence_mermaid_custom) calls mermaid.initialize() itself,
 * which replaces any earlier configuration. So this wraps initialize() to add, to
 * whatever Material passes:
 *  - securityLevel "strict": no HTML or scripts from diagram text (the diagrams are
 *    generated from files, and every label is escaped, but this is the second fence);
 *  - CSS for sequence-diagram arrowheads: Mermaid 11 prefixes marker ids
 *    ("...-arrowhead"), so Material's "#arrowhead" rule no longer matches and the
 *    arrowheads stay black on the dark palette.
 */
(function () {
  "use strict";
  var mermaid = window.mermaid;
  if (!mermaid || typeof mermaid.initialize !== "function" || mermaid.__chainwalk) {
    return;
  }
  var arrowheads =
    "marker[id$='-arrowhead'] path,marker[id$='-crosshead'] path," +
    "marker[id$='-filled-head'] path{fill:var(--md-mermaid-sequence-message-line-color," +
    "currentColor)!important;stroke:var(--md-mermaid-sequence-message-line-color," +
    "currentColor)!important}" +
    "marker[id$='-sequencenumber']{fill:var(--md-mermaid-sequence-number-bg-color)!important}";
  var initialize = mermaid.initialize.bind(mermaid);
  mermaid.initialize = function (config) {
    var merged = Object.assign({}, config || {});
    merged.securityLevel = "strict";
    merged.startOnLoad = false;
    merged.themeCSS = (merged.themeCSS || "") + arrowheads;
    // Diagrams are drawn to fit the text column (one lifeline per process, short
    // labels), so a slightly wider one is scaled to the column; the full-screen
    // viewer shows any of them at full size.
    merged.sequence = Object.assign({}, merged.sequence || {}, {
      useMaxWidth: true,
      // Tighter than Mermaid's defaults: six participants should not need a wall.
      actorMargin: 24,
      width: 120,
      messageFontSize: 14,
      noteFontSize: 13,
      noteMargin: 6,
      wrap: false
    });
    return initialize(merged);
  };
  mermaid.__chainwalk = true;
})();
