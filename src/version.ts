// Build-time version string (injected by esbuild; "dev" when run from source).
declare const __SLOWDRIP_VERSION__: string | undefined;

/** The program version, e.g. "0.1.0". */
export const VERSION: string = typeof __SLOWDRIP_VERSION__ === "string" ? __SLOWDRIP_VERSION__ : "0.1.0-dev";
