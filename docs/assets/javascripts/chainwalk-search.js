/* Option-like search queries for Material's search.
 *
 * Material hands the search box's text to lunr, whose query syntax reads a leading "-"
 * as "must not contain": "--uid-owner 1337" then asks for pages without "uid" and finds
 * nothing. On this site a leading dash is an iptables option, never an exclusion, so
 * the text Material reads from the box (its value) has each word's leading dashes
 * removed; the box itself still shows what the reader typed.
 */
(function () {
  "use strict";
  var native = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value");
  function withoutLeadingDashes(text) {
    return text.replace(/(^|\s)-+(?=[^\s-])/g, "$1");
  }
  function adapt() {
    var input = document.querySelector("input.md-search__input");
    if (!input || input.__chainwalk) {
      return;
    }
    input.__chainwalk = true;
    Object.defineProperty(input, "value", {
      configurable: true,
      get: function () { return withoutLeadingDashes(native.get.call(this)); },
      set: function (text) { native.set.call(this, text); }
    });
  }
  adapt();
  // Material's instant navigation may replace the header; adapt the new search box too.
  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(adapt);
  }
})();
