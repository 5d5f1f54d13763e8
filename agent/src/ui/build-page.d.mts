export interface PageParts {
  html: string;
  css: string;
  js: string;
}
export function buildPage(): Promise<PageParts>;
