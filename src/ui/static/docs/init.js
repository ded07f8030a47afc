// Swagger UI on this service's own description; every URL is relative to /docs,
// so the page works behind a port-forward or a path prefix alike.
/* global SwaggerUIBundle */
'use strict';
window.ui = SwaggerUIBundle({
  url: new URL('openapi.json', document.baseURI).href,
  dom_id: '#swagger-ui',
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
  persistAuthorization: false,
  tryItOutEnabled: false,
  validatorUrl: null,
});
