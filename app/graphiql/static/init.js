// Boots GraphiQL for the paygate page (app/graphiql/__init__.py renders that page).
// Loaded as an external script so the page needs no inline script under its CSP; the
// settings come from the <script type="application/json" id="graphiql-config"> data block.
(function () {
  "use strict";

  var root = document.getElementById("graphiql");
  var configElement = document.getElementById("graphiql-config");
  if (!root || !configElement) {
    return;
  }

  function fail(message) {
    root.className = "graphiql-boot graphiql-boot-error";
    root.textContent = message;
  }

  if (!window.React || !window.ReactDOM || !window.GraphiQL) {
    fail("GraphiQL could not load its scripts. Run scripts/build-graphiql on the server.");
    return;
  }

  var config;
  try {
    config = JSON.parse(configElement.textContent || "{}");
  } catch (error) {
    fail("GraphiQL settings are not valid JSON: " + error);
    return;
  }

  // POSTs {"query", "variables", "operationName"} as JSON: the toolkit fetcher always sends
  // "content-type: application/json" itself (adding our own would duplicate the header).
  var fetcher = window.GraphiQL.createFetcher({ url: config.endpoint });

  root.className = "";
  root.textContent = "";
  window.ReactDOM.createRoot(root).render(
    window.React.createElement(window.GraphiQL, {
      fetcher: fetcher,
      defaultQuery: config.defaultQuery,
      isHeadersEditorEnabled: true,
      // Headers often hold credentials: keep them out of localStorage.
      shouldPersistHeaders: false,
    })
  );
})();
