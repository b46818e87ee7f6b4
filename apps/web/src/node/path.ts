/** `node:path` for the browser (a Vite alias): pathe, POSIX paths as the virtual files use. */
export * from 'pathe';
export { default } from 'pathe';
