/**
 * Counters and gauges of the signaling server, rendered as Prometheus text exposition
 * (`GET /metrics`) or as a plain snapshot (`handle.metrics()`).
 */

/** Every reason a request, websocket or websocket message can be rejected for. */
export const REJECT_REASONS = [
  // HTTP (the lowercased error code)
  'bad_request',
  'malformed_json',
  'unsupported_media_type',
  'payload_too_large',
  'rate_limited',
  'invalid_token',
  'peer_not_connected',
  'mesh_full',
  'too_many_meshes',
  // websocket connects
  'ws_rate_limited',
  'ws_too_many_sockets',
  'ws_bad_params',
  'ws_invalid_key',
  'ws_id_taken',
  'ws_server_full',
  'ws_bad_path',
  'ws_shutting_down',
  // websocket messages
  'ws_malformed_json',
  'ws_oversized',
  'ws_binary',
  'ws_unknown_type',
  'ws_bad_message',
  'ws_message_rate_limited',
  'ws_protocol_error',
] as const;

export type RejectReason = (typeof REJECT_REASONS)[number];

export interface MetricsSnapshot {
  uptimeS: number;
  peers: number;
  meshes: number;
  memberships: number;
  /** PeerJS messages (OFFER/ANSWER/CANDIDATE/LEAVE) accepted and handed to the relay. */
  messagesTotal: number;
  heartbeatsTotal: number;
  wsConnectionsTotal: number;
  /** Connects that took over a lingering socket of the same id+token. */
  wsReconnectsTotal: number;
  httpRequestsTotal: number;
  rejects: Record<RejectReason, number>;
  rejectsTotal: number;
  rssBytes: number;
  heapUsedBytes: number;
}

export interface Gauges {
  peers(): number;
  meshes(): number;
  memberships(): number;
}

export class Metrics {
  messagesTotal = 0;
  heartbeatsTotal = 0;
  wsConnectionsTotal = 0;
  wsReconnectsTotal = 0;
  httpRequestsTotal = 0;
  private readonly rejects = new Map<RejectReason, number>(REJECT_REASONS.map((r) => [r, 0]));
  private readonly startedAt = Date.now();

  constructor(private readonly gauges: Gauges) {}

  reject(reason: RejectReason): void {
    this.rejects.set(reason, (this.rejects.get(reason) ?? 0) + 1);
  }

  rejectCount(reason: RejectReason): number {
    return this.rejects.get(reason) ?? 0;
  }

  uptimeS(): number {
    return Math.round((Date.now() - this.startedAt) / 100) / 10;
  }

  snapshot(): MetricsSnapshot {
    const mem = process.memoryUsage();
    const rejects = Object.fromEntries(this.rejects) as Record<RejectReason, number>;
    let rejectsTotal = 0;
    for (const n of this.rejects.values()) rejectsTotal += n;
    return {
      uptimeS: this.uptimeS(),
      peers: this.gauges.peers(),
      meshes: this.gauges.meshes(),
      memberships: this.gauges.memberships(),
      messagesTotal: this.messagesTotal,
      heartbeatsTotal: this.heartbeatsTotal,
      wsConnectionsTotal: this.wsConnectionsTotal,
      wsReconnectsTotal: this.wsReconnectsTotal,
      httpRequestsTotal: this.httpRequestsTotal,
      rejects,
      rejectsTotal,
      rssBytes: mem.rss,
      heapUsedBytes: mem.heapUsed,
    };
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const s = this.snapshot();
    const out: string[] = [];
    const metric = (name: string, type: string, help: string, lines: string[]): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
    };
    const one = (name: string, type: string, help: string, value: number): void =>
      metric(name, type, help, [`${name} ${value}`]);
    one('wos_peers_connected', 'gauge', 'PeerJS clients currently connected.', s.peers);
    one('wos_meshes', 'gauge', 'Meshes with at least one member.', s.meshes);
    one('wos_mesh_memberships', 'gauge', 'Peer-in-mesh memberships.', s.memberships);
    one('wos_messages_total', 'counter', 'PeerJS signaling messages relayed.', s.messagesTotal);
    one(
      'wos_heartbeats_total',
      'counter',
      'PeerJS HEARTBEAT messages received.',
      s.heartbeatsTotal,
    );
    one('wos_ws_connections_total', 'counter', 'PeerJS websockets accepted.', s.wsConnectionsTotal);
    one(
      'wos_ws_reconnects_total',
      'counter',
      'Reconnects (same id and token) that replaced a lingering socket.',
      s.wsReconnectsTotal,
    );
    metric(
      'wos_rejects_total',
      'counter',
      'Rejected requests, websocket connects and websocket messages, by reason.',
      REJECT_REASONS.map((r) => `wos_rejects_total{reason="${r}"} ${s.rejects[r]}`),
    );
    one('wos_http_requests_total', 'counter', 'HTTP requests served.', s.httpRequestsTotal);
    one('wos_process_resident_memory_bytes', 'gauge', 'Resident set size.', s.rssBytes);
    one('wos_process_heap_used_bytes', 'gauge', 'V8 heap in use.', s.heapUsedBytes);
    one('wos_uptime_seconds', 'gauge', 'Seconds since the server started.', s.uptimeS);
    return out.join('\n') + '\n';
  }
}
