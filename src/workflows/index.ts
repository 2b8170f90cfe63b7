// Entry point of the workflow bundle: every workflow type the worker serves.
export { chatWorkflow } from './chat.ts';
