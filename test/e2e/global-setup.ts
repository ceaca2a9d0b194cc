import { assertLoopbackOnly } from '../support/netns.ts';

/** Refuses to run the browser suite anywhere but a loopback-only namespace. */
export default function setup(): void {
  assertLoopbackOnly();
}
