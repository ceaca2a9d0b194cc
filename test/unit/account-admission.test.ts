import { describe, expect, it } from 'vitest';
import type { Certificate } from '../../src/core/account/certificate.ts';
import { certificateAdmission } from '../../src/core/account/certificate-admission.ts';
import { openAdmission, type Admission } from '../../src/core/admission.ts';
import { accountWorld, ids } from './account-mesh-helpers.ts';

/** Shows `cert` in its hello and admits everyone (a node that does not check others). */
function showing(cert: Certificate): Admission {
  return { certificate: () => cert, decide: openAdmission.decide };
}

describe('personal mesh admission', () => {
  it('devices with certificates of the account form the mesh and list each other', async () => {
    const w = await accountWorld(1);
    const a = await w.member(await w.device('Laptop'));
    await w.clock.advance(50);
    const b = await w.member(await w.device('Phone'));
    await w.clock.advance(3000);
    expect(ids(a.node)).toEqual([a.node.id, b.node.id].sort());
    expect(ids(b.node)).toEqual([a.node.id, b.node.id].sort());
    expect(a.errors).toEqual([]);
    const list = a.service.devices();
    expect(list.map((d) => [d.name, d.kind, d.self, d.online])).toEqual([
      ['Laptop', 'tab', true, true],
      ['Phone', 'tab', false, true],
    ]);
    expect(list[1]!.nodes.map((n) => n.id)).toEqual([b.node.id]);
    expect(list[1]!.nodes[0]!.resources?.platform).toBe('sim');
    expect(list[1]!.lastSeen).toBeGreaterThan(w.clock.now() - 1000);
  });

  it('refuses a node without a certificate: CERT_MISSING on both sides', async () => {
    const w = await accountWorld(2);
    const a = await w.member(await w.device('Laptop'));
    await w.clock.advance(100);
    const bare = await w.outsider();
    await w.clock.advance(3000);
    expect(bare.errors).toContain('CERT_MISSING');
    expect(a.errors).toContain('CERT_MISSING');
    expect(ids(a.node)).toEqual([a.node.id]);
    expect(ids(bare.node)).toEqual([bare.node.id]);
    // It keeps being refused when it re-dials (every 5 s).
    await w.clock.advance(6000);
    expect(ids(a.node)).toEqual([a.node.id]);
    expect(a.node.stats.linksOpened).toBe(0);
  });

  it('refuses a certificate of another account: CERT_WRONG_ACCOUNT', async () => {
    const w = await accountWorld(3);
    const a = await w.member(await w.device('Laptop'));
    await w.clock.advance(100);
    const foreign = await w.device('Intruder', w.other);
    const x = await w.outsider(showing(foreign.certificate), foreign.identity);
    await w.clock.advance(3000);
    expect(x.errors).toContain('CERT_WRONG_ACCOUNT');
    expect(ids(a.node)).toEqual([a.node.id]);
    expect(ids(x.node)).toEqual([x.node.id]);
  });

  it('refuses a valid certificate replayed by another device key: CERT_WRONG_DEVICE', async () => {
    const w = await accountWorld(4);
    const laptop = await w.device('Laptop');
    const a = await w.member(laptop);
    await w.clock.advance(100);
    // Another device copies the laptop's certificate (it cannot sign with the laptop's key).
    const x = await w.outsider(showing(laptop.certificate));
    await w.clock.advance(3000);
    expect(x.errors).toContain('CERT_WRONG_DEVICE');
    expect(ids(a.node)).toEqual([a.node.id]);
  });

  it('refuses an altered certificate: CERT_BAD_SIGNATURE', async () => {
    const w = await accountWorld(5);
    const a = await w.member(await w.device('Laptop'));
    await w.clock.advance(100);
    const d = await w.device('Phone');
    const altered = { ...d.certificate, name: 'Not a phone' };
    const x = await w.outsider(showing(altered), d.identity);
    await w.clock.advance(3000);
    expect(x.errors).toContain('CERT_BAD_SIGNATURE');
    expect(ids(a.node)).toEqual([a.node.id]);
  });

  it('a malformed certificate in a hello never reaches the admission', async () => {
    const w = await accountWorld(6);
    const decided: unknown[] = [];
    const adm = certificateAdmission({
      accountKey: w.account.publicKey,
      subtle: w.subtle,
      now: () => w.clock.now(),
      revocations: () => undefined,
    });
    const spy: Admission = {
      certificate: adm.certificate,
      decide: (p) => {
        decided.push(p.certificate);
        return adm.decide(p);
      },
    };
    const a = await w.outsider(spy);
    await w.clock.advance(100);
    const d = await w.device('Phone');
    const broken = { ...d.certificate, sig: 'x' } as Certificate;
    const x = await w.outsider(showing(broken), d.identity);
    await w.clock.advance(3000);
    expect(decided).toEqual([]);
    expect(x.errors.length + a.errors.length).toBeGreaterThan(0);
    expect(ids(a.node)).toEqual([a.node.id]);
  });

  it('plain meshes still admit everyone, with or without a certificate', async () => {
    const w = await accountWorld(7);
    const d = await w.device('Phone');
    const plain = [await w.outsider(), await w.outsider(showing(d.certificate), d.identity)];
    await w.clock.advance(50);
    plain.push(await w.outsider());
    await w.clock.advance(3000);
    const all = plain.map((p) => p.node.id).sort();
    for (const p of plain) {
      expect(ids(p.node)).toEqual(all);
      expect(p.errors).toEqual([]);
    }
  });
});
