// Shared by the peer workflow (sandboxed) and the bench's subscribers: no imports on purpose.
export const END_OF_STREAM = '<end>';
export const SUBSCRIBER_DONE = 'subscriberDone';
export const TOKENS_TOPIC = 'tokens';
