// Live regions: an element with data-live="<url>" has its content replaced by the HTML
// fragment at that URL every two seconds, until the fragment holds an element marked
// data-final (the job or reload ended) — unless the element says data-live-forever.
// A 401 (signed out elsewhere, or the session expired) stops polling and says so.
(function () {
  "use strict";
  var INTERVAL_MS = 2000;

  function poll(region) {
    var url = region.getAttribute("data-live");
    var forever = region.hasAttribute("data-live-forever");
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) {
          if (response.status === 401) {
            region.insertAdjacentHTML(
              "afterbegin",
              '<p class="alert" role="alert">Your session ended: sign in again to see live progress.</p>'
            );
            return null;
          }
          return response.ok ? response.text() : "";
        })
        .then(function (html) {
          if (html === null) {
            return;
          }
          if (html) {
            region.innerHTML = html;
          }
          if (forever || !region.querySelector("[data-final]")) {
            window.setTimeout(tick, INTERVAL_MS);
          }
        })
        .catch(function () {
          window.setTimeout(tick, INTERVAL_MS * 2);
        });
    }
    if (forever || !region.querySelector("[data-final]")) {
      window.setTimeout(tick, INTERVAL_MS);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var regions = document.querySelectorAll("[data-live]");
    for (var i = 0; i < regions.length; i++) {
      poll(regions[i]);
    }
  });
})();
