declare const __LIFEBOAT_VERSION__: string | undefined;

/** Set by the bundler from package.json; "dev" when running from source. */
export const VERSION: string = typeof __LIFEBOAT_VERSION__ === "string" ? __LIFEBOAT_VERSION__ : "0.0.0-dev";
