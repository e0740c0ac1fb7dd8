/* The language switch under instant navigation.
 *
 * Each page's switch links to its twin in the other language (overrides/partials/
 * alternate.html writes them: /PAGE/ and /zh/PAGE/). Material's instant navigation
 * replaces the page but not the header, so after each navigation the links are set
 * again from the page now shown, the same way: the path below the site's base, without
 * a language's prefix, under each language's prefix.
 */
(function () {
  "use strict";
  function update() {
    var config = document.getElementById("__config");
    var links = document.querySelectorAll("a.md-select__link[hreflang]");
    if (!config || !links.length) {
      return;
    }
    var base = new URL(JSON.parse(config.textContent).base + "/", location.href);
    if (location.href.indexOf(base.href) !== 0) {
      return;
    }
    var path = location.href.slice(base.href.length).split("#")[0];
    var prefixes = {};
    links.forEach(function (link) {
      var prefix = new URL(link.getAttribute("data-chainwalk-prefix") || "", base.href);
      prefixes[link.hreflang] = prefix.href.slice(base.href.length);
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
  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(update);
  } else {
    update();
  }
})();
