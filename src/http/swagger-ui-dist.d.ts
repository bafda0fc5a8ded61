/**
 * The swagger-ui-dist files ./swagger-ui.ts imports `with { type: "file" }`:
 * Bun gives each import the file's path (inside the executable once
 * compiled), never the module itself.
 */
declare module "swagger-ui-dist/swagger-ui-bundle.js" {
  const path: string;
  export default path;
}
declare module "swagger-ui-dist/swagger-ui.css" {
  const path: string;
  export default path;
}
declare module "swagger-ui-dist/favicon-32x32.png" {
  const path: string;
  export default path;
}
