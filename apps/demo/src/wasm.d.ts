// esbuild's `file` loader turns an imported .wasm file into its URL; Vite's `?url` suffix does the same.
declare module '*.wasm' {
  const url: string;
  export default url;
}
declare module '*?url' {
  const url: string;
  export default url;
}
