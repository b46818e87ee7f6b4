export { type DemoOptions, type DemoResult, formatDemo, runDemo } from './demo.js';
export { buildProgram } from './program.js';
