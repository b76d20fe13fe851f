// Types of scripts/build-web.mjs for the TypeScript that bundles extra pages (bench/web.ts).
export interface BuiltAsset {
  file: string;
  type: string;
  body: string;
  /** Gzipped size (level 9), bytes. */
  gzip: number;
}
export const WEB_ENTRIES: Record<string, string>;
export function buildWeb(root: string, opts?: { entries?: Record<string, string>; outDir?: string; embed?: boolean }): Promise<Record<string, BuiltAsset>>;
