/**
 * The passive side of the spike's test protocol, as plain-JS *source text* so the
 * very same code runs in Node (evaluated there) and in the Chromium page
 * (page.addScriptTag({ content })). It defines `globalThis.spikeAttachResponder(conn, who)`
 * for a PeerJS DataConnection opened with `serialization: 'raw'`.
 *
 * Every message is binary; byte 0 is the tag:
 *   1 HELLO      responder -> client on open: utf8 "hello from <who>" (responder-initiated send)
 *   2 ECHO_REQ   client -> responder: any payload; answered with 3 ECHO_RES, same bytes
 *   4 BULK       data; counted by the receiver
 *   5 BULK_END   end of a bulk run; the responder answers 6 BULK_ACK {f64 bytes, u32 msgs}
 *   7 PULL       {u32 count, u32 size, u32 highWater}: responder sends count x BULK(size)
 *                with bufferedAmount polling, then BULK_END {f64 bytes, u32 msgs}
 *   8 INFO_REQ   answered with 9 INFO_RES utf8 JSON (received data types, sctp max size, ua)
 *  10 BIG_REQ    {u32 size}: responder tries to send one 11 BIG_RES message of that size
 *                (pattern bytes); on a send exception it answers 12 SEND_ERROR utf8 text
 *
 * Replies are queued until the connection reports `open`: with @roamhq/wrtc the
 * answering side can get `data` before `open` (seen ~1-4 % of connections under
 * load), and peerjs' conn.send() refuses to send before `open`.
 */
export const RESPONDER_SOURCE = String.raw`
(function () {
  'use strict';
  function pattern(size, tag) {
    var b = new Uint8Array(size);
    b[0] = tag;
    for (var i = 1; i < size; i++) b[i] = (i * 31 + 7) & 255;
    return b;
  }
  function typeName(d) {
    if (d === null || d === undefined) return String(d);
    if (typeof d === 'string') return 'string';
    var n = Object.prototype.toString.call(d).slice(8, -1);
    if (d.constructor && d.constructor.name && d.constructor.name !== n) n += '/' + d.constructor.name;
    return n;
  }
  function asBytes(d) {
    if (d instanceof ArrayBuffer) return new Uint8Array(d);
    if (ArrayBuffer.isView(d)) return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    throw new Error('non-binary message: ' + typeName(d));
  }
  function sleep(ms) {
    return new Promise(function (r) { setTimeout(r, ms); });
  }
  globalThis.spikeAttachResponder = function (conn, who) {
    var pending = [];
    var types = {};
    var bulkBytes = 0;
    var bulkMsgs = 0;
    var dataBeforeOpen = 0;
    function send(u8) {
      if (conn.open) conn.send(u8);
      else pending.push(u8);
    }
    function onOpen() {
      var hello = new TextEncoder().encode('_hello from ' + who);
      hello[0] = 1;
      conn.send(hello);
      while (pending.length) conn.send(pending.shift());
    }
    if (conn.open) onOpen();
    else conn.on('open', onOpen);
    async function pull(count, size, highWater) {
      var dc = conn.dataChannel;
      var msg = pattern(size, 4);
      var sent = 0;
      for (var i = 0; i < count; i++) {
        while (dc.bufferedAmount + size > highWater) await sleep(1);
        conn.send(msg);
        sent += size;
      }
      var end = new Uint8Array(13);
      var v = new DataView(end.buffer);
      end[0] = 5;
      v.setFloat64(1, sent, true);
      v.setUint32(9, count, true);
      conn.send(end);
    }
    conn.on('data', function (d) {
      if (!conn.open) dataBeforeOpen++;
      var t = typeName(d);
      types[t] = (types[t] || 0) + 1;
      var u8 = asBytes(d);
      var v = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
      switch (u8[0]) {
        case 2: {
          var copy = new Uint8Array(u8);
          copy[0] = 3;
          send(copy);
          break;
        }
        case 4:
          bulkBytes += u8.byteLength;
          bulkMsgs++;
          break;
        case 5: {
          var ack = new Uint8Array(13);
          var av = new DataView(ack.buffer);
          ack[0] = 6;
          av.setFloat64(1, bulkBytes, true);
          av.setUint32(9, bulkMsgs, true);
          bulkBytes = 0;
          bulkMsgs = 0;
          send(ack);
          break;
        }
        case 7:
          pull(v.getUint32(1, true), v.getUint32(5, true), v.getUint32(9, true)).catch(function (e) {
            var err = new TextEncoder().encode('_' + String(e));
            err[0] = 12;
            send(err);
          });
          break;
        case 8: {
          var pc = conn.peerConnection;
          var info = {
            who: who,
            receivedTypes: types,
            dataBeforeOpen: dataBeforeOpen,
            sctpMaxMessageSize: pc && pc.sctp ? pc.sctp.maxMessageSize : null,
            binaryType: conn.dataChannel ? conn.dataChannel.binaryType : null,
            userAgent: typeof navigator !== 'undefined' ? navigator.userAgent : null,
          };
          var j = new TextEncoder().encode('_' + JSON.stringify(info));
          j[0] = 9;
          send(j);
          break;
        }
        case 10: {
          var size = v.getUint32(1, true);
          try {
            conn.dataChannel.send(pattern(size, 11));
          } catch (e) {
            var m = new TextEncoder().encode('_' + String(e));
            m[0] = 12;
            send(m);
          }
          break;
        }
      }
    });
  };
})();
`;
