// hls.js's light build ("hls.js/light") has the types of the full build.
declare module "hls.js/light" {
  export * from "hls.js";
  export { default } from "hls.js";
}
