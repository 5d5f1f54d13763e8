/**
 * The web page's parts. Here empty: agent/build.mjs replaces this module with the built page
 * (agent/src/ui/build-page.mjs), and tests pass the page to buildServer themselves.
 */
export interface PageParts {
  html: string;
  css: string;
  js: string;
}

/** The built page, made when first asked for (the bundle's version inflates it); here none. */
export const loadPage = (): PageParts | null => null;
