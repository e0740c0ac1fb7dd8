/* The language switch under instant navigation.
 *
 * Each page's switch links to its twin in the other language (overrides/partials/
 * alternate.html writes them: /PAGE/ and /zh/PAGE/). Material's instant navigation
 * replaces the page but not the header, so after each navigation the links are set
 * again from the page now shown, the same way: the path below the site's base, without
 * a language's prefix, under each language's prefix.
 *
 * Switching language loads the page in full, not by instant navigation: the header (its
 * labels, this switch) and the search index (one per language) are the language's own.
 */
(function () {
  "use strict";
  // The site's root, from the page first loaded (the config's base is relative to it,
  // and instant navigation keeps that config).
  var config = document.getElementById("__config");
  var base = config && new URL(JSON.parse(config.textContent).base + "/", location.href);
  function update() {
    var links = document.querySelectorAll("a.md-select__link[hreflang]");
    if (!base || !links.length) {
      return;
    }
    if (location.href.indexOf(base.href) !== 0) {
      return;
    }
    var path = location.href.slice(base.href.length).split("#")[0];
    var prefixes = {};
    links.forEach(function (link) {
      prefixes[link.hreflang] = link.getAttribute("data-chainwalk-prefix") || "";
    });
    Object.keys(prefixes).forEach(function (lang) {
      var prefix = prefixes[lang];
      if (prefix && path.indexOf(prefix) === 0) {
        path = path.slice(prefix.length);
      }
    });
    links.forEach(function (link) {
      link.href = base.href + prefixes[link.hreflang] + path;
    });
  }
  document.addEventListener("click", function (event) {
    var link = event.target instanceof Element && event.target.closest("a.md-select__link");
    if (link && !event.metaKey && !event.ctrlKey && !event.shiftKey) {
      event.preventDefault();
      event.stopPropagation();
      location.assign(link.href);
    }
  }, true);
  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(update);
  } else {
    update();
  }
})();
