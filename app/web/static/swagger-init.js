// Starts Swagger UI on /docs. A file, not an inline <script>, so the page runs under the service's
// Content-Security-Policy (script-src 'self'). The OpenAPI URL comes from the page's
// data-openapi-url; validatorUrl is off so the page never calls validator.swagger.io.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset]
  });
})();
