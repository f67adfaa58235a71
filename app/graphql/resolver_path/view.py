"""strawberry's HTTP view of the schema, for what the endpoint passes on: batches, streamed
answers (``@defer``/``@stream``), bodies that are not JSON or not a well-formed operation,
and GraphiQL's page. It executes through the resolver path, like
``app.graphql.resolver_path.handler``, whose answers are the same."""

import orjson
from fastapi import Request
from fastapi.responses import HTMLResponse
from strawberry.fastapi import GraphQLRouter

from app import graphiql
from app.context import RequestContext
from app.graphql.resolver_path.live import LiveTransportWSHandler, LiveWebSocketAdapter
from app.settings import LiveSettings

EXAMPLE_DOCUMENT = """\
# Welcome to paygate. Run (Ctrl-Enter) to list the demo catalog.
# The docs (top icon on the left) describe every type and field.

query Catalog {
  products(first: 10) {
    totalCount
    edges {
      node {
        id
        name
        prices(active: true) {
          id
          lookupKey
          unitAmount { amount currency formatted }
          recurring { interval intervalCount }
          trialPeriodDays
        }
      }
    }
  }
}

# Then create a customer: pick this operation in the run menu.
mutation CreateCustomer {
  createCustomer(input: { email: "ada@example.com", name: "Ada Lovelace", country: "GB" }) {
    customer { id email name country createdAt }
    userErrors { field code message }
  }
}
"""


class PaygateGraphQLRouter(GraphQLRouter[RequestContext, None]):
    """The view at /graphql: answers encoded with orjson, GraphiQL with paygate's page, and
    live subscriptions over WebSocket (graphql-transport-ws only: the older graphql-ws
    protocol is not offered) with paygate's handler (``app.graphql.resolver_path.live``)."""

    graphql_transport_ws_handler_class = LiveTransportWSHandler
    websocket_adapter_class = LiveWebSocketAdapter
    live = LiveSettings()

    def encode_json(self, data: object) -> bytes:
        """Responses with orjson (the same compact JSON as ``json.dumps``, in UTF-8 rather
        than ``\\u`` escapes), several times faster on large results. Requests are still
        read with ``json``, which takes integers of any size."""
        return orjson.dumps(data)

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        page = graphiql.render_page(endpoint=request.url.path, default_query=EXAMPLE_DOCUMENT)
        return HTMLResponse(page, headers={"Content-Security-Policy": graphiql.CSP})
