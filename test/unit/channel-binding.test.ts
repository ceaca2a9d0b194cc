import { describe, expect, it } from 'vitest';
import { ChannelInterceptedError, fingerprintOfSdp } from '../../src/core/channel-binding.ts';
import { WosError } from '../../src/core/errors.ts';
import { newMeshKey } from '../../src/core/identity.ts';
import { establishLink } from '../../src/core/link.ts';
import { systemClock } from '../../src/core/clock.ts';
import { MemoryNetwork } from '../../src/core/testing/memory-network.ts';
import { linkContext, outcome, random } from '../support/link-context.ts';

// The shape of a Chromium data-channel offer (values shortened where they do not matter).
const CHROMIUM_OFFER = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'a=extmap-allow-mixed',
  'a=msid-semantic: WMS',
  'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:Qm3x',
  'a=ice-pwd:6mbe2eQ1iMZ3jA0bO6w4Vv0F',
  'a=ice-options:trickle',
  'a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08',
  'a=setup:actpass',
  'a=mid:0',
  'a=sctp-port:5000',
  'a=max-message-size:262144',
  '',
].join('\r\n');

describe('channel binding', () => {
  it('reads the DTLS certificate fingerprint from an SDP, lower-cased with its algorithm', () => {
    expect(fingerprintOfSdp(CHROMIUM_OFFER, 'local')).toBe(
      'sha-256 6b:8b:f0:65:5f:78:e2:51:3b:ac:6f:f3:3f:46:1b:35:dc:b8:5f:64:1a:24:c2:43:f0:a1:58:d0:a1:2c:19:08',
    );
  });

  it('refuses a description without one, naming which side', () => {
    for (const sdp of [undefined, '', CHROMIUM_OFFER.replace(/a=fingerprint:[^\r]*\r\n/, '')]) {
      let err: unknown;
      try {
        fingerprintOfSdp(sdp, 'remote');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(WosError);
      expect((err as WosError).code).toBe('CHANNEL_BINDING_UNAVAILABLE');
      expect((err as WosError).message).toMatch(/remote session description/);
    }
  });

  it('reads a session-level line (as Firefox writes it) and repeats of the same fingerprint', () => {
    const line = CHROMIUM_OFFER.match(/a=fingerprint:[^\r]*/)![0];
    const firefox = CHROMIUM_OFFER.replace(`${line}\r\n`, '').replace(
      't=0 0\r\n',
      `t=0 0\r\n${line}\r\n`,
    );
    const both = CHROMIUM_OFFER.replace('t=0 0\r\n', `t=0 0\r\n${line.toLowerCase()}\r\n`);
    const want = fingerprintOfSdp(CHROMIUM_OFFER, 'local');
    expect(fingerprintOfSdp(firefox, 'remote')).toBe(want);
    expect(fingerprintOfSdp(both, 'remote')).toBe(want);
  });

  it("refuses two different fingerprints: a relay could add its own beside the peer's", () => {
    const line = CHROMIUM_OFFER.match(/a=fingerprint:[^\r]*/)![0];
    const other = line.replace('6B:8B', '00:11');
    for (const extra of [`${other}\r\n${line}`, `${line}\r\n${other}`]) {
      const sdp = CHROMIUM_OFFER.replace(line, extra);
      expect(() => fingerprintOfSdp(sdp, 'remote')).toThrow(/lists 2 different DTLS certificate/);
    }
  });

  it('a channel without a binding: the peer is told CHANNEL_BINDING_UNAVAILABLE, no link', async () => {
    const net = new MemoryNetwork(systemClock, { latencyMs: 1 });
    const a = net.transport('aaaaaaaaaaaaaaaa-aaaaaaaa');
    const b = net.transport('bbbbbbbbbbbbbbbb-bbbbbbbb');
    const accepted = new Promise<Awaited<ReturnType<typeof a.dial>>>((r) => (b.onChannel = r));
    const ca = await a.dial(b.id);
    const cb = await accepted;
    Object.defineProperty(ca, 'binding', {
      get: () => fingerprintOfSdp('v=0', 'local'),
    });
    const meshKey = newMeshKey(random);
    const [ctxA, ctxB] = [await linkContext(meshKey), await linkContext(meshKey)];
    const results = await Promise.all([
      outcome(establishLink(ca, ctxA)),
      outcome(establishLink(cb, ctxB)),
    ]);
    expect(results).toEqual(['CHANNEL_BINDING_UNAVAILABLE', 'CHANNEL_BINDING_UNAVAILABLE']);
    a.close();
    b.close();
  });

  it('says what an interception looks like', () => {
    const e = new ChannelInterceptedError(
      'peer-x',
      ['sha-256 aa', 'sha-256 bb'],
      ['sha-256 cc', 'sha-256 bb'],
    );
    expect(e.code).toBe('CHANNEL_INTERCEPTED');
    expect(e.message).toMatch(/peer-x.*relayed.*sha-256 aa.*sha-256 cc.*signaling server/s);
  });
});
