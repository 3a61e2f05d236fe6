export { OldestFirst } from './oldest-first.js';
