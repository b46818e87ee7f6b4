// Vite's client types: `import url from '…?url'` gives the served URL of an asset (onnxruntime-web's WASM).
/// <reference types="vite/client" />
