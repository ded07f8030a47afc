/**
 * The operator dashboard (/ui) and the interactive API docs (/docs): plain
 * static files, no build step, no CDN. Neither needs an API key: the pages
 * hold no data, and their API calls carry the key the operator typed.
 *
 * tsc does not copy non-TS files into dist/, so the static folder is resolved
 * from the package root (as lua/ is): this works from src/ (tsx) and from
 * dist/ alike, and the Dockerfile copies src/ui/static.
 *
 * Helmet's default CSP is replaced on these pages only, by one that allows
 * nothing but this origin: scripts, styles and fetches stay same-origin.
 */
import path from 'node:path';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import helmet from 'helmet';

export const UI_STATIC_DIR = path.resolve(__dirname, '..', '..', 'src', 'ui', 'static');
export const SWAGGER_UI_DIR = path.dirname(require.resolve('swagger-ui-dist/package.json'));

/** Path prefixes whose every file is a public GET (the route table treats them as routes). */
export const STATIC_PREFIXES = ['/ui/', '/docs/assets/'] as const;

/** The swagger-ui-dist files /docs uses (the package's own index.html would load the petstore). */
const SWAGGER_FILES = new Set(['swagger-ui.css', 'swagger-ui.css.map', 'swagger-ui-bundle.js', 'swagger-ui-bundle.js.map', 'favicon-16x16.png', 'favicon-32x32.png']);

const BASE_CSP = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'"],
  connectSrc: ["'self'"],
  baseUri: ["'none'"],
  formAction: ["'none'"],
  frameAncestors: ["'none'"],
};

const uiCsp = helmet.contentSecurityPolicy({ useDefaults: false, directives: BASE_CSP });
// Swagger UI sets style attributes in the markup it renders.
const docsCsp = helmet.contentSecurityPolicy({ useDefaults: false, directives: { ...BASE_CSP, styleSrc: ["'self'", "'unsafe-inline'"] } });

const noCache = (res: Response): void => {
  res.setHeader('Cache-Control', 'no-cache');
};

/**
 * GET /x/ serves the same page as GET /x, and the page's relative URLs would
 * then point one level too deep: send the browser to /x instead.
 */
function page(file: string, name: string) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (req.path.endsWith('/')) {
      res.redirect(301, `../${name}`);
      return;
    }
    noCache(res);
    res.sendFile(file, { dotfiles: 'deny' }, (err) => {
      if (err) next(err);
    });
  };
}

/** /ui and /ui/* (dashboard). */
export function uiRouter(): Router {
  const r = express.Router({ strict: false });
  r.use('/ui', uiCsp);
  r.get('/ui', page(path.join(UI_STATIC_DIR, 'ui', 'index.html'), 'ui'));
  r.use('/ui', express.static(path.join(UI_STATIC_DIR, 'ui'), { index: false, redirect: false, dotfiles: 'deny', setHeaders: noCache }));
  return r;
}

/** /docs (Swagger UI page) and /docs/assets/* (swagger-ui-dist files and our initializer). */
export function docsRouter(): Router {
  const r = express.Router({ strict: false });
  r.use('/docs', docsCsp);
  r.get('/docs', page(path.join(UI_STATIC_DIR, 'docs', 'index.html'), 'docs'));
  r.get('/docs/assets/:file', (req, res, next) => {
    const file = req.params.file;
    const dir = SWAGGER_FILES.has(file) ? SWAGGER_UI_DIR : file === 'init.js' ? path.join(UI_STATIC_DIR, 'docs') : undefined;
    if (dir === undefined) return next(); // → 404
    noCache(res);
    res.sendFile(path.join(dir, file), (err) => {
      if (err) next(err);
    });
  });
  return r;
}
