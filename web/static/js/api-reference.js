// The API reference page: Swagger UI (from npm, served locally) over /api/v1/openapi.json.
(function () {
  var node = document.getElementById("reference");
  window.SwaggerUIBundle({ url: node.getAttribute("data-spec"), domNode: node, deepLinking: true,
                           tryItOutEnabled: false });
})();
